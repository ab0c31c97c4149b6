// Oracle: GoAccess 1.7's unique visitors per day equal clickpipe's distinct session visitors per day on the same real log.
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { splitLines } from "../../src/cli/publish.ts";
import { REPO_ROOT, runCli } from "../helpers/cli.ts";
import { writeGoAccessPipeline } from "../helpers/goaccess-pipeline.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const SEMICOMPLETE = join(REPO_ROOT, "tests/fixtures/access-logs/semicomplete_apache_combined_2015.log");
const NASA = join(REPO_ROOT, "tests/fixtures/access-logs/nasa_kennedy_aug95_head1929.log");
/** The one line of the semicomplete log that is not a combined record: its user agent lacks the closing `)"`. */
const MALFORMED_LINE_NUMBER = 8899;

const goaccessInstalled = spawnSync("goaccess", ["--version"], { stdio: "ignore" }).status === 0;
if (!goaccessInstalled) console.warn("goaccess is not installed: skipping the GoAccess oracle (npm test installs it via scripts/ensure-tools.mjs)");

/** GoAccess's "Unique visitors per day" panel: YYYYMMDD → visitors. */
async function goaccessVisitorsPerDay(logFile: string, directory: string): Promise<Map<string, number>> {
  const report = join(directory, "goaccess.json");
  // --no-global-config: only the options given here count. Defaults: crawlers counted, 4xx not counted as visitors.
  const result = spawnSync("goaccess", [logFile, "--log-format=COMBINED", "--no-global-config", "-o", report], {
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`goaccess failed (${result.status}): ${result.stderr}`);
  const json = JSON.parse(await readFile(report, "utf8")) as { visitors: { data: Array<{ data: string; visitors: { count: number } }> } };
  return new Map(json.visitors.data.map((day) => [day.data, day.visitors.count]));
}

function pipelineFile(directory: string, name: string, natsUrl: string, pages: string): Promise<string> {
  const stream = uniqueStreamName(name.toUpperCase());
  return writeGoAccessPipeline(join(directory, `${name}.yaml`), { name, natsUrl, stream, pages, sinkPath: join(directory, name, "out") });
}

describe.skipIf(!goaccessInstalled)("GoAccess oracle on the semicomplete.com log (real traffic, May 2015)", () => {
  const natsUrl = inject("natsUrl");
  let directory: string;
  let db: DuckDBConnection;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-goaccess-"));
    db = await (await DuckDBInstance.create(":memory:")).connect();
  });
  afterAll(async () => {
    db?.closeSync();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("has per-day distinct visitors equal to GoAccess's unique visitors, less the visitor only line 8899 brings", async () => {
    const pipeline = await pipelineFile(directory, "semicomplete", natsUrl, "{ exclude: [4xx] }");
    const publish = await runCli(["publish", SEMICOMPLETE, "--pipeline", pipeline, "--format", "combined"]);
    expect(publish.code, publish.stderr).toBe(0);
    // 213 + 2 + 2 requests answered 404, 403 and 416 are filtered (SOURCE.md's status counts).
    expect(publish.stdout).toContain("read 10000, published 9782, rejected 1, filtered 217");
    const run = await runCli(["run", pipeline, "--drain"]);
    expect(run.code, run.stderr).toBe(0);

    const out = join(directory, "semicomplete", "out");
    const clickpipe = await db.runAndReadAll(`
      WITH current AS (
        SELECT * FROM read_parquet('${out}/sessions/**/*.parquet', hive_partitioning = true)
        QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY version DESC) = 1
      )
      SELECT strftime(dt::DATE, '%Y%m%d') AS day, count(DISTINCT visitor_id)::INTEGER AS visitors
      FROM current WHERE NOT retracted GROUP BY day ORDER BY day`);
    const actual = new Map((clickpipe.getRowObjectsJson() as Array<{ day: string; visitors: number }>).map((row) => [row.day, row.visitors]));

    const lines = splitLines(await readFile(SEMICOMPLETE, "utf8"));
    const malformed = lines[MALFORMED_LINE_NUMBER - 1];
    const [malformedIp] = malformed.split(" ", 1);
    // GoAccess accepts line 8899 (it reads the user agent up to the end of the line); clickpipe dead-letters it. Its
    // (IP, day, truncated user agent) occurs on no other line, so it is one GoAccess visitor clickpipe cannot have.
    const sameVisitor = lines.filter((line) => line.startsWith(`${malformedIp} `) && line.includes("20/May/2015") && line.endsWith("bot.html"));
    expect(sameVisitor).toEqual([malformed]);
    const expected = await goaccessVisitorsPerDay(SEMICOMPLETE, directory);
    expected.set("20150520", expected.get("20150520")! - 1);

    expect([...actual.entries()]).toEqual([...expected.entries()].sort());
    expect([...actual.values()].reduce((a, b) => a + b, 0)).toBe(359 + 643 + 570 + 522);

    const invalid = await db.runAndReadAll(`SELECT raw, reason FROM read_parquet('${out}/invalid_events/**/*.parquet')`);
    const rows = invalid.getRowObjectsJson() as Array<{ raw: string; reason: string }>;
    expect(rows).toHaveLength(1);
    // Compared after the client address, which privacy may anonymize in dead letters.
    expect(rows[0].raw.slice(rows[0].raw.indexOf(" "))).toBe(malformed.slice(malformed.indexOf(" ")));
    expect(rows[0].reason).toMatch(/^unparseable_line: /);
  });

  it("dead-letters every fragment of the damaged NASA excerpt and publishes every whole line", async () => {
    const pipeline = await pipelineFile(directory, "nasa", natsUrl, "all");
    const publish = await runCli(["publish", NASA, "--pipeline", pipeline, "--format", "common"]);
    expect(publish.code, publish.stderr).toBe(0);
    // SOURCE.md: 88 of the 1,929 lines are fragments, 1,841 are complete common-format records.
    expect(publish.stdout).toContain("read 1929, published 1841, rejected 88, filtered 0");
    const run = await runCli(["run", pipeline, "--drain"]);
    expect(run.code, run.stderr).toBe(0);
    const out = join(directory, "nasa", "out");
    const counts = await db.runAndReadAll(`
      WITH current AS (
        SELECT * FROM read_parquet('${out}/sessions/**/*.parquet', hive_partitioning = true)
        QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY version DESC) = 1
      )
      SELECT (SELECT sum(pageview_count)::INTEGER FROM current WHERE NOT retracted) AS page_views,
             (SELECT count(*)::INTEGER FROM read_parquet('${out}/invalid_events/**/*.parquet')) AS invalid`);
    expect(counts.getRowObjectsJson()).toEqual([{ page_views: 1841, invalid: 88 }]);
  });
});
