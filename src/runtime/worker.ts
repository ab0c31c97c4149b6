// The worker loop: read the stream from the checkpointed position, decode, run the operators, checkpoint, commit Parquet.
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { createHash, randomBytes } from "node:crypto";
import { stat, unlink } from "node:fs/promises";
import type { Server } from "node:http";
import { join } from "node:path";
import type { PipelineConfig } from "../config/pipeline.ts";
import { decodeForOperators, isDecodeFailure, type DecodeFailure } from "../events/decode.ts";
import type { ClickEvent } from "../events/event.ts";
import { invalidReasonCode } from "../metrics/labels.ts";
import { Metrics, removeTaskSeries, type InvalidReason, type TaskLabels } from "../metrics/registry.ts";
import { metricsUrl, retryMetricsServer, startMetricsServer } from "../metrics/server.ts";
import { portsOf, type PortRange } from "../config/port-range.ts";
import { createOperator } from "../operators/index.ts";
import { miningThreadsEnabled } from "../operators/mining/pattern-miner.ts";
import type { OperatorEnvironment } from "../operators/environment.ts";
import { IN_PROGRESS_SUFFIX, ParquetSink, type EncoderPool, type PendingCommit } from "../sinks/parquet.ts";
import { botsTable, invalidEventsTable, lateEventsTable } from "../sinks/system-tables.ts";
import { connectNats } from "../transport/connection.ts";
import { decodeDeadLetter } from "../transport/dead-letter.ts";
import { DEAD_LETTER_IDS_KEY, DeadLetterIds } from "./dead-letter-ids.ts";
import { DEFAULT_RETRY_FOR_MS, NatsUnansweredError, isTransientNatsError, retryWhileNatsRecovers } from "../transport/nats-retry.ts";
import { splitBatch } from "../transport/batch-codec.ts";
import { ensureStream, lastSequenceOfSubject, streamOptions, streamPartitionMismatch } from "../transport/stream.ts";
import { eventsSubject, parseSubject } from "../transport/subjects.ts";
import { StreamGoneError, StreamReader, streamReplaced, type DiscardedSequences, type StreamMessage } from "../transport/reader.ts";
import { StaleCheckpointError, checkpointMatches, type Checkpoint } from "./checkpoint.ts";
import { encodeInSlices } from "./json-slices.ts";
import {
  ForwardedInput,
  Forwarder,
  forwardSourceOf,
  forwardingPlan,
  forwardMessageBytes,
  publishForwardBatch,
  type ForwardBatch,
  type ForwardSource,
  type ForwardedInputState,
  committedLineage,
  LINEAGE_KEY,
} from "./forwarding.ts";
import { eventsTaskName, planTasks, taskCheckpointName, type TaskPlan } from "./tasks.ts";
import { openCheckpointStore, openExistingCheckpointStore, type CheckpointStore, type HeldCheckpointLock } from "./checkpoint-store.ts";
import { describeHolder, lockStaleFromEnv, mayStillHoldHere } from "./lock-file.ts";
import { isPortInUse } from "./listen.ts";
import { assertConfigUnchangedBeforeIntake, checkpointStoresOf, compareWithCheckpoint, recordedSettingsOf, sharedLakeError, storeSwitchError, type RecordedSettings } from "./config-change.ts";
import { assertNotPartitionedBefore, assertPartitionCountsBeforeIntake, FORWARDED_INPUT_KEY, partitionCountChange, partitionCountsOf, type PartitionCounts } from "./partition-count.ts";
import { lowerHelpersForDrain } from "./helper-threads.ts";
import { orphanedPartsError } from "./orphaned-parts.ts";
import { tuneScavenger } from "./scavenger.ts";
import { crashIfInjected, crashIfInjectedInMerge, mergeCrashHooks, mergeCrashPlanned, noteFirstEpoch, poisonOperatorFromEnv, renamesBeforeCrash } from "./fault-injection.ts";
import { Pipeline, type RowSink } from "./pipeline.ts";
import { isForgotten, isForgottenRaw, isForgottenRow, loadTombstones, tombstonesFile } from "./tombstones.ts";
import { parquetFilesChangedSince } from "../sinks/parquet-rewrite.ts";
import { releaseEncoded, type EncodedJson } from "./utf8-segments.ts";
import { runEach } from "./cleanup.ts";

type ParquetSinkConfig = Extract<PipelineConfig["sinks"][number], { type: "parquet" }>;

export interface WorkerOptions {
  config: PipelineConfig;
  /** Process what is in the stream at start, then flush every window and snapshot, commit and return. */
  drain?: boolean;
  workerId?: string;
  /** Aborting stops intake, checkpoints and returns (SIGINT/SIGTERM in the CLI). */
  signal?: AbortSignal;
  log?: (line: string) => void;
  metrics?: Metrics;
  now?: () => number;
  /**
   * Times one event may make an operator throw before it is dead-lettered (reason operator_error). Each failure
   * rolls state back to the last checkpoint and replays from there. Default 3.
   */
  maxEventAttempts?: number;
  /** Another worker's lock whose heartbeat is older than this is taken over. Default CLICKPIPE_LOCK_STALE_MS or 30 s. */
  lockStaleAfterMs?: number;
  /**
   * How long requests to NATS that fail for a moment (a restart, a leader election) are retried before the run fails
   * with an error naming what it waited for. Default 60 s, as retryWhileNatsRecovers.
   */
  natsRetryForMs?: number;
  /**
   * A partitioned pipeline's task (one subject, own checkpoint and part names), run under `lock`, a lease the
   * caller holds; the caller also serves metrics. Without it the worker runs the whole pipeline under its own lock.
   */
  task?: {
    plan: TaskPlan;
    lock: HeldCheckpointLock;
    /**
     * A customers task's drain: whether the events task of a partition drained already, its end record published
     * (runPartitionedWorker's markers), so that none comes again: one this task has not read was discarded.
     */
    sourceDrained?: (partition: number) => Promise<boolean>;
    /** A drain's targets for this task (see drainTargets), decided once for the whole drain by runPartitionedWorker. */
    drainTargets?: number[];
  };
  /** Parquet encoder threads shared by the tasks of one process (default: the sink's own). */
  encoders?: EncoderPool;
  /** Starts the metrics server, at start and on each retry after a takeover (default startMetricsServer; tests fail it). */
  startMetricsServer?: (metrics: Metrics, port: number | PortRange, host: string) => Promise<Server>;
}

export interface WorkerSummary {
  messages: number;
  events: number;
  invalid: number;
  deadLetters: number;
  /** Events sent to late_events. */
  late: number;
  /** Stream messages discarded by the stream's limits before this worker read them (see noteDiscarded). */
  discarded: number;
  position: number;
  epoch: number;
  /** A task's drain: the targets it drained through (see drainTargets), once its last commit finished. */
  drainedAt?: number[];
}

/** Sink rows buffered beyond this force a checkpoint, so memory stays bounded whatever the interval. */
const MAX_BUFFERED_ROWS = 500_000;
const DEFAULT_MAX_EVENT_ATTEMPTS = 3;
/** Longest stretch of message processing without letting timers and I/O callbacks run. */
const YIELD_EVERY_MS = 20;
/**
 * How often a live task checks whether it is caught up with the stream (refreshReadThrough): two requests to NATS. A
 * stream discarding messages stored since the last check would be counted as possibly lost at the task's next start.
 */
const READ_THROUGH_REFRESH_MS = 30_000;
/** How often a customers task's drain, caught up with its subject, looks whether end records it waits for were discarded. */
const DISCARDED_ENDS_CHECK_MS = 1_000;
/** How often a worker that took the lock over from a stalled holder tries the metrics port that holder still has. */
const METRICS_RETRY_MS = 1_000;
/** Checkpoint state keys of a task's own bookkeeping beside the operators' (no operator has these ids). */
const FORWARD_KEY = "_forward";
/** The tombstones version (their file's mtime) whose person's rows are erased from everything this state committed. */
const TOMBSTONES_KEY = "_tombstones";

export async function runWorker(options: WorkerOptions): Promise<WorkerSummary> {
  // A drain on few cores scavenges on the main thread alone, for the rest of the process (src/runtime/scavenger.ts).
  tuneScavenger(options.drain === true);
  const worker = new Worker(options);
  return worker.run();
}

/**
 * `clickpipe forget` changed the tombstones while the worker ran: rows appended before, buffered or in a commit under
 * way, may name the person. The round stops, state rolls back to the last checkpoint, what was committed since the
 * tombstones changed is erased, and the replay drops the person.
 */
class TombstonesChanged extends Error {
  override name = "TombstonesChanged";
}

/** Commits whose parts landed this long before the tombstones' write are erased too (clock and file-time slack). */
const TOMBSTONE_SLACK_MS = 5_000;

export { StreamGoneError };

/** An operator threw on one event: the round stops, state rolls back to the last checkpoint. */
class OperatorFailure extends Error {
  constructor(
    readonly key: string,
    override readonly cause: unknown,
  ) {
    super(`operator failed on event ${key}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "OperatorFailure";
  }
}

class Worker {
  private readonly config: PipelineConfig;
  private readonly task: TaskPlan | undefined;
  /** The checkpoint's name: the pipeline's, or `<pipeline>.<task>` for a task of a partitioned pipeline. */
  private readonly checkpointName: string;
  /** A task's: the partition counts recorded in each of its checkpoints and checked against the one it resumes. */
  private readonly partitionCounts: PartitionCounts | undefined;
  /** The operators this worker runs (a task's share of the pipeline's), by type. */
  private readonly operatorTypes: readonly string[];
  /** What each checkpoint records of the settings its state depends on, compared with the one it resumes. */
  private readonly settings: RecordedSettings;
  private readonly drain: boolean;
  private readonly workerId: string;
  /** Prefix of this pipeline's part names: recovery deletes only its own in-progress parts in a shared lake. */
  private readonly writerId: string;
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  /**
   * Processing time as the operators see it (ctx.now()), read from `now` once per message and per tick: the operators
   * ask for it per event (each watermark tracker), and Date.now() costs ≈ 50 ns on these VMs (kvm-clock), i.e. three
   * calls per event were ≈ 2–3% of the main thread (bench/OPTIMIZATIONS.md, session 14).
   */
  private processingTime = 0;
  private readonly metrics: Metrics;
  private readonly maxEventAttempts: number;
  private readonly dropsBots: boolean;
  /** A message's lines decoded (decodeForOperators), reused from message to message. */
  private readonly lineEvents: (ClickEvent | DecodeFailure | undefined)[] = [];
  private readonly summary: WorkerSummary = { messages: 0, events: 0, invalid: 0, deadLetters: 0, late: 0, discarded: 0, position: 0, epoch: 0 };
  /** The summary's counts as of the last committed checkpoint: a rollback replays from there, so they go back too. */
  private committedSummary: WorkerSummary = { ...this.summary };
  /** Failed attempts per event (`<sequence>:<line>`), kept across rollbacks. */
  private readonly attempts = new Map<string, number>();
  /** Events that failed maxEventAttempts times: dead-lettered instead of processed on replay. */
  private readonly poisoned = new Map<string, string>();
  /** People `clickpipe forget` erased (loaded at start): their events are dropped before any operator. */
  private tombstones: ReadonlySet<string> = new Set();
  /** mtime of the tombstones file last loaded: `clickpipe forget` on a running worker takes effect within a second. */
  private tombstonesVersion = 0;
  /** The tombstones version this worker's committed output is clean of (TOMBSTONES_KEY). */
  private tombstonesApplied = 0;
  /** Ids of the dead letters written within the retention (checkpointed): one sent again is not written twice. */
  private deadLetterIds!: DeadLetterIds;
  /** Test-only (CLICKPIPE_THROW_ON_EVENTS): one instance per process, so "fails n times" spans rollbacks. */
  private readonly injectedPoison = poisonOperatorFromEnv();
  private sinkConfig!: ParquetSinkConfig;
  private pipeline!: Pipeline;
  private sink!: ParquetSink;
  private store!: CheckpointStore;
  private lock!: HeldCheckpointLock;
  private reader: StreamReader | undefined;
  /** Events tasks with a customer stage: what to forward, and the last committed batch not yet known published. */
  private forwarder: Forwarder | undefined;
  private forwardedBatch: ForwardBatch | undefined;
  /** Customers tasks: the merged, deduplicated forwarded records. */
  private forwardedInput: ForwardedInput | undefined;
  /** A task's drain ended (end of input flushed) at these targets; reported once the final commit finished. */
  private drainedAt: number[] | undefined;
  /** Events tasks: this task's lineage (see LINEAGE_KEY). */
  private lineage = "";
  /** Customers tasks: per events task, its current lineage as its checkpoint says (looked up when a message differs). */
  private readonly sourceLineages = new Map<string, string | undefined>();
  private readonly staleLineages = new Set<string>();
  private connection!: NatsConnection;
  private js!: JetStreamClient;
  private binding!: { pipeline: string; stream: string; streamCreated: string };
  private position = 0;
  /** The stream sequence of the message being handled (origin of forwarded events). */
  private currentSequence = 0;
  private committedPosition = 0;
  /**
   * A task's: the stream sequence through which it read every message of its subject (Checkpoint.readThrough), at or
   * past its position; moved on while it is caught up (refreshReadThrough). An unpartitioned worker reads every
   * subject, so its position is that sequence already.
   */
  private readThrough = 0;
  private committedReadThrough = 0;
  private epoch = 0;
  private lastCheckpointAt = 0;
  private committing: Promise<void> | undefined;
  /** An error raised outside the loop (a checkpoint, a tick, a lost lock); the loop rethrows it. */
  private fatal: unknown;
  /**
   * An error from outside the rounds (the metrics server's retries, the lock lost), which ends the run. Apart from
   * `fatal`, which each round resets and whose first error wins: one that came during an operator failure's back-off,
   * or while the round was failing already, was lost, and the worker went on without metrics and without saying why.
   */
  private runFailure: unknown;
  /** What became of the stream, once a check found it deleted or replaced; the round then commits and stops. */
  private streamGone: string | undefined;
  private checkingStream = false;

  constructor(private readonly options: WorkerOptions) {
    this.config = options.config;
    this.task = options.task?.plan;
    this.checkpointName = this.task === undefined ? this.config.name : taskCheckpointName(this.config.name, this.task);
    this.partitionCounts = this.task === undefined ? undefined : partitionCountsOf(this.config);
    this.operatorTypes = this.task?.operators ?? this.config.operators.map((op) => op.type);
    this.settings = recordedSettingsOf(this.config, this.operatorTypes);
    this.drain = options.drain ?? false;
    this.workerId = options.workerId ?? `worker-${process.pid}`;
    this.writerId = writerIdFor(this.checkpointName);
    this.log = options.log ?? ((line) => console.error(line));
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics ?? new Metrics({ defaultMetrics: this.config.metrics !== undefined });
    this.maxEventAttempts = options.maxEventAttempts ?? DEFAULT_MAX_EVENT_ATTEMPTS;
    this.dropsBots = this.config.ingest.bots === "drop";
  }

  async run(): Promise<WorkerSummary> {
    const { config } = this;
    const sinkConfig = config.sinks.find((sink) => sink.type === "parquet");
    if (sinkConfig === undefined || sinkConfig.type !== "parquet") throw new Error("the pipeline has no parquet sink");
    this.sinkConfig = sinkConfig;
    const connection = await connectNats(config.nats);
    let metricsServing: { close(): unknown } | undefined;
    let lock: HeldCheckpointLock | undefined;
    try {
      // Connected, but a server restarting just now leaves these requests unanswered for a moment: they are retried.
      const info = await retryWhileNatsRecovers(
        `preparing stream ${config.nats.stream}`,
        async () => {
          const manager = await jetstreamManager(connection);
          // Before ensureStream, whose nats.maxAge / nats.maxBytes discard messages at once: checkpoints of other
          // partition counts, or that cannot follow the config, are refused with the stream as it was (checked again
          // below and in recover()). A task's pipeline checked every task before (runPartitionedWorker).
          if (this.task === undefined) {
            await assertPartitionCountsBeforeIntake(config, connection);
            await assertConfigUnchangedBeforeIntake(config, connection);
          }
          const created = await ensureStream(manager, config.nats.stream, streamOptions(config.nats, (line) => this.log(line)));
          if (this.task === undefined) {
            const { warning } = await streamPartitionMismatch(manager, config.nats.stream, config.nats.partitions);
            if (warning !== undefined) this.log(`warning: ${warning}`);
          }
          return created;
        },
        { log: (line) => this.log(line), signal: this.options.signal, retryForMs: this.options.natsRetryForMs },
      );
      this.js = jetstream(connection);
      this.binding = { pipeline: this.checkpointName, stream: config.nats.stream, streamCreated: info.created };
      this.store = await openCheckpointStore(config.checkpoint.store, {
        sinkPath: sinkConfig.path,
        pipelineName: this.checkpointName,
        connection,
        replicas: config.nats.replicas,
      });
      // A partitioned worker checked its tasks' checkpoints before claiming any (runPartitionedWorker).
      if (this.task === undefined) {
        await assertNotPartitionedBefore(config, this.binding, (name) =>
          openExistingCheckpointStore(config.checkpoint.store, { sinkPath: sinkConfig.path, pipelineName: name, connection, replicas: config.nats.replicas }),
        );
      }
      lock = this.options.task?.lock ?? await this.store.acquireLock({
        workerId: this.workerId,
        staleAfterMs: this.options.lockStaleAfterMs ?? lockStaleFromEnv(),
        signal: this.options.signal,
        onWait: (holder) =>
          this.log(`standing by: worker ${holder.workerId} (pid ${holder.pid} on ${holder.host}) holds ${this.store.lockLocation}`),
        onLost: (holder) =>
          this.stopRun(
            new StaleCheckpointError(
              // No holder: the lock is gone. Either a worker took it over and has since let it go (a drain that finished
              // while this one was paused), or the checkpoints were removed; the lock alone cannot tell which.
              holder
                ? `fenced: worker ${holder.workerId} (pid ${holder.pid} on ${holder.host}) took ${this.store.lockLocation} over; stopping without committing`
                : `fenced: ${this.store.lockLocation} is gone (another worker took it over and has since let it go, or the checkpoints were removed); stopping without committing`,
            ),
          ),
      });
      if (lock === undefined) return this.summary;
      this.lock = lock;
      // A lease, unlike the store's own lock, did not clean up after the crashed holder before it.
      if (this.task !== undefined) await this.store.discardUncommitted();

      // Only the lock's holder serves metrics, so a standby on the same host binds metrics.port once the holder is
      // gone and needs no claim on it as the collector's port has (ingest/port-claim.ts); a stalled holder that is not
      // gone yet keeps the port until it wakes (serveMetrics).
      if (config.metrics !== undefined && this.task === undefined) metricsServing = await this.serveMetrics(config.metrics, lock);
      for (;;) {
        try {
          await this.round(connection);
          return { ...this.summary, position: this.committedPosition, epoch: this.epoch, drainedAt: this.drainedAt };
        } catch (error) {
          if (!(error instanceof OperatorFailure) && !(error instanceof TombstonesChanged)) throw error;
          // The round's failure is a retry, not the run's: unless the run failed meanwhile.
          if (this.runFailure !== undefined) throw this.runFailure;
          // The replay counts its messages and events again; without this one event read "4 events, 1 invalid".
          Object.assign(this.summary, this.committedSummary);
          if (error instanceof OperatorFailure) await this.recordFailure(error);
        }
      }
    } finally {
      // Every step runs whatever the others do: a sink that failed to close after EMFILE skipped the rest, and the
      // open NATS connection kept the process alive after its error, deaf to the SIGTERM its handler had taken.
      await runEach(this.log, [
        () => this.sink?.close(),
        () => this.pipeline?.close(),
        () => metricsServing?.close(),
        // A task's lease belongs to the caller, who releases it (or hands it over).
        () => (this.task === undefined ? lock?.release() : undefined),
        () => connection.drain().catch(() => connection.close()),
        // The task may go on elsewhere: this worker no longer reports it.
        () => (this.task !== undefined ? removeTaskSeries(this.metrics, this.task.name, this.task.kind) : undefined),
      ]);
    }
  }

  /**
   * Starts the metrics server. A port in use stops the worker, naming metrics.port (another program's port: a config
   * error), except after a takeover from a stale holder on this host: alive (SIGSTOP, a long pause), it keeps
   * metrics.port until it wakes, finds its lock lost and stops. Meanwhile this worker processes events without a metrics
   * server (its registry keeps counting) and binds the port once the old holder let it go.
   */
  private async serveMetrics(metrics: NonNullable<PipelineConfig["metrics"]>, lock: HeldCheckpointLock): Promise<{ close(): unknown }> {
    const startServer = this.options.startMetricsServer ?? startMetricsServer;
    const start = () => startServer(this.metrics, portsOf(metrics.port), metrics.host);
    const announce = (server: Server) => this.log(`metrics on ${metricsUrl(server, metrics.host)}`);
    const previous = lock.tookOverFrom;
    try {
      const server = await start();
      announce(server);
      return server;
    } catch (error) {
      // A previous holder gone (kill -9) or on another host holds no port here: something else does, as at a fresh start.
      if (!isPortInUse(error) || !mayStillHoldHere(previous, lock.holder)) throw error;
      // A range's text is the ports of it (portsOf): every one of them is in use then, the previous holder's among them.
      const ports = typeof metrics.port === "number" ? `port ${metrics.port}` : `every port of ${metrics.port}`;
      this.log(
        `metrics: ${ports} on ${metrics.host} is in use, held by the previous holder ${describeHolder(previous)} until it wakes and ` +
          `stops (this worker took its stale lock over): running without metrics, retrying every second`,
      );
      const retry = retryMetricsServer(start, { retryMs: METRICS_RETRY_MS, onServing: announce, onError: (failure) => this.stopRun(failure) });
      return { close: () => retry.stop() };
    }
  }

  /** One pass: build the operators, recover from the last checkpoint, consume. An operator failure ends it early. */
  private async round(connection: NatsConnection): Promise<void> {
    this.connection = connection;
    await this.sink?.close();
    await this.pipeline?.close();
    // Reported during the back-off before this round, or while the closes above waited: the reset below would lose it.
    if (this.runFailure !== undefined) throw this.runFailure;
    this.committing = undefined;
    this.fatal = undefined;
    this.streamGone = undefined;
    const task = this.task;
    const environment: OperatorEnvironment = {
      ...operatorEnvironment(this.config),
      miningThread: miningThreadsEnabled(),
      // The customer stage merges every events partition: each holds its operators' watermarks back from the start.
      ...(task?.kind === "customers" && { inputPartitions: this.config.nats.partitions }),
    };
    const configs = task === undefined ? this.config.operators : this.config.operators.filter((op) => task.operators.includes(op.type));
    const operators = configs.map((operatorConfig) => createOperator(operatorConfig, environment));
    if (this.injectedPoison !== undefined) operators.push(this.injectedPoison);
    this.forwarder = undefined;
    this.forwardedInput = undefined;
    if (task?.kind === "events") {
      const customerTask = planTasks(this.config).find((other) => other.kind === "customers");
      if (customerTask !== undefined) {
        this.forwarder = new Forwarder(forwardingPlan(customerTask.operators, this.config.nats.customerPartitions), {
          drain: this.drain,
          messageBytes: forwardMessageBytes(this.connection.info?.max_payload),
        });
        operators.push(this.forwarder);
      }
    }
    this.sink = new ParquetSink({
      path: this.sinkConfig.path,
      tables: [...operators.flatMap((op) => op.tables), invalidEventsTable, lateEventsTable, botsTable],
      compression: this.sinkConfig.compression,
      rowGroupSize: this.sinkConfig.rowGroupSize,
      metrics: this.metrics,
      writerId: this.writerId,
      sharedEncoders: this.options.encoders,
      ...(this.sinkConfig.compaction !== "off" && {
        compaction: { ...this.sinkConfig.compaction, targetRows: this.sinkConfig.compaction.targetRows ?? this.sinkConfig.rowGroupSize },
      }),
      // A merge leaves out the people forgotten by then (see the README on forget and compaction).
      forgotten: () => this.tombstones,
      log: this.log,
    });
    this.tombstones = await loadTombstones(this.sinkConfig.path, this.config.name);
    this.tombstonesVersion = await tombstonesVersion(this.sinkConfig.path, this.config.name);
    // State restored from a checkpoint may still hold a forgotten person: their rows never reach the sink.
    const rows: RowSink = forgettingSink(this.sink, () => this.tombstones);
    this.processingTime = this.now();
    this.pipeline = new Pipeline({
      operators,
      sink: rows,
      metrics: this.metrics,
      bots: this.config.ingest.bots,
      now: () => this.processingTime,
      forgotten: () => this.tombstones,
      onLate: () => this.summary.late++,
    });
    if (task?.kind === "customers") this.forwardedInput = this.customerInput(this.pipeline);
    const resumes = await this.recover();
    await this.eraseForgottenSinceTombstonesChanged();
    // The operators' and the sink's threads started above and load beside recovery; reading starts once they are up, so
    // their start-up does not compete for a core with the first batches (bench/OPTIMIZATIONS.md, session 12).
    await Promise.all([this.pipeline.ready(), this.sink.ready()]);
    // With every thread up, a drain on few cores gives its main thread precedence over them (src/runtime/helper-threads.ts).
    lowerHelpersForDrain(this.drain);
    this.log(`${resumes ? "resuming" : "starting"} ${this.checkpointName} at ${this.config.nats.stream} sequence ${this.position + 1} (epoch ${this.epoch})`);
    // The last committed batch may not have reached the customer stage before the crash: its ids make a repeat harmless.
    if (this.forwardedBatch !== undefined) await this.publishForwarded(this.forwardedBatch);
    await this.consume(connection);
  }

  /**
   * Loads the last checkpoint and claims the next epoch with the same state before touching any file: from then on
   * a zombie worker's commits fail (its next epoch is taken), so recovery may finish the checkpoint's renames and
   * delete every other in-progress part of this pipeline. Returns whether it resumed from this stream's checkpoint.
   */
  private async recover(): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const checkpoint = await this.store.load<PendingCommit>();
      const resumes = checkpoint !== undefined && checkpointMatches(checkpoint, this.binding);
      // Before the claim below commits (and stamps this config's counts): a checkpoint of other counts stays as it is.
      // runPartitionedWorker checked every task before claiming any; this catches a worker started under other counts since.
      if (resumes && this.partitionCounts !== undefined) {
        const change = partitionCountChange(checkpoint, this.partitionCounts, `the checkpoint of task ${this.task!.name} (${this.store.location})`);
        if (change !== undefined) throw change;
      }
      // Likewise a checkpoint whose state cannot follow the config's changes (or that another stream's messages made):
      // stopped here, it stays as it is. One of a stream deleted and created again under its name is not resumed.
      const comparison =
        checkpoint !== undefined && checkpoint.position > 0 && (resumes || checkpoint.stream !== this.binding.stream)
          ? compareWithCheckpoint(checkpoint, this.config, { location: this.store.location, operatorTypes: this.operatorTypes, stateKeys: Object.keys(checkpoint.state) })
          : undefined;
      if (comparison?.error !== undefined) throw comparison.error;
      // No checkpoint here, but one in the other checkpoint.store (a fresh start would commit over its parts), or one of
      // another pipeline name in the lake that wrote this one's tables from this stream (they would get every row twice).
      if (checkpoint === undefined) {
        const switched = await storeSwitchError(this.config, this.checkpointName, checkpointStoresOf(this.config, this.connection)[1]);
        const shared = switched ?? (await sharedLakeError(this.config, this.operatorTypes));
        if (shared !== undefined) throw shared;
        // Its own checkpoints removed (the directory deleted, the KV bucket dropped) while its parts stayed.
        const orphaned = await orphanedPartsError(this.sinkConfig.path, this.writerId, this.store.location);
        if (orphaned !== undefined) throw orphaned;
      }
      // Epochs keep counting even for a foreign checkpoint, so part names never collide with older files.
      const epoch = (checkpoint?.epoch ?? 0) + 1;
      const position = resumes ? checkpoint.position : 0;
      await this.lock.verify();
      try {
        await this.store.commit<PendingCommit>(
          {
            format: 1,
            ...this.binding,
            epoch,
            position,
            pending: checkpoint?.pending,
            workerId: this.workerId,
            committedAt: this.now(),
            ...this.countsRecord(),
            ...(resumes && checkpoint.readThrough !== undefined && { readThrough: checkpoint.readThrough }),
          },
          JSON.stringify(resumes ? checkpoint.state : {}),
        );
      } catch (error) {
        if (error instanceof StaleCheckpointError && attempt < 5) continue;
        throw error;
      }
      const recovered = await ParquetSink.recover(this.sinkConfig.path, checkpoint?.pending, { writerId: this.writerId });
      if (recovered.missing.length > 0) {
        this.log(`recovery: ${recovered.missing.length} committed parts are missing (deleted since?): ${recovered.missing.join(", ")}`);
      }
      if (recovered.deletedTemporaries > 0) {
        this.log(`recovery: deleted ${recovered.deletedTemporaries} temporary files of part rewrites whose process was killed mid-rewrite`);
      }
      this.epoch = epoch;
      this.position = position;
      this.committedPosition = position;
      this.readThrough = Math.max(position, (resumes && this.task !== undefined ? checkpoint.readThrough : undefined) ?? 0);
      this.committedReadThrough = this.readThrough;
      // Recovery committed an epoch of its own: the checkpoint age starts here, not at the epoch of 1970.
      this.metrics.lastCheckpoint.set(this.gaugeLabels(), this.now() / 1000);
      if (checkpoint !== undefined && !resumes) {
        this.log(
          `checkpoint in ${this.store.location} belongs to stream ${checkpoint.stream} (created ${checkpoint.streamCreated}); ` +
            `starting ${this.binding.stream} from its first message`,
        );
      }
      this.forwardedBatch = undefined;
      for (const note of comparison?.notes ?? []) this.log(note);
      // Reset on every round: a rollback's replay takes the same decisions from the checkpoint's ids.
      this.deadLetterIds = new DeadLetterIds(DeadLetterIds.retentionFor(this.config.nats.maxAge));
      if (resumes) {
        this.pipeline.restore(checkpoint.state);
        const state = checkpoint.state as Record<string, unknown>;
        this.deadLetterIds.restore(state[DEAD_LETTER_IDS_KEY]);
        if (this.forwardedInput !== undefined && state[FORWARDED_INPUT_KEY] !== undefined) this.forwardedInput.restore(state[FORWARDED_INPUT_KEY] as ForwardedInputState);
        this.forwardedBatch = state[FORWARD_KEY] as ForwardBatch | undefined;
      }
      const applied = resumes ? (checkpoint.state as Record<string, unknown>)[TOMBSTONES_KEY] : undefined;
      this.tombstonesApplied = typeof applied === "number" ? applied : 0;
      const lineage = resumes ? (checkpoint.state as Record<string, unknown>)[LINEAGE_KEY] : undefined;
      this.lineage = typeof lineage === "string" ? lineage : randomBytes(6).toString("hex");
      return resumes;
    }
  }

  private async consume(connection: NatsConnection): Promise<void> {
    const js = this.js;
    const task = this.task;
    // A NATS restart just as the worker starts fails these requests for a moment: they are retried across it.
    const retryForMs = this.options.natsRetryForMs ?? DEFAULT_RETRY_FOR_MS;
    const retry = { log: (line: string) => this.log(line), signal: this.options.signal, retryForMs };
    const manager = await retryWhileNatsRecovers("reaching JetStream", () => jetstreamManager(connection), retry);
    // A drain of an events task ends at its subject's last message; the customer stage waits for every one's end record.
    const targets = task !== undefined && this.drain ? await this.drainTargetsOf(task, () => retryWhileNatsRecovers("reading the drain's end", () => drainTargets(manager, this.config, task), retry)) : [];
    const through = targets[0] ?? 0;
    const input = this.forwardedInput;
    if (input !== undefined && this.drain) input.setDrainTargets(targets);
    this.drainedAt = undefined;
    if (input?.complete) {
      this.pipeline.end();
      this.drainedAt = targets;
      this.log(`${this.checkpointName}: every events partition's drain already ended`);
      await this.startCheckpoint();
      return;
    }
    // Handed over or stopped before reading (the listener below would never hear an abort that already happened).
    if (this.options.signal?.aborted) return;
    const reader = await retryWhileNatsRecovers(
      `opening a reader on ${this.config.nats.stream}`,
      () =>
        StreamReader.open(js, this.config.nats.stream, {
          startSequence: this.position + 1,
          drainUntil: this.drain && input === undefined,
          ...(task !== undefined && { filterSubjects: [task.subject], readThrough: this.readThrough }),
          onDiscarded: (discarded) => this.noteDiscarded(discarded),
          onStreamGone: (what) => this.noteStreamGone(what),
        }),
      retry,
    );
    this.reader = reader;
    const onAbort = () => void reader.close();
    this.options.signal?.addEventListener("abort", onAbort, { once: true });
    const interval = this.config.checkpoint.interval;
    const timers: NodeJS.Timeout[] = [];
    if (!this.drain) {
      timers.push(
        setInterval(
          () =>
            this.guard(() => {
              this.processingTime = this.now();
              this.forwardedInput?.tick();
              this.pipeline.tick();
            }),
          1000,
        ),
      );
      timers.push(setInterval(() => this.checkpointIfDue(interval), Math.max(100, Math.min(interval, 1000))));
    }
    // A task's series of the counter exists from its start, as the unpartitioned worker's does from the registry's.
    this.metrics.streamMessagesDiscarded.inc(this.gaugeLabels(), 0);
    // Once now, so that every operator's state series exists from the start (dashboards query them by operator).
    this.updateGauges(reader.pending);
    timers.push(setInterval(() => this.updateGauges(reader.pending), 1000));
    if (!this.drain) timers.push(setInterval(() => void this.reloadTombstones().catch((error: unknown) => this.stop(error)), 1000));
    const sourceDrained = this.options.task?.sourceDrained;
    if (input !== undefined && this.drain && sourceDrained !== undefined) {
      let checking = false;
      /** When a check first failed for want of NATS, since the last one that got its answers (performance.now()). */
      let unansweredSince: number | undefined;
      const check = () => {
        if (checking) return;
        checking = true;
        // NATS away for a moment (a restart, a leader election): the next check asks again, as the reader waits for it,
        // for up to retryForMs as retryWhileNatsRecovers; then the drain fails instead of waiting for ever unanswered.
        void this.endDiscardedSources(manager, reader, input, targets, sourceDrained)
          .then(() => (unansweredSince = undefined))
          .catch((error: unknown) => {
            if (!isTransientNatsError(error)) return this.stop(error);
            unansweredSince ??= performance.now();
            if (performance.now() - unansweredSince < retryForMs) return;
            const awaited = input.waitingFor().map((partition) => eventsTaskName(partition)).join(", ");
            const reason = error instanceof Error ? error.message : String(error);
            this.stop(
              new NatsUnansweredError(
                `${this.checkpointName}: looking whether stream ${this.config.nats.stream} discarded the end records of ${awaited} that its drain waits for: ` +
                  `NATS did not answer for ${Math.round(retryForMs / 1000)} s (${reason})`,
                { cause: error },
              ),
            );
          })
          .finally(() => (checking = false));
      };
      timers.push(setInterval(check, DISCARDED_ENDS_CHECK_MS));
    }
    // A deleted stream gives an ordered consumer nothing to say: without asking, the worker waited for ever and went on
    // committing checkpoints (so ClickpipeCheckpointStale never fired). Asked at most once per checkpoint interval.
    timers.push(setInterval(() => void this.checkStream(), Math.max(interval, 1000)));
    if (task !== undefined && !this.drain) {
      void this.refreshReadThrough(manager);
      timers.push(setInterval(() => void this.refreshReadThrough(manager), READ_THROUGH_REFRESH_MS));
    }
    this.lastCheckpointAt = this.now();
    try {
      if (this.options.signal?.aborted) return;
      // A stop while no reader was open to close (a lock lost since recovery's epoch claim) would wait for a message
      // here: on an idle stream for ever, a fenced worker keeping metrics.port from the one that took its lock.
      if (this.fatal !== undefined) throw this.fatal;
      let yieldedAt = performance.now();
      for await (const message of reader) {
        const lookup = this.handleMessage(message);
        if (lookup !== undefined) await lookup;
        if (this.fatal !== undefined) throw this.fatal;
        if (input?.complete) break;
        // Buffered messages arrive as microtasks, which starve timers: lease and lock heartbeats, metrics scrapes,
        // the other tasks of this process. Let them run every few milliseconds of processing.
        if (performance.now() - yieldedAt >= YIELD_EVERY_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          yieldedAt = performance.now();
        }
        if (this.sink.bufferedRows() > MAX_BUFFERED_ROWS || this.now() - this.lastCheckpointAt >= interval) {
          // Backpressure: at most one checkpoint in flight; intake waits for it before starting the next.
          if (this.committing !== undefined) await this.committing;
          void this.startCheckpoint();
        }
      }
      if (this.fatal !== undefined) throw this.fatal;
      if (this.streamGone !== undefined) return await this.commitBeforeStreamGone(this.streamGone, task, manager);
      if (this.drain && !this.options.signal?.aborted) {
        this.pipeline.end();
        this.forwarder?.endOfInput(through);
        if (task !== undefined) this.drainedAt = targets;
        this.log(`drained ${task === undefined ? this.config.nats.stream : task.subject} through sequence ${this.position}`);
      }
      await this.committing;
      // A drain's skipped tasks and a stopped worker's do not refresh until they run again: refreshed as they end.
      if (task !== undefined) await this.refreshReadThrough(manager);
      await this.startCheckpoint();
      this.updateGauges(reader.pending);
    } finally {
      for (const timer of timers) clearInterval(timer);
      this.options.signal?.removeEventListener("abort", onAbort);
      this.reader = undefined;
      await reader.close();
      // A failed round must not leave a commit running into the next one.
      await this.committing?.catch(() => undefined);
    }
  }

  /**
   * Whether the stream is still the one the checkpoint is bound to (its creation time): when it was deleted, or deleted
   * and created again, the reader is closed and the loop ends (see commitBeforeStreamGone). NATS away for a moment is
   * no answer: the next check asks again.
   */
  private async checkStream(): Promise<void> {
    if (this.checkingStream || this.streamGone !== undefined || this.reader === undefined) return;
    this.checkingStream = true;
    try {
      const what = await streamReplaced(this.js, this.config.nats.stream, this.binding.streamCreated);
      if (what !== undefined) this.noteStreamGone(what);
    } catch {
      // NATS away for a moment: asked again next time.
    } finally {
      this.checkingStream = false;
    }
  }

  private noteStreamGone(what: string): void {
    if (this.streamGone !== undefined || this.fatal !== undefined) return;
    this.streamGone = what;
    void this.reader?.close();
  }

  /**
   * The stream went away under the worker: what it read is committed, as on SIGTERM (state, position, parts), and the
   * run fails, so that a supervisor restarts it and the restart reads the stream now under that name from its start.
   */
  private async commitBeforeStreamGone(what: string, task: TaskPlan | undefined, manager: JetStreamManager): Promise<never> {
    await this.committing;
    if (task !== undefined) await this.refreshReadThrough(manager);
    await this.startCheckpoint();
    throw this.streamGoneError(what, "and stopping");
  }

  /** Says what became of the stream, what was committed, `after` that, and how to go on. */
  private streamGoneError(what: string, after: string, cause?: unknown): StreamGoneError {
    return new StreamGoneError(
      `stream ${this.config.nats.stream} ${what} while ${this.checkpointName} was reading it: committed what it read (through sequence ${this.committedPosition}, epoch ${this.epoch}) ${after}; ` +
        "run it again to read the stream under that name from its first message",
      cause === undefined ? undefined : { cause },
    );
  }

  /**
   * A customers task waits for exactly the drain's targets: the events subjects' last sequences now may be past the end
   * records of events tasks the drain already counts as drained, which nobody runs again to send later ones. An events
   * task ends at its subject's last message now, at or past the drain's target (the stream may have discarded what was
   * below it since: that is drained too).
   */
  private async drainTargetsOf(task: TaskPlan, now: () => Promise<number[]>): Promise<number[]> {
    const decided = this.options.task?.drainTargets;
    if (decided === undefined) return now();
    if (task.kind === "customers") return decided;
    return (await now()).map((target, index) => Math.max(target, decided[index] ?? 0));
  }

  /**
   * The stream discarded messages this worker had not read (its max age or max bytes; nothing is dropped silently):
   * said in the log, counted in clickpipe_stream_messages_discarded_total and the run's summary, and the position
   * moves past them, so the next checkpoint records it as usual and a restart does not report them again.
   */
  private noteDiscarded({ from, to, exact }: DiscardedSequences): void {
    if (to <= Math.max(this.position, this.readThrough)) return;
    const start = Math.max(from, this.position + 1, this.readThrough + 1);
    const count = to - start + 1;
    const range = start === to ? `sequence ${to}` : `sequences ${start}–${to}`;
    // A task reads one subject: which of the discarded messages were on it, the stream no longer tells.
    const what = exact
      ? `${count} messages (${range}) that ${this.checkpointName} had not read, under its limits (max age, max bytes), so their events are missing from the output`
      : `${range} (${count} messages of all its subjects, which it no longer tells apart) before ${this.checkpointName} read them, under its limits (max age, max bytes), so the events of those on ${this.task?.subject} are missing from the output`;
    this.log(
      `lost input: stream ${this.config.nats.stream} discarded ${what}; going on from sequence ${to + 1}. ` +
        "To keep unread messages: raise nats.maxAge / nats.maxBytes (or the stream's own limits), or keep workers running and caught up",
    );
    this.summary.discarded += count;
    this.metrics.streamMessagesDiscarded.inc(this.gaugeLabels(), count);
    this.position = to;
    this.readThrough = Math.max(this.readThrough, to);
  }

  /**
   * A customers task's drain waits for every events partition's end record, but the stream's limits may discard one
   * before this task reads it, and an events task that drained already does not send it again: the drain waited for
   * ever. So, once this task has read its subject's last message, an end record it lacks from an events task that says
   * it drained (asked first: that task stored the record before it said so) is gone, if the stream's first sequence is
   * past the partition's target (the record was stored after it). The discard is reported as at a reader's open, and
   * those partitions end without their records.
   */
  private async endDiscardedSources(
    manager: JetStreamManager,
    reader: StreamReader,
    input: ForwardedInput,
    targets: readonly number[],
    sourceDrained: (partition: number) => Promise<boolean>,
  ): Promise<void> {
    const { stream } = this.config.nats;
    const subjectRead = async () => (await lastSequenceOfSubject(manager, stream, this.task!.subject)) <= this.position;
    if (input.waitingFor().length === 0 || !(await subjectRead())) return;
    const drained: number[] = [];
    for (const partition of input.waitingFor()) if (await sourceDrained(partition)) drained.push(partition);
    if (drained.length === 0 || !(await subjectRead())) return;
    const { first_seq: first } = (await manager.streams.info(stream)).state;
    if (this.reader !== reader || this.fatal !== undefined) return;
    if (first > this.position + 1) this.noteDiscarded({ from: this.position + 1, to: first - 1, exact: false });
    // Otherwise the limits cannot have taken the record: it is missing for another reason, and the drain waits as it always did.
    const lost = drained.filter((partition) => first > targets[partition] && input.waitingFor().includes(partition));
    if (lost.length === 0) return;
    const tasks = lost.map((partition) => eventsTaskName(partition)).join(", ");
    const [records, them] = lost.length === 1 ? [`the end record of ${tasks} (its drain ended) is`, "it"] : [`the end records of ${tasks} (their drains ended) are`, "them"];
    this.log(
      `lost input: ${records} no longer in stream ${stream}, which discarded ${them} before ${this.checkpointName} read ${them}, under its limits (max age, max bytes), ` +
        `so what ${tasks} forwarded that this task had not read is missing from the output; ending the drain without ${them}. ` +
        "To keep unread messages: raise nats.maxAge / nats.maxBytes (or the stream's own limits), or keep workers running and caught up",
    );
    for (const partition of lost) input.endDiscarded(partition);
    // No message comes for the loop to see it: closing the reader ends the loop, and the drain ends as usual.
    if (input.complete) void reader.close();
  }

  /**
   * A task reads one subject, so its position is its subject's last message, and stays there while other subjects
   * grow: a stream discarding those later would look like input it had not read at its next start. So, while the task
   * is caught up, the stream's last sequence becomes its readThrough: first the stream's state, then its subject's last
   * message; when that is one the task has processed, every message of its subject up to the stream's last then is
   * processed too. (A message of its subject stored in between is past the position, and the step waits for the next
   * time.) Not when the stream discarded past readThrough already: that range stays to be reported at the next start.
   */
  private async refreshReadThrough(manager: JetStreamManager): Promise<void> {
    const task = this.task;
    if (task === undefined) return;
    const position = this.position;
    try {
      const { first_seq: first, last_seq: last } = (await manager.streams.info(this.config.nats.stream)).state;
      if (last <= this.readThrough || first > Math.max(position, this.readThrough) + 1) return;
      if ((await lastSequenceOfSubject(manager, this.config.nats.stream, task.subject)) <= position) this.readThrough = Math.max(this.readThrough, last);
    } catch {
      // NATS away for a moment: the next refresh tries again; until then readThrough stays where it was (no loss missed).
    }
  }

  /** Returns a promise only when a forwarded message needs its source's lineage looked up first. */
  private handleMessage(message: StreamMessage): Promise<void> | undefined {
    const { subject, seq: sequence, data } = message;
    const where = parseSubject(this.config.nats.stream, subject);
    this.summary.messages++;
    this.processingTime = this.now();
    const receivedAt = receivedAtOf(message, this.now);
    if (where === undefined) {
      this.log(`ignoring message ${sequence} on unexpected subject ${subject}`);
    } else if (where.kind === "customers") {
      // Another pipeline's re-keyed records on the same stream are none of an unpartitioned worker's business.
      if (this.forwardedInput !== undefined) return this.handleForwarded(message);
    } else if (where.kind === "dlq") {
      for (const line of splitBatch(data)) this.handleDeadLetter(line, receivedAt);
    } else {
      const origin = { partition: where.partition, sequence };
      const lines = splitBatch(data);
      this.metrics.eventsReceived.inc({ source: "nats" }, lines.length);
      let lastTs = Number.NaN;
      // Every line decoded first, then the operators run over them, so each loop keeps its own code and data in the
      // caches instead of JSON.parse and the operators evicting each other event by event (15 alternating drains: median
      // main-thread CPU −10%, bench/OPTIMIZATIONS.md session 10). Decoding has no side effects: everything else happens
      // in the same order as before.
      const events = this.lineEvents;
      for (let index = 0; index < lines.length; index++) events[index] = decodeForOperators(lines[index], receivedAt);
      // Counted once a message: prom-client's inc() per event was ≈ 1% of the main thread.
      let processed = 0;
      for (let index = 0; index < lines.length; index++) {
        const line = lines[index];
        const event = events[index]!;
        if (isDecodeFailure(event)) {
          this.reject(receivedAt, event.reason, `${event.reason}: ${event.message}`, line);
          continue;
        }
        if (this.tombstones.size > 0 && isForgotten(event, this.tombstones)) {
          this.metrics.eventsFiltered.inc();
          continue;
        }
        this.summary.events++;
        lastTs = event.ts;
        if (this.poisoned.size > 0) {
          const error = this.poisoned.get(`${sequence}:${index}`);
          if (error !== undefined) {
            this.reject(receivedAt, "operator_error", `operator_error: ${error}`, line);
            continue;
          }
        }
        processed++;
        try {
          this.pipeline.processShapedEvent(event, origin);
        } catch (error) {
          this.metrics.eventsProcessed.inc(processed);
          // Operators may have changed part of their state for this event: only a rollback makes it consistent.
          throw new OperatorFailure(`${sequence}:${index}`, error);
        }
        if (this.forwarder !== undefined && !(this.dropsBots && event.is_bot === true)) {
          this.forwarder.forwardEvent(event, line, receivedAt, this.pipeline.countedAs(event));
        }
      }
      this.metrics.eventsProcessed.inc(processed);
      events.fill(undefined, 0, lines.length);
      if (!Number.isNaN(lastTs)) this.metrics.eventLatency.observe(Math.max(0, (this.now() - lastTs) / 1000));
    }
    this.position = sequence;
    return undefined;
  }

  /** A customers task's message: records an events task forwarded, merged into this task's operators. */
  private handleForwarded(message: StreamMessage): Promise<void> | undefined {
    const source = forwardSourceOf(message.headers);
    if (source === undefined || source.pipeline !== this.config.name) {
      if (source === undefined) this.log(`ignoring message ${message.seq} on ${message.subject}: no forwarding headers`);
      this.position = message.seq;
      return undefined;
    }
    if (this.sourceLineages.get(source.task) !== source.lineage) {
      // A lineage once found not current never becomes current again (lineages are random): skip without a lookup.
      if (this.staleLineages.has(`${source.task}@${source.lineage}`)) {
        this.position = message.seq;
        return undefined;
      }
      return this.lookUpLineage(source.task).then(() => {
        // Later than handleMessage read the clock: the lookup was a request to NATS.
        this.processingTime = this.now();
        if (this.sourceLineages.get(source.task) === source.lineage) this.takeForwarded(message, source);
        else this.staleLineages.add(`${source.task}@${source.lineage}`);
        this.position = message.seq;
      });
    }
    this.takeForwarded(message, source);
    this.position = message.seq;
    return undefined;
  }

  /** An events task's current lineage, from its last committed checkpoint (none yet: nothing of it is current). */
  private async lookUpLineage(task: string): Promise<void> {
    const plan = planTasks(this.config).find((candidate) => candidate.name === task);
    let lineage: string | undefined;
    if (plan !== undefined) {
      const store = await openCheckpointStore(this.config.checkpoint.store, {
        sinkPath: this.sinkConfig.path,
        pipelineName: taskCheckpointName(this.config.name, plan),
        connection: this.connection,
      });
      lineage = await committedLineage(store);
    }
    this.sourceLineages.set(task, lineage);
  }

  private takeForwarded(message: StreamMessage, source: ForwardSource): void {
    const key = `${message.seq}:forwarded`;
    const poison = this.poisoned.get(key);
    if (poison !== undefined) {
      this.reject(receivedAtOf(message, this.now), "operator_error", `operator_error: ${poison}`, new TextDecoder().decode(message.data).slice(0, 32_768));
      return;
    }
    this.currentSequence = message.seq;
    // Not counted in clickpipe_events_processed_total: the events task that forwarded them counted them already.
    try {
      this.forwardedInput!.take(source, splitBatch(message.data));
    } catch (error) {
      throw new OperatorFailure(key, error);
    }
  }

  /** The customer stage's input, feeding this round's operators. */
  private customerInput(pipeline: Pipeline): ForwardedInput {
    const sessionize = this.config.operators.find((op) => op.type === "sessionize");
    const idleTimeoutMs = sessionize?.type === "sessionize" ? sessionize.idleTimeout : 60_000;
    return new ForwardedInput(
      this.config.name,
      this.config.nats.partitions,
      {
        event: (raw, receivedAt, partition, counted) => {
          // The events task decoded the same bytes with the same received_at: this cannot fail differently. The
          // operators' one-pass decoder, as there (decodeRecord's validation was ≈ 7% of a partitioned drain).
          const decoded = decodeForOperators(raw, receivedAt);
          if (isDecodeFailure(decoded)) return;
          // Forwarded before the events task heard of a forget (or replayed from its checkpoint).
          if (this.tombstones.size > 0 && isForgotten(decoded, this.tombstones)) return;
          // Late or repeated for sessionize too, and counted there: its rows here, but no second count.
          if (counted !== 0) pipeline.countedElsewhere(decoded, counted);
          pipeline.processShapedEvent(decoded, { partition, sequence: this.currentSequence });
        },
        session: (session) => pipeline.processSession(session),
        sessionWatermark: (watermark) => pipeline.processSessionWatermark(watermark),
        sessionInputEnd: (arrivedThrough) => pipeline.processSessionInputEnd(arrivedThrough),
      },
      idleTimeoutMs,
      this.now,
    );
  }

  private async publishForwarded(batch: ForwardBatch): Promise<void> {
    const task = this.task!;
    const source = { pipeline: this.config.name, task: task.name, partition: task.partition, lineage: this.lineage };
    await publishForwardBatch(this.js, this.config.nats.stream, source, batch, this.options.signal);
  }

  /** Counts a failed attempt; the event is dead-lettered on replay once it failed maxEventAttempts times. */
  private async recordFailure(failure: OperatorFailure): Promise<void> {
    const attempts = (this.attempts.get(failure.key) ?? 0) + 1;
    this.attempts.set(failure.key, attempts);
    const message = (failure.cause as Error)?.message ?? String(failure.cause);
    if (attempts >= this.maxEventAttempts) {
      this.poisoned.set(failure.key, message);
      this.log(`event ${failure.key} failed ${attempts} times (${message}): dead-lettered, rolling back to the last checkpoint`);
    } else {
      this.log(`event ${failure.key} failed (attempt ${attempts} of ${this.maxEventAttempts}: ${message}): rolling back to the last checkpoint`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** attempts)));
    }
  }

  private handleDeadLetter(line: string, receivedAt: number): void {
    this.summary.deadLetters++;
    let letter;
    try {
      letter = decodeDeadLetter(line);
    } catch (error) {
      // A malformed dead letter is itself kept, never a reason to stop the pipeline.
      this.reject(receivedAt, "unparseable_line", `unparseable_line: dead letter ${(error as Error).message}`, line);
      return;
    }
    // Sent again after the stream's duplicate window (a re-run publish, a log re-read): written and counted once.
    if (letter.id !== undefined && !this.deadLetterIds.admit(letter.id, receivedAt)) {
      this.metrics.deadLettersDuplicate.inc();
      return;
    }
    if (letter.counted === false) this.metrics.eventsInvalid.inc({ reason: invalidReasonCode(letter.reason) });
    // A forgotten person's bad records are dropped like their events: invalid_events must not keep them either.
    if (this.tombstones.size > 0 && isForgottenRaw(letter.raw, this.tombstones)) return;
    this.sink.append("invalid_events", { received_at: letter.received_at, reason: letter.reason, raw: letter.raw });
  }

  private reject(receivedAt: number, reason: InvalidReason, text: string, raw: string): void {
    this.summary.invalid++;
    this.metrics.eventsInvalid.inc({ reason });
    if (this.tombstones.size > 0 && isForgottenRaw(raw, this.tombstones)) return;
    this.sink.append("invalid_events", { received_at: receivedAt, reason: text, raw });
  }

  /** Runs timer work; an error stops the loop (through the reader) instead of crashing the process. */
  private guard(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.stop(error);
    }
  }

  private stop(error: unknown): void {
    this.fatal ??= error;
    void this.reader?.close();
  }

  /** Stops the run from outside the rounds: whatever round is under way, failing or yet to start (see runFailure). */
  private stopRun(error: unknown): void {
    this.runFailure ??= error;
    this.stop(error);
  }

  private checkpointIfDue(interval: number): void {
    if (this.committing !== undefined || this.now() - this.lastCheckpointAt < interval) return;
    // Processing-time ticks emit rows without input (a partition gone idle releases the watermark): those commit too.
    if (
      this.position !== this.committedPosition ||
      Math.max(this.position, this.readThrough) !== this.committedReadThrough ||
      this.sink.hasUncommitted() ||
      this.forwarder?.hasPending() === true
    ) {
      // A snapshot that throws (a failed mining thread) stops the worker as a failed commit does.
      this.guard(() => void this.startCheckpoint().catch((error: unknown) => this.stop(error)));
    } else {
      // Nothing to commit: the last checkpoint still holds everything processed. Saying so keeps an idle worker's
      // checkpoint age (and ClickpipeCheckpointStale) at the interval, where a stuck one's grows.
      this.lastCheckpointAt = this.now();
      this.metrics.lastCheckpoint.set(this.gaugeLabels(), this.now() / 1000);
    }
  }

  /**
   * Captures state, position and buffered rows in one synchronous step, then writes the parts, commits the
   * checkpoint and renames the parts. Events processed meanwhile belong to the next checkpoint.
   */
  private startCheckpoint(): Promise<void> {
    if (this.committing !== undefined) return this.committing;
    const started = performance.now();
    const position = this.position;
    const readThrough = Math.max(position, this.readThrough);
    const epoch = this.epoch + 1;
    const state = this.pipeline.snapshot();
    // A task's forwarded records and merge input are part of the state they were derived with.
    const forwarded = this.forwarder?.take(epoch);
    if (forwarded !== undefined) state[FORWARD_KEY] = forwarded;
    if (this.forwardedInput !== undefined) state[FORWARDED_INPUT_KEY] = this.forwardedInput.snapshot();
    const lineage = this.task?.kind === "events" ? this.lineage : undefined;
    if (lineage !== undefined) state[LINEAGE_KEY] = lineage;
    if (this.tombstonesApplied > 0) state[TOMBSTONES_KEY] = this.tombstonesApplied;
    if (this.deadLetterIds.size > 0) state[DEAD_LETTER_IDS_KEY] = this.deadLetterIds.snapshot();
    noteFirstEpoch(epoch);
    const prepared = this.sink.prepare(epoch);
    const summary = { ...this.summary };
    this.lastCheckpointAt = this.now();
    // Serialized in slices while events go on: nothing the operators do later changes `state` (Operator.snapshot).
    const tracked: Promise<void> = this.commitEpoch(epoch, position, readThrough, encodeInSlices(state), prepared, forwarded, lineage)
      .then(() => {
        this.committedSummary = summary;
        this.metrics.lastCheckpoint.set(this.gaugeLabels(), this.now() / 1000);
        this.metrics.checkpointDuration.observe((performance.now() - started) / 1000);
      })
      .finally(() => {
        if (this.committing === tracked) this.committing = undefined;
      });
    this.committing = tracked;
    // Unawaited checkpoints report through fatal; awaited ones also reject to their caller.
    tracked.catch((error: unknown) => {
      this.metrics.checkpointFailures.inc();
      this.stop(error);
    });
    return tracked;
  }

  private async commitEpoch(
    epoch: number,
    position: number,
    readThrough: number,
    serializing: Promise<EncodedJson>,
    prepared: Promise<PendingCommit>,
    forwarded: ForwardBatch | undefined,
    lineage: string | undefined,
  ): Promise<void> {
    const [stateJson, pending] = await Promise.all([serializing, prepared]);
    crashIfInjected("after-prepare", epoch);
    if (pending.merges !== undefined) crashIfInjectedInMerge("merge-prepared", epoch);
    const checkpoint: Omit<Checkpoint<PendingCommit>, "state"> = {
      format: 1,
      ...this.binding,
      epoch,
      position,
      pending,
      workerId: this.workerId,
      committedAt: this.now(),
      ...(lineage !== undefined && { lineage }),
      ...this.countsRecord(),
      ...(readThrough > position && { readThrough }),
    };
    try {
      await this.lock.verify();
      await this.store.commit(checkpoint, stateJson);
      // Written and acknowledged: its buffers serve the next checkpoint (a failed commit's are left to the collector).
      releaseEncoded(stateJson);
    } catch (error) {
      // Fenced: this epoch will never commit, so its parts must not outlive this worker.
      if (error instanceof StaleCheckpointError) await deleteInProgress(this.sinkConfig.path, pending);
      throw error;
    }
    this.epoch = epoch;
    this.committedPosition = position;
    this.committedReadThrough = readThrough;
    crashIfInjected("after-checkpoint", epoch);
    const renames = renamesBeforeCrash(epoch);
    if (renames !== undefined) {
      await this.sink.commit({ epoch, files: pending.files.slice(0, renames), markers: [] });
      crashIfInjected("after-rename", epoch);
    }
    if (pending.merges !== undefined && mergeCrashPlanned("merge-checkpointed", epoch)) {
      await this.sink.commit({ epoch, files: pending.files, markers: pending.markers });
      crashIfInjectedInMerge("merge-checkpointed", epoch);
    }
    await this.sink.commit(pending, pending.merges === undefined ? {} : mergeCrashHooks(epoch));
    if (forwarded !== undefined) await this.publishForwarded(forwarded).catch((error: unknown) => this.streamGoneInstead(error));
  }

  /**
   * A forward that failed because the stream is gone (nats-server answers "jetstream is not enabled" for a subject no
   * stream holds) is said as that: every task failed on it, each with its stack, besides the run's StreamGoneError.
   */
  private async streamGoneInstead(error: unknown): Promise<never> {
    const what = this.streamGone ?? (await streamReplaced(this.js, this.config.nats.stream, this.binding.streamCreated).catch(() => undefined));
    if (what === undefined) throw error;
    throw this.streamGoneError(what, "but could not forward its records to the customer stage", error);
  }

  /**
   * Reloads the tombstones when `clickpipe forget` changed them, so a live worker stops emitting that person, and
   * rolls back (TombstonesChanged): rows it appended before may name them, buffered or in a commit under way.
   */
  private async reloadTombstones(): Promise<void> {
    const version = await tombstonesVersion(this.sinkConfig.path, this.config.name);
    if (version === this.tombstonesVersion || this.fatal !== undefined) return;
    this.tombstones = await loadTombstones(this.sinkConfig.path, this.config.name);
    this.tombstonesVersion = version;
    this.log(`tombstones changed: ${this.tombstones.size} forgotten ids now dropped; rolling back to the last checkpoint to erase them`);
    this.stop(new TombstonesChanged());
  }

  /**
   * `forget` erases what was committed before it wrote the tombstones; a commit of this worker may have landed after
   * forget listed the files. Parts that changed since the tombstones did lose the forgotten people's rows here, before
   * anything new is read, the operators' state drops them, and the state records that it is clean of this version.
   * The sink rewrites the parts on an encoder thread (decoding and encoding a part held this thread's event loop).
   */
  private async eraseForgottenSinceTombstonesChanged(): Promise<void> {
    if (this.tombstones.size === 0 || this.tombstonesApplied >= this.tombstonesVersion) return;
    // What the restored state learned from them goes too (their customer records, identity links).
    this.pipeline.forget(this.tombstones);
    let rows = 0;
    let parts = 0;
    const files = await parquetFilesChangedSince(this.sinkConfig.path, this.tombstonesVersion - TOMBSTONE_SLACK_MS);
    for (const change of await this.sink.eraseForgotten(files, this.tombstones)) {
      if (change === undefined || change.rowsRemoved === 0) continue;
      rows += change.rowsRemoved;
      parts++;
    }
    if (rows > 0) this.log(`tombstones: erased ${rows} rows naming forgotten people from ${parts} parts committed since they changed`);
    this.tombstonesApplied = this.tombstonesVersion;
  }

  /** The partition counts a task's checkpoints record (none for an unpartitioned pipeline's). */
  private countsRecord(): { partitions?: PartitionCounts; settings: RecordedSettings } {
    return this.partitionCounts === undefined ? { settings: this.settings } : { partitions: this.partitionCounts, settings: this.settings };
  }

  /** The labels of this worker's per-task gauges: its task's name in a partitioned pipeline (registry.ts). */
  private gaugeLabels(): TaskLabels {
    return this.task === undefined ? {} : { task: this.task.name };
  }

  private updateGauges(pending: number): void {
    const labels = this.gaugeLabels();
    this.metrics.consumerPending.set(labels, pending);
    this.pipeline.reportState(this.metrics, labels);
    let watermark = Number.POSITIVE_INFINITY;
    for (const op of this.pipeline.operators) {
      const value = op.watermark?.();
      if (value !== undefined && value < watermark) watermark = value;
    }
    if (Number.isFinite(watermark)) this.metrics.watermarkLag.set(labels, Math.max(0, (this.now() - watermark) / 1000));
  }
}

/**
 * Where a drain of a task ends, from the stream as it is now: the last sequence of its subject; for a customers
 * task, the last sequence of every events subject (it ends once each events task forwarded its end through there).
 */
export async function drainTargets(manager: JetStreamManager, config: PipelineConfig, task: TaskPlan): Promise<number[]> {
  const { stream, partitions } = config.nats;
  if (task.kind !== "customers") return [await lastSequenceOfSubject(manager, stream, task.subject)];
  return Promise.all(Array.from({ length: partitions }, (_, partition) => lastSequenceOfSubject(manager, stream, eventsSubject(stream, partition))));
}

/** Whether a drain that ended at `drained` covers `targets` (both from drainTargets). */
export function drainedPast(drained: readonly number[] | undefined, targets: readonly number[]): boolean {
  return drained !== undefined && drained.length === targets.length && targets.every((target, index) => drained[index] >= target);
}

export function operatorEnvironment(config: PipelineConfig): OperatorEnvironment {
  const sessionize = config.operators.find((op) => op.type === "sessionize");
  return {
    pipelineName: config.name,
    session:
      sessionize !== undefined && sessionize.type === "sessionize"
        ? { gap: sessionize.gap, allowedLateness: sessionize.allowedLateness }
        : undefined,
  };
}

/**
 * The message's JetStream timestamp when the reader supplies one (`timestampMs`): a replay after a crash then
 * stamps rejects and received_at exactly as the first run did. Otherwise the wall clock.
 */
function receivedAtOf(message: StreamMessage, now: () => number): number {
  return Number.isFinite(message.timestampMs) ? message.timestampMs : now();
}

/** Part-name prefix of a pipeline: its name when that is already [A-Za-z0-9_], else a readable form plus a hash. */
export function writerIdFor(pipelineName: string): string {
  if (/^[A-Za-z0-9_]+$/.test(pipelineName)) return pipelineName;
  const readable = pipelineName.replace(/[^A-Za-z0-9_]/g, "_");
  return `${readable}_${createHash("sha256").update(pipelineName).digest("hex").slice(0, 8)}`;
}

async function deleteInProgress(root: string, pending: PendingCommit): Promise<void> {
  const paths = [...pending.files.map((file) => file.path), ...(pending.merges ?? []).map((merge) => merge.output)];
  await Promise.all(paths.map((path) => unlink(join(root, path + IN_PROGRESS_SUFFIX)).catch(() => undefined)));
}

/** A row sink that leaves out every row naming a forgotten person. */
function forgettingSink(sink: RowSink, tombstones: () => ReadonlySet<string>): RowSink {
  return {
    append: (table, row) => {
      const forgotten = tombstones();
      if (forgotten.size === 0 || !isForgottenRow(row, forgotten)) sink.append(table, row);
    },
    markSuccess: (table, partition) => sink.markSuccess(table, partition),
  };
}

async function tombstonesVersion(sinkPath: string, pipelineName: string): Promise<number> {
  try {
    return (await stat(tombstonesFile(sinkPath, pipelineName))).mtimeMs;
  } catch {
    return 0;
  }
}
