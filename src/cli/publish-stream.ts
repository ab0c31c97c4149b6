// The NATS side of `clickpipe publish`: the stream, its batch publishers, and publishing on this thread or from the
// JSON parse thread. Loaded by publish.ts once its access-log parse threads have their config: they need the config,
// not NATS, to start parsing.
import type { Worker } from "node:worker_threads";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { PipelineConfig } from "../config/pipeline.ts";
import { RecordPublisher, type IngestCounts } from "../ingest/record-publisher.ts";
import { connectNats } from "../transport/connection.ts";
import { BatchPublisher } from "../transport/publisher.ts";
import { ensureStream, streamOptions } from "../transport/stream.ts";
import {
  allLines,
  ChunkIds,
  isAccessLogFormat,
  lineChunks,
  publishLineChunks,
  publishLines,
  publishOptionsKey,
  type PieceSource,
  type PublishLinesOptions,
} from "./publish-lines.ts";
import { CHUNK_TAKEN, type PublishWorkerMessage } from "./publish-worker.ts";

/**
 * Fewer, larger JetStream messages than BatchPublisher's default 100 events: per-request costs (the client's error
 * objects with their stacks, acks, the server's per-message work) fell by half. Under 128 KiB for JSON and CSV lines,
 * as measured when batches were joined strings (V8 allocates a string from 128 KiB up in its large-object space, which
 * made joining a batch about 20 times slower; bench/OPTIMIZATIONS.md). Batches are now written straight into their
 * body, so access logs, measured again, go up to 1,000 events (≈ 360 KiB): −0.15–0.25 CPU s on the main thread and
 * −0.1 s in nats-server per million lines.
 */
export const PUBLISH_BATCH_LIMITS = { maxBatchEvents: 1000, maxBatchBytes: 112 * 1024 };
export const ACCESS_LOG_BATCH_LIMITS = { maxBatchEvents: 1000, maxBatchBytes: 512 * 1024 };

/** The batch limits of a format: every mode of one format must use the same, or the batch ids would differ. */
export function publishBatchLimits(format: string): { maxBatchEvents: number; maxBatchBytes: number } {
  return isAccessLogFormat(format) ? ACCESS_LOG_BATCH_LIMITS : PUBLISH_BATCH_LIMITS;
}

/** A connection to the pipeline's NATS, with its stream created when missing (what it changed on it goes to `log`). */
export async function connectToStream(config: PipelineConfig, log: (line: string) => void = (line) => console.error(line)): Promise<NatsConnection> {
  const connection = await connectNats(config.nats);
  try {
    await ensureStream(await jetstreamManager(connection), config.nats.stream, streamOptions(config.nats, log));
    return connection;
  } catch (error) {
    await connection.close();
    throw error;
  }
}

export interface PublisherOptions {
  config: PipelineConfig;
  connection: NatsConnection;
  msgIdPrefix: string;
  format: string;
}

export function batchPublisher({ config, connection, msgIdPrefix, format }: PublisherOptions): BatchPublisher {
  const partitions = config.nats.partitions;
  return new BatchPublisher(jetstream(connection), { stream: config.nats.stream, partitions, msgIdPrefix, connection, deadLetterIdsWithinPrefix: true, ...publishBatchLimits(format) });
}

export async function publishInThisThread(
  source: PieceSource,
  size: number,
  config: PipelineConfig,
  sink: BatchPublisher,
  options: PublishLinesOptions,
): Promise<IngestCounts> {
  const publisher = new RecordPublisher({ config, sink, source: "publish" });
  const chunks = lineChunks(source, size, new ChunkIds(publishOptionsKey(options)));
  if (options.sortByTime !== true) return publishLineChunks(publisher, chunks, options);
  // Sorted, any line may land in any batch: every batch is named by the whole file (the last piece's prefix).
  const { lines, msgIdPrefix: wholeFile } = await allLines(chunks);
  if (wholeFile !== undefined) publisher.useMsgIdPrefix(wholeFile);
  return publishLines(publisher, lines, options);
}

/**
 * Publishes the worker's chunks in order; each taken chunk lets the worker send another. `failure`: why a gzip's
 * bytes ended early.
 */
export async function publishFromWorker(
  worker: Worker,
  messages: AsyncIterableIterator<[PublishWorkerMessage]>,
  publisher: BatchPublisher,
): Promise<{ counts: IngestCounts; failure?: string }> {
  try {
    for await (const [message] of messages) {
      if (message.type === "done") {
        await publisher.flush();
        return { counts: message.counts, failure: message.failure };
      }
      if (message.msgIdPrefix !== undefined) publisher.useMsgIdPrefix(message.msgIdPrefix);
      for (let index = 0; index < message.events.length; index++) {
        const wait = publisher.add(message.events[index], message.partitions[index]);
        if (wait !== undefined) await wait;
      }
      for (const letter of message.deadLetters) {
        const wait = publisher.addDeadLetter(letter);
        if (wait !== undefined) await wait;
      }
      worker.postMessage(CHUNK_TAKEN);
    }
  } catch (error) {
    if ((error as Error).name !== "AbortError") throw error;
  }
  throw new Error("the publish worker stopped before it finished the file");
}

