// A string → count map split over several Maps, because one V8 Map holds at most 2^24 entries.

const SHARDS = 16;

/**
 * Exact counts of possibly tens of millions of pattern strings. The shard is picked from the key's length and a few
 * of its last characters: cheap, and pattern keys of one window differ mostly at their end.
 */
export class CountMap {
  private readonly shards: Map<string, number>[] = Array.from({ length: SHARDS }, () => new Map<string, number>());

  get size(): number {
    let size = 0;
    for (const shard of this.shards) size += shard.size;
    return size;
  }

  get(key: string): number | undefined {
    return this.shardOf(key).get(key);
  }

  set(key: string, count: number): void {
    this.shardOf(key).set(key, count);
  }

  delete(key: string): boolean {
    return this.shardOf(key).delete(key);
  }

  *entries(): IterableIterator<[string, number]> {
    for (const shard of this.shards) yield* shard;
  }

  private shardOf(key: string): Map<string, number> {
    let hash = key.length;
    for (let index = Math.max(0, key.length - 4); index < key.length; index += 1) hash = (hash * 31 + key.charCodeAt(index)) | 0;
    return this.shards[(hash >>> 0) % SHARDS];
  }
}
