// The worker thread of `clickpipe publish`: reads, parses and edge-processes the file, and hands the serialized
// events to the main thread in chunks; the main thread only publishes them. Both cores work, and the order of
// events and dead letters is the file's, as in one thread.
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { parentPort, workerData } from "node:worker_threads";
import type { PipelineConfig } from "../config/pipeline.ts";
import { RecordPublisher, type IngestCounts, type RecordSink } from "../ingest/record-publisher.ts";
import type { DeadLetter } from "../transport/dead-letter.ts";
import { lineChunks, publishLineChunks, type PublishLinesOptions } from "./publish-lines.ts";

export interface PublishWorkerData {
  /** Marks the thread as a publish worker (importing this module elsewhere, e.g. in a test thread, does nothing). */
  role: typeof PUBLISH_WORKER_ROLE;
  path: string;
  /** Bytes of the file to publish (its size when the main thread hashed it). */
  size: number;
  config: PipelineConfig;
  options: PublishLinesOptions;
}

/** Worker → main: one chunk of encoded output, then the totals with the digest of the bytes read. */
export type PublishWorkerMessage =
  | { type: "chunk"; events: string[]; partitions: number[]; deadLetters: DeadLetter[] }
  | { type: "done"; counts: IngestCounts; digest: Uint8Array };

export const PUBLISH_WORKER_ROLE = "clickpipe-publish-worker";

/** Main → worker: a chunk was handed to the batch publisher, so one more may be sent. */
export const CHUNK_TAKEN = "taken";

/** Chunks sent and not yet taken at most: bounds memory when NATS is slower than parsing. */
const MAX_CHUNKS_AHEAD = 4;

/** Collects what a RecordPublisher emits (here one chunk's output for the main thread; tests collect with it too). */
export class ChunkSink implements RecordSink {
  events: string[] = [];
  partitions: number[] = [];
  deadLetters: DeadLetter[] = [];

  add(line: string, partition: number): void {
    this.events.push(line);
    this.partitions.push(partition);
  }

  addDeadLetter(letter: DeadLetter): void {
    this.deadLetters.push(letter);
  }

  async flush(): Promise<void> {}

  take(): PublishWorkerMessage {
    const message: PublishWorkerMessage = { type: "chunk", events: this.events, partitions: this.partitions, deadLetters: this.deadLetters };
    this.events = [];
    this.partitions = [];
    this.deadLetters = [];
    return message;
  }
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
    const digest = createHash("sha256");
    const counts = await publishLineChunks(publisher, lineChunks(file, data.size, digest), data.options, async () => {
      port.postMessage(sink.take());
      ahead++;
      while (ahead >= MAX_CHUNKS_AHEAD) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    });
    port.postMessage({ type: "done", counts, digest: digest.digest() } satisfies PublishWorkerMessage);
  } finally {
    await file.close();
    // Without a listener the port no longer keeps the thread alive; messages already posted are still delivered.
    port.removeAllListeners("message");
  }
}

const data = workerData as PublishWorkerData | undefined;
if (parentPort !== null && data?.role === PUBLISH_WORKER_ROLE) await run(parentPort, data);
