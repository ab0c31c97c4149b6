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
