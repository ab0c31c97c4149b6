// A live worker whose input stops: rows that processing-time ticks emit are committed, and its checkpoint stays current.
import { DuckDBInstance } from "@duckdb/node-api";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parsePipelineText } from "../../src/config/load.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { runWorker, type WorkerSummary } from "../../src/runtime/worker.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { ensureStream } from "../../src/transport/stream.ts";
import { eventsSubject } from "../../src/transport/subjects.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { waitFor } from "../helpers/wait-for.ts";

const T0 = Date.parse("2026-03-02T08:00:00Z");
const MINUTE = 60_000;

function pageView(id: string, anon: string, ts: number): string {
  return JSON.stringify({ type: "page_view", ts, event_id: id, anon_id: anon, url: "/" });
}

describe("a live worker whose input goes quiet", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("IDLE");
  const controller = new AbortController();
  const metrics = new Metrics();
  const logs: string[] = [];
  let directory: string;
  let out: string;
  let connection: NatsConnection | undefined;
  let worker: Promise<WorkerSummary> | undefined;

  async function committedVisitors(): Promise<string[]> {
    const files = (await readdir(join(out, "sessions"), { recursive: true }).catch(() => [])).filter((name) => name.endsWith(".parquet"));
    if (files.length === 0) return [];
    const db = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      const rows = await db.runAndReadAll(`SELECT visitor_id FROM read_parquet('${out}/sessions/**/*.parquet') ORDER BY visitor_id`);
      return rows.getRowObjects().map((row) => String(row.visitor_id));
    } finally {
      db.closeSync();
    }
  }

  async function checkpointFiles(): Promise<string[]> {
    return (await readdir(join(out, "_checkpoints", "idle"))).filter((name) => /^checkpoint-\d+\.json$/.test(name)).sort();
  }

  async function lastCheckpointGauge(): Promise<number> {
    return (await metrics.lastCheckpoint.get()).values[0]?.value ?? 0;
  }

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-idle-"));
    out = join(directory, "out");
    const loaded = parsePipelineText(
      [
        "name: idle",
        `nats: { url: "${natsUrl}", stream: ${stream}, partitions: 2 }`,
        "operators:",
        "  - { type: sessionize, gap: 30m, maxDuration: 12h, outOfOrderness: 1m, allowedLateness: 0s, idleTimeout: 1s }",
        "sinks:",
        `  - { type: parquet, path: "${out}" }`,
        "checkpoint: { interval: 500ms }",
      ].join("\n"),
      "idle.yaml",
      {},
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    connection = await connectNats(loaded.config.nats);
    await ensureStream(await jetstreamManager(connection), stream);
    const js = jetstream(connection);
    // Partition 0 ends five hours ahead of partition 1. While both are active the watermark is partition 1's time, so
    // b's session stays open; once both fall silent for idleTimeout, a tick releases the watermark to partition 0's.
    await js.publish(eventsSubject(stream, 0), pageView("a1", "a", T0));
    await js.publish(eventsSubject(stream, 1), pageView("b1", "b", T0 + 60 * MINUTE));
    await js.publish(eventsSubject(stream, 0), pageView("a2", "a", T0 + 5 * 60 * MINUTE));
    worker = runWorker({ config: loaded.config, metrics, signal: controller.signal, log: (line) => logs.push(line) });
    worker.catch(() => undefined); // surfaced by the afterAll await
  });

  afterAll(async () => {
    controller.abort();
    await worker?.catch((error: unknown) => logs.push(String(error)));
    await connection?.drain().catch(() => connection?.close());
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("commits the sessions a tick closes, with no input after them", async () => {
    // a's first session closes with the events themselves; b's only with the tick, after the last message.
    await waitFor("b's session committed", async () => (await committedVisitors()).includes("b"), 20_000);
    expect(await committedVisitors()).toEqual(["a", "b"]);
    expect(await metrics.eventsLate.get()).toMatchObject({ values: [{ value: 0 }] });
  });

  it("keeps its checkpoint age at the interval without writing checkpoints that hold nothing new", async () => {
    await waitFor("b's session committed", async () => (await committedVisitors()).includes("b"), 20_000);
    const files = await checkpointFiles();
    const before = await lastCheckpointGauge();
    expect(before).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await checkpointFiles()).toEqual(files);
    const after = await lastCheckpointGauge();
    expect(after).toBeGreaterThan(before);
    expect(Date.now() / 1000 - after).toBeLessThan(1.6);
  });
});
