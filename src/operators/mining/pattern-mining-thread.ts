// Worker-thread entry of sequencePatterns' window counting (pattern-miner.ts): stateless, one job in, one reply out,
// in the order the jobs came.
import { isMainThread, parentPort, workerData, type MessagePort } from "node:worker_threads";
import { countEncodedWindowPatterns } from "./pattern-counting.ts";
import { encodeReply, type MiningJob, type MiningReply } from "./pattern-mining-protocol.ts";

/** What the thread starts with (workerData.patternMining). */
export interface MiningThreadSetup {
  /** Int32 word 0: incremented (and notified) after every reply posted on `replies`. */
  signal: SharedArrayBuffer;
  replies: MessagePort;
}

/** Counts one job; a job that throws is answered with its error, so the main thread learns of it in order. */
export function answer(job: MiningJob): { message: MiningReply; transfer: ArrayBuffer[] } {
  try {
    return encodeReply(job.id, countEncodedWindowPatterns(job, job));
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
    return { message: { id: job.id, patterns: "[]", kinds: new Uint8Array(0), numbers: new Float64Array(0), error: text }, transfer: [] };
  }
}

if (!isMainThread && parentPort !== null && (workerData as { patternMining?: MiningThreadSetup } | undefined)?.patternMining !== undefined) {
  const { signal, replies } = (workerData as { patternMining: MiningThreadSetup }).patternMining;
  const counter = new Int32Array(signal);
  parentPort.on("message", (job: MiningJob) => {
    const { message, transfer } = answer(job);
    replies.postMessage(message, transfer);
    // Posted first, then signalled: a main thread waiting on the word finds the reply in the port's queue when it wakes.
    Atomics.add(counter, 0, 1);
    Atomics.notify(counter, 0);
  });
  // Its only message on the worker port: listening (ThreadPatternMiner.ready).
  parentPort.postMessage("ready");
}
