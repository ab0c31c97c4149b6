// `clickpipe publish <file> --pipeline p.yaml [--format …] [--map …] [--sort-by-time]`: a file's records into the stream.
import { on } from "node:events";
import { open, type FileHandle } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { parseCommandLine } from "./parse-command-line.ts";
import { Worker } from "node:worker_threads";
import type { IngestCounts, RecordSink } from "../ingest/record-publisher.ts";
import type { PublishStats } from "../transport/publisher.ts";
import { startTypeScriptWorker } from "../runtime/thread-entry.ts";
import { directoryProblem, fileProblem } from "../config/file-problem.ts";
import { EdgeProcessor } from "../ingest/edge.ts";
import {
  byteChunks,
  CHUNK_BYTES,
  recycledPieceBuffers,
  ChunkIds,
  isAccessLogFormat,
  lastFieldsDirectiveOf,
  lineCountOf,
  publishFormatProblem,
  publishOptionsKey,
  type PieceSource,
  type PublishLinesOptions,
} from "./publish-lines.ts";
import { gzipFileSizeLowerBound, inputFailure, publishInput, startsAsGzip } from "./publish-gzip.ts";
import { completePreparedSlice, sumCounts, type PreparedTarget } from "./publish-prepared.ts";
import { PREPARE_WORKER_ROLE, type PrepareRequest, type PrepareResponse } from "./publish-prepare-worker.ts";
import { PUBLISH_WORKER_ROLE, type PublishWorkerData, type PublishWorkerMessage } from "./publish-worker.ts";

export { publishLineChunks, publishLines, splitLines, type PublishLinesOptions } from "./publish-lines.ts";

export const publishUsage =
  "usage: clickpipe publish <file[.gz]> --pipeline <pipeline.yaml> [--format ndjson|combined|common|w3c|caddy|csv|'<log format>'] " +
  "[--map <spec>] [--delimiter <char>|tab|whitespace] [--null <text>] [--timezone <IANA zone>] [--sort-by-time]";

/** Files at least this big may be parsed in worker threads while the main thread publishes (start-up ≈ 0.3 s). */
const WORKER_MIN_BYTES = 16 * 1024 * 1024;
const MAX_PARSE_THREADS = 4;
/** Pieces (4 MiB each) handed to parse threads and not yet published, at most. */
const PIECES_AHEAD = 8;
export async function runPublish(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: argv,
    allowPositionals: true,
    options: {
      pipeline: { type: "string" },
      format: { type: "string", default: "ndjson" },
      map: { type: "string" },
      delimiter: { type: "string" },
      null: { type: "string" },
      timezone: { type: "string" },
      "sort-by-time": { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1 || values.pipeline === undefined) {
    const missing = positionals.length === 0 ? "name the file to publish" : positionals.length > 1 ? "name one file" : "--pipeline <pipeline.yaml> is required";
    console.error(`clickpipe publish: ${missing}\n${publishUsage}`);
    return 2;
  }
  // They would change nothing but the batch ids, and a re-publish with them would store every record again.
  const csvOnly = (["map", "delimiter", "null"] as const).filter((name) => values[name] !== undefined);
  if (values.format !== "csv" && csvOnly.length > 0) {
    const flags = csvOnly.map((name) => `--${name}`);
    const named = flags.length === 1 ? `${flags[0]} only applies` : `${flags.slice(0, -1).join(", ")} and ${flags.at(-1)} only apply`;
    console.error(`clickpipe publish: ${named} to --format csv (this is --format ${values.format})\n${publishUsage}`);
    return 2;
  }
  // Only CSV's local date-times and Caddy's `wall` times have no offset of their own.
  if (values.timezone !== undefined && values.format !== "csv" && values.format !== "caddy") {
    console.error(`clickpipe publish: --timezone only applies to --format csv and caddy, whose times may lack an offset (this is --format ${values.format})\n${publishUsage}`);
    return 2;
  }
  if (values.format === "csv" && values.map === undefined) {
    console.error(`clickpipe publish: --format csv needs --map, e.g. --map "type=purchase,user_id=$1,ts=$2:yyyymmdd,revenue=$4"\n${publishUsage}`);
    return 2;
  }
  const options: PublishLinesOptions = {
    format: values.format,
    map: values.map,
    delimiter: values.delimiter,
    nullText: values.null,
    timeZone: values.timezone,
    sortByTime: values["sort-by-time"],
    receivedAt: Date.now(),
  };
  const formatProblem = publishFormatProblem(options);
  if (formatProblem !== undefined) {
    console.error(`clickpipe publish: ${formatProblem}\n${publishUsage}`);
    return 2;
  }
  const path = positionals[0];
  const file = await openInput(path);
  if (file === undefined) return 1;
  const workers: Worker[] = [];
  try {
    const stat = await file.stat();
    if (stat.isDirectory()) {
      console.error(`clickpipe publish: ${directoryProblem(path)}`);
      return 1;
    }
    // A pipe or device (e.g. /dev/stdin) is read into memory once.
    const source = stat.isFile() ? file : await file.readFile();
    const size = Buffer.isBuffer(source) ? source.length : stat.size;
    // A gzip is read as the bytes it holds; what it holds at least (its ISIZE trailer, gzipSizeLowerBound) decides on
    // threads, as a plain file's size does.
    const gzip = await startsAsGzip(source);
    const parsedBytes = gzip && !Buffer.isBuffer(source) ? await gzipFileSizeLowerBound(source, size) : size;
    const threads = Buffer.isBuffer(source) || options.sortByTime === true || parsedBytes < workerMinBytes() ? 0 : parseThreads();
    // Access logs parse on several threads at once, piece by piece (W3C pieces each with the #Fields before them).
    const accessLog = isAccessLogFormat(options.format);
    const optionsKey = publishOptionsKey(options);
    // Access-log parse threads start first and get the config once it is loaded: each takes about 0.1 s to start,
    // about as long as loading the config schemas here.
    if (threads > 0 && accessLog) for (let index = 0; index < threads; index++) workers.push(startPrepareWorker());
    // Listening starts at once: a message with no listener is lost.
    const inboxes = workers.map((worker) => messagesOf(worker));
    const { loadPipelineOrThrow } = await import("./load-config.ts");
    const config = await loadPipelineOrThrow(values.pipeline);
    const prepareOptions = { ...options, receivedAt: options.receivedAt ?? Date.now() };
    for (const worker of workers) worker.postMessage({ type: "config", config, options: prepareOptions } satisfies PrepareRequest);
    // The NATS client loads once the parse threads can start.
    const stream = await import("./publish-stream.ts");
    // The JSON and CSV parse thread starts (and parses ahead) while this one connects.
    if (threads > 0 && !accessLog) {
      workers.push(startWorker({ role: PUBLISH_WORKER_ROLE, path, size, gzip, config, options }));
      inboxes.push(messagesOf(workers[0]));
    }
    const connection = await stream.connectToStream(config);
    try {
      // A placeholder: every batch is published after its piece named it (ChunkIds).
      const publisherOptions = { config, connection, msgIdPrefix: optionsKey, format: options.format };
      const sink = stream.batchPublisher(publisherOptions);
      let counts: IngestCounts;
      /** Why a gzip's bytes ended early: what was decompressed before is published all the same. */
      let failure: string | undefined;
      if (workers.length === 0 || accessLog) {
        const input = publishInput(source, size, gzip);
        if (workers.length === 0) counts = await stream.publishInThisThread(input.source, input.size, config, sink, options);
        else {
          const edge = EdgeProcessor.fromConfig(config.ingest, { pipelineName: config.name, env: process.env });
          const prepared = inboxes as AsyncIterableIterator<[PrepareResponse]>[];
          const directives = options.format === "w3c";
          counts = await publishPrepared(input.source, input.size, workers, prepared, sink, edge, optionsKey, directives);
        }
        failure = inputFailure(input.source);
      } else ({ counts, failure } = await stream.publishFromWorker(workers[0], inboxes[0] as AsyncIterableIterator<[PublishWorkerMessage]>, sink));
      console.log(`${readSummary(counts)}, published ${counts.published}, rejected ${counts.rejected}, filtered ${counts.filtered} → ${config.nats.stream}${alreadyStored(sink.stats)}`);
      if (counts.firstRejection !== undefined) console.error(rejectionSummary(counts, config.nats.stream));
      if (failure === undefined) return 0;
      console.error(`clickpipe publish: ${path} ${failure}`);
      return 1;
    } finally {
      await connection.drain().catch(() => connection.close());
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
    await file.close();
  }
}

/**
 * "read 40", or for an order-line CSV "read 40 rows (10 orders)", 10 distinct order_ids: its published and filtered
 * count orders, and its rejected count dead letters (a row each, but one for an order the event checks refuse).
 */
export function readSummary(counts: Pick<IngestCounts, "read" | "orderLines">): string {
  if (counts.orderLines === undefined) return `read ${counts.read}`;
  const { rows, orders } = counts.orderLines;
  return `read ${rows} row${rows === 1 ? "" : "s"} (${orders} order${orders === 1 ? "" : "s"})`;
}

/**
 * What JetStream recognised as sent before (a re-publish within `nats.duplicateWindow`): "published" counts what it
 * acknowledged, and a user re-running publish could not tell from it that nothing was stored twice.
 */
export function alreadyStored(stats: Pick<PublishStats, "duplicateBatches" | "duplicateEvents" | "batches" | "deadLetterBatches">): string {
  if (stats.duplicateBatches === 0) return "";
  if (stats.duplicateBatches === stats.batches + stats.deadLetterBatches) return " (all already in the stream: JetStream stored nothing again)";
  return ` (${stats.duplicateEvents} event${stats.duplicateEvents === 1 ? " was" : "s were"} already in the stream: not stored again)`;
}

/**
 * Why records were rejected, at a glance: without it a --map naming a column the header lacks dead-lettered every
 * record with nothing on the terminal but the count.
 */
export function rejectionSummary(counts: IngestCounts, stream: string): string {
  const all = counts.rejected === counts.read ? "every record was rejected" : `${counts.rejected} rejected`;
  return `${all}, e.g. ${counts.firstRejection}\n(each reason is in ${stream}.dlq; clickpipe run writes them to invalid_events)`;
}

/** The file to publish, or undefined once its problem (missing, unreadable) is printed. */
async function openInput(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path);
  } catch (error) {
    console.error(`clickpipe publish: ${fileProblem(path, error)}`);
    return undefined;
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

/** A parse thread for access-log pieces (publish-prepare-worker.ts); it waits for its config message. */
export function startPrepareWorker(): Worker {
  return startTypeScriptWorker(new URL("./publish-prepare-worker.ts", import.meta.url), { workerData: { role: PREPARE_WORKER_ROLE } });
}

/**
 * Access logs on several parse threads: this thread reads the file in pieces, names each piece's batches (ChunkIds),
 * hands piece i to thread i mod n, and completes and publishes the prepared slices in file order (publish-prepared.ts).
 * At most PIECES_AHEAD pieces are out at once, which bounds memory when NATS is slower than parsing. `directives`
 * (W3C): each piece goes with the last `#Fields:` line before it, which this thread finds as it cuts the pieces.
 */
export async function publishPrepared(
  file: PieceSource,
  size: number,
  workers: readonly Worker[],
  inboxes: readonly AsyncIterableIterator<[PrepareResponse]>[],
  publisher: PreparedTarget & Pick<RecordSink, "flush"> & { useMsgIdPrefix(prefix: string): void },
  edge: EdgeProcessor,
  optionsKey: string,
  directives = false,
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
  /** The last #Fields line of the pieces sent so far. */
  let directive: string | undefined;
  const sendNext = async (): Promise<void> => {
    const next = await pieces.next();
    if (next.done === true) {
      readAll = true;
      return;
    }
    const piece = next.value;
    const bytes = piece.buffer as SharedArrayBuffer | ArrayBuffer;
    const output = outputs[sent % PIECES_AHEAD];
    const request: PrepareRequest = { type: "piece", piece: sent, firstLineNumber: linesSent + 1, bytes, offset: piece.byteOffset, length: piece.length, output, directive };
    linesSent += lineCountOf(piece);
    if (directives) directive = lastFieldsDirectiveOf(piece) ?? directive;
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
