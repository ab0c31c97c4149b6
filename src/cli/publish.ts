// `clickpipe publish <file> --pipeline p.yaml [--format …] [--map …] [--sort-by-time]`: a file's records into the stream.
import { on } from "node:events";
import { open, type FileHandle } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { PipelineConfig } from "../config/pipeline.ts";
import type { IngestCounts, RecordSink } from "../ingest/record-publisher.ts";
import { startTypeScriptWorker } from "../runtime/thread-entry.ts";
import { connectNats } from "../transport/connection.ts";
import { BatchPublisher } from "../transport/publisher.ts";
import { ensureStream } from "../transport/stream.ts";
import { loadPipelineOrThrow } from "./load-config.ts";
import { EdgeProcessor } from "../ingest/edge.ts";
import {
  allLines,
  byteChunks,
  CHUNK_BYTES,
  recycledPieceBuffers,
  ChunkIds,
  isAccessLogFormat,
  lineChunks,
  lineCountOf,
  publishLineChunks,
  publishLines,
  publishOptionsKey,
  type PublishLinesOptions,
} from "./publish-lines.ts";
import { completePreparedSlice, sumCounts, type PreparedTarget } from "./publish-prepared.ts";
import { PREPARE_WORKER_ROLE, type PrepareRequest, type PrepareResponse, type PrepareWorkerData } from "./publish-prepare-worker.ts";
import { CHUNK_TAKEN, PUBLISH_WORKER_ROLE, type PublishWorkerData, type PublishWorkerMessage } from "./publish-worker.ts";
import { streamRecordPublisher } from "../ingest/stream-record-publisher.ts";

export { publishLineChunks, publishLines, splitLines, type PublishLinesOptions } from "./publish-lines.ts";

export const publishUsage =
  "usage: clickpipe publish <file> --pipeline <pipeline.yaml> [--format ndjson|combined|common|csv|'<log format>'] " +
  "[--map <spec>] [--delimiter <char>|whitespace] [--sort-by-time]";

/** Files at least this big may be parsed in worker threads while the main thread publishes (start-up ≈ 0.3 s). */
const WORKER_MIN_BYTES = 16 * 1024 * 1024;
const MAX_PARSE_THREADS = 4;
/** Pieces (4 MiB each) handed to parse threads and not yet published, at most. */
const PIECES_AHEAD = 8;
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
  const workers: Worker[] = [];
  try {
    const stat = await file.stat();
    // A pipe or device (e.g. /dev/stdin) is read into memory once.
    const source = stat.isFile() ? file : await file.readFile();
    const size = Buffer.isBuffer(source) ? source.length : stat.size;
    const threads = Buffer.isBuffer(source) || options.sortByTime === true || size < workerMinBytes() ? 0 : parseThreads();
    const accessLog = isAccessLogFormat(options.format);
    const optionsKey = publishOptionsKey(options);
    // Threads start (and parse ahead) while this one connects; listening starts at once: a message with no listener is lost.
    if (threads > 0 && !accessLog) workers.push(startWorker({ role: PUBLISH_WORKER_ROLE, path, size, config, options }));
    if (threads > 0 && accessLog) {
      const data: PrepareWorkerData = { role: PREPARE_WORKER_ROLE, config, options: { ...options, receivedAt: options.receivedAt ?? Date.now() } };
      for (let index = 0; index < threads; index++) workers.push(startPrepareWorker(data));
    }
    const inboxes = workers.map((worker) => messagesOf(worker));
    const connection = await connectNats(config.nats);
    try {
      const manager = await jetstreamManager(connection);
      await ensureStream(manager, config.nats.stream, { replicas: config.nats.replicas });
      // A placeholder: every batch is published after its piece named it (ChunkIds).
      const publisherOptions = { config, connection, msgIdPrefix: optionsKey, format: options.format };
      let counts: IngestCounts;
      if (workers.length === 0) counts = await publishInThisThread(source, size, publisherOptions, options);
      else if (!accessLog) counts = await publishFromWorker(workers[0], inboxes[0] as AsyncIterableIterator<[PublishWorkerMessage]>, publisherOptions);
      else {
        const edge = EdgeProcessor.fromConfig(config.ingest, { pipelineName: config.name, env: process.env });
        const prepared = inboxes as AsyncIterableIterator<[PrepareResponse]>[];
        counts = await publishPrepared(source as FileHandle, size, workers, prepared, batchPublisher(publisherOptions), edge, optionsKey);
      }
      console.log(
        `read ${counts.read}, published ${counts.published}, rejected ${counts.rejected}, filtered ${counts.filtered} ` +
          `→ ${config.nats.stream}`,
      );
      return 0;
    } finally {
      await connection.drain().catch(() => connection.close());
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
    await file.close();
  }
}

function workerMinBytes(): number {
  return Number(process.env.CLICKPIPE_PUBLISH_WORKER_MIN_BYTES ?? WORKER_MIN_BYTES);
}

/**
 * How many parse threads: one per core, up to four (the main thread only publishes; access-log pieces parse on all of
 * them at once, JSON and CSV use one). Threads cost no more CPU in all than one thread, so they pay even when the
 * cores are busy: with another process keeping one core busy, a million log lines took 4.7 s with them and 5.8 s
 * without (bench/OPTIMIZATIONS.md). CLICKPIPE_PUBLISH_WORKER=never keeps to one thread; CLICKPIPE_PUBLISH_THREADS
 * sets the count.
 */
function parseThreads(): number {
  if (process.env.CLICKPIPE_PUBLISH_WORKER === "never") return 0;
  const configured = Number(process.env.CLICKPIPE_PUBLISH_THREADS);
  return Number.isInteger(configured) && configured > 0 ? configured : Math.min(Math.max(availableParallelism(), 1), MAX_PARSE_THREADS);
}

interface PublisherOptions {
  config: PipelineConfig;
  connection: NatsConnection;
  msgIdPrefix: string;
  format: string;
}

function batchPublisher({ config, connection, msgIdPrefix, format }: PublisherOptions): BatchPublisher {
  const partitions = config.nats.partitions;
  return new BatchPublisher(jetstream(connection), { stream: config.nats.stream, partitions, msgIdPrefix, connection, ...publishBatchLimits(format) });
}

async function publishInThisThread(source: FileHandle | Buffer, size: number, target: PublisherOptions, options: PublishLinesOptions): Promise<IngestCounts> {
  const js = jetstream(target.connection);
  const { config, connection, msgIdPrefix } = target;
  const publisher = streamRecordPublisher({ config, js, connection, source: "publish", msgIdPrefix, ...publishBatchLimits(options.format) });
  const chunks = lineChunks(source, size, new ChunkIds(publishOptionsKey(options)));
  if (options.sortByTime !== true) return publishLineChunks(publisher, chunks, options);
  // Sorted, any line may land in any batch: every batch is named by the whole file (the last piece's prefix).
  const { lines, msgIdPrefix: wholeFile } = await allLines(chunks);
  if (wholeFile !== undefined) publisher.useMsgIdPrefix(wholeFile);
  return publishLines(publisher, lines, options);
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
async function publishFromWorker(worker: Worker, messages: AsyncIterableIterator<[PublishWorkerMessage]>, target: PublisherOptions): Promise<IngestCounts> {
  const publisher = batchPublisher(target);
  try {
    for await (const [message] of messages) {
      if (message.type === "done") {
        await publisher.flush();
        return message.counts;
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

/** A parse thread for access-log pieces (publish-prepare-worker.ts). */
export function startPrepareWorker(data: PrepareWorkerData): Worker {
  return startTypeScriptWorker(new URL("./publish-prepare-worker.ts", import.meta.url), { workerData: data });
}

/**
 * Access logs on several parse threads: this thread reads the file in pieces, names each piece's batches (ChunkIds),
 * hands piece i to thread i mod n, and completes and publishes the prepared slices in file order (publish-prepared.ts).
 * At most PIECES_AHEAD pieces are out at once, which bounds memory when NATS is slower than parsing.
 */
export async function publishPrepared(
  file: FileHandle,
  size: number,
  workers: readonly Worker[],
  inboxes: readonly AsyncIterableIterator<[PrepareResponse]>[],
  publisher: PreparedTarget & Pick<RecordSink, "flush"> & { useMsgIdPrefix(prefix: string): void },
  edge: EdgeProcessor,
  optionsKey: string,
): Promise<IngestCounts> {
  const ids = new ChunkIds(optionsKey);
  // Shared with the parse threads, and each read into again once its piece is done: no page faults for new memory.
  const buffers = recycledPieceBuffers(PIECES_AHEAD + 2, CHUNK_BYTES, true);
  // Piece i's JSON goes into outputs[i mod PIECES_AHEAD]: piece i is sent once piece i - PIECES_AHEAD is done. A
  // piece's JSON is about as big as its page views' lines; one that outgrows its output goes on in a private buffer.
  const outputs = Array.from({ length: PIECES_AHEAD }, () => new SharedArrayBuffer(2 * CHUNK_BYTES));
  const pieces = byteChunks(file, size, CHUNK_BYTES, buffers)[Symbol.asyncIterator]();
  let sent = 0;
  let linesSent = 0;
  let readAll = false;
  const sendNext = async (): Promise<void> => {
    const next = await pieces.next();
    if (next.done === true) {
      readAll = true;
      return;
    }
    const piece = next.value;
    const bytes = piece.buffer as SharedArrayBuffer | ArrayBuffer;
    const output = outputs[sent % PIECES_AHEAD];
    const request: PrepareRequest = { type: "piece", piece: sent, firstLineNumber: linesSent + 1, bytes, offset: piece.byteOffset, length: piece.length, output };
    linesSent += lineCountOf(piece);
    // Only a piece too big for a shared buffer has an ArrayBuffer of its own, to be transferred.
    workers[sent++ % workers.length].postMessage(request, bytes instanceof SharedArrayBuffer ? [] : [bytes]);
  };
  while (!readAll && sent < PIECES_AHEAD) await sendNext();
  for (let piece = 0; piece < sent; piece++) {
    for (let last = false; !last; ) {
      const slice = await nextResponse(inboxes[piece % workers.length]);
      if (slice.type !== "slice" || slice.piece !== piece) throw new Error(`a parse thread answered out of turn (piece ${piece})`);
      if (slice.pieceDigest !== undefined) publisher.useMsgIdPrefix(ids.nextOf(slice.pieceDigest));
      await completePreparedSlice(slice, edge, publisher);
      last = slice.last;
    }
    if (!readAll) await sendNext();
  }
  for (const worker of workers) worker.postMessage({ type: "end" } satisfies PrepareRequest);
  const counts: IngestCounts[] = [];
  for (const inbox of inboxes) {
    const done = await nextResponse(inbox);
    if (done.type !== "done") throw new Error("a parse thread sent more than it was asked for");
    counts.push(done.counts);
  }
  await publisher.flush();
  return sumCounts(counts);
}

async function nextResponse(inbox: AsyncIterableIterator<[PrepareResponse]>): Promise<PrepareResponse> {
  const next = await inbox.next();
  if (next.done === true) throw new Error("a parse thread stopped before it finished the file");
  return next.value[0];
}
