// Per-visitor sessionize state: retained events in (ts, id) order as flat number columns, and the sessions over them.

/** Numbers per event in `VisitorState.events`; compact on purpose (memory rule: ≤ 1 KiB per open session). */
export const EVENT_SLOTS = 5;
/** Event time, epoch ms. */
export const TS = 0;
/** eventIdHash × 16 + kind code (+ BOT_FLAG): both fit exactly in one double. */
export const ID_KIND = 1;
/** (url pool id + 1) × 2^26 + (referrer pool id + 1): both fit exactly in one double. */
export const PAGE = 2;
/** page_view: pool id of page_item or NO_REF; purchase: the revenue; other types: NO_REF. */
export const ITEM_OR_REVENUE = 3;
/** Pool id of user_id, or NO_REF. */
export const USER = 4;

export const NO_REF = -1;
export const KIND_PAGE_VIEW = 0;
export const KIND_CLICK = 1;
export const KIND_ADD_TO_CART = 2;
export const KIND_PURCHASE = 3;
export const KIND_IDENTIFY = 4;
export const BOT_FLAG = 8;
const KIND_RANGE = 16;
const REF_RANGE = 2 ** 26;

/** Packs the url and referrer pool ids (NO_REF allowed; ids below 2^26 - 1). */
export function packPage(url: number, referrer: number): number {
  return (url + 1) * REF_RANGE + (referrer + 1);
}

export function urlOf(page: number): number {
  return Math.floor(page / REF_RANGE) - 1;
}

export function referrerOf(page: number): number {
  return remainder(page, REF_RANGE) - 1;
}

export function packIdKind(idHash: number, kindFlags: number): number {
  return idHash * KIND_RANGE + kindFlags;
}

export function idHashOf(idKind: number): number {
  return Math.floor(idKind / KIND_RANGE);
}

export function kindFlagsOf(idKind: number): number {
  return remainder(idKind, KIND_RANGE);
}

/**
 * `value % divisor` for a non-negative integer below 2^53 and a power of two, exactly (the quotient of a power of two
 * is exact). `%` on numbers past int32 compiles to a call of C's fmod: ≈ 12 ns more per call, and sessionize unpacks
 * a few of these per event (measured).
 */
function remainder(value: number, divisor: number): number {
  return value - Math.floor(value / divisor) * divisor;
}

/** Visitor key = (site_id, anon_id) in one string; a missing site_id and an empty one stay distinct. */
export function visitorKey(siteId: string | undefined, anonId: string): string {
  return siteId === undefined ? `\u0000${anonId}` : `${siteId}\u0001${anonId}`;
}

/** visitorKey(siteId, anonId).length, without building the key. */
export function visitorKeyLength(siteId: string | undefined, anonId: string): number {
  return (siteId === undefined ? 0 : siteId.length) + 1 + anonId.length;
}

export function parseVisitorKey(key: string): { siteId: string | null; anonId: string } {
  if (key.charCodeAt(0) === 0) return { siteId: null, anonId: key.slice(1) };
  const separator = key.indexOf("\u0001");
  return { siteId: key.slice(0, separator), anonId: key.slice(separator + 1) };
}

/**
 * Numbers per session in `VisitorState.sessions`, in time order; each session covers a contiguous run of the visitor's
 * events and takes its id from its first event. Flat numbers in one array instead of an object per session (and a
 * boxed number for its last id hash): 925 → 853 B of heap per open session, at the same speed (bench/OPTIMIZATIONS.md,
 * session 25).
 */
export const SESSION_SLOTS = 5;
/** Events in the session. */
export const COUNT = 0;
/** (last emitted version × 2 + live) × 64 + emitted split reason × 8 + split reason: see packStatus. */
export const STATUS = 1;
/** What the live version was built from, to detect changes: its event count, last event's id hash and user_id. */
export const EMITTED_COUNT = 2;
export const EMITTED_LAST_ID = 3;
/** Pool id of the live version's user_id (NO_REF: null); the session holds a reference to it in the pool. */
export const EMITTED_USER = 4;

/** Split reasons are indices into SPLIT_REASONS, below this. */
const REASON_RANGE = 8;
const STATUS_RANGE = REASON_RANGE * REASON_RANGE;

/**
 * A session's status in one number: `version` is its last emitted version (0: never emitted), `live` true while the
 * last emitted row of its id is a non-retracted version, `reason` why the session began (an index into SPLIT_REASONS)
 * and `emittedReason` the reason its live version was built with.
 */
export function packStatus(version: number, live: boolean, reason: number, emittedReason: number): number {
  return (version * 2 + (live ? 1 : 0)) * STATUS_RANGE + emittedReason * REASON_RANGE + reason;
}

export function reasonOf(status: number): number {
  return remainder(status, REASON_RANGE);
}

export function emittedReasonOf(status: number): number {
  return Math.floor(remainder(status, STATUS_RANGE) / REASON_RANGE);
}

export function versionOf(status: number): number {
  return Math.floor(status / (2 * STATUS_RANGE));
}

export function isLive(status: number): boolean {
  return remainder(Math.floor(status / STATUS_RANGE), 2) === 1;
}

/** The status with another split reason (its version, liveness and emitted reason kept). */
export function withReason(status: number, reason: number): number {
  return status - reasonOf(status) + reason;
}

/** A retracted session id, remembered while its first event is retained, so a reappearance continues its versions. */
export interface Tombstone {
  sessionId: string;
  version: number;
  firstTs: number;
}

/** Below this many slots, appends grow event arrays two events at a time instead of by V8's push growth. */
const SMALL_GROWTH_LIMIT = 8 * EVENT_SLOTS;

/**
 * `events` plus one event's slots in a new array with room for one more event: the next append pushes into that room
 * without reallocating. V8 keeps the room (it trims a backing store only when it is over twice the length plus 16),
 * and push growth itself would add 16+ spare slots to every small visitor (memory rule: ≤ 1 KiB per open session).
 * A copy loop: `concat` with number arguments takes V8's generic runtime path (≈ 4× slower, measured).
 */
function appendWithRoom(events: number[], ts: number, idKind: number, page: number, itemOrRevenue: number, user: number): number[] {
  const length = events.length;
  const grown = new Array<number>(length + 2 * EVENT_SLOTS);
  for (let i = 0; i < length; i++) grown[i] = events[i];
  grown[length + TS] = ts;
  grown[length + ID_KIND] = idKind;
  grown[length + PAGE] = page;
  grown[length + ITEM_OR_REVENUE] = itemOrRevenue;
  grown[length + USER] = user;
  grown.length = length + EVENT_SLOTS;
  return grown;
}

/** Above this many retained events, dedupe uses a Set instead of scanning the id column. */
const ID_SET_THRESHOLD = 32;

/** Bits per word of a visitor's id filter: two words of 30 bits stay small integers (no boxed number per visitor). */
const ID_FILTER_WORD_BITS = 30;

/** The filter bit of an id fingerprint, from its low 16 bits (the mixed low half of eventIdHash's second hash). */
function idFilterBit(idHash: number): number {
  return (idHash & 0xffff) % (2 * ID_FILTER_WORD_BITS);
}

export class VisitorState {
  /** Who the visitor is, as its first event said (anonId is also its key in the per-site map: its hash is cached). */
  readonly siteId: string | undefined;
  readonly anonId: string;
  /** EVENT_SLOTS numbers per event, sorted by (ts, event id hash). */
  events: number[] = [];
  /** SESSION_SLOTS numbers per session, in time order. */
  sessions: number[] = [];
  tombstones: Tombstone[] | null = null;
  /** Last user_id of evicted events: stitches later sessions to the customer (discarded with the visitor). */
  carriedUser: string | null = null;
  /** The latest event time of the sessions evicted while the visitor stayed (−∞: none); see Sessionizer's #absorbable. */
  evictedThrough = Number.NEGATIVE_INFINITY;
  /**
   * Retained purchases' order fingerprints, as pairs [event id fingerprint, order fingerprint]; null without any. An
   * order's id is not among the event's slots (they keep its revenue), and few visitors buy: a short list of their own.
   */
  orders: number[] | null = null;

  hasOrder(orderId: number): boolean {
    const orders = this.orders;
    if (orders === null) return false;
    for (let at = 1; at < orders.length; at += 2) if (orders[at] === orderId) return true;
    return false;
  }

  addOrder(idHash: number, orderId: number): void {
    (this.orders ??= []).push(idHash, orderId);
  }

  /** After a prefix of events went: the orders of the purchases still retained. */
  keepOrdersOfRetainedEvents(): void {
    const orders = this.orders;
    if (orders === null) return;
    const kept: number[] = [];
    for (let at = 0; at < orders.length; at += 2) if (this.hasEvent(orders[at])) kept.push(orders[at], orders[at + 1]);
    this.orders = kept.length > 0 ? kept : null;
  }
  /** Due time of this visitor's live timer entry (+∞: none). */
  scheduled = Infinity;
  #idSet: Set<number> | null = null;
  /**
   * While there is no id Set: one bit per retained event's id fingerprint (a Bloom filter with one hash), so that the
   * duplicate check of a new event, which misses it most of the time, does not scan the visitor's events. That scan
   * read every retained event's cache line for every event; leaving it out made the drain 8% faster (upper bound,
   * bench/OPTIMIZATIONS.md, session 27). Bits of removed events are cleared by rebuilding from the rest.
   */
  #idFilterLow = 0;
  #idFilterHigh = 0;
  /**
   * A snapshot holds `events` itself and reads its first numbers only when it is serialized (sessionize's checkpoint,
   * copy-on-write): until `events` is replaced, no change may move or overwrite them. Appending may (it leaves them as
   * they are); an insert before the end or a removed prefix copies the array first.
   */
  eventsShared = false;
  /**
   * Where the last snapshot put this visitor in its columns (timers name visitors by it). A field, not a Map of every
   * visitor built per snapshot, which the event loop waits for: a snapshot of the live bench's 40k visitors took
   * ≈ 100 ms with the Map and ≈ 65 ms with the field (bench/OPTIMIZATIONS.md, session 32).
   */
  snapshotIndex = -1;

  constructor(siteId: string | undefined, anonId: string) {
    this.siteId = siteId;
    this.anonId = anonId;
  }

  /** visitorKey of the visitor: built on demand (snapshots), as visitors keep only its parts. */
  get key(): string {
    return visitorKey(this.siteId, this.anonId);
  }

  get eventCount(): number {
    return this.events.length / EVENT_SLOTS;
  }

  ts(index: number): number {
    return this.events[index * EVENT_SLOTS + TS];
  }

  idHash(index: number): number {
    return idHashOf(this.events[index * EVENT_SLOTS + ID_KIND]);
  }

  hasEvent(idHash: number): boolean {
    if (this.#idSet !== null) return this.#idSet.has(idHash);
    const bit = idFilterBit(idHash);
    const word = bit < ID_FILTER_WORD_BITS ? this.#idFilterLow : this.#idFilterHigh;
    if ((word & (1 << (bit % ID_FILTER_WORD_BITS))) === 0) return false;
    const events = this.events;
    // idKind = idHash × KIND_RANGE + kind flags: a range test instead of a division per retained event.
    const low = idHash * KIND_RANGE;
    const high = low + KIND_RANGE;
    for (let offset = ID_KIND; offset < events.length; offset += EVENT_SLOTS) {
      const idKind = events[offset];
      if (idKind >= low && idKind < high) return true;
    }
    return false;
  }

  /** Index the event (ts, idHash) takes in time order; same-ms events are ordered by id hash. */
  insertionPoint(ts: number, idHash: number): number {
    const count = this.eventCount;
    if (count === 0 || this.ts(count - 1) < ts) return count;
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = (low + high) >> 1;
      const middleTs = this.ts(middle);
      if (middleTs < ts || (middleTs === ts && this.idHash(middle) < idHash)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Inserts one event's EVENT_SLOTS numbers at `index` (slots passed one by one: no temporary array per event). */
  insert(index: number, ts: number, idKind: number, page: number, itemOrRevenue: number, user: number): void {
    const events = this.events;
    const count = this.eventCount;
    // While small, an even count reallocates with room for one more event and an odd count pushes into that room:
    // half the reallocations of exactly sized arrays, half an event of spare room on average.
    if (index === count && events.length < SMALL_GROWTH_LIMIT) {
      if (count % 2 === 0) {
        this.events = appendWithRoom(events, ts, idKind, page, itemOrRevenue, user);
        this.eventsShared = false;
      } else events.push(ts, idKind, page, itemOrRevenue, user);
    } else if (index === count) events.push(ts, idKind, page, itemOrRevenue, user);
    else this.#ownEvents().splice(index * EVENT_SLOTS, 0, ts, idKind, page, itemOrRevenue, user);
    if (this.#idSet !== null) this.#idSet.add(idHashOf(idKind));
    else if (this.eventCount > ID_SET_THRESHOLD) this.#rebuildIdSet();
    else this.#filter(idHashOf(idKind));
  }

  /**
   * `events`, to change in place: a copy first while a snapshot holds them (eventsShared). Only inserts before the end
   * and removed prefixes need it; the splice they make moves the later events anyway.
   */
  #ownEvents(): number[] {
    if (this.eventsShared) {
      this.events = this.events.slice();
      this.eventsShared = false;
    }
    return this.events;
  }

  /** Removes the first `count` events and returns their slots. */
  removePrefix(count: number): number[] {
    // Usually every event goes (the visitor's last session evicted): the array itself is handed back, not copied by
    // splice into a new one. Its holder may still be a snapshot's (eventsShared); the caller only reads it.
    const whole = count * EVENT_SLOTS === this.events.length;
    const removed = whole ? this.events : this.#ownEvents().splice(0, count * EVENT_SLOTS);
    if (whole) {
      this.events = [];
      this.eventsShared = false;
    }
    if (this.#idSet !== null && this.eventCount > ID_SET_THRESHOLD) {
      for (let offset = ID_KIND; offset < removed.length; offset += EVENT_SLOTS) this.#idSet.delete(idHashOf(removed[offset]));
    } else {
      this.#idSet = null;
      this.#rebuildIdFilter();
    }
    return removed;
  }

  get sessionCount(): number {
    return this.sessions.length / SESSION_SLOTS;
  }

  /** Approximate bytes of the id Set, when there is one. */
  get idSetBytes(): number {
    return this.#idSet === null ? 0 : 24 * this.#idSet.size;
  }

  /** Call after replacing `events` wholesale (restore). */
  reindex(): void {
    this.#idSet = null;
    if (this.eventCount > ID_SET_THRESHOLD) this.#rebuildIdSet();
    else this.#rebuildIdFilter();
  }

  #filter(idHash: number): void {
    const bit = idFilterBit(idHash);
    if (bit < ID_FILTER_WORD_BITS) this.#idFilterLow |= 1 << bit;
    else this.#idFilterHigh |= 1 << (bit - ID_FILTER_WORD_BITS);
  }

  #rebuildIdFilter(): void {
    this.#idFilterLow = 0;
    this.#idFilterHigh = 0;
    for (let offset = ID_KIND; offset < this.events.length; offset += EVENT_SLOTS) this.#filter(idHashOf(this.events[offset]));
  }

  #rebuildIdSet(): void {
    const ids = new Set<number>();
    for (let offset = ID_KIND; offset < this.events.length; offset += EVENT_SLOTS) ids.add(idHashOf(this.events[offset]));
    this.#idSet = ids;
  }
}
