// The partition counts a partitioned pipeline's checkpoints record, and the start-up checks that refuse a changed count
// before any task runs, over real checkpoint directories (the stores' own commit and loadMeta).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pipelineSchema } from "../../src/config/pipeline.ts";
import { DirectoryCheckpointStore, type Checkpoint } from "../../src/runtime/checkpoint.ts";
import {
  assertNotPartitionedBefore,
  assertPartitionCountsUnchanged,
  partitionCountsOf,
  PartitionCountChangedError,
  type PartitionCounts,
} from "../../src/runtime/partition-count.ts";

const STREAM = { stream: "S", streamCreated: "2026-01-01T00:00:00Z" };

const config = (nats: Record<string, unknown>, operators: string[] = ["sessionize", "churnFeatures"]) =>
  pipelineSchema.parse({ name: "web", nats: { stream: "S", ...nats }, operators: operators.map((type) => ({ type })), sinks: [{ type: "parquet", path: "./out" }] });

describe("partition counts", () => {
  let lake: string;
  const storeOf = (name: string) => new DirectoryCheckpointStore(lake, name);
  const openExisting = (name: string) => Promise.resolve(storeOf(name));

  /** Commits epoch 1 of `name` on STREAM (or another stream) with the counts and state given. */
  async function commit(name: string, options: { partitions?: PartitionCounts; state?: Record<string, unknown>; position?: number; streamCreated?: string } = {}) {
    const checkpoint: Omit<Checkpoint, "state"> = {
      format: 1,
      pipeline: name,
      ...STREAM,
      ...(options.streamCreated !== undefined && { streamCreated: options.streamCreated }),
      epoch: 1,
      position: options.position ?? 10,
      pending: undefined,
      workerId: "w",
      committedAt: 0,
      ...(options.partitions !== undefined && { partitions: options.partitions }),
    };
    await storeOf(name).commit(checkpoint, JSON.stringify(options.state ?? {}));
  }

  beforeEach(async () => {
    lake = await mkdtemp(join(tmpdir(), "clickpipe-partition-count-"));
  });

  afterEach(async () => {
    await rm(lake, { recursive: true, force: true });
  });

  it("records the events count, and the customer count only where there are customers tasks", () => {
    expect(partitionCountsOf(config({ partitions: 4 }))).toEqual({ events: 4, customers: 1 });
    expect(partitionCountsOf(config({ partitions: 4, customerPartitions: 2 }, ["sessionize"]))).toEqual({ events: 4 });
  });

  it("lets a pipeline start whose checkpoints recorded its counts, or none (a new pipeline)", async () => {
    const four = config({ partitions: 4 });
    await expect(assertPartitionCountsUnchanged(four, STREAM, openExisting)).resolves.toBeUndefined();
    for (const task of ["events-0", "events-3", "customers-0", "dlq"]) await commit(`web.${task}`, { partitions: { events: 4, customers: 1 } });
    await expect(assertPartitionCountsUnchanged(four, STREAM, openExisting)).resolves.toBeUndefined();
  });

  it("refuses more events partitions than an events task's checkpoint recorded, naming the checkpoint and the fix", async () => {
    await commit("web.events-1", { partitions: { events: 2, customers: 1 } });
    const refusal = assertPartitionCountsUnchanged(config({ partitions: 3 }), STREAM, openExisting);
    await expect(refusal).rejects.toBeInstanceOf(PartitionCountChangedError);
    await expect(refusal).rejects.toThrow(
      `the checkpoint of task events-1 (${join(lake, "_checkpoints", "web.events-1")}) was written for 2 events partitions, but nats.partitions is now 3: ` +
        "a running pipeline cannot be repartitioned (each visitor's state lives in the partition its events went to). " +
        "Set nats.partitions: 2 again, or drain this pipeline and run 3 partitions under a new pipeline name and stream.",
    );
  });

  it("refuses fewer events partitions when only the dead-letter task's checkpoint remembers them", async () => {
    await commit("web.dlq", { partitions: { events: 8 } });
    await expect(assertPartitionCountsUnchanged(config({ partitions: 4 }, ["sessionize"]), STREAM, openExisting)).rejects.toThrow(
      "was written for 8 events partitions, but nats.partitions is now 4",
    );
  });

  it("refuses a changed customerPartitions where the customer stage runs", async () => {
    // Written before validate required customerPartitions: 1 for churnFeatures.
    await commit("web.customers-0", { partitions: { events: 2, customers: 2 } });
    await expect(assertPartitionCountsUnchanged(config({ partitions: 2 }), STREAM, openExisting)).rejects.toThrow(
      "was written for 2 customer partitions, but nats.customerPartitions is now 1: a running pipeline cannot be repartitioned " +
        "(each customer's state lives in the customer partition its records went to). Set nats.customerPartitions: 2 again",
    );
  });

  it("lets checkpoints from before the counts were recorded start, unless the customer stage's state tells another count", async () => {
    await commit("web.events-0");
    await commit("web.customers-0", { state: { _input: { taken: {}, ended: [5, 7], watermarks: [null, null], queued: [[], []] } } });
    await expect(assertPartitionCountsUnchanged(config({ partitions: 2 }), STREAM, openExisting)).resolves.toBeUndefined();
    await expect(assertPartitionCountsUnchanged(config({ partitions: 3 }), STREAM, openExisting)).rejects.toThrow(
      /^the checkpoint of task customers-0 \(.+\) was written for 2 events partitions, but nats.partitions is now 3/,
    );
  });

  it("ignores the checkpoints of another stream (they never resume) and a run of this one that read nothing unpartitioned", async () => {
    await commit("web.events-0", { partitions: { events: 2, customers: 1 }, streamCreated: "2025-06-01T00:00:00Z" });
    await commit("web", { position: 0 });
    await expect(assertPartitionCountsUnchanged(config({ partitions: 4 }), STREAM, openExisting)).resolves.toBeUndefined();
  });

  it("refuses to partition a pipeline that ran unpartitioned on this stream, and the reverse", async () => {
    await commit("web", { position: 42 });
    await expect(assertPartitionCountsUnchanged(config({ partitions: 4 }), STREAM, openExisting)).rejects.toThrow(
      "the checkpoint of web (" + join(lake, "_checkpoints", "web") + ") was written for 1 events partition, but nats.partitions is now 4",
    );
    await expect(assertNotPartitionedBefore(config({}), STREAM, openExisting)).resolves.toBeUndefined();
    await commit("web.events-0", { partitions: { events: 4, customers: 1 } });
    await expect(assertNotPartitionedBefore(config({}), STREAM, openExisting)).rejects.toThrow(
      "was written for 4 events partitions, but nats.partitions is now 1: a running pipeline cannot be repartitioned " +
        "(each visitor's state lives in the partition its events went to). Set nats.partitions: 4 again, or drain this pipeline " +
        "and run 1 partition under a new pipeline name and stream.",
    );
  });

  it("says an old partitioned checkpoint without counts is a partitioned run's, when an unpartitioned worker meets it", async () => {
    await commit("web.events-0");
    await expect(assertNotPartitionedBefore(config({}), STREAM, openExisting)).rejects.toThrow(
      "was written by a partitioned run (nats.partitions > 1), but nats.partitions is now 1: a running pipeline cannot be repartitioned " +
        "(each visitor's state lives in the partition its events went to). Set nats.partitions back to the count it ran with, or drain",
    );
  });
});
