// Sends records into a pipeline's stream after edge processing: valid events to <S>.events.<p>, rejects to <S>.dlq.
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { PipelineConfig } from "../config/pipeline.ts";
import type { ClickEvent } from "../events/event.ts";
import { decodeRecord, validateRecord } from "../events/decode.ts";
import { INVALID_REASONS, type InvalidReason, type Metrics } from "../metrics/registry.ts";
import { BatchPublisher } from "../transport/publisher.ts";
import { partitionOf } from "../transport/partition.ts";
import type { AccessRecord } from "./access-log.ts";
import { EdgeProcessor } from "./edge.ts";
import { PSEUDONYM_KEY_ENV } from "./privacy.ts";
import { redactRawRecord } from "./raw-redaction.ts";

export type IngestSource = "publish" | "http" | "access_log";

export interface IngestCounts {
  read: number;
  published: number;
  rejected: number;
  filtered: number;
}

export interface RecordPublisherOptions {
  config: PipelineConfig;
  js: JetStreamClient;
  /** Lets the publisher keep batch order across a NATS outage (it resends failed batches first). */
  connection?: NatsConnection;
  source: IngestSource;
  /** Prefix of the deterministic Nats-Msg-Id of every batch: the same input under the same prefix is stored once. */
  msgIdPrefix: string;
  metrics?: Metrics;
  env?: NodeJS.ProcessEnv;
}

export class RecordPublisher {
  readonly counts: IngestCounts = { read: 0, published: 0, rejected: 0, filtered: 0 };
  private readonly publisher: BatchPublisher;
  private readonly edge: EdgeProcessor;
  private readonly partitions: number;
  private readonly source: IngestSource;
  private readonly metrics: Metrics | undefined;
  /** Dead letters keep the raw record, so the privacy rules apply to it too (IPs, pseudonymized ids, PII). */
  private readonly redact: (raw: string) => string;

  constructor(options: RecordPublisherOptions) {
    const { config } = options;
    this.partitions = config.nats.partitions;
    this.source = options.source;
    this.metrics = options.metrics;
    const pseudonymKey = (options.env ?? process.env)[PSEUDONYM_KEY_ENV] || undefined;
    this.redact = (raw) => redactRawRecord(raw, config.ingest.privacy, pseudonymKey);
    this.edge = EdgeProcessor.fromConfig(config.ingest, { pipelineName: config.name, env: options.env ?? process.env });
    this.publisher = new BatchPublisher(options.js, {
      stream: config.nats.stream,
      partitions: config.nats.partitions,
      msgIdPrefix: options.msgIdPrefix,
      connection: options.connection,
    });
  }

  /** One JSON record (an NDJSON line or a collector body element). */
  async publishJsonLine(line: string, receivedAt: number, request?: { hasUserAgent: boolean }): Promise<void> {
    this.counts.read++;
    const decoded = decodeRecord(line, receivedAt);
    if (!decoded.ok) return this.reject(receivedAt, `${decoded.reason}: ${decoded.message}`, line);
    await this.publishEvent(decoded.event, request);
  }

  /** One already-parsed JSON value (collector arrays); `rawLength` is the record's size in bytes. */
  async publishJsonValue(value: unknown, raw: string, receivedAt: number, request?: { hasUserAgent: boolean }): Promise<void> {
    this.counts.read++;
    const decoded = validateRecord(value, Buffer.byteLength(raw), receivedAt);
    if (!decoded.ok) return this.reject(receivedAt, `${decoded.reason}: ${decoded.message}`, raw);
    await this.publishEvent(decoded.event, request);
  }

  /** One parsed access-log record. */
  async publishAccessRecord(record: AccessRecord, line: string, lineNumber: number, receivedAt: number): Promise<void> {
    this.counts.read++;
    const result = this.edge.fromAccessRecord(record, receivedAt, { line, lineNumber });
    await this.publishEdgeResult(result);
  }

  /** A record some parser rejected before it was an event: it goes to the dead letters with the reason. */
  async rejectLine(line: string, reason: string, receivedAt: number): Promise<void> {
    this.counts.read++;
    await this.reject(receivedAt, reason, line);
  }

  async flush(): Promise<IngestCounts> {
    await this.publisher.flush();
    return this.counts;
  }

  private async publishEvent(event: ClickEvent, request?: { hasUserAgent: boolean }): Promise<void> {
    await this.publishEdgeResult(this.edge.process(event, request));
  }

  private async publishEdgeResult(result: ReturnType<EdgeProcessor["process"]>): Promise<void> {
    if (result.kind === "filtered") {
      this.counts.filtered++;
      this.metrics?.eventsFiltered.inc();
      return;
    }
    // Bots in drop mode travel flagged; the worker diverts them to the `bots` table before any operator.
    const event = result.event;
    if (result.kind === "bot") event.is_bot = true;
    this.counts.published++;
    this.metrics?.eventsReceived.inc({ source: this.source });
    await this.publisher.add(JSON.stringify(event), partitionOf(event.anon_id, this.partitions));
  }

  private async reject(receivedAt: number, reason: string, raw: string): Promise<void> {
    this.counts.rejected++;
    this.metrics?.eventsReceived.inc({ source: this.source });
    this.metrics?.eventsInvalid.inc({ reason: reasonCode(reason) });
    await this.publisher.addDeadLetter({ received_at: receivedAt, reason, raw: this.redact(raw), source: this.source });
  }
}

/** The bounded metric label of a reason text "code: detail". */
function reasonCode(reason: string): InvalidReason {
  const code = reason.split(":", 1)[0];
  return (INVALID_REASONS as readonly string[]).includes(code) ? (code as InvalidReason) : "unparseable_line";
}
