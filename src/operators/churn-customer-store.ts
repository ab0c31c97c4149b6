// Compact columnar store of every customer's finalized churn state (typed-array columns, day buckets, no raw events).

export const DAY_MS = 86_400_000;

/** UTC day number (days since 1970-01-01) of an epoch-ms instant. */
export function dayOf(epochMs: number): number {
  return Math.floor(epochMs / DAY_MS);
}

/** Recent bucket layout: one record per active day within the last 30 days. */
const R_DAY = 0;
const R_SESSIONS = 1;
const R_PAGEVIEWS = 2;
const R_DURATION_MS = 3;
const R_CART_ADDS = 4;
const R_CART_SESSIONS = 5;
const R_ABANDONED = 6;
const RECENT_FIELDS = 7;
/** Older bucket layout: [day, sessions] for days 30–89 before the snapshot day; only sessions_90d needs them. */
const OLDER_FIELDS = 2;
const DETAIL_DAYS = 30;
const SESSION_DAYS = 90;
const INT32_MAX = 2_147_483_647;
/** Rough V8 cost of one typed array object besides its bytes, and of one Map entry plus string header. */
const TYPED_ARRAY_OVERHEAD = 96;
const KEY_OVERHEAD = 80;

// Revenue is kept in integer micro-units so sums are exact and never depend on the order purchases arrive in.
const COLUMNS = ["firstPurchaseTs", "lastPurchaseTs", "purchaseDays", "orders", "revenueMicros", "repeatRevenueMicros", "lastSessionDay"] as const;
type ColumnName = (typeof COLUMNS)[number];

/** One session as it contributes to behaviour features. */
export interface SessionContribution {
  day: number;
  pageviews: number;
  durationMs: number;
  cartAdds: number;
  converted: boolean;
}

/** Behaviour windows of one customer as of a snapshot day. */
export interface BehaviourWindows {
  sessions7d: number;
  sessions30d: number;
  sessions90d: number;
  pageviews30d: number;
  durationMs30d: number;
  cartAdds30d: number;
  cartSessions30d: number;
  abandonedSessions30d: number;
}

export interface CustomerStoreJson {
  ids: string[];
  columns: Record<ColumnName, (number | null)[]>;
  recent: (number[] | null)[];
  older: (number[] | null)[];
}

/**
 * Customers are never discarded: the snapshot is the whole customer table. Per customer the store keeps 7 numbers,
 * the id, and at most 30 recent day records (28 B) plus 60 older ones (8 B): ≤ about 1.7 KiB even when active daily.
 */
export class CustomerStore {
  #ids: string[] = [];
  #index = new Map<string, number>();
  #columns = {} as Record<ColumnName, Float64Array>;
  #recent: (Int32Array | null)[] = [];
  #older: (Int32Array | null)[] = [];
  #idChars = 0;
  #bucketBytes = 0;

  constructor() {
    for (const name of COLUMNS) this.#columns[name] = new Float64Array(1024).fill(NaN);
  }

  get size(): number {
    return this.#ids.length;
  }

  idAt(slot: number): string {
    return this.#ids[slot];
  }

  column(name: ColumnName): Float64Array {
    return this.#columns[name];
  }

  /** The slot of a customer, created (with no purchases and no sessions) when new. */
  slotOf(customerId: string): number {
    const existing = this.#index.get(customerId);
    if (existing !== undefined) return existing;
    const slot = this.#ids.length;
    if (slot === this.#columns.orders.length) this.#grow();
    this.#ids.push(customerId);
    this.#index.set(customerId, slot);
    this.#columns.purchaseDays[slot] = 0;
    this.#columns.orders[slot] = 0;
    this.#columns.revenueMicros[slot] = 0;
    this.#columns.repeatRevenueMicros[slot] = 0;
    this.#recent.push(null);
    this.#older.push(null);
    this.#idChars += customerId.length;
    return slot;
  }

  /** Adds one UTC day of purchases; days arrive in ascending order per customer (a repeated day merges). */
  addPurchaseDay(slot: number, day: number, orders: number, revenueMicros: number, minTs: number, maxTs: number): void {
    const c = this.#columns;
    if (c.purchaseDays[slot] === 0) {
      c.firstPurchaseTs[slot] = minTs;
      c.lastPurchaseTs[slot] = maxTs;
      c.purchaseDays[slot] = 1;
    } else {
      const lastDay = dayOf(c.lastPurchaseTs[slot]);
      if (day > lastDay) c.purchaseDays[slot] += 1;
      // lifetimes' monetary_value ignores the first purchase day.
      if (day !== dayOf(c.firstPurchaseTs[slot])) c.repeatRevenueMicros[slot] += revenueMicros;
      if (minTs < c.firstPurchaseTs[slot]) c.firstPurchaseTs[slot] = minTs;
      if (maxTs > c.lastPurchaseTs[slot]) c.lastPurchaseTs[slot] = maxTs;
    }
    c.orders[slot] += orders;
    c.revenueMicros[slot] += revenueMicros;
  }

  /**
   * Nets one day's refunds (micro-units, ≤ 0) into revenue_total alone: a refund is no transaction, so purchase days,
   * first/last purchase, orders and the repeat days' revenue (monetary_value) stay as the customer's orders made them.
   */
  addRefunds(slot: number, refundMicros: number): void {
    this.#columns.revenueMicros[slot] += refundMicros;
  }

  addSession(slot: number, session: SessionContribution): void {
    const hasCart = session.cartAdds > 0;
    const record = this.#recentRecord(slot, session.day);
    const recent = this.#recent[slot]!;
    recent[record + R_SESSIONS] += 1;
    recent[record + R_PAGEVIEWS] += session.pageviews;
    // Int32 keeps a day's record small; a day's summed session time never nears 24.8 days in practice.
    recent[record + R_DURATION_MS] = Math.min(INT32_MAX, recent[record + R_DURATION_MS] + Math.round(session.durationMs));
    recent[record + R_CART_ADDS] += session.cartAdds;
    if (hasCart) recent[record + R_CART_SESSIONS] += 1;
    if (hasCart && !session.converted) recent[record + R_ABANDONED] += 1;
    const lastSessionDay = this.#columns.lastSessionDay;
    if (!(lastSessionDay[slot] >= session.day)) lastSessionDay[slot] = session.day;
  }

  /** Cart adds counted from add_to_cart events (pipelines without sessionize). */
  addCartAdds(slot: number, day: number, cartAdds: number): void {
    const record = this.#recentRecord(slot, day);
    this.#recent[slot]![record + R_CART_ADDS] += cartAdds;
  }

  /** Drops buckets that no window of a snapshot at `snapshotDay` or later can see, then sums the windows. */
  windowsAt(slot: number, snapshotDay: number, into: BehaviourWindows): BehaviourWindows {
    this.#prune(slot, snapshotDay);
    into.sessions7d = 0;
    into.sessions30d = 0;
    into.sessions90d = 0;
    into.pageviews30d = 0;
    into.durationMs30d = 0;
    into.cartAdds30d = 0;
    into.cartSessions30d = 0;
    into.abandonedSessions30d = 0;
    const recent = this.#recent[slot];
    if (recent !== null) {
      for (let r = 0; r < recent.length; r += RECENT_FIELDS) {
        if (recent[r + R_DAY] > snapshotDay) continue;
        const sessions = recent[r + R_SESSIONS];
        if (recent[r + R_DAY] > snapshotDay - 7) into.sessions7d += sessions;
        into.sessions30d += sessions;
        into.pageviews30d += recent[r + R_PAGEVIEWS];
        into.durationMs30d += recent[r + R_DURATION_MS];
        into.cartAdds30d += recent[r + R_CART_ADDS];
        into.cartSessions30d += recent[r + R_CART_SESSIONS];
        into.abandonedSessions30d += recent[r + R_ABANDONED];
      }
    }
    into.sessions90d = into.sessions30d;
    const older = this.#older[slot];
    if (older !== null) for (let r = 0; r < older.length; r += OLDER_FIELDS) into.sessions90d += older[r + 1];
    return into;
  }

  /** Approximate retained bytes: columns, ids with their index entries, and day buckets. */
  bytes(): number {
    const columnBytes = COLUMNS.length * this.#columns.orders.byteLength;
    return columnBytes + this.#ids.length * KEY_OVERHEAD + this.#idChars * 2 + this.#bucketBytes;
  }

  toJSON(): CustomerStoreJson {
    const columns = {} as Record<ColumnName, (number | null)[]>;
    for (const name of COLUMNS) {
      const values: (number | null)[] = new Array(this.size);
      const column = this.#columns[name];
      for (let i = 0; i < this.size; i++) values[i] = Number.isNaN(column[i]) ? null : column[i];
      columns[name] = values;
    }
    const plain = (buckets: Int32Array | null) => (buckets === null ? null : Array.from(buckets));
    return { ids: [...this.#ids], columns, recent: this.#recent.map(plain), older: this.#older.map(plain) };
  }

  static fromJSON(json: CustomerStoreJson): CustomerStore {
    const store = new CustomerStore();
    for (const id of json.ids) store.slotOf(id);
    for (const name of COLUMNS) {
      const column = store.#columns[name];
      json.columns[name].forEach((value, i) => (column[i] = value === null ? NaN : value));
    }
    const typed = (buckets: number[] | null) => {
      if (buckets === null) return null;
      store.#bucketBytes += TYPED_ARRAY_OVERHEAD + buckets.length * 4;
      return Int32Array.from(buckets);
    };
    store.#recent = json.recent.map(typed);
    store.#older = json.older.map(typed);
    return store;
  }

  /** Offset of the record of `day` in the customer's recent buckets, appended when missing. */
  #recentRecord(slot: number, day: number): number {
    const recent = this.#recent[slot];
    if (recent !== null) {
      for (let r = recent.length - RECENT_FIELDS; r >= 0; r -= RECENT_FIELDS) {
        if (recent[r + R_DAY] === day) return r;
        if (recent[r + R_DAY] < day) break;
      }
    }
    const length = recent === null ? 0 : recent.length;
    const grown = new Int32Array(length + RECENT_FIELDS);
    if (recent !== null) grown.set(recent);
    grown[length + R_DAY] = day;
    this.#replaceRecent(slot, grown);
    // Days arrive in ascending order per customer, so appending keeps the records sorted.
    if (recent !== null && length > 0 && recent[length - RECENT_FIELDS + R_DAY] > day) sortRecords(grown, RECENT_FIELDS);
    for (let r = 0; r < grown.length; r += RECENT_FIELDS) if (grown[r + R_DAY] === day) return r;
    return length;
  }

  /** Moves recent records older than 30 days to the older list and drops older ones beyond 90 days. */
  #prune(slot: number, snapshotDay: number): void {
    const recent = this.#recent[slot];
    const older = this.#older[slot];
    const detailFrom = snapshotDay - DETAIL_DAYS + 1;
    const sessionsFrom = snapshotDay - SESSION_DAYS + 1;
    const recentStale = recent !== null && recent[R_DAY] < detailFrom;
    const olderStale = older !== null && older[0] < sessionsFrom;
    if (!recentStale && !olderStale) return;
    const keptOlder: number[] = [];
    if (older !== null) {
      for (let r = 0; r < older.length; r += OLDER_FIELDS) {
        if (older[r] >= sessionsFrom) keptOlder.push(older[r], older[r + 1]);
      }
    }
    const keptRecent: number[] = [];
    if (recent !== null) {
      for (let r = 0; r < recent.length; r += RECENT_FIELDS) {
        const day = recent[r + R_DAY];
        if (day >= detailFrom) {
          for (let f = 0; f < RECENT_FIELDS; f++) keptRecent.push(recent[r + f]);
        } else if (day >= sessionsFrom && recent[r + R_SESSIONS] > 0) {
          keptOlder.push(day, recent[r + R_SESSIONS]);
        }
      }
    }
    this.#replaceRecent(slot, keptRecent.length === 0 ? null : Int32Array.from(keptRecent));
    this.#replaceOlder(slot, keptOlder.length === 0 ? null : Int32Array.from(keptOlder));
  }

  #replaceRecent(slot: number, next: Int32Array | null): void {
    this.#bucketBytes += bucketBytes(next) - bucketBytes(this.#recent[slot]);
    this.#recent[slot] = next;
  }

  #replaceOlder(slot: number, next: Int32Array | null): void {
    this.#bucketBytes += bucketBytes(next) - bucketBytes(this.#older[slot]);
    this.#older[slot] = next;
  }

  #grow(): void {
    for (const name of COLUMNS) {
      const old = this.#columns[name];
      const grown = new Float64Array(old.length * 2).fill(NaN);
      grown.set(old);
      this.#columns[name] = grown;
    }
  }
}

function bucketBytes(buckets: Int32Array | null): number {
  return buckets === null ? 0 : TYPED_ARRAY_OVERHEAD + buckets.byteLength;
}

/** Sorts fixed-size records by their first field (rare path: a day folded out of order). */
function sortRecords(records: Int32Array, fields: number): void {
  const rows: number[][] = [];
  for (let r = 0; r < records.length; r += fields) rows.push(Array.from(records.subarray(r, r + fields)));
  rows.sort((a, b) => a[0] - b[0]);
  rows.forEach((row, i) => records.set(row, i * fields));
}
