// A draining worker's other threads yield to its main thread where cores are few.
//
// A drain is bound by its main thread (decode, operators, row appends); every other thread of the process works for it
// or beside it: V8's platform threads (optimizing compiles, concurrent marking and sweeping), the mining thread, libuv's
// pool. On two cores shared with nats-server, at the main thread's own niceness they take its core whenever both are
// busy, and the main thread waited for a core ≈ 0.5 s of a 6 s drain. At niceness 10, as the Parquet encoder threads
// already run (parquet-encoder-worker.ts), the scheduler gives each about a tenth of the main thread's share when they
// compete. Measured in drains (bench/OPTIMIZATIONS.md, session 20): the wait 0.56 → 0.26 s, 4% faster (8 alternating
// pairs); niceness 5 gave less, 15 cost the main thread more CPU (its hot code optimized later). nats-server keeps its
// priority: it feeds the main thread. A live worker keeps equal priorities (not measured there): what counts for it is
// latency, which waits on those threads' compiles and marking as well. Linux only (thread ids from /proc/self/task);
// elsewhere, or where refused, nothing changes.
import { readdirSync } from "node:fs";
import { availableParallelism, getPriority, setPriority } from "node:os";

/** Niceness the other threads of a draining worker get. */
export const HELPER_NICENESS = 10;
/** Cores up to which a draining worker lowers its other threads. */
export const LOWER_HELPERS_MAX_CORES = 2;

/** Whether to lower the other threads: a drain on few cores. */
export function lowerHelpersWanted(drain: boolean, cores: number): boolean {
  return drain && cores <= LOWER_HELPERS_MAX_CORES;
}

/**
 * Sets every thread of this process but the main one to at least `niceness` (a thread already lower, such as an
 * encoder thread, stays as it is); returns how many it lowered. Threads started later keep their own priority.
 */
export function lowerHelperThreads(niceness: number = HELPER_NICENESS): number {
  let lowered = 0;
  let threadIds: number[];
  try {
    threadIds = readdirSync("/proc/self/task").map(Number);
  } catch {
    return 0;
  }
  for (const threadId of threadIds) {
    if (threadId === process.pid || !Number.isInteger(threadId)) continue;
    try {
      if (getPriority(threadId) >= niceness) continue;
      setPriority(threadId, niceness);
      lowered++;
    } catch {
      // A thread that ended meanwhile, or a refusal: leave it.
    }
  }
  return lowered;
}

/** lowerHelperThreads for a drain on few cores (lowerHelpersWanted); the number of threads lowered. */
export function lowerHelpersForDrain(drain: boolean, cores: number = availableParallelism()): number {
  return lowerHelpersWanted(drain, cores) ? lowerHelperThreads() : 0;
}
