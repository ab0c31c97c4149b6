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

  it("after a drain whose input held device clocks ahead (minutes past midnight, two days), the next run writes each day once, with the rest of it", async () => {
    const stream = uniqueStreamName("DRAINSKEW");
    const stepwise = await writeChurnPipelineFile(uniqueStreamName("SKEWSTEP"), stream, join(directory, "skew-stepwise"));
    const once = await writeChurnPipelineFile(uniqueStreamName("SKEWONCE"), stream, join(directory, "skew-once"));
    const url = "https://shop.example/";
    // Collected as it happened (received_at), but one device's clock runs 4 minutes ahead, within maxFutureSkew (5m):
    // sent at 23:58, stamped 00:02 the next day; another's runs two days ahead (its time capped for watermarks).
    await publish(
      "skew-first",
      [
        { type: "purchase", ts: "2026-03-01T09:00:00Z", received_at: "2026-03-01T09:00:00Z", user_id: "a", anon_id: "dev-a", order_id: "o1", revenue: 10 },
        { type: "purchase", ts: "2026-03-02T00:02:00Z", received_at: "2026-03-01T23:58:00Z", user_id: "ahead", anon_id: "dev-ahead", order_id: "o2", revenue: 5 },
        { type: "purchase", ts: "2026-03-03T10:00:00Z", received_at: "2026-03-01T10:00:00Z", user_id: "far", anon_id: "dev-far", order_id: "o4", revenue: 4 },
        { type: "page_view", ts: "2026-03-01T23:59:00Z", received_at: "2026-03-01T23:59:00Z", anon_id: "dev-x", url },
      ].map((record) => JSON.stringify(record)),
      stepwise,
    );
    await drain(stepwise);
    await publish(
      "skew-later",
      [
        { type: "purchase", ts: "2026-03-02T10:00:00Z", received_at: "2026-03-02T10:00:00Z", user_id: "b", anon_id: "dev-b", order_id: "o3", revenue: 7 },
        { type: "page_view", ts: "2026-03-03T02:00:00Z", received_at: "2026-03-03T02:00:00Z", anon_id: "dev-x", url },
      ].map((record) => JSON.stringify(record)),
      stepwise,
    );
    await drain(stepwise);
    await drain(once);

    const actual = await lakeRows(join(directory, "skew-stepwise"));
    const features = actual.customer_features.map((text) => {
      const row = JSON.parse(text) as Record<string, unknown>;
      return [String(row.snapshot_date), row.customer_id, Number(row.orders_total), row.revenue_total]; // int64 reads as text
    });
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
    expect(actual.late_events ?? []).toEqual([]);
    expect(actual).toEqual(await lakeRows(join(directory, "skew-once")));
  });

  /** sessionize and churnFeatures alone: basket and sequencePatterns keep the windows a drain wrote closed. */
  async function writeChurnPipelineFile(name: string, stream: string, out: string): Promise<string> {
    const file = `${out}.yaml`;
    await writeFile(
      file,
      [
        `name: ${name}`,
        "nats:",
        `  url: ${natsUrl}`,
        `  stream: ${stream}`,
        "operators:",
        "  - type: sessionize",
        "    gap: 30m",
        "    outOfOrderness: 1m",
        "    allowedLateness: 1h",
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
    await drain(stepwise);
    await drain(once);

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
