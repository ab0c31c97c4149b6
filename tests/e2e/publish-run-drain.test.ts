// End to end on a real nats-server: clickpipe publish → clickpipe run --drain → Parquet, checked with DuckDB SQL.
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parsePipelineText } from "../../src/config/load.ts";
import { generateLines } from "../../src/ingest/generate.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { runWorker } from "../../src/runtime/worker.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

/** One line of each kind of garbage, with the reason code the dead letter must carry. */
const GARBAGE: Array<{ line: string; reason: string }> = [
  { line: "this is not json", reason: "not_json" },
  { line: '[{"type":"page_view","ts":1,"anon_id":"a","url":"/"}]', reason: "not_object" },
  { line: '"just a string"', reason: "not_object" },
  { line: '{"ts":"2026-01-05T10:00:00Z","anon_id":"a","url":"/"}', reason: "missing_field" },
  { line: '{"type":"teleport","ts":"2026-01-05T10:00:00Z","anon_id":"a"}', reason: "unknown_type" },
  { line: '{"type":"page_view","ts":"yesterday","anon_id":"a","url":"/"}', reason: "bad_ts" },
  { line: '{"type":"page_view","ts":-5,"anon_id":"a","url":"/"}', reason: "bad_ts" },
  { line: '{"type":"page_view","ts":"2026-01-05T10:00:00Z","anon_id":"a"}', reason: "missing_field" },
  { line: '{"type":"purchase","ts":"2026-01-05T10:00:00Z","user_id":"u","order_id":"o","revenue":"12,50"}', reason: "bad_field" },
  { line: '{"type":"page_view","ts":"2026-01-05T10:00:00Z","url":"/"}', reason: "missing_field" },
];

describe("clickpipe publish → run --drain", () => {
  const natsUrl = inject("natsUrl");
  let directory: string;
  let pipelineFile: string;
  let inputFile: string;
  let validLines: string[];
  let garbage: Array<{ line: string; reason: string }>;
  let db: DuckDBConnection;
  const stream = uniqueStreamName("E2E");

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-e2e-"));
    pipelineFile = join(directory, "pipeline.yaml");
    await writeFile(
      pipelineFile,
      [
        "name: e2e",
        "nats:",
        `  url: ${natsUrl}`,
        `  stream: ${stream}`,
        "operators:",
        "  - type: sessionize",
        "    gap: 30m",
        "    maxDuration: 7d", // the SQL oracle below sessionizes by gap alone
        "sinks:",
        "  - type: parquet",
        `    path: ${join(directory, "out")}`,
      ].join("\n"),
    );
    validLines = [...generateLines({ visitors: 150, days: 2, seed: 11 })];
    // 1% garbage spread through the file, each kind several times.
    garbage = [];
    const mixed: string[] = [];
    const every = Math.floor(validLines.length / 30);
    validLines.forEach((line, index) => {
      mixed.push(line);
      if (index % every === every - 1) {
        const bad = GARBAGE[garbage.length % GARBAGE.length];
        garbage.push({ line: `${bad.line.slice(0, -1)}${bad.line.endsWith("}") ? `,"n":${garbage.length}}` : bad.line.slice(-1)}`, reason: bad.reason });
        mixed.push(garbage[garbage.length - 1].line);
      }
    });
    inputFile = join(directory, "input.ndjson");
    await writeFile(inputFile, mixed.join("\n") + "\n");
    db = await (await DuckDBInstance.create(":memory:")).connect();
  });

  afterAll(async () => {
    db?.closeSync();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("publishes every line: valid ones to the stream, garbage to the dead letters", async () => {
    const result = await runCli(["publish", inputFile, "--pipeline", pipelineFile]);
    // The first rejected line's reason, for a user who would otherwise see only the count (V8's quote of the line cut
    // out, as in invalid_events: it can start inside a secret).
    expect(result.stderr).toBe(
      `${garbage.length} rejected, e.g. not_json: not JSON: Unexpected token 'h' (not valid JSON)\n` +
        `(each reason is in ${stream}.dlq; clickpipe run writes them to invalid_events)\n`,
    );
    expect(result.code).toBe(0);
    const total = validLines.length + garbage.length;
    expect(result.stdout).toContain(`read ${total}, published ${validLines.length}, rejected ${garbage.length}, filtered 0`);
  });

  it("drains the stream into sessions that equal DuckDB's gap sessionization of the same input", async () => {
    const result = await runCli(["run", pipelineFile, "--drain"]);
    expect(result.code, result.stderr).toBe(0);
    const out = join(directory, "out");
    const expected = await db.runAndReadAll(`
      WITH events AS (
        SELECT DISTINCT event_id, coalesce(site_id, '') AS site_id, anon_id, epoch_ms(ts::TIMESTAMPTZ) AS t
        FROM read_json('${inputFile}', format = 'newline_delimited', ignore_errors = true,
                       columns = {type: 'VARCHAR', event_id: 'VARCHAR', site_id: 'VARCHAR', anon_id: 'VARCHAR', ts: 'VARCHAR'})
        WHERE event_id IS NOT NULL AND anon_id IS NOT NULL AND type IS NOT NULL
      ), marked AS (
        SELECT *, CASE WHEN t - lag(t) OVER w > 1800000 OR lag(t) OVER w IS NULL THEN 1 ELSE 0 END AS starts
        FROM events WINDOW w AS (PARTITION BY site_id, anon_id ORDER BY t)
      ), numbered AS (
        SELECT *, sum(starts) OVER (PARTITION BY site_id, anon_id ORDER BY t ROWS UNBOUNDED PRECEDING) AS n FROM marked
      )
      SELECT anon_id, min(t) AS start_ms, max(t) AS end_ms, count(*)::INTEGER AS events
      FROM numbered GROUP BY site_id, anon_id, n ORDER BY anon_id, start_ms`);
    const actual = await db.runAndReadAll(`
      WITH rows AS (SELECT * FROM read_parquet('${out}/sessions/**/*.parquet', hive_partitioning = true)),
      current AS (
        SELECT * FROM rows QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY version DESC) = 1
      )
      SELECT visitor_id AS anon_id, epoch_ms(start_ts) AS start_ms, epoch_ms(end_ts) AS end_ms, event_count::INTEGER AS events
      FROM current WHERE NOT retracted ORDER BY anon_id, start_ms`);
    const expectedRows = expected.getRowObjectsJson();
    expect(expectedRows.length).toBeGreaterThan(100);
    expect(actual.getRowObjectsJson()).toEqual(expectedRows);
  });

  it("writes exactly the garbage lines to invalid_events, each with its reason", async () => {
    const out = join(directory, "out");
    const reader = await db.runAndReadAll(
      `SELECT raw, reason FROM read_parquet('${out}/invalid_events/**/*.parquet', hive_partitioning = true) ORDER BY raw`,
    );
    const rows = reader.getRowObjectsJson() as Array<{ raw: string; reason: string }>;
    const expected = [...garbage].sort((a, b) => (a.line < b.line ? -1 : a.line > b.line ? 1 : 0));
    expect(rows.map((row) => row.raw)).toEqual(expected.map((item) => item.line));
    for (const [index, row] of rows.entries()) expect(row.reason.split(":")[0]).toBe(expected[index].reason);
  });

  it("counts the dead letters publish could not count (it serves no metrics) in the worker that writes them, by reason", async () => {
    // A second pipeline name and lake: a worker of its own drains the same stream from its start, in this process.
    const loaded = parsePipelineText((await readFile(pipelineFile, "utf8")).replace("name: e2e", "name: e2e_metrics").replace(join(directory, "out"), join(directory, "out-metrics")), "metrics.yaml", {});
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const metrics = new Metrics();
    await runWorker({ config: loaded.config, metrics, drain: true, log: () => undefined });
    const expected = new Map<string, number>();
    for (const { reason } of garbage) expected.set(reason, (expected.get(reason) ?? 0) + 1);
    const counted = new Map((await metrics.eventsInvalid.get()).values.filter((value) => value.value > 0).map((value) => [String(value.labels.reason), value.value]));
    expect(counted).toEqual(expected);
  });

  it("changes nothing when the same file is published and drained again", async () => {
    const before = await countRows(db, join(directory, "out"));
    const publish = await runCli(["publish", inputFile, "--pipeline", pipelineFile]);
    expect(publish.code).toBe(0);
    // Within the duplicate window every batch is recognised, and publish says so.
    expect(publish.stdout).toBe(
      `read ${validLines.length + garbage.length}, published ${validLines.length}, rejected ${garbage.length}, filtered 0 → ${stream} ` +
        "(all already in the stream: JetStream stored nothing again)\n",
    );
    const run = await runCli(["run", pipelineFile, "--drain"]);
    expect(run.code, run.stderr).toBe(0);
    expect(await countRows(db, join(directory, "out"))).toEqual(before);
  });
});

async function countRows(db: DuckDBConnection, out: string): Promise<Record<string, unknown>> {
  const reader = await db.runAndReadAll(`
    SELECT (SELECT count(*) FROM read_parquet('${out}/sessions/**/*.parquet')) AS sessions,
           (SELECT count(*) FROM read_parquet('${out}/invalid_events/**/*.parquet')) AS invalid`);
  return reader.getRowObjectsJson()[0];
}
