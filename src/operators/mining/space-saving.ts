// Space-Saving (Metwally, Agrawal, El Abbadi 2005): top-k heavy hitters in k counters, each with its overestimate bound.

export interface HeavyHitter {
  key: string;
  /** Estimated count: never below the true count. */
  count: number;
  /** The most the estimate can exceed the true count: true count ≥ count − error. */
  error: number;
}

/**
 * k counters kept in a min-heap on count. An unmonitored key evicts the smallest counter and inherits its count
 * as its error. Guarantees (N = total weight offered): every estimate is ≥ the true count and ≤ true count + error,
 * error ≤ N / k, and every key whose true count exceeds N / k is monitored.
 */
export class SpaceSaving {
  readonly capacity: number;
  private readonly keys: string[] = [];
  private readonly counts: number[] = [];
  private readonly errors: number[] = [];
  private readonly slotOf = new Map<string, number>();
  private offered = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`Space-Saving needs k ≥ 1 counters, got ${capacity}`);
    this.capacity = capacity;
  }

  /** Total weight offered so far (N). */
  get total(): number {
    return this.offered;
  }

  offer(key: string, weight = 1): void {
    this.offered += weight;
    const slot = this.slotOf.get(key);
    if (slot !== undefined) {
      this.counts[slot] += weight;
      this.siftDown(slot);
      return;
    }
    if (this.keys.length < this.capacity) {
      const fresh = this.keys.length;
      this.keys.push(key);
      this.counts.push(weight);
      this.errors.push(0);
      this.slotOf.set(key, fresh);
      this.siftUp(fresh);
      return;
    }
    const evictedCount = this.counts[0];
    this.slotOf.delete(this.keys[0]);
    this.keys[0] = key;
    this.counts[0] = evictedCount + weight;
    this.errors[0] = evictedCount;
    this.slotOf.set(key, 0);
    this.siftDown(0);
  }

  /** The monitored keys, highest estimate first (ties by key). */
  entries(): HeavyHitter[] {
    return this.keys
      .map((key, slot) => ({ key, count: this.counts[slot], error: this.errors[slot] }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private siftUp(start: number): void {
    let slot = start;
    while (slot > 0) {
      const parent = (slot - 1) >> 1;
      if (this.counts[parent] <= this.counts[slot]) return;
      this.swap(slot, parent);
      slot = parent;
    }
  }

  private siftDown(start: number): void {
    let slot = start;
    const size = this.keys.length;
    for (;;) {
      const left = 2 * slot + 1;
      if (left >= size) return;
      const right = left + 1;
      const smaller = right < size && this.counts[right] < this.counts[left] ? right : left;
      if (this.counts[slot] <= this.counts[smaller]) return;
      this.swap(slot, smaller);
      slot = smaller;
    }
  }

  private swap(a: number, b: number): void {
    const key = this.keys[a];
    this.keys[a] = this.keys[b];
    this.keys[b] = key;
    const count = this.counts[a];
    this.counts[a] = this.counts[b];
    this.counts[b] = count;
    const error = this.errors[a];
    this.errors[a] = this.errors[b];
    this.errors[b] = error;
    this.slotOf.set(this.keys[a], a);
    this.slotOf.set(this.keys[b], b);
  }
}
