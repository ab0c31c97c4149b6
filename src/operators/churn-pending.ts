// What churnFeatures has accepted but not yet folded into a written snapshot: per-day buckets, dedupe ids, sessions.
import { DAY_MS } from "./churn-customer-store.ts";
import { siteKey, splitSiteKey } from "./site-key.ts";

/** One customer's (or one anonymous visitor's) accepted activity on one UTC day. */
export interface DayBucket {
  /** Purchases that are orders: refunds (negative revenue) are none. */
  orders: number;
  /** The orders' revenue in integer millionths, so sums are exact in any order. */
  revenueMicros: number;
  /** The day's refunds in integer millionths (≤ 0): netted into revenue_total, never a purchase day (churnFeatures). */
  refundMicros: number;
  /** Earliest and latest purchase instants of the day (NaN without purchases). */
  minTs: number;
  maxTs: number;
  cartAdds: number;
}

export interface PendingDay {
  day: number;
  /** Dedupe ids first seen on this day; forgotten when the day is folded (later copies are late anyway). */
  ids: string[];
  /** Every user seen this day, with their purchases and cart adds. */
  users: Map<string, DayBucket>;
  /** Purchases and cart adds carrying only an anon_id: attributed at fold time if the anon_id is known by then. */
  anons: Map<string, DayBucket>;
  /**
   * Per site_id ("" for none), anon_id → the day's latest user mapping. Two levels rather than one siteKey string: the
   * anon_id as JSON.parse made it, already hashed by sessionize's lookup, is the key, not a joined string per event.
   */
  mappings: Map<string, Map<string, { user: string; ts: number }>>;
}

/** The current version of a session, reduced to what behaviour features need. */
export interface PendingSession {
  sessionId: string;
  version: number;
  retracted: boolean;
  userId: string | null;
  /** The session's visitor_id and site_id, apart (siteKey joins them only where a device is looked up: at the fold). */
  visitorId: string;
  siteId?: string | null;
  endTs: number;
  pageviews: number;
  durationMs: number;
  cartAdds: number;
  converted: boolean;
  isBot: boolean;
}

/** Everything with event time before a snapshot instant, in a deterministic order (days ascending, then sessions by end). */
export interface FoldBatch {
  days: PendingDay[];
  sessions: PendingSession[];
}

/** A bucket in a checkpoint: without refundMicros in one written before refunds were told apart from orders. */
export type DayBucketJson = Omit<DayBucket, "refundMicros"> & { refundMicros?: number };

export interface PendingJson {
  days: {
    day: number;
    ids: string[];
    users: [string, DayBucketJson][];
    anons: [string, DayBucketJson][];
    mappings: [string, string, number][];
  }[];
  sessions: PendingSession[];
}

/** Rough V8 costs per retained item, for stateBytes(). */
const ID_BYTES = 96;
const BUCKET_BYTES = 176;
const MAPPING_BYTES = 160;
const SESSION_BYTES = 280;

export function emptyBucket(): DayBucket {
  return { orders: 0, revenueMicros: 0, refundMicros: 0, minTs: NaN, maxTs: NaN, cartAdds: 0 };
}

export class PendingEvents {
  #days = new Map<number, PendingDay>();
  #seen = new Set<string>();
  /** The current version of each pending session, in the order their ids first arrived. */
  #sessions: PendingSession[] = [];
  /**
   * Session id → its place in #sessions; null until the first version other than 1 (an update or a retraction).
   * Sessionize emits an id's version 1 once, so until then every session is new and needs no lookup. A map of every
   * pending session by id cost a drain ≈ 3% (its table and entries outlive the young generation; bench/OPTIMIZATIONS.md,
   * session 20); in a drain of ordered input no update ever comes.
   */
  #positions: Map<string, number> | null = null;

  constructor() {
    // Replaced at each fold: written twice here so that V8 does not treat it as a constant, which the first fold's
    // write would turn into a deoptimization of the code that inlined putSession (as churnFeatures' #writtenUntil).
    this.#sessions = [];
    this.#sessions = [];
  }

  /** The day's pending record, created when missing. */
  day(day: number): PendingDay {
    let pending = this.#days.get(day);
    if (pending === undefined) {
      pending = { day, ids: [], users: new Map(), anons: new Map(), mappings: new Map() };
      this.#days.set(day, pending);
    }
    return pending;
  }

  /** The day's anon_id → user mappings of one site (site_id absent or null: ""), created when missing. */
  siteMappings(day: PendingDay, siteId: string | null | undefined): Map<string, { user: string; ts: number }> {
    const site = siteId ?? "";
    let mappings = day.mappings.get(site);
    if (mappings === undefined) {
      mappings = new Map();
      day.mappings.set(site, mappings);
    }
    return mappings;
  }

  /** True when any of the ids was already accepted; otherwise remembers all of them under `day`. */
  checkAndRemember(day: PendingDay, ids: readonly string[]): boolean {
    for (const id of ids) if (this.#seen.has(id)) return true;
    for (const id of ids) {
      this.#seen.add(id);
      day.ids.push(id);
    }
    return false;
  }

  /** Keeps the highest version of each session (a retraction is a version too). */
  putSession(session: PendingSession): void {
    if (this.#positions === null) {
      if (session.version === 1) {
        this.#sessions.push(session);
        return;
      }
      this.#positions = positionsOf(this.#sessions);
    }
    const at = this.#positions.get(session.sessionId);
    if (at === undefined) {
      this.#positions.set(session.sessionId, this.#sessions.length);
      this.#sessions.push(session);
    } else if (session.version >= this.#sessions[at].version) {
      this.#sessions[at] = session;
    }
  }

  /** Removes and returns everything with event time before `endTs` (a UTC midnight). */
  takeBefore(endTs: number): FoldBatch {
    const endDay = endTs / DAY_MS;
    const days: PendingDay[] = [];
    for (const [day, pending] of this.#days) {
      if (day >= endDay) continue;
      days.push(pending);
      this.#days.delete(day);
      for (const id of pending.ids) this.#seen.delete(id);
    }
    days.sort((a, b) => a.day - b.day);
    const sessions: PendingSession[] = [];
    const kept: PendingSession[] = [];
    for (const session of this.#sessions) {
      if (session.endTs >= endTs) kept.push(session);
      else if (!session.retracted) sessions.push(session);
    }
    this.#sessions = kept;
    if (this.#positions !== null) this.#positions = positionsOf(kept);
    sessions.sort((a, b) => a.endTs - b.endTs || compareStrings(a.sessionId, b.sessionId) || b.version - a.version);
    // A repeat of a version 1 (never emitted twice, but a repeat must not count twice) sorts next to the original.
    return { days, sessions: sessions.filter((session, index) => index === 0 || session.sessionId !== sessions[index - 1].sessionId) };
  }

  bytes(): number {
    let bytes = this.#seen.size * ID_BYTES + this.#sessions.length * SESSION_BYTES;
    for (const pending of this.#days.values()) {
      bytes += (pending.users.size + pending.anons.size) * BUCKET_BYTES;
      for (const mappings of pending.mappings.values()) bytes += mappings.size * MAPPING_BYTES;
    }
    return bytes;
  }

  toJSON(): PendingJson {
    const days = [...this.#days.values()].map((pending) => ({
      day: pending.day,
      ids: [...pending.ids],
      users: [...pending.users].map(([key, bucket]) => [key, { ...bucket }] as [string, DayBucket]),
      anons: [...pending.anons].map(([key, bucket]) => [key, { ...bucket }] as [string, DayBucket]),
      mappings: [...pending.mappings].flatMap(([site, mappings]) => [...mappings].map(([anon, m]) => [siteKey(site, anon), m.user, m.ts] as [string, string, number])),
    }));
    return { days, sessions: this.#sessions.map((session) => ({ ...session })) };
  }

  static fromJSON(json: PendingJson): PendingEvents {
    const pending = new PendingEvents();
    for (const entry of json.days) {
      const day = pending.day(entry.day);
      pending.checkAndRemember(day, entry.ids);
      // JSON turns NaN into null; restore the "no purchase instant" marker. An older checkpoint's bucket has no refunds
      // of its own: it took them as orders, and they stay so.
      const revive = (bucket: DayBucketJson): DayBucket => ({
        ...bucket,
        refundMicros: bucket.refundMicros ?? 0,
        minTs: bucket.minTs ?? NaN,
        maxTs: bucket.maxTs ?? NaN,
      });
      for (const [key, bucket] of entry.users) day.users.set(key, revive(bucket));
      for (const [key, bucket] of entry.anons) day.anons.set(key, revive(bucket));
      for (const [device, user, ts] of entry.mappings) {
        const [site, anon] = splitSiteKey(device);
        pending.siteMappings(day, site).set(anon, { user, ts });
      }
    }
    for (const session of json.sessions) pending.putSession({ ...session });
    return pending;
  }
}

function positionsOf(sessions: readonly PendingSession[]): Map<string, number> {
  return new Map(sessions.map((session, index) => [session.sessionId, index]));
}

/** Code-unit order, the same on every machine (unlike localeCompare). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
