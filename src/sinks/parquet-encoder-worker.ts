// Worker-thread entry: encodes sealed column batches to Parquet bytes off the main event loop.
import { parentPort } from "node:worker_threads";
import { encodeSealedBatch, type EncodeOptions, type SealedBatch } from "./parquet-encoder.ts";

export interface EncodeRequest {
  id: number;
  batch: SealedBatch;
  options: EncodeOptions;
}

export type EncodeResponse = { id: number; bytes: Uint8Array } | { id: number; error: string };

parentPort?.on("message", (request: EncodeRequest) => {
  let response: EncodeResponse;
  try {
    response = { id: request.id, bytes: encodeSealedBatch(request.batch, request.options) };
  } catch (error) {
    response = { id: request.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
  parentPort!.postMessage(response, "bytes" in response ? [response.bytes.buffer as ArrayBuffer] : []);
});
