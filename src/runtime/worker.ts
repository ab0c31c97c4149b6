// The worker loop: read the stream from the checkpointed position, decode, run the operators, checkpoint, commit Parquet.
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Server } from "node:http";
import type { PipelineConfig } from "../config/pipeline.ts";
import { decodeRecord } from "../events/decode.ts";
import { Metrics, type InvalidReason } from "../metrics/registry.ts";
import { startMetricsServer } from "../metrics/server.ts";
import { createOperator } from "../operators/index.ts";
import type { OperatorEnvironment } from "../operators/environment.ts";
import { ParquetSink, type PendingCommit } from "../sinks/parquet.ts";
import { botsTable, invalidEventsTable, lateEventsTable } from "../sinks/system-tables.ts";
import { connectNats } from "../transport/connection.ts";
import { decodeDeadLetters } from "../transport/dead-letter.ts";
import { splitBatch } from "../transport/batch-codec.ts";
import { ensureStream } from "../transport/stream.ts";
import { parseSubject } from "../transport/subjects.ts";
import { StreamReader } from "../transport/reader.ts";
import { DirectoryCheckpointStore, checkpointMatches, type Checkpoint } from "./checkpoint.ts";
import { Pipeline } from "./pipeline.ts";

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

export async function runWorker(options: WorkerOptions): Promise<WorkerSummary> {
  const worker = new Worker(options);
  return worker.run();
}

class Worker {
  private readonly config: PipelineConfig;
  private readonly drain: boolean;
  private readonly workerId: string;
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private readonly metrics: Metrics;
  private readonly summary: WorkerSummary = { messages: 0, events: 0, invalid: 0, deadLetters: 0, position: 0, epoch: 0 };
  private pipeline!: Pipeline;
  private sink!: ParquetSink;
  private store!: DirectoryCheckpointStore;
  private binding!: { pipeline: string; stream: string; streamCreated: string };
  private position = 0;
  private committedPosition = 0;
  private epoch = 0;
  private lastCheckpointAt = 0;
  private committing: Promise<void> | undefined;
  private checkpointError: unknown;

  constructor(private readonly options: WorkerOptions) {
    this.config = options.config;
    this.drain = options.drain ?? false;
    this.workerId = options.workerId ?? `worker-${process.pid}`;
    this.log = options.log ?? ((line) => console.error(line));
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics ?? new Metrics({ defaultMetrics: this.config.metrics !== undefined });
  }

  async run(): Promise<WorkerSummary> {
    const { config } = this;
    const sinkConfig = config.sinks.find((sink) => sink.type === "parquet");
    if (sinkConfig === undefined || sinkConfig.type !== "parquet") throw new Error("the pipeline has no parquet sink");
    const connection = await connectNats(config.nats);
    let metricsServer: Server | undefined;
    try {
      const manager = await jetstreamManager(connection);
      const info = await ensureStream(manager, config.nats.stream);
      this.binding = { pipeline: config.name, stream: config.nats.stream, streamCreated: info.created };

      const environment = operatorEnvironment(config);
      const operators = config.operators.map((operatorConfig) => createOperator(operatorConfig, environment));
      this.sink = new ParquetSink({
        path: sinkConfig.path,
        tables: [...operators.flatMap((op) => op.tables), invalidEventsTable, lateEventsTable, botsTable],
        compression: sinkConfig.compression,
        rowGroupSize: sinkConfig.rowGroupSize,
        metrics: this.metrics,
      });
      this.pipeline = new Pipeline({ operators, sink: this.sink, metrics: this.metrics, bots: config.ingest.bots, now: this.now });
      await this.recover(sinkConfig.path);

      if (config.metrics !== undefined) {
        metricsServer = await startMetricsServer(this.metrics, config.metrics.port, config.metrics.host);
        this.log(`metrics on http://${config.metrics.host}:${config.metrics.port}/metrics`);
      }
      await this.consume(connection);
      return { ...this.summary, position: this.committedPosition, epoch: this.epoch };
    } finally {
      await this.sink?.close();
      metricsServer?.close();
      await connection.drain().catch(() => connection.close());
    }
  }

  private async recover(sinkPath: string): Promise<void> {
    this.store = new DirectoryCheckpointStore(sinkPath, this.config.name);
    const checkpoint = await this.store.load<PendingCommit>();
    // Recovery finishes the renames of the last committed checkpoint and deletes every uncommitted part.
    await ParquetSink.recover(sinkPath, checkpoint?.pending);
    if (checkpoint === undefined) return;
    // Epochs keep counting even for a foreign checkpoint, so part names never collide with older files.
    this.epoch = checkpoint.epoch;
    if (!checkpointMatches(checkpoint, this.binding)) {
      this.log(
        `checkpoint in ${this.store.directory} belongs to stream ${checkpoint.stream} (created ${checkpoint.streamCreated}); ` +
          `starting ${this.binding.stream} from its first message`,
      );
      return;
    }
    this.pipeline.restore(checkpoint.state);
    this.position = checkpoint.position;
    this.committedPosition = checkpoint.position;
    this.log(`resuming ${this.config.name} at ${this.config.nats.stream} sequence ${checkpoint.position + 1} (epoch ${checkpoint.epoch})`);
  }

  private async consume(connection: NatsConnection): Promise<void> {
    const js = jetstream(connection);
    const reader = await StreamReader.open(js, this.config.nats.stream, {
      startSequence: this.position + 1,
      drainUntil: this.drain,
    });
    const onAbort = () => void reader.close();
    this.options.signal?.addEventListener("abort", onAbort, { once: true });
    const interval = this.config.checkpoint.interval;
    const timers: NodeJS.Timeout[] = [];
    if (!this.drain) {
      timers.push(setInterval(() => this.pipeline.tick(), 1000));
      timers.push(setInterval(() => this.checkpointIfDue(interval), Math.max(100, Math.min(interval, 1000))));
    }
    timers.push(setInterval(() => this.updateGauges(reader.pending), 1000));
    this.lastCheckpointAt = this.now();
    try {
      if (this.options.signal?.aborted) return;
      for await (const message of reader) {
        this.handleMessage(message.subject, message.seq, message.data);
        if (this.checkpointError !== undefined) throw this.checkpointError;
        if (this.sink.bufferedRows() > MAX_BUFFERED_ROWS || this.now() - this.lastCheckpointAt >= interval) {
          await this.checkpoint();
        }
      }
      if (this.drain && !this.options.signal?.aborted) {
        this.pipeline.end();
        this.log(`drained ${this.config.nats.stream} through sequence ${this.position}`);
      }
      await this.committing;
      await this.checkpoint();
      this.updateGauges(reader.pending);
    } finally {
      for (const timer of timers) clearInterval(timer);
      this.options.signal?.removeEventListener("abort", onAbort);
      await reader.close();
    }
  }

  private handleMessage(subject: string, sequence: number, data: Uint8Array): void {
    const where = parseSubject(this.config.nats.stream, subject);
    this.summary.messages++;
    if (where === undefined) {
      this.log(`ignoring message ${sequence} on unexpected subject ${subject}`);
    } else if (where.kind === "dlq") {
      for (const letter of decodeDeadLetters(data)) {
        this.summary.deadLetters++;
        this.sink.append("invalid_events", { received_at: letter.received_at, reason: letter.reason, raw: letter.raw });
      }
    } else {
      const receivedAt = this.now();
      const origin = { partition: where.partition, sequence };
      const lines = splitBatch(data);
      this.metrics.eventsReceived.inc({ source: "nats" }, lines.length);
      let lastTs = Number.NaN;
      for (const line of lines) {
        const decoded = decodeRecord(line, receivedAt);
        if (!decoded.ok) {
          this.reject(receivedAt, decoded.reason, `${decoded.reason}: ${decoded.message}`, line);
          continue;
        }
        this.summary.events++;
        lastTs = decoded.event.ts;
        try {
          this.pipeline.processEvent(decoded.event, origin);
        } catch (error) {
          // One bad message never stops the pipeline: the event goes to the dead letters with the error.
          this.reject(receivedAt, "operator_error", `operator_error: ${(error as Error).message}`, line);
        }
      }
      if (!Number.isNaN(lastTs)) this.metrics.eventLatency.observe(Math.max(0, (receivedAt - lastTs) / 1000));
    }
    this.position = sequence;
  }

  private reject(receivedAt: number, reason: InvalidReason, text: string, raw: string): void {
    this.summary.invalid++;
    this.metrics.eventsInvalid.inc({ reason });
    this.sink.append("invalid_events", { received_at: receivedAt, reason: text, raw });
  }

  private checkpointIfDue(interval: number): void {
    if (this.committing === undefined && this.position !== this.committedPosition && this.now() - this.lastCheckpointAt >= interval) {
      this.checkpoint().catch((error: unknown) => {
        this.checkpointError = error;
      });
    }
  }

  /**
   * Captures state, position and buffered rows in one synchronous step, then writes the parts, commits the
   * checkpoint and renames the parts. Events processed meanwhile belong to the next checkpoint.
   */
  private checkpoint(): Promise<void> {
    if (this.committing !== undefined) return this.committing;
    const started = performance.now();
    const stateJson = JSON.stringify(this.pipeline.snapshot());
    const position = this.position;
    const epoch = this.epoch + 1;
    const prepared = this.sink.prepare(epoch);
    this.lastCheckpointAt = this.now();
    this.committing = (async () => {
      const pending = await prepared;
      const checkpoint: Omit<Checkpoint<PendingCommit>, "state"> = {
        format: 1,
        ...this.binding,
        epoch,
        position,
        pending,
        workerId: this.workerId,
        committedAt: this.now(),
      };
      await this.store.commit(checkpoint, stateJson);
      this.epoch = epoch;
      this.committedPosition = position;
      await this.sink.commit(pending);
      this.metrics.lastCheckpoint.set(this.now() / 1000);
      this.metrics.checkpointDuration.observe((performance.now() - started) / 1000);
    })().finally(() => {
      this.committing = undefined;
    });
    return this.committing;
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
