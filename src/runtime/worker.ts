// The worker loop: read the stream from the checkpointed position, decode, run the operators, checkpoint, commit Parquet.
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createHash } from "node:crypto";
import { stat, unlink } from "node:fs/promises";
import type { Server } from "node:http";
import { join } from "node:path";
import type { PipelineConfig } from "../config/pipeline.ts";
import { decodeRecord } from "../events/decode.ts";
import { Metrics, type InvalidReason } from "../metrics/registry.ts";
import { startMetricsServer } from "../metrics/server.ts";
import { createOperator } from "../operators/index.ts";
import type { OperatorEnvironment } from "../operators/environment.ts";
import { IN_PROGRESS_SUFFIX, ParquetSink, type PendingCommit } from "../sinks/parquet.ts";
import { botsTable, invalidEventsTable, lateEventsTable } from "../sinks/system-tables.ts";
import { connectNats } from "../transport/connection.ts";
import { decodeDeadLetter } from "../transport/dead-letter.ts";
import { splitBatch } from "../transport/batch-codec.ts";
import { ensureStream } from "../transport/stream.ts";
import { parseSubject } from "../transport/subjects.ts";
import { StreamReader, type StreamMessage } from "../transport/reader.ts";
import { StaleCheckpointError, checkpointMatches, type Checkpoint } from "./checkpoint.ts";
import { openCheckpointStore, type CheckpointStore, type HeldCheckpointLock } from "./checkpoint-store.ts";
import { crashIfInjected, noteFirstEpoch, poisonOperatorFromEnv, renamesBeforeCrash } from "./fault-injection.ts";
import { Pipeline, type RowSink } from "./pipeline.ts";
import { isForgotten, isForgottenRow, loadTombstones, tombstonesFile } from "./tombstones.ts";

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
}

export interface WorkerSummary {
  messages: number;
  events: number;
  invalid: number;
  deadLetters: number;
  position: number;
  epoch: number;
}

/** Sink rows buffered beyond this force a checkpoint, so memory stays bounded whatever the interval. */
const MAX_BUFFERED_ROWS = 500_000;
const DEFAULT_MAX_EVENT_ATTEMPTS = 3;
/** Messages pulled ahead of processing are bounded in bytes (a message batches ~100 events, tens of KB). */
const PREFETCH_BYTES = 8 * 1024 * 1024;

export async function runWorker(options: WorkerOptions): Promise<WorkerSummary> {
  const worker = new Worker(options);
  return worker.run();
}

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
  private readonly drain: boolean;
  private readonly workerId: string;
  /** Prefix of this pipeline's part names: recovery deletes only its own in-progress parts in a shared lake. */
  private readonly writerId: string;
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private readonly metrics: Metrics;
  private readonly maxEventAttempts: number;
  private readonly summary: WorkerSummary = { messages: 0, events: 0, invalid: 0, deadLetters: 0, position: 0, epoch: 0 };
  /** Failed attempts per event (`<sequence>:<line>`), kept across rollbacks. */
  private readonly attempts = new Map<string, number>();
  /** Events that failed maxEventAttempts times: dead-lettered instead of processed on replay. */
  private readonly poisoned = new Map<string, string>();
  /** People `clickpipe forget` erased (loaded at start): their events are dropped before any operator. */
  private tombstones: ReadonlySet<string> = new Set();
  /** mtime of the tombstones file last loaded: `clickpipe forget` on a running worker takes effect within a second. */
  private tombstonesVersion = 0;
  /** Test-only (CLICKPIPE_THROW_ON_EVENTS): one instance per process, so "fails n times" spans rollbacks. */
  private readonly injectedPoison = poisonOperatorFromEnv();
  private sinkConfig!: ParquetSinkConfig;
  private pipeline!: Pipeline;
  private sink!: ParquetSink;
  private store!: CheckpointStore;
  private lock!: HeldCheckpointLock;
  private reader: StreamReader | undefined;
  private binding!: { pipeline: string; stream: string; streamCreated: string };
  private position = 0;
  private committedPosition = 0;
  private epoch = 0;
  private lastCheckpointAt = 0;
  private committing: Promise<void> | undefined;
  /** An error raised outside the loop (a checkpoint, a tick, a lost lock); the loop rethrows it. */
  private fatal: unknown;

  constructor(private readonly options: WorkerOptions) {
    this.config = options.config;
    this.drain = options.drain ?? false;
    this.workerId = options.workerId ?? `worker-${process.pid}`;
    this.writerId = writerIdFor(this.config.name);
    this.log = options.log ?? ((line) => console.error(line));
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics ?? new Metrics({ defaultMetrics: this.config.metrics !== undefined });
    this.maxEventAttempts = options.maxEventAttempts ?? DEFAULT_MAX_EVENT_ATTEMPTS;
  }

  async run(): Promise<WorkerSummary> {
    const { config } = this;
    const sinkConfig = config.sinks.find((sink) => sink.type === "parquet");
    if (sinkConfig === undefined || sinkConfig.type !== "parquet") throw new Error("the pipeline has no parquet sink");
    this.sinkConfig = sinkConfig;
    const connection = await connectNats(config.nats);
    let metricsServer: Server | undefined;
    let lock: HeldCheckpointLock | undefined;
    try {
      const manager = await jetstreamManager(connection);
      const info = await ensureStream(manager, config.nats.stream);
      this.binding = { pipeline: config.name, stream: config.nats.stream, streamCreated: info.created };
      this.store = await openCheckpointStore(config.checkpoint.store, { sinkPath: sinkConfig.path, pipelineName: config.name, connection });
      lock = await this.store.acquireLock({
        workerId: this.workerId,
        staleAfterMs: this.options.lockStaleAfterMs ?? lockStaleFromEnv(),
        signal: this.options.signal,
        onWait: (holder) =>
          this.log(`standing by: worker ${holder.workerId} (pid ${holder.pid} on ${holder.host}) holds ${this.store.lockLocation}`),
        onLost: (holder) =>
          this.stop(
            new StaleCheckpointError(
              `fenced: ${holder ? `worker ${holder.workerId} (pid ${holder.pid} on ${holder.host})` : "another worker"} ` +
                `took ${this.store.lockLocation} over; stopping without committing`,
            ),
          ),
      });
      if (lock === undefined) return this.summary;
      this.lock = lock;

      if (config.metrics !== undefined) {
        metricsServer = await startMetricsServer(this.metrics, config.metrics.port, config.metrics.host);
        this.log(`metrics on http://${config.metrics.host}:${config.metrics.port}/metrics`);
      }
      for (;;) {
        try {
          await this.round(connection);
          return { ...this.summary, position: this.committedPosition, epoch: this.epoch };
        } catch (error) {
          if (!(error instanceof OperatorFailure)) throw error;
          await this.recordFailure(error);
        }
      }
    } finally {
      await this.sink?.close();
      metricsServer?.close();
      await lock?.release();
      await connection.drain().catch(() => connection.close());
    }
  }

  /** One pass: build the operators, recover from the last checkpoint, consume. An operator failure ends it early. */
  private async round(connection: NatsConnection): Promise<void> {
    await this.sink?.close();
    this.committing = undefined;
    this.fatal = undefined;
    const environment = operatorEnvironment(this.config);
    const operators = this.config.operators.map((operatorConfig) => createOperator(operatorConfig, environment));
    if (this.injectedPoison !== undefined) operators.push(this.injectedPoison);
    this.sink = new ParquetSink({
      path: this.sinkConfig.path,
      tables: [...operators.flatMap((op) => op.tables), invalidEventsTable, lateEventsTable, botsTable],
      compression: this.sinkConfig.compression,
      rowGroupSize: this.sinkConfig.rowGroupSize,
      metrics: this.metrics,
      writerId: this.writerId,
    });
    this.tombstones = await loadTombstones(this.sinkConfig.path, this.config.name);
    this.tombstonesVersion = await tombstonesVersion(this.sinkConfig.path, this.config.name);
    // State restored from a checkpoint may still hold a forgotten person: their rows never reach the sink.
    const rows: RowSink = forgettingSink(this.sink, () => this.tombstones);
    this.pipeline = new Pipeline({ operators, sink: rows, metrics: this.metrics, bots: this.config.ingest.bots, now: this.now });
    await this.recover();
    await this.consume(connection);
  }

  /**
   * Loads the last checkpoint and claims the next epoch with the same state before touching any file: from then on
   * a zombie worker's commits fail (its next epoch is taken), so recovery may finish the checkpoint's renames and
   * delete every other in-progress part of this pipeline.
   */
  private async recover(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const checkpoint = await this.store.load<PendingCommit>();
      const resumes = checkpoint !== undefined && checkpointMatches(checkpoint, this.binding);
      // Epochs keep counting even for a foreign checkpoint, so part names never collide with older files.
      const epoch = (checkpoint?.epoch ?? 0) + 1;
      const position = resumes ? checkpoint.position : 0;
      await this.lock.verify();
      try {
        await this.store.commit<PendingCommit>(
          { format: 1, ...this.binding, epoch, position, pending: checkpoint?.pending, workerId: this.workerId, committedAt: this.now() },
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
      this.epoch = epoch;
      this.position = position;
      this.committedPosition = position;
      if (checkpoint !== undefined && !resumes) {
        this.log(
          `checkpoint in ${this.store.location} belongs to stream ${checkpoint.stream} (created ${checkpoint.streamCreated}); ` +
            `starting ${this.binding.stream} from its first message`,
        );
      }
      if (resumes) this.pipeline.restore(checkpoint.state);
      this.log(`${resumes ? "resuming" : "starting"} ${this.config.name} at ${this.config.nats.stream} sequence ${position + 1} (epoch ${epoch})`);
      return;
    }
  }

  private async consume(connection: NatsConnection): Promise<void> {
    const js = jetstream(connection);
    const reader = await StreamReader.open(js, this.config.nats.stream, {
      startSequence: this.position + 1,
      drainUntil: this.drain,
      maxBytes: PREFETCH_BYTES,
    });
    this.reader = reader;
    const onAbort = () => void reader.close();
    this.options.signal?.addEventListener("abort", onAbort, { once: true });
    const interval = this.config.checkpoint.interval;
    const timers: NodeJS.Timeout[] = [];
    if (!this.drain) {
      timers.push(setInterval(() => this.guard(() => this.pipeline.tick()), 1000));
      timers.push(setInterval(() => this.checkpointIfDue(interval), Math.max(100, Math.min(interval, 1000))));
    }
    timers.push(setInterval(() => this.updateGauges(reader.pending), 1000));
    if (!this.drain) timers.push(setInterval(() => void this.reloadTombstones().catch((error: unknown) => this.stop(error)), 1000));
    this.lastCheckpointAt = this.now();
    try {
      if (this.options.signal?.aborted) return;
      for await (const message of reader) {
        this.handleMessage(message);
        if (this.fatal !== undefined) throw this.fatal;
        if (this.sink.bufferedRows() > MAX_BUFFERED_ROWS || this.now() - this.lastCheckpointAt >= interval) {
          // Backpressure: at most one checkpoint in flight; intake waits for it before starting the next.
          if (this.committing !== undefined) await this.committing;
          void this.startCheckpoint();
        }
      }
      if (this.fatal !== undefined) throw this.fatal;
      if (this.drain && !this.options.signal?.aborted) {
        this.pipeline.end();
        this.log(`drained ${this.config.nats.stream} through sequence ${this.position}`);
      }
      await this.committing;
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

  private handleMessage(message: StreamMessage): void {
    const { subject, seq: sequence, data } = message;
    const where = parseSubject(this.config.nats.stream, subject);
    this.summary.messages++;
    const receivedAt = receivedAtOf(message, this.now);
    if (where === undefined) {
      this.log(`ignoring message ${sequence} on unexpected subject ${subject}`);
    } else if (where.kind === "dlq") {
      for (const line of splitBatch(data)) this.handleDeadLetter(line, receivedAt);
    } else {
      const origin = { partition: where.partition, sequence };
      const lines = splitBatch(data);
      this.metrics.eventsReceived.inc({ source: "nats" }, lines.length);
      let lastTs = Number.NaN;
      for (let index = 0; index < lines.length; index++) {
        const line = lines[index];
        const decoded = decodeRecord(line, receivedAt);
        if (!decoded.ok) {
          this.reject(receivedAt, decoded.reason, `${decoded.reason}: ${decoded.message}`, line);
          continue;
        }
        if (this.tombstones.size > 0 && isForgotten(decoded.event, this.tombstones)) {
          this.metrics.eventsFiltered.inc();
          continue;
        }
        this.summary.events++;
        lastTs = decoded.event.ts;
        if (this.poisoned.size > 0) {
          const error = this.poisoned.get(`${sequence}:${index}`);
          if (error !== undefined) {
            this.reject(receivedAt, "operator_error", `operator_error: ${error}`, line);
            continue;
          }
        }
        try {
          this.pipeline.processEvent(decoded.event, origin);
        } catch (error) {
          // Operators may have changed part of their state for this event: only a rollback makes it consistent.
          throw new OperatorFailure(`${sequence}:${index}`, error);
        }
      }
      if (!Number.isNaN(lastTs)) this.metrics.eventLatency.observe(Math.max(0, (this.now() - lastTs) / 1000));
    }
    this.position = sequence;
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
    this.sink.append("invalid_events", { received_at: letter.received_at, reason: letter.reason, raw: letter.raw });
  }

  private reject(receivedAt: number, reason: InvalidReason, text: string, raw: string): void {
    this.summary.invalid++;
    this.metrics.eventsInvalid.inc({ reason });
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

  private checkpointIfDue(interval: number): void {
    if (this.committing === undefined && this.position !== this.committedPosition && this.now() - this.lastCheckpointAt >= interval) {
      this.startCheckpoint().catch((error: unknown) => this.stop(error));
    }
  }

  /**
   * Captures state, position and buffered rows in one synchronous step, then writes the parts, commits the
   * checkpoint and renames the parts. Events processed meanwhile belong to the next checkpoint.
   */
  private startCheckpoint(): Promise<void> {
    if (this.committing !== undefined) return this.committing;
    const started = performance.now();
    const stateJson = JSON.stringify(this.pipeline.snapshot());
    const position = this.position;
    const epoch = this.epoch + 1;
    noteFirstEpoch(epoch);
    const prepared = this.sink.prepare(epoch);
    this.lastCheckpointAt = this.now();
    const tracked: Promise<void> = this.commitEpoch(epoch, position, stateJson, prepared)
      .then(() => {
        this.metrics.lastCheckpoint.set(this.now() / 1000);
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

  private async commitEpoch(epoch: number, position: number, stateJson: string, prepared: Promise<PendingCommit>): Promise<void> {
    const pending = await prepared;
    crashIfInjected("after-prepare", epoch);
    const checkpoint: Omit<Checkpoint<PendingCommit>, "state"> = {
      format: 1,
      ...this.binding,
      epoch,
      position,
      pending,
      workerId: this.workerId,
      committedAt: this.now(),
    };
    try {
      await this.lock.verify();
      await this.store.commit(checkpoint, stateJson);
    } catch (error) {
      // Fenced: this epoch will never commit, so its parts must not outlive this worker.
      if (error instanceof StaleCheckpointError) await deleteInProgress(this.sinkConfig.path, pending);
      throw error;
    }
    this.epoch = epoch;
    this.committedPosition = position;
    crashIfInjected("after-checkpoint", epoch);
    const renames = renamesBeforeCrash(epoch);
    if (renames !== undefined) {
      await this.sink.commit({ epoch, files: pending.files.slice(0, renames), markers: [] });
      crashIfInjected("after-rename", epoch);
    }
    await this.sink.commit(pending);
  }

  /** Reloads the tombstones when `clickpipe forget` changed them, so a live worker stops emitting that person. */
  private async reloadTombstones(): Promise<void> {
    const version = await tombstonesVersion(this.sinkConfig.path, this.config.name);
    if (version === this.tombstonesVersion) return;
    this.tombstones = await loadTombstones(this.sinkConfig.path, this.config.name);
    this.tombstonesVersion = version;
    this.log(`tombstones changed: ${this.tombstones.size} forgotten ids now dropped`);
  }

  private updateGauges(pending: number): void {
    this.metrics.consumerPending.set(pending);
    this.metrics.stateBytes.set(this.pipeline.stateBytes());
    let watermark = Number.POSITIVE_INFINITY;
    for (const op of this.pipeline.operators) {
      const value = op.watermark?.();
      if (value !== undefined && value < watermark) watermark = value;
    }
    if (Number.isFinite(watermark)) this.metrics.watermarkLag.set(Math.max(0, (this.now() - watermark) / 1000));
  }
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

function lockStaleFromEnv(): number | undefined {
  const value = Number(process.env.CLICKPIPE_LOCK_STALE_MS);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

async function deleteInProgress(root: string, pending: PendingCommit): Promise<void> {
  await Promise.all(pending.files.map((file) => unlink(join(root, file.path + IN_PROGRESS_SUFFIX)).catch(() => undefined)));
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
