// Worker-thread entry: encodes sealed column batches to Parquet bytes off the main event loop.
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { isMainThread, parentPort } from "node:worker_threads";
import { encodeSealedBatch, encoderReady, type EncodeOptions, type SealedBatch } from "./parquet-encoder.ts";

/** A batch to encode, or (no batch) a readiness probe: answered once this thread can encode with `options`. */
export interface EncodeRequest {
  id: number;
  batch?: SealedBatch;
  options: EncodeOptions;
}

export type EncodeResponse = { id: number; bytes: Uint8Array } | { id: number; ready: true } | { id: number; error: string };

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

parentPort?.on("message", async (request: EncodeRequest) => {
  let response: EncodeResponse;
  try {
    // Resolved at once for snappy and none; for zstd, loads Arrow and parquet-wasm on the first request.
    await encoderReady(request.options.compression);
    response = request.batch === undefined ? { id: request.id, ready: true } : { id: request.id, bytes: encodeSealedBatch(request.batch, request.options) };
  } catch (error) {
    response = { id: request.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
  parentPort!.postMessage(response, "bytes" in response ? [response.bytes.buffer as ArrayBuffer] : []);
});
