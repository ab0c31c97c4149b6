// Sends records into a pipeline's stream after edge processing: valid events to <S>.events.<p>, rejects to <S>.dlq.
import type { PipelineConfig } from "../config/pipeline.ts";
import type { ClickEvent } from "../events/event.ts";
import { decodeRecord, validateRecord } from "../events/decode.ts";
import { fileLineId } from "../events/event-id.ts";
import { invalidReasonCode } from "../metrics/labels.ts";
import type { Metrics } from "../metrics/registry.ts";
import { deadLetterRaw, type DeadLetter } from "../transport/dead-letter.ts";
import { partitionOf } from "../transport/partition.ts";
import type { AccessLine, AccessRecord } from "./access-log.ts";
import { EdgeProcessor, type PreparedAccessLine, type PreparedPageView, type PreparedRobotsTxt } from "./edge.ts";
import { PSEUDONYM_KEY_ENV } from "./privacy.ts";
import { deadLetterReasonRedactor, rawRecordRedactor } from "./raw-redaction.ts";

export type IngestSource = "publish" | "http" | "access_log";

export interface IngestCounts {
  read: number;
  published: number;
  rejected: number;
  filtered: number;
  /** The reason of the first record rejected, for the publisher's summary (the dead letters hold every reason). */
  firstRejection?: string;
  /** An order-line CSV's rows and the orders they made (`read` then counts orders and rows rejected alone). */
  orderLines?: { rows: number; orders: number };
}

/** Where serialized events and dead letters go: a BatchPublisher, or a buffer another thread publishes from. */
export interface RecordSink {
  /** Returns a promise only when the caller must wait (backpressure); `ascii`: the line is known to be ASCII. */
  add(line: string, partition: number, ascii?: boolean): Promise<void> | void;
  addDeadLetter(letter: DeadLetter): Promise<void> | void;
  flush(): Promise<void>;
  /**
   * When present, access lines arrive prepared, not completed: whoever publishes them completes them in the lines'
   * order with an EdgeProcessor of its own (completePageView, completeRobotsTxt), e.g. on another thread.
   */
  addPrepared?(prepared: PreparedPageView | PreparedRobotsTxt, partition: number): void;
  /** Batches published from now on are named under this prefix (see ChunkIds in cli/publish-lines.ts). */
  useMsgIdPrefix?(prefix: string): void;
}

/**
 * A RecordPublisher's settings; `sink` takes what it publishes (into a stream: streamRecordPublisher in
 * stream-record-publisher.ts, which parse threads do not load along with the NATS client).
 */
export interface RecordPublisherOptions {
  config: PipelineConfig;
  sink: RecordSink;
  source: IngestSource;
  metrics?: Metrics;
  env?: NodeJS.ProcessEnv;
}

export class RecordPublisher {
  readonly counts: IngestCounts = { read: 0, published: 0, rejected: 0, filtered: 0 };
  private readonly publisher: RecordSink;
  private readonly edge: EdgeProcessor;
  private readonly partitions: number;
  private readonly source: IngestSource;
  private readonly metrics: Metrics | undefined;
  /** Dead letters keep the raw record, so the privacy rules apply to it too (IPs, pseudonymized ids, PII). */
  private readonly redact: (raw: string) => string;
  /** A reason quotes what it refused: the same rules, after its code. */
  private readonly redactReason: (reason: string) => string;

  constructor(options: RecordPublisherOptions) {
    const { config } = options;
    this.partitions = config.nats.partitions;
    this.source = options.source;
    this.metrics = options.metrics;
    const pseudonymKey = (options.env ?? process.env)[PSEUDONYM_KEY_ENV] || undefined;
    this.redact = rawRecordRedactor(config.ingest.privacy, pseudonymKey);
    this.redactReason = deadLetterReasonRedactor(config.ingest.privacy, pseudonymKey);
    this.edge = EdgeProcessor.fromConfig(config.ingest, { pipelineName: config.name, env: options.env ?? process.env });
    this.publisher = options.sink;
  }

  /**
   * One JSON record (an NDJSON line or a collector body element); a blank line is none, as jq, DuckDB and Spark read
   * NDJSON. `lineNumber`: the line's place in its file, which identifies its dead letter (fileLineId).
   */
  async publishJsonLine(line: string, receivedAt: number, request?: { hasUserAgent: boolean }, lineNumber?: number): Promise<void> {
    if (line.length === 0 || (line.charCodeAt(0) <= 0x20 && line.trim() === "")) return;
    this.counts.read++;
    const decoded = decodeRecord(line, receivedAt);
    if (!decoded.ok) return this.reject(receivedAt, `${decoded.reason}: ${decoded.message}`, line, lineNumber);
    await this.publishEvent(decoded.event, request);
  }

  /**
   * One already-parsed JSON value (collector arrays, mapped CSV records); `raw` is the record as received. `where`
   * (e.g. "line 7") goes into a rejection's reason after its code; `lineNumber` (its first line in a file) identifies
   * its dead letter.
   */
  async publishJsonValue(value: unknown, raw: string, receivedAt: number, request?: { hasUserAgent: boolean }, where?: string, lineNumber?: number): Promise<void> {
    this.counts.read++;
    const decoded = validateRecord(value, Buffer.byteLength(raw), receivedAt);
    if (!decoded.ok) return this.reject(receivedAt, `${decoded.reason}: ${where === undefined ? "" : `${where}: `}${decoded.message}`, raw, lineNumber);
    await this.publishEvent(decoded.event, request);
  }

  /** One parsed access-log record; returns a promise only when the caller must wait (backpressure). */
  publishAccessRecord(record: AccessRecord, line: string, lineNumber: number, receivedAt: number): Promise<void> | void {
    this.counts.read++;
    return this.publishEdgeResult(this.edge.fromAccessRecord(record, receivedAt, { line, lineNumber }));
  }

  /** One access-log line read by an AccessLineReader; returns a promise only when the caller must wait (backpressure). */
  publishAccessLine(accessLine: AccessLine, line: string, lineNumber: number, receivedAt: number): Promise<void> | void {
    this.counts.read++;
    return this.publishPrepared(this.edge.prepareAccessLine(accessLine, receivedAt, { line, lineNumber }));
  }

  /** Batches published from now on are named under this prefix (a sink without batch ids ignores it). */
  useMsgIdPrefix(prefix: string): void {
    this.publisher.useMsgIdPrefix?.(prefix);
  }

  /** A record some parser rejected before it was an event: it goes to the dead letters with the reason (and its line's id). */
  rejectLine(line: string, reason: string, receivedAt: number, lineNumber?: number): Promise<void> | void {
    this.counts.read++;
    return this.reject(receivedAt, reason, line, lineNumber);
  }

  async flush(): Promise<IngestCounts> {
    await this.publisher.flush();
    return this.counts;
  }

  private async publishEvent(event: ClickEvent, request?: { hasUserAgent: boolean }): Promise<void> {
    await this.publishEdgeResult(this.edge.process(event, request));
  }

  /** Synchronous unless the batch publisher asks to wait: an await per line costs more than the line's parse. */
  private publishEdgeResult(result: ReturnType<EdgeProcessor["process"]>): Promise<void> | void {
    if (result.kind === "filtered") return this.countFiltered();
    // Bots in drop mode travel flagged; the worker diverts them to the `bots` table before any operator.
    const event = result.event;
    if (result.kind === "bot") event.is_bot = true;
    this.countPublished();
    return this.publisher.add(JSON.stringify(event), partitionOf(event.anon_id, this.partitions));
  }

  /** A prepared access line: completed here, or handed to a sink that completes it in order elsewhere. */
  private publishPrepared(prepared: PreparedAccessLine): Promise<void> | void {
    if (prepared.kind === "filtered") return this.countFiltered();
    if (prepared.kind === "robots_txt") {
      this.countFiltered();
      if (this.publisher.addPrepared !== undefined) return this.publisher.addPrepared(prepared, 0);
      return this.edge.completeRobotsTxt(prepared.visitor, prepared.ts);
    }
    this.countPublished();
    const partition = partitionOf(prepared.anonId, this.partitions);
    if (this.publisher.addPrepared !== undefined) return this.publisher.addPrepared(prepared, partition);
    const rest = this.edge.completePageView(prepared.visitor, prepared.ts, prepared.robotsTxt, prepared.userAgentReason);
    return this.publisher.add(joinJson(prepared.json, rest), partition);
  }

  private countFiltered(): void {
    this.counts.filtered++;
    this.metrics?.eventsFiltered.inc();
  }

  private countPublished(): void {
    this.counts.published++;
    this.metrics?.eventsReceived.inc({ source: this.source });
  }

  /** `lineNumber`: the record's line in a file, so the letter has an id (the unredacted, untruncated line's fileLineId). */
  private reject(receivedAt: number, unredactedReason: string, raw: string, lineNumber?: number): Promise<void> | void {
    const reason = this.redactReason(unredactedReason);
    this.counts.rejected++;
    this.counts.firstRejection ??= reason;
    this.metrics?.eventsReceived.inc({ source: this.source });
    this.metrics?.eventsInvalid.inc({ reason: invalidReasonCode(reason) });
    const letter: DeadLetter = { received_at: receivedAt, reason, raw: this.redact(deadLetterRaw(raw)), source: this.source };
    // Without a registry (`clickpipe publish`) nothing here is scraped: the worker writing the letter counts it.
    if (this.metrics === undefined) letter.counted = false;
    if (lineNumber !== undefined) letter.id = fileLineId(lineNumber, raw);
    return this.publisher.addDeadLetter(letter);
  }
}


/** A prepared page view's JSON and the rest completePageView gave ("{" alone when privacy dropped every field). */
export function joinJson(prepared: string, rest: string): string {
  return prepared.length > 1 || rest === "}" ? prepared + rest : `{${rest.slice(1)}`;
}
