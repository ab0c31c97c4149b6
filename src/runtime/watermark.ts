// Event-time watermark over input partitions: max event time minus out-of-orderness, idle partitions, clock-skew guard.

export interface WatermarkOptions {
  /** Watermark = max event time of a partition minus this (ms). */
  outOfOrderness: number;
  /** A partition silent this long in processing time (ms) stops holding the watermark back. */
  idleTimeout: number;
  /** An event cannot push its partition's event time past its received_at plus this (ms). */
  maxFutureSkew: number;
}

/** Plain JSON form; infinities are written as strings because JSON has no Infinity. */
export interface WatermarkSnapshot {
  current: number | string;
  /** [partition, max event time seen (after the skew guard)] */
  partitions: [number, number][];
  /** The end of a drained input this state went on after (see WatermarkTracker.endedAt); absent when none. */
  endedAt?: number;
  /**
   * The latest event time that arrived (see WatermarkTracker.arrivedThrough); absent before any event, and in snapshots
   * of earlier versions, which restore it as the latest time of `partitions` (capped at received_at + maxFutureSkew).
   */
  arrivedThrough?: number;
}

interface PartitionClock {
  maxEventTime: number;
  /** Processing time of the partition's last event; null right after restore (not yet seen in this process). */
  lastSeen: number | null;
}

function encodeTime(ms: number): number | string {
  return Number.isFinite(ms) ? ms : String(ms);
}

function decodeTime(value: number | string): number {
  return typeof value === "string" ? Number(value) : value;
}

/**
 * Tracks one operator's watermark: the minimum over active partitions of (max event time − outOfOrderness).
 * It never moves backwards, and before any event it is −∞.
 */
export class WatermarkTracker {
  readonly #options: WatermarkOptions;
  readonly #partitions = new Map<number, PartitionClock>();
  /** The clock of the partition seen last: consecutive events mostly share a partition, so no Map lookup for them. */
  #lastPartition = Number.NaN;
  #lastClock: PartitionClock | null = null;
  #current = -Infinity;
  #endedAt = -Infinity;
  #arrivedThrough = -Infinity;

  readonly #expectedPartitions: number;

  /**
   * `expectedPartitions`: how many input partitions (0..n−1) feed this operator, when known up front (the customer
   * stage of a partitioned pipeline). Each then holds the watermark back from the start, as an event of it would,
   * until it sends events or stays silent for idleTimeout; otherwise a partition counts only once seen, and the first
   * partitions to arrive would make every earlier event of a slower one late.
   */
  constructor(options: WatermarkOptions, expectedPartitions = 0) {
    this.#options = options;
    this.#expectedPartitions = expectedPartitions;
    this.#expectPartitions();
  }

  #expectPartitions(): void {
    for (let partition = 0; partition < this.#expectedPartitions; partition++) {
      if (!this.#partitions.has(partition)) this.#partitions.set(partition, { maxEventTime: -Infinity, lastSeen: null });
    }
  }

  /** The watermark in epoch ms (−∞ before any event, +∞ after end of input). */
  get current(): number {
    return this.#current;
  }

  /** Records an event of `partition` and returns the (possibly advanced) watermark. */
  observe(partition: number, ts: number, receivedAt: number | undefined, now: number): number {
    let eventTime = ts;
    let arrived = ts;
    if (receivedAt !== undefined && ts > receivedAt) {
      // A clock ahead: what arrived is its received_at; for the watermark, one device with a clock far ahead must not
      // close everyone's sessions (clock-skew guard).
      arrived = receivedAt;
      const ceiling = receivedAt + this.#options.maxFutureSkew;
      if (ts > ceiling) eventTime = ceiling;
    }
    if (arrived > this.#arrivedThrough) this.#arrivedThrough = arrived;
    let clock = partition === this.#lastPartition ? this.#lastClock : this.#partitions.get(partition);
    if (clock === undefined || clock === null) {
      clock = { maxEventTime: eventTime, lastSeen: now };
      this.#partitions.set(partition, clock);
    } else {
      if (eventTime > clock.maxEventTime) clock.maxEventTime = eventTime;
      clock.lastSeen = now;
    }
    this.#lastPartition = partition;
    this.#lastClock = clock;
    // One partition: it holds the watermark whether idle or not (the idle rule falls back to the max seen), so the
    // minimum over partitions is its own time. The per-event common case of a single-partition worker.
    if (this.#partitions.size === 1) return this.#advanceTo(clock.maxEventTime - this.#options.outOfOrderness);
    return this.#recompute(now);
  }

  /** Processing-time tick: partitions that went idle stop holding the watermark back. */
  tick(now: number): number {
    return this.#recompute(now);
  }

  /**
   * −∞, or the latest event time that arrived (arrivedThrough) of a drained input this state was restored after. A
   * drain ends with the watermark at +∞, every window and session flushed through its input; a run that goes on from
   * that checkpoint treats what the drain flushed (events up to here) as closed. Its watermark resumes at the drain's
   * latest skew-capped time, which a clock running ahead may have put a few minutes (maxFutureSkew) later.
   */
  get endedAt(): number {
    return this.#endedAt;
  }

  /**
   * The latest event time that arrived: each event's ts at most its received_at (−∞ before any event). Unlike the
   * watermark's skew guard (received_at + maxFutureSkew), a time past it was reached only by a device whose clock runs
   * ahead, so a drain's end ends event time here (endedAt after a restore): its operators write what lies after it
   * only once the rest of it has come, in a run that goes on from the checkpoint.
   */
  get arrivedThrough(): number {
    return this.#arrivedThrough;
  }

  /** End of input: every window may close. */
  advanceToEnd(): number {
    this.#current = Infinity;
    return this.#current;
  }

  snapshot(): WatermarkSnapshot {
    const partitions: [number, number][] = [];
    // An expected partition not seen yet (−∞) is left out: JSON has no −∞, and restore expects it again.
    for (const [partition, clock] of this.#partitions) if (clock.maxEventTime > -Infinity) partitions.push([partition, clock.maxEventTime]);
    const snapshot: WatermarkSnapshot = { current: encodeTime(this.#current), partitions };
    if (Number.isFinite(this.#endedAt)) snapshot.endedAt = this.#endedAt;
    if (Number.isFinite(this.#arrivedThrough)) snapshot.arrivedThrough = this.#arrivedThrough;
    return snapshot;
  }

  restore(snapshot: WatermarkSnapshot): void {
    this.#current = decodeTime(snapshot.current);
    this.#partitions.clear();
    this.#lastPartition = Number.NaN;
    this.#lastClock = null;
    // Idleness restarts from the first use after restore: a restarted worker must not call its backlog idle.
    for (const [partition, maxEventTime] of snapshot.partitions) this.#partitions.set(partition, { maxEventTime, lastSeen: null });
    this.#expectPartitions();
    this.#endedAt = snapshot.endedAt ?? -Infinity;
    let latest = -Infinity;
    for (const clock of this.#partitions.values()) if (clock.maxEventTime > latest) latest = clock.maxEventTime;
    // Earlier versions did not keep it: their drains ended at the latest (skew-capped) time, which stays their end.
    this.#arrivedThrough = snapshot.arrivedThrough ?? latest;
    if (this.#current === Infinity) {
      // A drain's end: the watermark goes on from the latest event time it saw (none: from the start); what the drain
      // flushed ends at the latest time that arrived, so events after it are not late (see arrivedThrough).
      this.#current = latest;
      this.#endedAt = this.#arrivedThrough;
    }
  }

  #recompute(now: number): number {
    let activeMin = Infinity;
    let overallMax = -Infinity;
    let anyActive = false;
    for (const clock of this.#partitions.values()) {
      if (clock.lastSeen === null) clock.lastSeen = now;
      if (clock.maxEventTime > overallMax) overallMax = clock.maxEventTime;
      if (now - clock.lastSeen < this.#options.idleTimeout) {
        anyActive = true;
        if (clock.maxEventTime < activeMin) activeMin = clock.maxEventTime;
      }
    }
    // When every partition is idle, nothing holds the watermark back but what has been seen.
    return this.#advanceTo((anyActive ? activeMin : overallMax) - this.#options.outOfOrderness);
  }

  #advanceTo(candidate: number): number {
    if (candidate > this.#current) this.#current = candidate;
    return this.#current;
  }
}
