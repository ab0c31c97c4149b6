// Worker-thread entry of sequencePatterns' window counting (pattern-miner.ts): stateless, one job in, one reply out,
// in the order the jobs came.
import { isMainThread, parentPort, workerData, type MessagePort } from "node:worker_threads";
import { CountingProgress, UNWATCHED } from "./counting-progress.ts";
import { countEncodedWindowPatterns } from "./pattern-counting.ts";
import { encodeReply, HEARTBEAT_WORD, REPLIES_WORD, type MiningJob, type MiningReply } from "./pattern-mining-protocol.ts";

/** What the thread starts with (workerData.patternMining). */
export interface MiningThreadSetup {
  /**
   * Int32 words: REPLIES_WORD incremented (and notified) after every reply posted on `replies`; HEARTBEAT_WORD
   * incremented while a job's counting makes progress (counting-progress.ts), so a long job is told from a dead thread.
   */
  signal: SharedArrayBuffer;
  replies: MessagePort;
}

/** Counts one job; a job that throws is answered with its error, so the main thread learns of it in order. */
export function answer(job: MiningJob, progress: CountingProgress = UNWATCHED): { message: MiningReply; transfer: ArrayBuffer[] } {
  try {
    return encodeReply(job.id, countEncodedWindowPatterns(job, job, progress));
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
    return { message: { id: job.id, patterns: "[]", kinds: new Uint8Array(0), numbers: new Float64Array(0), error: text }, transfer: [] };
  }
}

if (!isMainThread && parentPort !== null && (workerData as { patternMining?: MiningThreadSetup } | undefined)?.patternMining !== undefined) {
  const { signal, replies } = (workerData as { patternMining: MiningThreadSetup }).patternMining;
  const counter = new Int32Array(signal);
  const progress = new CountingProgress(counter, HEARTBEAT_WORD);
  parentPort.on("message", (job: MiningJob) => {
    const { message, transfer } = answer(job, progress);
    replies.postMessage(message, transfer);
    // Posted first, then signalled: a main thread waiting on the word finds the reply in the port's queue when it wakes.
    Atomics.add(counter, REPLIES_WORD, 1);
    Atomics.notify(counter, REPLIES_WORD);
  });
  // Its only message on the worker port: listening (ThreadPatternMiner.ready).
  parentPort.postMessage("ready");
}
