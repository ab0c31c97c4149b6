// Worker-thread entry: encodes sealed column batches to Parquet bytes, merges committed parts (compaction) and rewrites
// them without forgotten people's rows, off the main event loop.
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { isMainThread, parentPort } from "node:worker_threads";
import { encodeSealedBatch, encoderReady, type EncodeOptions, type SealedBatch } from "./parquet-encoder.ts";
import { mergeAndEncode, type EncodedMerge } from "./parquet-merge.ts";
import { eraseForgottenFromParts, type PartChange } from "./parquet-rewrite.ts";

/** Parts to merge into one (paths), and the ids of the people whose rows the merge leaves out. */
export interface MergeRequest {
  files: string[];
  forgotten?: ReadonlySet<string>;
}

/** Committed parts to rewrite without the rows of forgotten people (eraseForgottenFromParts), in place. */
export interface EraseRequest {
  files: string[];
  forgotten: ReadonlySet<string>;
}

/**
 * A batch to encode, parts to merge and encode, parts to erase forgotten people from, or (none) a readiness probe:
 * answered once this thread can encode with `options`.
 */
export interface EncodeRequest {
  id: number;
  batch?: SealedBatch;
  merge?: MergeRequest;
  erase?: EraseRequest;
  options: EncodeOptions;
}

export type EncodeResponse =
  | { id: number; bytes: Uint8Array }
  | { id: number; merged: EncodedMerge | null }
  /** Per file of an erase, in its order: what changed, null for a part that was gone. */
  | { id: number; erased: (PartChange | null)[] }
  | { id: number; ready: true }
  | { id: number; error: string };

/** Niceness of the encoder threads: the main thread (decode, operators) and nats-server come first on a busy core. */
export const ENCODER_NICENESS = 10;

/**
 * Lowers this thread's scheduling priority (Linux: setpriority on the thread id from /proc/thread-self affects this
 * thread only). Encoding is throughput work with backpressure (a checkpoint awaits it); on a machine with fewer idle
 * cores than runnable threads it otherwise takes time slices from the main thread. Elsewhere, or if refused, a no-op.
 */
export function lowerThreadPriority(niceness: number = ENCODER_NICENESS): boolean {
  try {
    const threadId = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (!Number.isInteger(threadId) || threadId <= 0) return false;
    setPriority(threadId, niceness);
    return true;
  } catch {
    return false;
  }
}

if (!isMainThread) lowerThreadPriority();

/** The answer to one request (a merge or an erase loads Arrow and parquet-wasm on this thread's first one, whatever the codec). */
async function answer(request: EncodeRequest): Promise<EncodeResponse> {
  // Resolved at once for snappy and none; for zstd, loads Arrow and parquet-wasm on the first request.
  await encoderReady(request.options.compression);
  if (request.merge !== undefined) return { id: request.id, merged: (await mergeAndEncode(request.merge.files, request.merge.forgotten, request.options)) ?? null };
  if (request.erase !== undefined) {
    const changes = await eraseForgottenFromParts(request.erase.files, request.erase.forgotten, request.options);
    return { id: request.id, erased: changes.map((change) => change ?? null) };
  }
  if (request.batch !== undefined) return { id: request.id, bytes: encodeSealedBatch(request.batch, request.options) };
  return { id: request.id, ready: true };
}

/** The buffer of the Parquet bytes in a response, to transfer (not copy) back. */
function transferOf(response: EncodeResponse): ArrayBuffer[] {
  if ("bytes" in response) return [response.bytes.buffer as ArrayBuffer];
  if ("merged" in response && response.merged !== null) return [response.merged.bytes.buffer as ArrayBuffer];
  return [];
}

parentPort?.on("message", async (request: EncodeRequest) => {
  let response: EncodeResponse;
  try {
    response = await answer(request);
  } catch (error) {
    response = { id: request.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
  parentPort!.postMessage(response, transferOf(response));
});
