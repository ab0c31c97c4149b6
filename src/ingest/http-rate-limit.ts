// Token buckets per (write key, client IP) for the collector: `burst` requests at once, `requestsPerSecond` sustained.

export interface RateLimitSettings {
  requestsPerSecond: number;
  burst: number;
}

/**
 * A token bucket; one taken in a group (see take) is linked to the group's other buckets (the collector's groups are
 * client IPs, a bucket per write key used from one), so that a group's buckets are found without a search and an
 * evicted bucket leaves its group at once. Links rather than an array per group: a client has one bucket as a rule;
 * measured over 100,000 clients, a bucket and its map entry took 77 bytes, 338 with an array per group, 130 linked.
 */
interface Bucket {
  tokens: number;
  updatedAt: number;
  group: string | undefined;
  previous: Bucket | undefined;
  next: Bucket | undefined;
}

/** Enough clients for a busy site; beyond it, refilled buckets are forgotten (a full bucket is the same as none). */
const DEFAULT_MAX_BUCKETS = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** Each group's first bucket, by group: only buckets still in `buckets`, so a group whose last one is evicted is gone. */
  private readonly groups = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly settings: RateLimitSettings,
    private readonly maxBuckets = DEFAULT_MAX_BUCKETS,
  ) {
    this.perMs = settings.requestsPerSecond / 1000;
  }

  /**
   * Takes one token for `client` at `nowMs`: 0 when allowed, else the whole seconds until a token is back (≥ 1). A
   * client's bucket made here joins `group`, when given, for bucketsIn and waitForAnyIn.
   */
  take(client: string, nowMs: number, group?: string): number {
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxBuckets) this.evict(nowMs);
      bucket = { tokens: this.settings.burst, updatedAt: nowMs, group, previous: undefined, next: undefined };
      if (group !== undefined) this.join(bucket, group);
      this.buckets.set(client, bucket);
    } else this.refill(bucket, nowMs);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return this.secondsUntilToken(bucket);
  }

  /** Like take, without taking: 0 when `client` has a token at `nowMs` (none seen yet has a full bucket). */
  waitFor(client: string, nowMs: number): number {
    const bucket = this.buckets.get(client);
    if (bucket === undefined) return 0;
    this.refill(bucket, nowMs);
    return bucket.tokens >= 1 ? 0 : this.secondsUntilToken(bucket);
  }

  /** Whether `client` took a token lately (its bucket is kept until evicted, see evict). */
  knows(client: string): boolean {
    return this.buckets.has(client);
  }

  /** How many buckets of `group` are known (see knows): one lookup, then the group's own buckets. */
  bucketsIn(group: string): number {
    let count = 0;
    for (let bucket = this.groups.get(group); bucket !== undefined; bucket = bucket.next) count++;
    return count;
  }

  /**
   * waitFor over the known buckets of `group`: 0 when one has a token at `nowMs`, else the least wait of them, and
   * Infinity when the group has none. Reads the group's own buckets only (a client's: the keys it used).
   */
  waitForAnyIn(group: string, nowMs: number): number {
    let least = Infinity;
    for (let bucket = this.groups.get(group); bucket !== undefined; bucket = bucket.next) {
      this.refill(bucket, nowMs);
      if (bucket.tokens >= 1) return 0;
      least = Math.min(least, this.secondsUntilToken(bucket));
    }
    return least;
  }

  /** Puts a new bucket first in `group`. */
  private join(bucket: Bucket, group: string): void {
    const first = this.groups.get(group);
    bucket.next = first;
    if (first !== undefined) first.previous = bucket;
    this.groups.set(group, bucket);
  }

  private forget(client: string, bucket: Bucket): void {
    this.buckets.delete(client);
    if (bucket.group === undefined) return;
    const { previous, next } = bucket;
    if (next !== undefined) next.previous = previous;
    if (previous !== undefined) previous.next = next;
    else if (next !== undefined) this.groups.set(bucket.group, next);
    else this.groups.delete(bucket.group);
  }

  private refill(bucket: Bucket, nowMs: number): void {
    bucket.tokens = Math.min(this.settings.burst, bucket.tokens + (nowMs - bucket.updatedAt) * this.perMs);
    bucket.updatedAt = nowMs;
  }

  private secondsUntilToken(bucket: Bucket): number {
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.settings.requestsPerSecond));
  }

  /**
   * Drops buckets that have refilled; when that freed less than a quarter, the oldest (Map order is insertion order)
   * down to half. Each eviction reads every bucket, so it must free many: freeing the few that had just refilled made
   * every new client pay a pass over all of them (at ~10k new IPs a second, ~100k buckets of the bad-key limiter).
   */
  private evict(nowMs: number): void {
    for (const [client, bucket] of this.buckets) {
      if (bucket.tokens + (nowMs - bucket.updatedAt) * this.perMs >= this.settings.burst) this.forget(client, bucket);
    }
    if (this.buckets.size <= (this.maxBuckets * 3) >> 2) return;
    let toDrop = this.buckets.size - (this.maxBuckets >> 1);
    for (const [client, bucket] of this.buckets) {
      if (toDrop-- <= 0) break;
      this.forget(client, bucket);
    }
  }
}
