// A worker of a partitioned pipeline (nats.partitions > 1): claims a fair share of the pipeline's tasks through
// leases and runs each as its own checkpointed worker; `--worker-id` names it among the others.
import type { Server } from "node:http";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { PipelineConfig } from "../config/pipeline.ts";
import { Metrics } from "../metrics/registry.ts";
import { EncoderPool } from "../sinks/parquet.ts";
import { metricsUrl, startMetricsServer } from "../metrics/server.ts";
import { portsOf } from "../config/port-range.ts";
import { connectNats } from "../transport/connection.ts";
import { sampleServerClock } from "../transport/server-clock.ts";
import { ensureStream, streamInfoOrUndefined, streamOptions, streamPartitionMismatch } from "../transport/stream.ts";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import { StaleCheckpointError } from "./checkpoint.ts";
import { openCheckpointStore, openExistingCheckpointStore } from "./checkpoint-store.ts";
import { assertPartitionCountsUnchanged } from "./partition-count.ts";
import { assertConfigUnchanged, checkpointStoresOf } from "./config-change.ts";
import { anyWorkerPresent, leaseBucketName, leaseStaleAfterMs, runLeasedTasks, type TaskLease } from "./partition-leases.ts";
import { eventsTaskName, planTasks, taskCheckpointName, type TaskPlan } from "./tasks.ts";
import { drainTargets, drainedPast, runWorker, type WorkerOptions, type WorkerSummary } from "./worker.ts";
import { runEach } from "./cleanup.ts";

interface DrainedMarker {
  drainedAt: number[];
  /** The task's checkpoint epoch after its drain, and the stream it read: the marker holds only while both do. */
  epoch: number;
  streamCreated: string;
}

export interface PartitionedSummary extends WorkerSummary {
  /** Task runs this worker finished or handed over, in the order they ended. */
  tasks: { task: string; outcome: "finished" | "handedOver" | "lost"; position: number; epoch: number }[];
}

/** The drain targets a worker decided (or took over), for every task, in the lease bucket beside the markers. */
export interface DrainRecord {
  targets: Record<string, number[]>;
  streamCreated: string;
}
export const DRAIN_KEY = "drain.targets";
/** A scratch key of the lease bucket, written only to learn the NATS server's time (serverNowMs). */
export const DRAIN_CLOCK_KEY = "drain.clock";
/**
 * The NATS server's time now, on the clock that stamps `kv`'s entries (sampleServerClock on a scratch key of the
 * bucket). Date.now() against an entry's stamp would add any skew between this host and the server: a stale record
 * looked fresh, a fresh one stale. Cheaper ways fall short: stream info's `ts` is missing before nats-server 2.10; the
 * workers' heartbeat records give no time now when none is present, the case this decides; and revisions count
 * writes, not time (with no worker writing, an old record stays the newest).
 */
export async function serverNowMs(kv: KV): Promise<number> {
  return (await sampleServerClock(kv, DRAIN_CLOCK_KEY)).stamp;
}

/**
 * The drain's targets from the stream as it is now. A customers task's are its events tasks' own, not looked up again:
 * an event stored between the two looks would put its target past an events task that counts as drained at its own
 * (not run again), whose end record then never reaches it.
 */
export async function currentTargets(manager: JetStreamManager, config: PipelineConfig, plans: readonly TaskPlan[]): Promise<Map<string, number[]>> {
  const targets = new Map<string, number[]>();
  for (const plan of plans) if (plan.kind !== "customers") targets.set(plan.name, await drainTargets(manager, config, plan));
  for (const plan of plans) {
    if (plan.kind === "customers") targets.set(plan.name, Array.from({ length: config.nats.partitions }, (_, partition) => targets.get(eventsTaskName(partition))![0]));
  }
  return new Map(plans.map((plan) => [plan.name, targets.get(plan.name)!]));
}

/**
 * This worker's drain targets (see runPartitionedWorker): the recorded ones while another live worker drains toward
 * them, or they were recorded within the lease staleness limit by the NATS server's clock (a worker that decided them
 * announces itself a moment later: workers started together would otherwise each record the stream as it is when they
 * look), and some task has not reached them yet; otherwise `current`, recorded for the workers that join later. Of two
 * workers deciding at once, the one whose write lost takes the other's.
 */
export async function decideDrainTargets(
  markers: KV,
  streamCreated: string,
  current: Map<string, number[]>,
  completeFor: (plan: TaskPlan, targets: ReadonlyMap<string, number[]>) => Promise<boolean>,
  plans: readonly TaskPlan[],
): Promise<Map<string, number[]>> {
  const recorded = (entry: KvEntry | null) => {
    if (entry?.operation !== "PUT") return undefined;
    const record = entry.json<DrainRecord>();
    const targets = new Map(Object.entries(record.targets));
    const fits = record.streamCreated === streamCreated && [...current].every(([task, own]) => targets.get(task)?.length === own.length);
    return fits ? targets : undefined;
  };
  const entry = await markers.get(DRAIN_KEY);
  const joined = recorded(entry);
  if (joined !== undefined) {
    // One clock for both looks: the record's age and the workers' heartbeats' (anyWorkerPresent), the server's.
    const serverNow = await serverNowMs(markers);
    if (serverNow - entry!.created.getTime() <= leaseStaleAfterMs() || (await anyWorkerPresent(markers, serverNow))) {
      for (const plan of plans) if (!(await completeFor(plan, joined))) return joined;
    }
  }
  const record: DrainRecord = { targets: Object.fromEntries(current), streamCreated };
  const failure = await (entry === null ? markers.create(DRAIN_KEY, JSON.stringify(record)) : markers.update(DRAIN_KEY, JSON.stringify(record), entry.revision)).then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  if (failure === undefined) return current;
  const after = await markers.get(DRAIN_KEY);
  // Unchanged: no other worker's write beat this one, NATS failed it (a timeout): the record it holds is not this
  // drain's, and targets no other worker can see would not be one set per drain.
  if ((after?.revision ?? 0) === (entry?.revision ?? 0)) throw failure.error;
  return recorded(after) ?? current;
}

export async function runPartitionedWorker(options: WorkerOptions): Promise<PartitionedSummary> {
  const { config } = options;
  const log = options.log ?? ((line: string) => console.error(line));
  const workerId = options.workerId ?? `worker-${process.pid}`;
  const metrics = options.metrics ?? new Metrics({ defaultMetrics: config.metrics !== undefined });
  metrics.forTasks();
  const plans = planTasks(config);
  const summary: PartitionedSummary = { messages: 0, events: 0, invalid: 0, deadLetters: 0, late: 0, discarded: 0, position: 0, epoch: 0, tasks: [] };
  const connection = await connectNats(config.nats);
  // One pool of encoder threads for every task: threads beyond the cores only add start-up and contention.
  const encoders = new EncoderPool();
  let metricsServer: Server | undefined;
  try {
    // Created once here so that the tasks' concurrent first calls find it.
    const manager = await jetstreamManager(connection);
    const sinkPath = config.sinks.find((sink) => sink.type === "parquet")?.path ?? ".";
    // Before any task is claimed: under changed counts the first tasks to start would commit output and forward
    // records before another task's restore noticed the change (PartitionCountChangedError names the fix). And before
    // ensureStream, whose nats.maxAge / nats.maxBytes discard messages at once: a refused start leaves the stream be.
    const existing = await streamInfoOrUndefined(manager, config.nats.stream);
    const openExisting = (name: string) =>
      openExistingCheckpointStore(config.checkpoint.store, { sinkPath, pipelineName: name, connection, replicas: config.nats.replicas });
    // (A stream that does not exist yet is created anew: no checkpoint is of it.)
    if (existing !== undefined) await assertPartitionCountsUnchanged(config, { stream: config.nats.stream, streamCreated: existing.created }, openExisting);
    // Likewise a task whose state cannot follow the config's changes (ConfigChangedError names the key and the fix).
    await assertConfigUnchanged(config, existing?.created, ...checkpointStoresOf(config, connection));
    const info = await ensureStream(manager, config.nats.stream, streamOptions(config.nats, log));
    const { error } = await streamPartitionMismatch(manager, config.nats.stream, config.nats.partitions);
    if (error !== undefined) throw new Error(error);
    const markers = await new Kvm(connection).create(leaseBucketName(config.name), { history: 1, replicas: config.nats.replicas });
    /**
     * A drained task's marker, written once its last commit, renames and forwarding all finished: other workers then
     * need not run it again. It counts only while the task's last checkpoint is the one it was written after (a
     * wiped or re-run pipeline has other checkpoints).
     */
    const markerKey = (plan: TaskPlan) => `drained.${plan.name}`;
    const storeOf = (plan: TaskPlan) =>
      openCheckpointStore(config.checkpoint.store, { sinkPath, pipelineName: taskCheckpointName(config.name, plan), connection, replicas: config.nats.replicas });
    const completeFor = async (plan: TaskPlan, targets: ReadonlyMap<string, number[]>) => {
      const entry = await markers.get(markerKey(plan));
      if (entry === null || entry.operation !== "PUT") return false;
      const marker = entry.json<DrainedMarker>();
      return marker.streamCreated === info.created && marker.epoch === (await (await storeOf(plan)).lastEpoch()) && drainedPast(marker.drainedAt, targets.get(plan.name)!);
    };
    // A drain ends when every task drained at least through its targets, by this worker or another. They are decided
    // once per drain, by its first worker (the stream as it is then), and kept in the lease bucket: a worker joining a
    // drain that another live worker runs takes them over instead of the stream as it is when it joins (with no worker
    // live, the recorded drain ended or was stopped: a new one starts at the stream as it is now). Its customers
    // tasks wait for exactly them, its events tasks end at or past them, and markers are judged against them: every
    // worker of the drain agrees which tasks still need a run, and no customers task waits for an end record past those
    // of events tasks already marked drained (nobody would run them again). Events arriving during the drain are the
    // next drain's, unless an events task read them before it ended: it forwarded them before its end record, and the
    // customer stage takes them as well.
    const targets = options.drain ? await decideDrainTargets(markers, info.created, await currentTargets(manager, config, plans), completeFor, plans) : new Map<string, number[]>();
    const isComplete = (plan: TaskPlan) => completeFor(plan, targets);
    const markDrained = async (plan: TaskPlan, result: WorkerSummary) => {
      if (result.drainedAt === undefined) return;
      const marker: DrainedMarker = { drainedAt: result.drainedAt, epoch: result.epoch, streamCreated: info.created };
      await markers.put(markerKey(plan), JSON.stringify(marker));
    };
    if (config.metrics !== undefined) {
      metricsServer = await startMetricsServer(metrics, portsOf(config.metrics.port), config.metrics.host);
      log(`metrics on ${metricsUrl(metricsServer, config.metrics.host)}`);
    }
    log(`${config.name}: worker ${workerId} joins for ${plans.length} tasks (${plans.map((plan) => plan.name).join(", ")})`);
    await runLeasedTasks(
      connection,
      config.name,
      {
        workerId,
        tasks: plans.map((plan) => plan.name),
        drain: options.drain,
        replicas: config.nats.replicas,
        isComplete: (task) => isComplete(plans.find((plan) => plan.name === task)!),
        signal: options.signal,
        log,
      },
      async (lease: TaskLease) => {
        const plan = plans.find((candidate) => candidate.name === lease.task)!;
        // The task stops (and checkpoints) when the lease is handed over or the worker shuts down; a lost lease
        // fences it: its next commit fails and nothing of it survives.
        const signal = AbortSignal.any([lease.handOver, lease.lost]);
        log(`${config.name}: worker ${workerId} runs ${plan.name}`);
        try {
          // A customers task's drain learns from the markers which events tasks will not send their end records again.
          const sourceDrained = (partition: number) => isComplete(plans.find((candidate) => candidate.kind === "events" && candidate.partition === partition)!);
          const result = await runWorker({ ...options, workerId, metrics, log, signal, task: { plan, lock: lease, sourceDrained, drainTargets: targets.get(plan.name) }, encoders });
          if (options.drain && !lease.lost.aborted) await markDrained(plan, result);
          summary.messages += result.messages;
          summary.events += result.events;
          summary.invalid += result.invalid;
          summary.deadLetters += result.deadLetters;
          summary.late += result.late;
          summary.discarded += result.discarded;
          const outcome = lease.handOver.aborted || lease.lost.aborted ? "handedOver" : "finished";
          summary.tasks.push({ task: plan.name, outcome, position: result.position, epoch: result.epoch });
          return outcome;
        } catch (error) {
          // Fenced, by the lease or by the checkpoint store (another worker took the task over and committed first,
          // before this worker's heartbeat noticed): the task stops, nothing of it survives, the worker goes on.
          if (!(error instanceof StaleCheckpointError)) throw error;
          log(`${config.name}: ${plan.name} fenced: ${error.message}`);
          summary.tasks.push({ task: plan.name, outcome: "lost", position: 0, epoch: 0 });
          return "handedOver";
        }
      },
    );
    return summary;
  } finally {
    // Each step whatever the others do: an open connection would keep the process alive after its error.
    await runEach(log, [() => metricsServer?.close(), () => encoders.close(), () => connection.drain().catch(() => connection.close())]);
  }
}
