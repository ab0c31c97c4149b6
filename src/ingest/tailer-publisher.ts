// Publishes the complete lines of one tailed chunk as events and dead letters, under batch ids derived from the chunk.
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { PipelineConfig } from "../config/pipeline.ts";
import { fileLineId } from "../events/event-id.ts";
import type { Metrics } from "../metrics/registry.ts";
import { deadLetterRaw } from "../transport/dead-letter.ts";
import { BatchPublisher } from "../transport/publisher.ts";
import { partitionOf } from "../transport/partition.ts";
import type { AccessLineReader } from "./access-log.ts";
import { EdgeProcessor } from "./edge.ts";
import { PSEUDONYM_KEY_ENV } from "./privacy.ts";
import type { IngestCounts } from "./record-publisher.ts";
import { deadLetterReasonRedactor, rawRecordRedactor } from "./raw-redaction.ts";

export interface NumberedLine {
  text: string;
  /** 1-based line number in the file (generation): with the text, it makes the event_id. */
  lineNumber: number;
}

/** Where a chunk comes from, for a reader with state (W3C): its own reader, and how to find the directive before it. */
export interface TailChunkSource {
  /** The reader of the chunk's path (default: the publisher's). */
  read?: AccessLineReader;
  /** The last `#Fields:` line of the file before the chunk (of the file a gzip holds, for a compressed one). */
  directiveBefore?: () => Promise<string | undefined>;
}

export interface TailPublisherOptions {
  config: PipelineConfig;
  js: JetStreamClient;
  connection: NatsConnection;
  /** Reads a line's fields; a line the page filter leaves out builds no record (see EdgeProcessor.fromAccessLine). */
  read: AccessLineReader;
  metrics?: Metrics;
  env?: NodeJS.ProcessEnv;
}

/**
 * One edge processor for the whole life of the tailer (bot rates and visitor ids span chunks), and one batch
 * publisher per chunk, because each chunk's batches carry ids derived from the chunk's place in its file.
 */
export class TailPublisher {
  readonly counts: IngestCounts = { read: 0, published: 0, rejected: 0, filtered: 0 };
  private readonly edge: EdgeProcessor;
  /** Dead letters keep the raw line, so the privacy rules apply to it too. */
  private readonly redactRaw: (raw: string) => string;
  private readonly redactReason: (reason: string) => string;

  constructor(private readonly options: TailPublisherOptions) {
    const env = options.env ?? process.env;
    this.edge = EdgeProcessor.fromConfig(options.config.ingest, { pipelineName: options.config.name, env });
    const pseudonymKey = env[PSEUDONYM_KEY_ENV] || undefined;
    this.redactRaw = rawRecordRedactor(options.config.ingest.privacy, pseudonymKey);
    this.redactReason = deadLetterReasonRedactor(options.config.ingest.privacy, pseudonymKey);
  }

  /** Publishes `lines` as batches `<msgIdPrefix>:<partition|dlq>:<n>` and resolves once JetStream acknowledged all. */
  async publish(msgIdPrefix: string, lines: readonly NumberedLine[], receivedAt: number, source: TailChunkSource = {}): Promise<void> {
    const { config, js, connection, metrics } = this.options;
    const read = source.read ?? this.options.read;
    // Resumed in the middle of a W3C log: the columns are those of the last #Fields before the chunk.
    if (read.needsDirective?.() === true && lines.length > 0 && lines[0].lineNumber > 1 && source.directiveBefore !== undefined) {
      const directive = await source.directiveBefore();
      if (directive !== undefined) read(directive);
    }
    const partitions = config.nats.partitions;
    const publisher = new BatchPublisher(js, { stream: config.nats.stream, partitions, msgIdPrefix, connection });
    for (const { text, lineNumber } of lines) {
      const parsed = read(text);
      // A W3C directive or another Caddy logger's entry is no record: neither read nor rejected.
      if (!parsed.ok && parsed.code === "skipped") continue;
      this.counts.read++;
      metrics?.eventsReceived.inc({ source: "access_log" });
      if (!parsed.ok) {
        this.counts.rejected++;
        const code = parsed.code ?? "unparseable_line";
        metrics?.eventsInvalid.inc({ reason: code });
        const raw = this.redactRaw(deadLetterRaw(text));
        // The id an event of this line would have (fileLineId): a re-read under another instance name is written once.
        await publisher.addDeadLetter({ received_at: receivedAt, reason: this.redactReason(`${code}: ${parsed.reason}`), raw, source: "access_log", id: fileLineId(lineNumber, text) });
        continue;
      }
      const result = this.edge.fromAccessLine(parsed, receivedAt, { line: text, lineNumber });
      if (result.kind === "filtered") {
        this.counts.filtered++;
        metrics?.eventsFiltered.inc();
        continue;
      }
      // Bots in drop mode travel flagged; the worker diverts them to the `bots` table before any operator.
      if (result.kind === "bot") result.event.is_bot = true;
      this.counts.published++;
      await publisher.add(JSON.stringify(result.event), partitionOf(result.event.anon_id, partitions));
    }
    await publisher.flush();
  }
}
