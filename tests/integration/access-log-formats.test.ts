// W3C (IIS, CloudFront), Caddy JSON and nginx escape=json logs through publish, the stream and the pipeline to Parquet:
// hand counts (tests/fixtures/access-logs-w3c/SOURCE.md, access-logs-json/SOURCE.md) checked with DuckDB, and the same
// files read by GoAccess 1.7 (--log-format=W3C, CLOUDFRONT, CADDY) as an independent oracle.
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { decodeDeadLetters } from "../../src/transport/dead-letter.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { parseSubject } from "../../src/transport/subjects.ts";
import { REPO_ROOT, runCli } from "../helpers/cli.ts";
import { writeGoAccessPipeline } from "../helpers/goaccess-pipeline.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const IIS = join(REPO_ROOT, "tests/fixtures/access-logs-w3c/iis_default_fields.log");
const CLOUDFRONT = join(REPO_ROOT, "tests/fixtures/access-logs-w3c/cloudfront_standard.log");
const CADDY = join(REPO_ROOT, "tests/fixtures/access-logs-json/caddy_access.log");
const NGINX_JSON = join(REPO_ROOT, "tests/fixtures/access-logs-json/nginx_escape_json.log");
const NGINX_JSON_FORMAT = join(REPO_ROOT, "tests/fixtures/access-logs-json/nginx_escape_json.format");

const goaccessInstalled = spawnSync("goaccess", ["--version"], { stdio: "ignore" }).status === 0;
if (!goaccessInstalled) console.warn("goaccess is not installed: skipping the GoAccess comparisons of W3C and Caddy logs");

interface GoAccessReport {
  total: number;
  failed: number;
  visitorsPerDay: Map<string, number>;
  /** Requests panel (4xx go to not_found): path → hits, GoAccess's "?-" for an empty cs-uri-query removed. */
  hitsPerPage: Map<string, number>;
}

function goaccess(logFile: string, logFormat: string, directory: string): GoAccessReport {
  const report = join(directory, `goaccess-${logFormat}.json`);
  // TZ=UTC: GoAccess shows CADDY's epoch `ts` in local time. Defaults: 4xx are no visitors, crawlers are counted.
  const result = spawnSync("goaccess", [logFile, `--log-format=${logFormat}`, "--no-global-config", "-o", report], {
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
    env: { ...process.env, TZ: "UTC" },
  });
  if (result.status !== 0) throw new Error(`goaccess failed (${result.status}): ${result.stderr}`);
  type Panel = { data: Array<{ data: string; hits: { count: number }; visitors: { count: number } }> };
  const json = JSON.parse(readFileSync(report, "utf8")) as {
    general: { total_requests: number; failed_requests: number };
    visitors: Panel;
    requests: Panel;
  };
  return {
    total: json.general.total_requests,
    failed: json.general.failed_requests,
    visitorsPerDay: new Map(json.visitors.data.map((day) => [day.data, day.visitors.count])),
    hitsPerPage: new Map(json.requests.data.map((page) => [page.data.replace(/\?-$/, ""), page.hits.count])),
  };
}

async function pipelineFile(directory: string, name: string, natsUrl: string): Promise<{ file: string; stream: string; out: string }> {
  const stream = uniqueStreamName(name.toUpperCase());
  const out = join(directory, name, "out");
  const file = await writeGoAccessPipeline(join(directory, `${name}.yaml`), { name, natsUrl, stream, pages: "{ exclude: [4xx] }", sinkPath: out });
  return { file, stream, out };
}

/** Page views per url in the stream, and the dead letters' reasons. */
async function streamContents(connection: NatsConnection, stream: string): Promise<{ hitsPerPage: Map<string, number>; reasons: string[]; eventIds: string[] }> {
  const reader = await StreamReader.open(jetstream(connection), stream, { drainUntil: true });
  const hitsPerPage = new Map<string, number>();
  const reasons: string[] = [];
  const eventIds: string[] = [];
  for await (const message of reader) {
    if (parseSubject(stream, message.subject)?.kind === "dlq") reasons.push(...decodeDeadLetters(message.data).map((letter) => letter.reason));
    else
      for (const line of splitBatch(message.data)) {
        const event = JSON.parse(line) as { url: string; event_id: string };
        hitsPerPage.set(event.url, (hitsPerPage.get(event.url) ?? 0) + 1);
        eventIds.push(event.event_id);
      }
  }
  return { hitsPerPage, reasons: reasons.sort(), eventIds };
}

const sorted = (map: Map<string, number>) => [...map.entries()].sort(([a], [b]) => a.localeCompare(b));

describe("W3C, Caddy and nginx JSON access logs through publish and the pipeline", () => {
  const natsUrl = inject("natsUrl");
  let directory: string;
  let db: DuckDBConnection;
  let connection: NatsConnection;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-log-formats-"));
    db = await (await DuckDBInstance.create(":memory:")).connect();
    connection = await connectNats({ url: natsUrl });
  });
  afterAll(async () => {
    db?.closeSync();
    await connection?.drain();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  /** Publishes `file`, runs the pipeline to Parquet, and returns what DuckDB reads back. */
  async function ingest(name: string, file: string, format: string) {
    const pipeline = await pipelineFile(directory, name, natsUrl);
    const publish = await runCli(["publish", file, "--pipeline", pipeline.file, "--format", format]);
    expect(publish.code, publish.stderr).toBe(0);
    const contents = await streamContents(connection, pipeline.stream);
    const run = await runCli(["run", pipeline.file, "--drain"]);
    expect(run.code, run.stderr).toBe(0);
    const days = await db.runAndReadAll(`
      WITH current AS (
        SELECT * FROM read_parquet('${pipeline.out}/sessions/**/*.parquet', hive_partitioning = true)
        QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY version DESC) = 1
      )
      SELECT strftime(dt::DATE, '%Y%m%d') AS day, count(DISTINCT visitor_id)::INTEGER AS visitors, sum(pageview_count)::INTEGER AS page_views
      FROM current WHERE NOT retracted GROUP BY day ORDER BY day`);
    const invalid = await db.runAndReadAll(`SELECT reason FROM read_parquet('${pipeline.out}/invalid_events/**/*.parquet') ORDER BY reason`);
    return {
      stdout: publish.stdout,
      contents,
      days: days.getRowObjectsJson() as Array<{ day: string; visitors: number; page_views: number }>,
      invalidReasons: (invalid.getRowObjectsJson() as Array<{ reason: string }>).map((row) => row.reason),
    };
  }

  it("reads an IIS log by its #Fields, again after the restart's directives, and dead-letters the short line", async () => {
    const result = await ingest("iis", IIS, "w3c");
    // SOURCE.md: 8 entries (the 8 directive lines are none), one 404 filtered, the last line has 11 of 15 values.
    expect(result.stdout).toContain("read 8, published 6, rejected 1, filtered 1");
    expect(result.days).toEqual([
      { day: "20240304", visitors: 3, page_views: 4 },
      { day: "20240305", visitors: 2, page_views: 2 },
    ]);
    expect(result.invalidReasons).toEqual(["unparseable_line: expected 15 space-separated values (as #Fields names), found 11"]);
    expect(sorted(result.contents.hitsPerPage)).toEqual([
      ["/contact.aspx", 1],
      ["/default.htm", 3],
      ["/products.aspx?id=7", 1],
      ["/products.aspx?id=9", 1],
    ]);
    expect(new Set(result.contents.eventIds).size).toBe(6);
    if (!goaccessInstalled) return;
    const oracle = goaccess(IIS, "W3C", directory);
    expect([oracle.total, oracle.failed]).toEqual([8, 1]);
    expect(result.days.map((day) => [day.day, day.visitors])).toEqual(sorted(oracle.visitorsPerDay));
    expect(sorted(result.contents.hitsPerPage)).toEqual(sorted(oracle.hitsPerPage));
  });

  it("reads a tab-separated CloudFront log, percent-decoding its user agents", async () => {
    const result = await ingest("cloudfront", CLOUDFRONT, "w3c");
    expect(result.stdout).toContain("read 6, published 4, rejected 1, filtered 1");
    expect(result.days).toEqual([
      { day: "20191204", visitors: 2, page_views: 3 },
      { day: "20191205", visitors: 1, page_views: 1 },
    ]);
    expect(result.invalidReasons).toEqual(["unparseable_line: expected 33 tab-separated values (as #Fields names), found 9"]);
    expect(sorted(result.contents.hitsPerPage)).toEqual([
      ["/about.html", 1],
      ["/index.html", 2],
      ["/index.html?lang=en", 1],
    ]);
    if (!goaccessInstalled) return;
    const oracle = goaccess(CLOUDFRONT, "CLOUDFRONT", directory);
    expect([oracle.total, oracle.failed]).toEqual([6, 1]);
    expect(result.days.map((day) => [day.day, day.visitors])).toEqual(sorted(oracle.visitorsPerDay));
    expect(sorted(result.contents.hitsPerPage)).toEqual(sorted(oracle.hitsPerPage));
  });

  it("reads Caddy's JSON access log, skips another logger's entry and dead-letters a cut-off line", async () => {
    const result = await ingest("caddy", CADDY, "caddy");
    // SOURCE.md: the tls.cache.maintenance entry is no request (skipped like a W3C directive: not read), 7 lines read.
    expect(result.stdout).toContain("read 7, published 5, rejected 1, filtered 1");
    expect(result.days).toEqual([
      { day: "20220309", visitors: 2, page_views: 4 },
      { day: "20220310", visitors: 1, page_views: 1 },
    ]);
    expect(result.invalidReasons).toHaveLength(1);
    expect(result.invalidReasons[0]).toMatch(/^unparseable_line: not JSON: /);
    if (!goaccessInstalled) return;
    const oracle = goaccess(CADDY, "CADDY", directory);
    // GoAccess counts the TLS entry as a failed request: its total is our read count plus that line.
    expect([oracle.total, oracle.failed]).toEqual([8, 2]);
    expect(result.days.map((day) => [day.day, day.visitors])).toEqual(sorted(oracle.visitorsPerDay));
    expect(sorted(result.contents.hitsPerPage)).toEqual(sorted(oracle.hitsPerPage));
  });

  it("reads nginx escape=json lines by the log_format's own JSON text", async () => {
    const format = (await readFile(NGINX_JSON_FORMAT, "utf8")).trim();
    const result = await ingest("nginxjson", NGINX_JSON, format);
    // SOURCE.md: 4 whole lines (times at +01:00 read as UTC 08:00), one cut off, one with no valid time.
    expect(result.stdout).toContain("read 6, published 4, rejected 2, filtered 0");
    expect(result.days).toEqual([{ day: "20240201", visitors: 2, page_views: 4 }]);
    expect(result.invalidReasons).toHaveLength(2);
    expect(result.invalidReasons[0]).toMatch(/^unparseable_line: no valid time at time$/);
    expect(result.invalidReasons[1]).toMatch(/^unparseable_line: not JSON: /);
    expect(sorted(result.contents.hitsPerPage)).toEqual([
      ["/", 1],
      ["/cart", 1],
      ["/shop?cat=tea", 1],
      ["/shop/green-tea", 1],
    ]);
  });
});
