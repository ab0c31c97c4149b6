// anon_id → user_id stitching: the mapping with the latest event time wins; entries expire after a retention.

interface Mapping {
  user: string;
  ts: number;
}

export type IdentityJson = [anonId: string, userId: string, ts: number][];

/** Rough V8 cost of one entry: Map slot, mapping object, two string headers. */
const ENTRY_OVERHEAD = 160;

export class IdentityMap {
  #mappings = new Map<string, Mapping>();
  #chars = 0;

  /** Records that `anonId` is `userId` as of `ts`; ties on ts keep the larger user id, so the order of calls never matters. */
  apply(anonId: string, userId: string, ts: number): void {
    const current = this.#mappings.get(anonId);
    if (current === undefined) {
      this.#mappings.set(anonId, { user: userId, ts });
      this.#chars += anonId.length + userId.length;
    } else if (ts > current.ts || (ts === current.ts && userId > current.user)) {
      this.#chars += userId.length - current.user.length;
      current.user = userId;
      current.ts = ts;
    }
  }

  resolve(anonId: string): string | undefined {
    return this.#mappings.get(anonId)?.user;
  }

  /** Discard rule: a device not re-identified since `ts` is forgotten (bounded memory; see identityRetention). */
  evictBefore(ts: number): void {
    for (const [anonId, mapping] of this.#mappings) {
      if (mapping.ts < ts) {
        this.#mappings.delete(anonId);
        this.#chars -= anonId.length + mapping.user.length;
      }
    }
  }

  bytes(): number {
    return this.#mappings.size * ENTRY_OVERHEAD + this.#chars * 2;
  }

  toJSON(): IdentityJson {
    const entries: IdentityJson = [];
    for (const [anonId, mapping] of this.#mappings) entries.push([anonId, mapping.user, mapping.ts]);
    return entries;
  }

  static fromJSON(json: IdentityJson): IdentityMap {
    const identity = new IdentityMap();
    for (const [anonId, userId, ts] of json) identity.apply(anonId, userId, ts);
    return identity;
  }
}
