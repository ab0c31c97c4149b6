// A drain ends event time at +∞ and commits; a later run from that checkpoint goes on with what came after it. Oracle: the
// lake of a drain of the first days then a drain of later days equals the lake of one drain over both.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { generateLines } from "../../src/ingest/generate.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { lakeRows, rowCounts, writePipelineFile } from "./crash-harness.ts";

const DAY_MS = 86_400_000;
const START = Date.parse("2026-02-02T00:00:00Z");

describe("a drain, then more input, then another run from its checkpoint", () => {
  const natsUrl = inject("natsUrl");
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-drain-on-"));
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  async function publish(name: string, lines: Iterable<string>, pipelineFile: string): Promise<void> {
    const file = join(directory, `${name}.ndjson`);
    await writeFile(file, [...lines].join("\n") + "\n");
    const result = await runCli(["publish", file, "--pipeline", pipelineFile]);
    expect(result.code, result.stderr).toBe(0);
  }

  async function drain(pipelineFile: string): Promise<void> {
    const result = await runCli(["run", pipelineFile, "--drain"]);
    expect(result.code, result.stderr).toBe(0);
  }

  for (const partitions of [1, 3]) {
    it(`writes what one drain over all of the input writes, when the later input starts days after the drained end (${partitions} partitions)`, async () => {
      await drainInTwoSteps(partitions);
    });
  }

  for (const partitions of [1, 3]) {
    it(`after a drain whose input held device clocks ahead (minutes past midnight, two days), the next run writes each day and window once, with the rest of it (${partitions} partitions)`, async () => {
      await drainWithClocksAhead(partitions);
    });
  }

  async function drainWithClocksAhead(partitions: number): Promise<void> {
    const stream = uniqueStreamName("DRAINSKEW");
    const stepwise = await writeSkewPipelineFile(uniqueStreamName("SKEWSTEP"), stream, partitions, join(directory, `skew-stepwise-${partitions}`));
    const once = await writeSkewPipelineFile(uniqueStreamName("SKEWONCE"), stream, partitions, join(directory, `skew-once-${partitions}`));
    const url = "https://shop.example";
    const items = (...skus: string[]) => skus.map((sku) => ({ sku, price: 1, qty: 1 }));
    // Collected as it happened (received_at), but one device's clock runs 4 minutes ahead, within maxFutureSkew (5m):
    // sent at 23:57 and 23:58, stamped 00:01 and 00:02 the next day; another's runs two days ahead (its time capped
    // for watermarks). The latest event time that arrived is 23:59.
    await publish(
      `skew-first-${partitions}`,
      [
        { type: "purchase", ts: "2026-03-01T09:00:00Z", received_at: "2026-03-01T09:00:00Z", user_id: "a", anon_id: "dev-a", order_id: "o1", revenue: 10, items: items("milk", "bread") },
        { type: "page_view", ts: "2026-03-02T00:01:00Z", received_at: "2026-03-01T23:57:00Z", anon_id: "dev-ahead", url: `${url}/s` },
        { type: "purchase", ts: "2026-03-02T00:02:00Z", received_at: "2026-03-01T23:58:00Z", user_id: "ahead", anon_id: "dev-ahead", order_id: "o2", revenue: 5, items: items("milk", "eggs") },
        { type: "purchase", ts: "2026-03-03T10:00:00Z", received_at: "2026-03-01T10:00:00Z", user_id: "far", anon_id: "dev-far", order_id: "o4", revenue: 4, items: items("tea", "cake") },
        { type: "page_view", ts: "2026-03-01T23:59:00Z", received_at: "2026-03-01T23:59:00Z", anon_id: "dev-x", url: `${url}/x` },
      ].map((record) => JSON.stringify(record)),
      stepwise,
    );
    await drain(stepwise);
    await publish(
      `skew-later-${partitions}`,
      [
        { type: "page_view", ts: "2026-03-02T00:30:00Z", received_at: "2026-03-02T00:30:00Z", anon_id: "dev-y", url: `${url}/y` },
        { type: "purchase", ts: "2026-03-02T10:00:00Z", received_at: "2026-03-02T10:00:00Z", user_id: "b", anon_id: "dev-b", order_id: "o3", revenue: 7, items: items("milk", "eggs") },
        { type: "page_view", ts: "2026-03-03T02:00:00Z", received_at: "2026-03-03T02:00:00Z", anon_id: "dev-x", url: `${url}/x` },
      ].map((record) => JSON.stringify(record)),
      stepwise,
    );
    // Two pipelines of their own (names, lakes, checkpoints): their drains do not meet, so they run side by side.
    await Promise.all([drain(stepwise), drain(once)]);

    const actual = await lakeRows(join(directory, `skew-stepwise-${partitions}`));
    const rows = (table: string) => (actual[table] ?? []).map((text) => JSON.parse(text) as Record<string, unknown>);
    const features = rows("customer_features").map((row) => [String(row.snapshot_date), row.customer_id, Number(row.orders_total), row.revenue_total]); // int64 reads as text
    // The first drain wrote 1 March only; 2 and 3 March, reached by the devices ahead alone, waited for the rest of
    // their days. Before, the first drain wrote 2 March with o2 alone, and o3 went to late_events and into no snapshot.
    expect(features.sort()).toEqual([
      ["2026-03-01", "a", 1, 10],
      ["2026-03-02", "a", 1, 10],
      ["2026-03-02", "ahead", 1, 5],
      ["2026-03-02", "b", 1, 7],
      ["2026-03-03", "a", 1, 10],
      ["2026-03-03", "ahead", 1, 5],
      ["2026-03-03", "b", 1, 7],
      ["2026-03-03", "far", 1, 4],
    ]);
    // Basket's days likewise: 2 March once, with o2 and o3 ({milk, eggs} twice); before, the first drain wrote it with
    // o2 alone and o3 was late (window_closed).
    const day = (value: unknown) => String(value).slice(0, 10);
    expect(rows("basket_rules").map((rule) => [day(rule.window_start), rule.antecedent, rule.consequent, Number(rule.orders)]).sort()).toEqual([
      ["2026-03-01", "bread", "milk", 1],
      ["2026-03-01", "milk", "bread", 1],
      ["2026-03-02", "eggs", "milk", 2],
      ["2026-03-02", "milk", "eggs", 2],
      ["2026-03-03", "cake", "tea", 1],
      ["2026-03-03", "tea", "cake", 1],
    ]);
    // Hourly patterns of page items: 00:00 on 2 March once, with /s (the device ahead) and /y (after the drain), each in
    // 1 of its 2 sessions; before, the first drain wrote it with /s alone and the second run again with /y alone. The
    // hour of the device two days ahead (3 March 10:00, a session without pages) is written by no drain yet.
    const hour = (value: unknown) => String(value).slice(0, 16);
    expect(rows("patterns").map((row) => [hour(row.window_start), row.kind, row.pattern, Number(row.support), row.support_ratio]).sort()).toEqual([
      ["2026-03-01 23:00", "contiguous", "/x", 1, 1],
      ["2026-03-01 23:00", "subsequence", "/x", 1, 1],
      ["2026-03-02 00:00", "contiguous", "/s", 1, 0.5],
      ["2026-03-02 00:00", "contiguous", "/y", 1, 0.5],
      ["2026-03-02 00:00", "subsequence", "/s", 1, 0.5],
      ["2026-03-02 00:00", "subsequence", "/y", 1, 0.5],
      ["2026-03-03 02:00", "contiguous", "/x", 1, 1],
      ["2026-03-03 02:00", "subsequence", "/x", 1, 1],
    ]);
    expect(actual.late_events ?? []).toEqual([]);
    expect(actual).toEqual(await lakeRows(join(directory, `skew-once-${partitions}`)));
  }

  /** Every operator, hourly patterns of page items; one customer task (churnFeatures), `partitions` events tasks. */
  async function writeSkewPipelineFile(name: string, stream: string, partitions: number, out: string): Promise<string> {
    const file = `${out}.yaml`;
    await writeFile(
      file,
      [
        `name: ${name}`,
        "nats:",
        `  url: ${natsUrl}`,
        `  stream: ${stream}`,
        `  partitions: ${partitions}`,
        "operators:",
        "  - type: sessionize",
        "    gap: 30m",
        "    outOfOrderness: 1m",
        "    allowedLateness: 1h",
        "  - type: sequencePatterns",
        "    window: 1h",
        "    item: page_item",
        "    minSupport: 1",
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
        "  interval: 1s",
      ].join("\n") + "\n",
    );
    return file;
  }

  async function drainInTwoSteps(partitions: number): Promise<void> {
    const stream = uniqueStreamName("DRAINON");
    const options = { natsUrl, stream, interval: "1s", partitions };
    // Names of their own: a partitioned pipeline's lease bucket is named after it, and the teardown deletes recorded names.
    const stepwise = await writePipelineFile(directory, { ...options, name: uniqueStreamName("STEPWISE"), out: join(directory, `stepwise-${partitions}`) });
    const once = await writePipelineFile(directory, { ...options, name: uniqueStreamName("ONCE"), out: join(directory, `once-${partitions}`) });
    // Later days of the same shop: another seed, the same customer ids, five days after the first part's start.
    await publish("first", generateLines({ visitors: 300, days: 2, seed: 1, start: START }), stepwise);
    await drain(stepwise);
    await publish("later", generateLines({ visitors: 300, days: 2, seed: 2, start: START + 5 * DAY_MS }), stepwise);
    // Two pipelines of their own (names, lakes, checkpoints): their drains do not meet, so they run side by side.
    await Promise.all([drain(stepwise), drain(once)]);

    const expected = await lakeRows(join(directory, `once-${partitions}`));
    const actual = await lakeRows(join(directory, `stepwise-${partitions}`));
    const counts = rowCounts(expected);
    expect(counts.sessions).toBeGreaterThan(500);
    expect(counts.customer_features).toBeGreaterThan(100);
    expect(counts.patterns).toBeGreaterThan(0);
    // Before, the second drain took every event for late and dead-lettered it (a late row cannot hold a +∞ watermark).
    expect(rowCounts(actual)).toEqual(counts);
    expect(actual).toEqual(expected);
  }
});
