// clickpipe_events_late_total and clickpipe_events_duplicate_total count each event once, however many operators find
// it late or repeated: in a partitioned pipeline too, where sessionize runs in an events task and basket and
// churnFeatures in a customers task, each of which finds the same purchase late (or repeated) on its own.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadPipelineOrThrow } from "../../src/cli/load-config.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { runPartitionedWorker } from "../../src/runtime/partitioned-worker.ts";
import { runWorker } from "../../src/runtime/worker.ts";
import { partitionOf } from "../../src/transport/partition.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const natsUrl = inject("natsUrl");
const PARTITIONS = 2;
const VISITORS = 12;
const DAY = 86_400_000;

async function counterValue(metrics: Metrics, name: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  return (await metric.get()).values.reduce((sum, { value }) => sum + value, 0);
}

/**
 * late_events as DuckDB reads the lake, sorted, without what differs between two streams or tasks: received_at (the
 * JetStream time of each stream's message, also in `event`) and watermark_at_arrival (each operator's watermark then,
 * which a task reading one partition, or a merge of them, has at other times than one worker).
 */
async function lateRows(out: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(":memory:");
  const db = await instance.connect();
  try {
    const source = `read_parquet('${join(out, "late_events")}/**/*.parquet', hive_partitioning = true)`;
    const rows = await db.runAndReadAll(`SELECT * EXCLUDE (watermark_at_arrival, received_at) FROM ${source} ORDER BY event_id, operator`);
    return rows.getRowObjectsJson().map((row) => {
      const event = JSON.parse(String(row.event)) as Record<string, unknown>;
      delete event.received_at;
      return { ...row, event };
    });
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

interface Counts {
  late: number;
  duplicate: number;
  summaryLate: number;
}

async function countsOf(metrics: Metrics, summaryLate: number): Promise<Counts> {
  return {
    late: await counterValue(metrics, "clickpipe_events_late_total"),
    duplicate: await counterValue(metrics, "clickpipe_events_duplicate_total"),
    summaryLate,
  };
}

describe("late and duplicate counts of a partitioned pipeline", () => {
  let directory: string;
  const files = {} as Record<"flat" | "partitioned", { file: string; out: string }>;
  /** A visitor of each events partition: the purchase repeated and late is one's, the page view repeated and late the other's. */
  let buyer: string;
  let browser: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-partitioned-counts-"));
    const anonIds = Array.from({ length: VISITORS }, (_, index) => `visitor-${index}`);
    const byPartition = (partition: number) => anonIds.filter((anon) => partitionOf(anon, PARTITIONS) === partition);
    expect(byPartition(0).length).toBeGreaterThan(1);
    expect(byPartition(1).length).toBeGreaterThan(1);
    [buyer, browser] = [byPartition(0)[0], byPartition(1)[0]];
    for (const kind of ["flat", "partitioned"] as const) {
      const name = uniqueStreamName(`counts_${kind}`).toLowerCase();
      const out = join(directory, kind);
      const file = join(directory, `${kind}.yaml`);
      await writeFile(
        file,
        [
          `name: ${name}`,
          "nats:",
          `  url: ${natsUrl}`,
          `  stream: ${uniqueStreamName(`COUNTS_${kind.toUpperCase()}`)}`,
          ...(kind === "partitioned" ? [`  partitions: ${PARTITIONS}`] : []),
          "operators:",
          "  - type: sessionize",
          "    gap: 30m",
          "    outOfOrderness: 1m",
          "    allowedLateness: 1h",
          "  - type: basket",
          "    window: 1d",
          "  - type: churnFeatures",
          "    snapshotEvery: 1d",
          "    outOfOrderness: 1m",
          "    allowedLateness: 1h",
          "sinks:",
          "  - type: parquet",
          `    path: ${out}`,
          "checkpoint:",
          "  interval: 300ms",
          "",
        ].join("\n"),
      );
      files[kind] = { file, out };
    }

    // Every visitor views a page and buys on 2 March and on 6 March, minutes apart, so that every partition's watermark
    // (each task's, and each source partition's in the customer stage's merge) is on 6 March before the late events.
    const first = Date.parse("2026-03-02T09:00:00Z");
    const iso = (ms: number) => new Date(ms).toISOString();
    const pageView = (anon: string, ts: number, id: string) => JSON.stringify({ type: "page_view", ts: iso(ts), event_id: id, anon_id: anon, url: "/shoes" });
    const purchase = (anon: string, ts: number, id: string) =>
      JSON.stringify({
        type: "purchase",
        ts: iso(ts),
        event_id: id,
        anon_id: anon,
        order_id: `order-${id}`,
        revenue: 20,
        currency: "EUR",
        items: [{ sku: `SKU-${id.length % 3}`, category: "shoes", price: 20, qty: 1 }],
        url: "/checkout",
      });
    const onTime: string[] = [];
    for (const day of [0, 4]) {
      anonIds.forEach((anon, index) => {
        const at = first + day * DAY + index * 4 * 60_000;
        onTime.push(pageView(anon, at, `${anon}-${day}-view`));
        const bought = purchase(anon, at + 60_000, `${anon}-${day}-buy`);
        onTime.push(bought);
        // Resent as is: a duplicate for sessionize (event_id), basket and churnFeatures (order_id).
        if (day === 4 && anon === buyer) onTime.push(bought);
        // A page view resent: a duplicate for sessionize alone.
        if (day === 4 && anon === browser) onTime.push(pageView(anon, at, `${anon}-${day}-view`));
      });
    }
    // Four days behind every watermark, published after the rest: a purchase late for sessionize, basket and
    // churnFeatures, and a page view late for sessionize (churnFeatures sends no page view to late_events).
    const late = [purchase(buyer, first + 2 * 3_600_000, `${buyer}-late-buy`), pageView(browser, first + 2 * 3_600_000, `${browser}-late-view`)];
    for (const [part, lines] of [["on-time", onTime], ["late", late]] as const) {
      const input = join(directory, `${part}.ndjson`);
      await writeFile(input, lines.join("\n") + "\n");
      for (const { file } of Object.values(files)) {
        const published = await runCli(["publish", input, "--pipeline", file]);
        expect(published.code, published.stderr).toBe(0);
      }
    }
  }, 120_000);

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("counts each late or repeated event once, as one unpartitioned worker does, and writes the same late rows", { timeout: 120_000 }, async () => {
    const flatMetrics = new Metrics();
    const flat = await runWorker({ config: await loadPipelineOrThrow(files.flat.file), metrics: flatMetrics, drain: true, log: () => undefined });
    const partitionedMetrics = new Metrics();
    const partitioned = await runPartitionedWorker({
      config: await loadPipelineOrThrow(files.partitioned.file),
      metrics: partitionedMetrics,
      drain: true,
      workerId: "counts",
      log: () => undefined,
    });
    // By hand: late, the purchase and the page view of 2 March published last (each once, however many operators
    // found it late); duplicate, the purchase and the page view resent.
    const expected: Counts = { late: 2, duplicate: 2, summaryLate: 2 };
    expect(await countsOf(flatMetrics, flat.late)).toEqual(expected);
    expect(await countsOf(partitionedMetrics, partitioned.late)).toEqual(expected);

    // Only the counts were to change: one late_events row per operator that found an event late (the purchase:
    // sessionize, basket and churnFeatures; the page view: sessionize), the same rows in both runs.
    const [flatRows, partitionedRows] = [await lateRows(files.flat.out), await lateRows(files.partitioned.out)];
    expect(flatRows.map(({ event_id, operator }) => `${event_id} ${operator}`).sort()).toEqual(
      [`${buyer}-late-buy basket`, `${buyer}-late-buy churnFeatures`, `${buyer}-late-buy sessionize`, `${browser}-late-view sessionize`].sort(),
    );
    expect(partitionedRows).toEqual(flatRows);
  });
});
