// The worker thread of `clickpipe publish` for JSON and CSV lines: reads, parses and edge-processes the file, and hands
// the serialized events to the main thread in chunks; the main thread only publishes them. Both cores work, and the
// order of events and dead letters is the file's, as in one thread. (Access logs parse on several threads at once:
// publish-prepare-worker.ts.)
import { open } from "node:fs/promises";
import { parentPort, workerData } from "node:worker_threads";
import type { PipelineConfig } from "../config/pipeline.ts";
import { RecordPublisher, type IngestCounts, type RecordSink } from "../ingest/record-publisher.ts";
import type { DeadLetter } from "../transport/dead-letter.ts";
import { inputFailure, publishInput } from "./publish-gzip.ts";
import { ChunkIds, lineChunks, publishLineChunks, publishOptionsKey, sliceRanges, type LineChunk, type PublishLinesOptions } from "./publish-lines.ts";

export interface PublishWorkerData {
  /** Marks the thread as a publish worker (importing this module elsewhere, e.g. in a test thread, does nothing). */
  role: typeof PUBLISH_WORKER_ROLE;
  path: string;
  /** Bytes of the file to publish (its size when the main thread opened it). */
  size: number;
  /** The file is a gzip (by its magic bytes): its decompressed lines are published. */
  gzip?: boolean;
  config: PipelineConfig;
  options: PublishLinesOptions;
}

/**
 * Worker → main: encoded output a chunk (or a slice of one) at a time, with the batch id prefix to publish it under
 * (ChunkIds), then the totals.
 */
export type PublishWorkerMessage =
  | { type: "chunk"; events: string[]; partitions: number[]; deadLetters: DeadLetter[]; msgIdPrefix?: string }
  /** failure: why a gzip's bytes ended early (what was decompressed before is published all the same). */
  | { type: "done"; counts: IngestCounts; failure?: string };

export const PUBLISH_WORKER_ROLE = "clickpipe-publish-worker";

/** Main → worker: a message (a chunk, or a slice of one) was handed to the batch publisher, so one more may be sent. */
export const CHUNK_TAKEN = "taken";

/**
 * A chunk's lines are parsed in this many slices, and each slice's events go out on their own (the main thread
 * listens from the worker's start): serialized events wait in this thread until sent, and with a whole 4 MiB chunk's
 * worth waiting so many outlived a young-generation GC (copied, then promoted) that GC cost ~0.3 CPU s more per
 * million lines.
 */
const SLICES_PER_CHUNK = 4;

/** Messages sent and not yet taken at most (4 chunks' worth): bounds memory when NATS is slower than parsing. */
const MAX_MESSAGES_AHEAD = 4 * SLICES_PER_CHUNK;

/** Collects what a RecordPublisher emits (here one chunk's output for the main thread; tests collect with it too). */
export class ChunkSink implements RecordSink {
  events: string[] = [];
  partitions: number[] = [];
  deadLetters: DeadLetter[] = [];
  private msgIdPrefix: string | undefined;

  add(line: string, partition: number): void {
    this.events.push(line);
    this.partitions.push(partition);
  }

  /** BatchPublisher.addBytes: the line decoded (tests complete prepared access lines into a ChunkSink). */
  addBytes(source: Uint8Array, start: number, end: number, suffix: Uint8Array, partition: number): void {
    this.add(Buffer.concat([source.subarray(start, end), suffix]).toString("utf8"), partition);
  }

  addDeadLetter(letter: DeadLetter): void {
    this.deadLetters.push(letter);
  }

  async flush(): Promise<void> {}

  useMsgIdPrefix(prefix: string): void {
    this.msgIdPrefix = prefix;
  }

  /** What was collected since the last take; without `withDeadLetters` the dead letters stay for a later take. */
  take(withDeadLetters = true): PublishWorkerMessage {
    const deadLetters = withDeadLetters ? this.deadLetters : [];
    const message: PublishWorkerMessage = { type: "chunk", events: this.events, partitions: this.partitions, deadLetters, msgIdPrefix: this.msgIdPrefix };
    this.events = [];
    this.partitions = [];
    if (withDeadLetters) this.deadLetters = [];
    return message;
  }
}

/** The lines of each chunk in `slices` slices; `ended` tells whether the slice last yielded ends its chunk. */
export function slicedChunks(chunks: AsyncIterable<LineChunk>, slices: number): { lines: AsyncGenerator<LineChunk>; ended: () => boolean } {
  let ended = false;
  async function* lines(): AsyncGenerator<LineChunk> {
    for await (const { lines: chunk, msgIdPrefix } of chunks) {
      for (const { start, end, last } of sliceRanges(chunk.length, slices)) {
        ended = last;
        yield { lines: chunk.slice(start, end), msgIdPrefix };
      }
    }
  }
  return { lines: lines(), ended: () => ended };
}

async function run(port: NonNullable<typeof parentPort>, data: PublishWorkerData): Promise<void> {
  let ahead = 0;
  let wake: (() => void) | undefined;
  port.on("message", () => {
    ahead--;
    wake?.();
  });
  const sink = new ChunkSink();
  const publisher = new RecordPublisher({ config: data.config, sink, source: "publish" });
  const file = await open(data.path);
  try {
    const ids = new ChunkIds(publishOptionsKey(data.options));
    const input = publishInput(file, data.size, data.gzip === true);
    const sliced = slicedChunks(lineChunks(input.source, input.size, ids), SLICES_PER_CHUNK);
    const counts = await publishLineChunks(publisher, sliced.lines, data.options, async () => {
      // A chunk's dead letters follow all its events, as in one message per chunk: the batches come out the same.
      port.postMessage(sink.take(sliced.ended()));
      ahead++;
      while (ahead >= MAX_MESSAGES_AHEAD) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    });
    // What the end of the file gave after the last chunk (a CSV record whose quoted field never closed).
    const rest = sink.take();
    if (rest.type === "chunk" && (rest.events.length > 0 || rest.deadLetters.length > 0)) port.postMessage(rest);
    port.postMessage({ type: "done", counts, failure: inputFailure(input.source) } satisfies PublishWorkerMessage);
  } finally {
    await file.close();
    // Without a listener the port no longer keeps the thread alive; messages already posted are still delivered.
    port.removeAllListeners("message");
  }
}

const data = workerData as PublishWorkerData | undefined;
if (parentPort !== null && data?.role === PUBLISH_WORKER_ROLE) await run(parentPort, data);
