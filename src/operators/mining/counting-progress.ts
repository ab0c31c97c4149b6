// Progress of a window's counting, published as a heartbeat word in shared memory for the thread that waits on it.
//
// Why: a heavy window may count for minutes; the waiting thread (pattern-miner.ts) must tell a thread that is slow
// from one that is gone or stuck, and only progress tells them apart.

/**
 * Units of work between two heartbeats. A unit is about one pass of an inner loop (an item scanned, a counter or map
 * probed, a pattern reported), so a heartbeat comes every millisecond or so of counting: often enough for any
 * watchdog, rare enough that the atomic write costs nothing measurable.
 */
export const WORK_PER_HEARTBEAT = 1 << 16;

/**
 * Adds up the work the counting reports and adds 1 to `heartbeat[index]` every WORK_PER_HEARTBEAT units; without a
 * heartbeat word (inline counting) it only adds up. Callers report once per outer pass, with the inner loop's length,
 * so the hot loops stay as they were: no call, no allocation.
 */
export class CountingProgress {
  /** Work since the last heartbeat; reset rather than left to grow, so it stays a small integer. */
  private work = 0;

  constructor(
    private readonly heartbeat?: Int32Array,
    private readonly index = 0,
  ) {}

  advance(work: number): void {
    this.work += work;
    if (this.work < WORK_PER_HEARTBEAT) return;
    this.work = 0;
    if (this.heartbeat !== undefined) Atomics.add(this.heartbeat, this.index, 1);
  }
}

/** Counting nobody watches (on the calling thread). */
export const UNWATCHED = new CountingProgress();
