// Token buckets per (write key, client IP) for the collector: `burst` requests at once, `requestsPerSecond` sustained.

export interface RateLimitSettings {
  requestsPerSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Enough clients for a busy site; beyond it, refilled buckets are forgotten (a full bucket is the same as none). */
const DEFAULT_MAX_BUCKETS = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly settings: RateLimitSettings,
    private readonly maxBuckets = DEFAULT_MAX_BUCKETS,
  ) {
    this.perMs = settings.requestsPerSecond / 1000;
  }

  /** Takes one token for `client` at `nowMs`: 0 when allowed, else the whole seconds until a token is back (≥ 1). */
  take(client: string, nowMs: number): number {
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxBuckets) this.evict(nowMs);
      bucket = { tokens: this.settings.burst, updatedAt: nowMs };
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
      if (bucket.tokens + (nowMs - bucket.updatedAt) * this.perMs >= this.settings.burst) this.buckets.delete(client);
    }
    if (this.buckets.size <= (this.maxBuckets * 3) >> 2) return;
    let toDrop = this.buckets.size - (this.maxBuckets >> 1);
    for (const client of this.buckets.keys()) {
      if (toDrop-- <= 0) break;
      this.buckets.delete(client);
    }
  }
}
