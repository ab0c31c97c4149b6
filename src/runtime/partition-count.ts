// The partition counts a partitioned pipeline ran with, recorded in every task's checkpoint and checked before any task
// of a worker starts: a visitor's state lives in the events task of the partition its events went to (a customer's in
// the customers task of theirs), so under another count the tasks would split it, and the first tasks to start would
// commit output and forward records before another task's restore noticed.
import type { PipelineConfig } from "../config/pipeline.ts";
import type { Checkpoint, CheckpointMeta } from "./checkpoint.ts";
import { checkpointMatches } from "./checkpoint.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { streamInfoOrUndefined } from "../transport/stream.ts";
import { openExistingCheckpointStore, type CheckpointStore } from "./checkpoint-store.ts";
import { eventsTaskName, planTasks, taskCheckpointName, type TaskPlan } from "./tasks.ts";

/** What a task's checkpoint records (Checkpoint.partitions): the counts its pipeline ran with. */
export interface PartitionCounts {
  /** nats.partitions: one events task each. */
  events: number;
  /** nats.customerPartitions, when the pipeline has customers tasks (customer-level operators). */
  customers?: number;
}

/**
 * The state key of a customers task's merge input (ForwardedInputState): one entry per events partition in `ended`,
 * which is how a checkpoint from before the counts were recorded tells its count.
 */
export const FORWARDED_INPUT_KEY = "_input";

export function partitionCountsOf(config: PipelineConfig): PartitionCounts {
  const hasCustomerTasks = planTasks(config).some((plan) => plan.kind === "customers");
  return { events: config.nats.partitions, ...(hasCustomerTasks && { customers: config.nats.customerPartitions }) };
}

type CountKey = "partitions" | "customerPartitions";

const COUNTED = {
  partitions: { noun: "events partition", runs: "partition", owner: "each visitor's state lives in the partition its events went to" },
  customerPartitions: { noun: "customer partition", runs: "customer partition", owner: "each customer's state lives in the customer partition its records went to" },
} as const;

/**
 * A pipeline's checkpoint was written for another partition count than the config now has. `checkpointed` is undefined
 * for a partitioned run's checkpoint from before the counts were recorded, met by an unpartitioned worker.
 */
export class PartitionCountChangedError extends Error {
  override name = "PartitionCountChangedError";
  constructor(checkpointed: number | undefined, configured: number, options: { checkpoint?: string; key?: CountKey } = {}) {
    const { checkpoint = "the customer stage's checkpoint", key = "partitions" } = options;
    const { noun, runs, owner } = COUNTED[key];
    const written = checkpointed === undefined ? `by a partitioned run (nats.${key} > 1)` : `for ${checkpointed} ${noun}${checkpointed === 1 ? "" : "s"}`;
    const again = checkpointed === undefined ? `Set nats.${key} back to the count it ran with` : `Set nats.${key}: ${checkpointed} again`;
    super(
      `${checkpoint} was written ${written}, but nats.${key} is now ${configured}: ` +
        `a running pipeline cannot be repartitioned (${owner}). ` +
        `${again}, or drain this pipeline and run ${configured} ${runs}${configured === 1 ? "" : "s"} under a new pipeline name and stream.`,
    );
  }
}

/**
 * Why a task's checkpoint cannot go on under `configured`, or undefined: the counts it recorded differ; without them (a
 * checkpoint from before they were recorded) a customers task's merge state, when `state` is given, tells the events
 * count; otherwise it says nothing and restores.
 */
export function partitionCountChange(
  checkpoint: { partitions?: PartitionCounts; state?: Record<string, unknown> },
  configured: PartitionCounts,
  name: string,
): PartitionCountChangedError | undefined {
  const recorded = checkpoint.partitions;
  if (recorded === undefined) {
    const ended = (checkpoint.state?.[FORWARDED_INPUT_KEY] as { ended?: unknown } | undefined)?.ended;
    if (!Array.isArray(ended) || ended.length === configured.events) return undefined;
    return new PartitionCountChangedError(ended.length, configured.events, { checkpoint: name });
  }
  if (recorded.events !== configured.events) return new PartitionCountChangedError(recorded.events, configured.events, { checkpoint: name });
  if (recorded.customers !== undefined && configured.customers !== undefined && recorded.customers !== configured.customers) {
    return new PartitionCountChangedError(recorded.customers, configured.customers, { checkpoint: name, key: "customerPartitions" });
  }
  return undefined;
}

/** A store to read a checkpoint from, or undefined when it has none and opening it would create one (a KV bucket). */
export type OpenExistingStore = (checkpointName: string) => Promise<Pick<CheckpointStore, "load" | "loadMeta" | "location"> | undefined>;

/**
 * Before a partitioned pipeline's worker claims a task: throws PartitionCountChangedError when the last checkpoint of
 * any of its tasks on this stream was written for other counts, or when the pipeline ran unpartitioned on this stream
 * (its tasks would read it again from the start). Reads metadata only, and a customers task's state only when its
 * checkpoint is from before the counts were recorded.
 */
export async function assertPartitionCountsUnchanged(
  config: PipelineConfig,
  stream: { stream: string; streamCreated: string },
  openExisting: OpenExistingStore,
): Promise<void> {
  const configured = partitionCountsOf(config);
  const unpartitioned = await lastCheckpointOf(config.name, stream, openExisting);
  if (unpartitioned !== undefined && unpartitioned.meta.position > 0) {
    throw new PartitionCountChangedError(1, configured.events, { checkpoint: `the checkpoint of ${config.name} (${unpartitioned.location})` });
  }
  const tasks = await Promise.all(
    planTasks(config).map(async (plan: TaskPlan) => ({ plan, last: await lastCheckpointOf(taskCheckpointName(config.name, plan), stream, openExisting) })),
  );
  for (const { plan, last } of tasks) {
    if (last === undefined) continue;
    const name = `the checkpoint of task ${plan.name} (${last.location})`;
    const recorded = partitionCountChange(last.meta, configured, name);
    if (recorded !== undefined) throw recorded;
    if (last.meta.partitions !== undefined || plan.kind !== "customers") continue;
    const checkpoint = await last.load();
    const inState = checkpoint === undefined ? undefined : partitionCountChange({ state: checkpoint.state }, configured, name);
    if (inState !== undefined) throw inState;
  }
}

/**
 * An unpartitioned run's worker: throws PartitionCountChangedError when the pipeline ran partitioned on this stream (its
 * first events task has a checkpoint there), as this worker would read the whole stream again.
 */
export async function assertNotPartitionedBefore(
  config: PipelineConfig,
  stream: { stream: string; streamCreated: string },
  openExisting: OpenExistingStore,
): Promise<void> {
  const firstEventsTask = { name: eventsTaskName(0) };
  const last = await lastCheckpointOf(taskCheckpointName(config.name, firstEventsTask), stream, openExisting);
  if (last === undefined) return;
  // An older checkpoint, from before the counts were recorded, says only that the pipeline ran partitioned.
  const checkpoint = `the checkpoint of task ${firstEventsTask.name} (${last.location})`;
  throw new PartitionCountChangedError(last.meta.partitions?.events, config.nats.partitions, { checkpoint });
}

interface LastCheckpoint {
  meta: CheckpointMeta;
  location: string;
  load(): Promise<Checkpoint<unknown> | undefined>;
}

/**
 * The last checkpoint named `checkpointName` when it belongs to this stream (a checkpoint of another stream never
 * resumes). `stream` may be a worker's whole binding, whose own `pipeline` must not replace checkpointName.
 */
async function lastCheckpointOf(checkpointName: string, stream: { stream: string; streamCreated: string }, openExisting: OpenExistingStore): Promise<LastCheckpoint | undefined> {
  const store = await openExisting(checkpointName);
  const meta = await store?.loadMeta();
  if (store === undefined || meta === undefined || !checkpointMatches(meta, { ...stream, pipeline: checkpointName })) return undefined;
  return { meta, location: store.location, load: () => store.load() };
}

/**
 * The same checks as a worker's, before `run` starts its collector and log tailers: under changed counts those would
 * publish events onto the new partitions before the worker refused, and setting the old count back would then fail
 * on a stream holding events of more partitions. A stream that does not exist yet has no checkpoint to check.
 */
export async function assertPartitionCountsBeforeIntake(config: PipelineConfig, connection: NatsConnection): Promise<void> {
  const info = await streamInfoOrUndefined(await jetstreamManager(connection), config.nats.stream);
  if (info === undefined) return;
  const stream = { stream: config.nats.stream, streamCreated: info.created };
  const sinkPath = config.sinks.find((sink) => sink.type === "parquet")?.path ?? ".";
  const openExisting: OpenExistingStore = (name) =>
    openExistingCheckpointStore(config.checkpoint.store, { sinkPath, pipelineName: name, connection, replicas: config.nats.replicas });
  if (config.nats.partitions > 1) await assertPartitionCountsUnchanged(config, stream, openExisting);
  else await assertNotPartitionedBefore(config, stream, openExisting);
}
