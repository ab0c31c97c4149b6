// A parse thread of `clickpipe publish` for access logs: prepares the lines of the pieces of the file the main
// thread sends it (publish-prepared.ts) and sends them back in slices; several such threads parse at once.
import { isAscii } from "node:buffer";
import { on } from "node:events";
import { parentPort, workerData } from "node:worker_threads";
import type { PipelineConfig } from "../config/pipeline.ts";
import { RecordPublisher, type IngestCounts } from "../ingest/record-publisher.ts";
import { createHash } from "node:crypto";
import { PreparedSliceSink, type PreparedSlice } from "./publish-prepared.ts";
import { compileLineHandler, lineWindows, type PublishLinesOptions } from "./publish-lines.ts";

export const PREPARE_WORKER_ROLE = "clickpipe-publish-prepare-worker";

export interface PrepareWorkerData {
  /** Marks the thread as a parse thread (importing this module elsewhere does nothing). */
  role: typeof PREPARE_WORKER_ROLE;
}

/**
 * Main → thread: a piece of the file and the number of its first line; or the end. The piece is `length` bytes at
 * `offset` of `bytes`: a SharedArrayBuffer that the main thread reads the file into again once the piece's last slice
 * is back (or, for a piece too big for one, an ArrayBuffer transferred).
 */
export type PrepareRequest =
  /** The first message: the thread starts before the main thread has loaded the config. receivedAt: every thread stamps the same time. */
  | { type: "config"; config: PipelineConfig; options: PublishLinesOptions & { receivedAt: number } }
  | {
      type: "piece";
      piece: number;
      firstLineNumber: number;
      bytes: SharedArrayBuffer | ArrayBuffer;
      offset: number;
      length: number;
      /** Where the piece's prepared JSON goes (PreparedSliceSink), read by the main thread until the piece is done. */
      output: SharedArrayBuffer;
      /** A W3C log's last `#Fields:` line before the piece (this thread may not have read the piece before it). */
      directive?: string;
    }
  | { type: "end" };

/** Thread → main: a slice of a piece, prepared; at the end, the counts of every line this thread read. */
export type PrepareResponse = ({ type: "slice" } & PreparedSlice) | { type: "done"; counts: IngestCounts };

/**
 * A piece's lines go back in this many slices: prepared lines waiting to be sent that long outlived young-generation
 * GCs (copied, then promoted), as in publish-worker.ts.
 */
export const SLICES_PER_PIECE = 4;

async function run(port: NonNullable<typeof parentPort>): Promise<void> {
  const requests = on(port, "message") as AsyncIterableIterator<[PrepareRequest]>;
  const first = await requests.next();
  if (first.done === true || first.value[0].type !== "config") throw new Error("a parse thread's first message must be its config");
  const { config, options } = first.value[0];
  const sink = new PreparedSliceSink();
  const publisher = new RecordPublisher({ config, sink, source: "publish" });
  const handle = compileLineHandler(publisher, options, options.receivedAt);
  // A page view's JSON holds the line's text, ids, numbers and page items: ASCII when the line and every page item
  // template are (a template may bring its own characters).
  const asciiItems = config.ingest.urlRules.every((rule) => isAscii(Buffer.from(rule.item)));
  for await (const [request] of requests) {
    if (request.type === "end") break;
    if (request.type !== "piece") throw new Error(`a parse thread got a second ${request.type} message`);
    const bytes = Buffer.from(request.bytes, request.offset, request.length);
    // Hashed here, not on the main thread: it only chains the pieces' digests (ChunkIds).
    let pieceDigest: Uint8Array | undefined = createHash("sha256").update(bytes).digest();
    const asciiPiece = isAscii(bytes);
    sink.startPiece(Buffer.from(request.output), asciiItems && asciiPiece);
    const sliceBytes = Math.ceil(bytes.length / SLICES_PER_PIECE);
    let sliceEnd = sliceBytes;
    let lineNumber = request.firstLineNumber;
    let last = false;
    if (request.directive !== undefined) handle.readDirective?.(request.directive);
    // Window by window: the piece's lines are never all alive at once.
    for (const window of lineWindows(bytes, asciiPiece)) {
      // The access-line handler never waits: the sink only collects.
      for (const line of window.lines) void handle.publish(line, lineNumber++);
      last = window.end === bytes.length;
      if (!last && window.end < sliceEnd) continue;
      sliceEnd = window.end + sliceBytes;
      // Nothing transferred: a thread that has detached any ArrayBuffer runs all its typed-array code slower.
      port.postMessage({ type: "slice", ...sink.take(request.piece, last), pieceDigest } satisfies PrepareResponse);
      pieceDigest = undefined;
    }
    if (!last) port.postMessage({ type: "slice", ...sink.take(request.piece, true), pieceDigest } satisfies PrepareResponse);
  }
  port.postMessage({ type: "done", counts: publisher.counts } satisfies PrepareResponse);
  port.removeAllListeners("message");
}

const data = workerData as PrepareWorkerData | undefined;
if (parentPort !== null && data?.role === PREPARE_WORKER_ROLE) await run(parentPort);
