// The worker writes the dead letters of `<S>.dlq` to invalid_events; a letter that is not one (or whose time no date
// has) is kept as a dead letter of its own instead of stopping the pipeline.
import { DuckDBInstance } from "@duckdb/node-api";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parsePipelineText } from "../../src/config/load.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { runWorker } from "../../src/runtime/worker.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { ensureStream } from "../../src/transport/stream.ts";
import { dlqSubject, eventsSubject } from "../../src/transport/subjects.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

describe("dead letters in the stream", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("DLQ");
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-dlq-"));
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("writes each to invalid_events, a malformed one with its own reason, and the run ends well", async () => {
    const out = join(directory, "out");
    const loaded = parsePipelineText(
      [
        "name: dlq",
        `nats: { url: "${natsUrl}", stream: ${stream} }`,
        "operators:",
        "  - { type: sessionize }",
        "sinks:",
        `  - { type: parquet, path: "${out}" }`,
      ].join("\n"),
      "dlq.yaml",
      {},
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const connection = await connectNats(loaded.config.nats);
    const letters = [
      JSON.stringify({ received_at: Date.parse("2026-03-01T10:00:00Z"), reason: "not_json: at 1", raw: "{oops", source: "http" }),
      "not a dead letter",
      JSON.stringify({ received_at: 1e300, reason: "x", raw: "y" }),
    ];
    try {
      await ensureStream(await jetstreamManager(connection), stream);
      const js = jetstream(connection);
      await js.publish(dlqSubject(stream), letters.join("\n"));
      await js.publish(eventsSubject(stream, 0), JSON.stringify({ type: "page_view", ts: "2026-03-01T10:00:00Z", event_id: "e1", anon_id: "a", url: "/" }));
    } finally {
      await connection.drain();
    }
    const metrics = new Metrics();
    const summary = await runWorker({ config: loaded.config, drain: true, metrics, log: () => undefined });
    expect(summary.events).toBe(1);

    const db = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      const rows = (await db.runAndReadAll(`SELECT reason, raw FROM read_parquet('${out}/invalid_events/**/*.parquet') ORDER BY raw`)).getRowObjects();
      expect(rows.map((row) => [String(row.reason).split(":")[0], row.raw])).toEqual([
        ["unparseable_line", letters[1]],
        ["unparseable_line", letters[2]],
        ["not_json", "{oops"],
      ]);
      expect(String(rows[1].reason)).toContain("received_at must be epoch milliseconds from 1970 to 9999");
      expect((await db.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${out}/sessions/**/*.parquet')`)).getRowObjects()[0].n).toBe(1);
    } finally {
      db.closeSync();
    }
    // The two the worker rejected itself are counted here; the collector counted the first where it rejected it.
    expect((await metrics.eventsInvalid.get()).values.find((value) => value.labels.reason === "unparseable_line")?.value).toBe(2);
  });
});
