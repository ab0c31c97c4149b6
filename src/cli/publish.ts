// `clickpipe publish <file> --pipeline p.yaml [--format …] [--map …] [--sort-by-time]`: a file's records into the stream.
import { createHash, type Hash } from "node:crypto";
import { on } from "node:events";
import { open, type FileHandle } from "node:fs/promises";
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { PipelineConfig } from "../config/pipeline.ts";
import { RecordPublisher, type IngestCounts } from "../ingest/record-publisher.ts";
import { startTypeScriptWorker } from "../runtime/thread-entry.ts";
import { connectNats } from "../transport/connection.ts";
import { BatchPublisher } from "../transport/publisher.ts";
import { ensureStream } from "../transport/stream.ts";
import { loadPipelineOrThrow } from "./load-config.ts";
import { allLines, digestOf, lineChunks, linesOf, publishLineChunks, publishLines, type PublishLinesOptions } from "./publish-lines.ts";
import { CHUNK_TAKEN, PUBLISH_WORKER_ROLE, type PublishWorkerData, type PublishWorkerMessage } from "./publish-worker.ts";

export { publishLineChunks, publishLines, splitLines, type PublishLinesOptions } from "./publish-lines.ts";

export const publishUsage =
  "usage: clickpipe publish <file> --pipeline <pipeline.yaml> [--format ndjson|combined|common|csv|'<log format>'] " +
  "[--map <spec>] [--delimiter <char>|whitespace] [--sort-by-time]";

/** Files at least this big may be parsed in a worker thread while the main thread publishes (start-up ≈ 0.3 s). */
const WORKER_MIN_BYTES = 16 * 1024 * 1024;
/**
 * Fewer, larger JetStream messages than BatchPublisher's default 100 events, but under 128 KiB: V8 allocates a string
 * from 128 KiB up in its large-object space, which made joining a batch about 20 times slower (bench/OPTIMIZATIONS.md).
 */
export const PUBLISH_BATCH_LIMITS = { maxBatchEvents: 1000, maxBatchBytes: 112 * 1024 };

export async function runPublish(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      pipeline: { type: "string" },
      format: { type: "string", default: "ndjson" },
      map: { type: "string" },
      delimiter: { type: "string" },
      "sort-by-time": { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1 || values.pipeline === undefined) {
    console.error(publishUsage);
    return 2;
  }
  if (values.format === "csv" && values.map === undefined) {
    console.error(`--format csv needs --map, e.g. --map "type=purchase,user_id=$1,ts=$2:yyyymmdd,revenue=$4"\n${publishUsage}`);
    return 2;
  }
  const config = await loadPipelineOrThrow(values.pipeline);
  const options: PublishLinesOptions = {
    format: values.format,
    map: values.map,
    delimiter: values.delimiter,
    sortByTime: values["sort-by-time"],
    receivedAt: Date.now(),
  };
  const path = positionals[0];
  const file = await open(path);
  try {
    const stat = await file.stat();
    // A pipe or device (e.g. /dev/stdin) cannot be read twice: it is read into memory once.
    const content = stat.isFile() ? undefined : await file.readFile();
    const size = content?.length ?? stat.size;
    const inWorker = content === undefined && options.sortByTime !== true && size >= workerMinBytes() && hasIdleCore();
    // The worker starts (and parses ahead) while this thread hashes the file and connects.
    const worker = inWorker ? startWorker({ role: PUBLISH_WORKER_ROLE, path, size, config, options }) : undefined;
    // Listening starts now, not after hashing and connecting: a worker message emitted with no listener is lost.
    const workerMessages = worker === undefined ? undefined : messagesOf(worker);
    try {
      // Read once to hash, once to publish: the file is streamed, so its size is not bounded by memory.
      const contentDigest = content === undefined ? await digestOf(file, size) : createHash("sha256").update(content).digest();
      // The same file with the same options always yields the same batch ids, so JetStream stores a re-publish once.
      const msgIdPrefix = createHash("sha256")
        .update(contentDigest)
        .update(JSON.stringify([values.format, values.map, values.delimiter, values["sort-by-time"]]))
        .digest("base64url")
        .slice(0, 22);
      const connection = await connectNats(config.nats);
      try {
        const manager = await jetstreamManager(connection);
        await ensureStream(manager, config.nats.stream, { replicas: config.nats.replicas });
        const published =
          worker !== undefined && workerMessages !== undefined
            ? await publishFromWorker(worker, workerMessages, config, connection, msgIdPrefix)
            : await publishInThisThread(content ?? file, size, config, connection, msgIdPrefix, options);
        if (!Buffer.from(published.digest).equals(contentDigest)) {
          console.error(`clickpipe publish: ${path} changed while it was published; publish it again once it is complete`);
          return 1;
        }
        const counts = published.counts;
        console.log(
          `read ${counts.read}, published ${counts.published}, rejected ${counts.rejected}, filtered ${counts.filtered} ` +
            `→ ${config.nats.stream}`,
        );
        return 0;
      } finally {
        await connection.drain().catch(() => connection.close());
      }
    } finally {
      await worker?.terminate();
    }
  } finally {
    await file.close();
  }
}

function workerMinBytes(): number {
  return Number(process.env.CLICKPIPE_PUBLISH_WORKER_MIN_BYTES ?? WORKER_MIN_BYTES);
}

/**
 * A second thread pays only with a core to run on: with the cores already busy (load average ≥ cores − 1), the two
 * threads mostly wait for each other's time slices, which measured slower than one thread (bench/OPTIMIZATIONS.md).
 */
function hasIdleCore(): boolean {
  const setting = process.env.CLICKPIPE_PUBLISH_WORKER;
  if (setting === "always") return true;
  if (setting === "never") return false;
  return availableParallelism() - loadavg()[0] >= 1;
}

interface Published {
  counts: IngestCounts;
  /** SHA-256 of the bytes that were published. */
  digest: Uint8Array;
}

async function publishInThisThread(
  file: FileHandle | Buffer,
  size: number,
  config: PipelineConfig,
  connection: NatsConnection,
  msgIdPrefix: string,
  options: PublishLinesOptions,
): Promise<Published> {
  const js = jetstream(connection);
  const publisher = new RecordPublisher({ config, js, connection, source: "publish", msgIdPrefix, ...PUBLISH_BATCH_LIMITS });
  const digest = createHash("sha256");
  const chunks = Buffer.isBuffer(file) ? inMemoryChunks(file, digest) : lineChunks(file, size, digest);
  const counts =
    options.sortByTime === true ? await publishLines(publisher, await allLines(chunks), options) : await publishLineChunks(publisher, chunks, options);
  return { counts, digest: digest.digest() };
}

async function* inMemoryChunks(content: Buffer, digest: Hash): AsyncGenerator<string[]> {
  digest.update(content);
  yield linesOf(content);
}

/** The parse thread (see thread-entry.ts for how a TypeScript entry starts without a loader thread of its own). */
export function startWorker(data: PublishWorkerData): Worker {
  return startTypeScriptWorker(new URL("./publish-worker.ts", import.meta.url), { workerData: data });
}

/** The worker's messages, queued from this call on, until it exits (an `error` event rejects the iteration). */
export function messagesOf(worker: Worker): AsyncIterableIterator<[PublishWorkerMessage]> {
  const exited = new AbortController();
  worker.once("exit", () => exited.abort());
  return on(worker, "message", { signal: exited.signal }) as AsyncIterableIterator<[PublishWorkerMessage]>;
}

/** Publishes the worker's chunks in order; each taken chunk lets the worker send another. */
async function publishFromWorker(
  worker: Worker,
  messages: AsyncIterableIterator<[PublishWorkerMessage]>,
  config: PipelineConfig,
  connection: NatsConnection,
  msgIdPrefix: string,
): Promise<Published> {
  const publisher = new BatchPublisher(jetstream(connection), {
    stream: config.nats.stream,
    partitions: config.nats.partitions,
    msgIdPrefix,
    connection,
    ...PUBLISH_BATCH_LIMITS,
  });
  try {
    for await (const [message] of messages) {
      if (message.type === "done") {
        await publisher.flush();
        return { counts: message.counts, digest: message.digest };
      }
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
