// Where sequencePatterns counts a closed window's patterns: on the calling thread, or on a mining thread of its own.
//
// The window's sessions and state stay with the operator on the main thread; only the counting (PrefixSpan and the
// contiguous runs, most of the operator's CPU) moves, as one message per closed window: the window's elements as ids
// into a dictionary, and back the patterns in row order. The thread keeps no state, so checkpoints do not involve it:
// the operator settles every submitted window (writes its rows) before it snapshots or ends, and the rows a snapshot
// covers are in the sink when it returns, as with counting inline.
//
// It replaced a session stage (the whole operator on a thread, fed every session as JSON), which by session 14's
// measurement cost the main thread as much in hand-off as the operator's own work: bench/OPTIMIZATIONS.md.
import { availableParallelism } from "node:os";
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from "node:worker_threads";
import { startTypeScriptWorker } from "../../runtime/thread-entry.ts";
import { countWindowPatterns, type CountedPattern, type WindowPatternsRequest } from "./pattern-counting.ts";
import { decodeReply, encodeJob, HEARTBEAT_WORD, REPLIES_WORD, SIGNAL_BYTES, type MiningReply } from "./pattern-mining-protocol.ts";
import type { MiningThreadSetup } from "./pattern-mining-thread.ts";

/** A window's patterns, in row order. */
export type CountedPatternsHandler = (found: CountedPattern[]) => void;

export interface PatternMiner {
  /** Counts a window; `counted` gets its patterns during this call, a later poll() or settle(), in submission order. */
  submit(request: WindowPatternsRequest, counted: CountedPatternsHandler): void;
  /** Hands over the answers already there; never waits, never throws (a failure waits for settle()). */
  poll(): void;
  /** Waits for every submitted window and hands its patterns over; throws MiningThreadError if counting failed. */
  settle(): void;
  /** Resolves once the miner can take work (its thread is up). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export class MiningThreadError extends Error {
  override name = "MiningThreadError";
}

/**
 * Whether the worker counts on a mining thread: not on a single core (the thread would only take turns with the main
 * thread), nor with CLICKPIPE_MINING_THREADS=never (counting inline, at the window's close).
 */
export function miningThreadsEnabled(environment: NodeJS.ProcessEnv = process.env): boolean {
  return environment.CLICKPIPE_MINING_THREADS !== "never" && availableParallelism() >= 2;
}

/** Counts at once, on the calling thread. */
export class InlinePatternMiner implements PatternMiner {
  submit(request: WindowPatternsRequest, counted: CountedPatternsHandler): void {
    counted(countWindowPatterns(request));
  }

  poll(): void {}

  settle(): void {}

  async ready(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * Neither an answer nor a counting heartbeat (counting-progress.ts) for this long means the thread is gone or stuck:
 * the checkpoint fails rather than hang. Progress, not total time: a heavy window counts as long as it must, as it
 * would inline; only silence fails it. A thread that died cannot say so while settle() blocks (its exit event needs
 * the event loop), so silence is how its death is seen.
 */
const NO_PROGRESS_TIMEOUT_MS = 120_000;

/** A thread not running this long after its start failed to start (loading it is all it does before it answers). */
const START_TIMEOUT_MS = 120_000;

export interface ThreadPatternMinerOptions {
  /** Silence (neither a reply nor a heartbeat) after which settle() fails, in ms. Default 120000; example: 400. */
  noProgressTimeoutMs?: number;
}

/** Counts on a worker thread of its own; answers are read in order when polled, and waited for when settled. */
export class ThreadPatternMiner implements PatternMiner {
  private readonly worker: Worker;
  private readonly replies: MessagePort;
  private readonly signal: Int32Array;
  /** Replies read so far: the signal's count when none is waiting. */
  private repliesSeen = 0;
  private nextId = 0;
  /** Submitted windows not answered yet, oldest first. */
  private readonly pending: { id: number; counted: CountedPatternsHandler }[] = [];
  private failure: string | undefined;
  private closed = false;
  private readonly started: Promise<void>;
  private readonly noProgressTimeoutMs: number;

  constructor(
    private readonly name = "sequencePatterns",
    options: ThreadPatternMinerOptions = {},
  ) {
    this.noProgressTimeoutMs = options.noProgressTimeoutMs ?? NO_PROGRESS_TIMEOUT_MS;
    // Written twice so that V8 does not treat it as a constant: the first reply's write would deoptimize the code that
    // inlined poll(), sessionize's per-event path among it (as churnFeatures' #writtenUntil, see there).
    this.repliesSeen = -1;
    this.repliesSeen = 0;
    const signal = new SharedArrayBuffer(SIGNAL_BYTES);
    this.signal = new Int32Array(signal);
    const channel = new MessageChannel();
    this.replies = channel.port1;
    const setup: MiningThreadSetup = { signal, replies: channel.port2 };
    this.worker = startTypeScriptWorker(
      new URL(import.meta.url.endsWith(".ts") ? "./pattern-mining-thread.ts" : "./pattern-mining-thread.js", import.meta.url),
      { workerData: { patternMining: setup }, transferList: [channel.port2] },
    );
    this.worker.on("error", (error) => {
      this.failure ??= `mining thread failed: ${error.message}`;
    });
    this.worker.on("exit", (code) => {
      if (!this.closed) this.failure ??= `mining thread exited with code ${code}`;
    });
    const worker = this.worker;
    this.started = new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", (error) => reject(new MiningThreadError(`${name}: mining thread failed to start: ${error.message}`)));
      worker.once("exit", (code) => reject(new MiningThreadError(`${name}: mining thread exited with code ${code} before it started`)));
    });
    // Whoever never awaits ready() learns of a failed start at the next settle().
    this.started.catch(() => undefined);
    // The thread only ends when closed; it must not keep a finished process alive.
    this.worker.unref();
  }

  submit(request: WindowPatternsRequest, counted: CountedPatternsHandler): void {
    if (this.closed) throw new MiningThreadError(`${this.name}: mining thread used after close`);
    // Broken: nothing more goes over; the next settle() reports the failure.
    if (this.failure !== undefined) return;
    const id = this.nextId++;
    const { message, transfer } = encodeJob(id, request);
    this.pending.push({ id, counted });
    this.worker.postMessage(message, transfer);
  }

  poll(): void {
    // One shared-memory load when nothing came (the common case: called about once per session).
    if (this.pending.length > 0 && Atomics.load(this.signal, REPLIES_WORD) !== this.repliesSeen) this.readReplies();
  }

  settle(): void {
    let lastHeartbeat = Atomics.load(this.signal, HEARTBEAT_WORD);
    let lastProgress = Date.now();
    for (;;) {
      const repliesBefore = this.repliesSeen;
      this.readReplies();
      if (this.failure !== undefined) throw new MiningThreadError(`${this.name}: ${this.failure}`);
      if (this.pending.length === 0) return;
      const heartbeat = Atomics.load(this.signal, HEARTBEAT_WORD);
      const now = Date.now();
      if (heartbeat !== lastHeartbeat || this.repliesSeen !== repliesBefore) {
        lastHeartbeat = heartbeat;
        lastProgress = now;
      }
      const remaining = lastProgress + this.noProgressTimeoutMs - now;
      if (remaining <= 0) {
        this.failure = `no answer and no counting progress from the mining thread for ${this.noProgressTimeoutMs / 1000} s (gone or stuck)`;
      } else {
        // Woken by a reply; heartbeats are not notified (that would cost the counting a syscall), only sampled here.
        Atomics.wait(this.signal, REPLIES_WORD, this.repliesSeen, Math.min(remaining, 1000));
      }
    }
  }

  /** Resolves once the thread runs; a thread that never answers fails the start as a late reply fails a settle. */
  async ready(): Promise<void> {
    // Held referenced while waiting, so an otherwise idle process does not exit under the wait.
    this.worker.ref();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new MiningThreadError(`${this.name}: mining thread not started within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.started, timeout]);
    } finally {
      clearTimeout(timer);
      this.worker.unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.replies.close();
    await this.worker.terminate();
  }

  /** Hands over every reply waiting on the port, in order. */
  private readReplies(): void {
    for (let received = receiveMessageOnPort(this.replies); received !== undefined; received = receiveMessageOnPort(this.replies)) {
      this.repliesSeen++;
      const reply = received.message as MiningReply;
      const next = this.pending.shift();
      if (next === undefined || next.id !== reply.id) {
        this.failure ??= `mining thread answered window ${reply.id}, expected ${next?.id ?? "none"}`;
        continue;
      }
      if (reply.error !== undefined) {
        this.failure ??= `counting a window failed: ${reply.error}`;
        continue;
      }
      if (this.failure === undefined) next.counted(decodeReply(reply));
    }
  }
}
