// Operator `sessionize`: event-time sessions per (site_id, anon_id) with gap, splits, watermarks and late data.
import { z } from "zod";
import { timeZoneProblem } from "../config/component-checks.ts";
import { duration } from "../config/duration.ts";
import type { ClickEvent, EventOrigin, EventType } from "../events/event.ts";
import { isRefund, refundDedupeKey } from "../events/refund.ts";
import type { Metrics, TaskLabels } from "../metrics/registry.ts";
import type { Operator, OperatorContext, SessionRecord } from "../runtime/operator.ts";
import { float64ColumnOf, float64Columns, float64ColumnsOf, float64ColumnsShared, float64ToBase64, type Float64Columns } from "../runtime/float64-text.ts";
import { WatermarkTracker, type WatermarkSnapshot } from "../runtime/watermark.ts";
import type { OperatorEnvironment } from "./environment.ts";
import { eventIdHash, sessionIdOf } from "./sessionize-hash.ts";

/** Keeps an order's fingerprint apart from any event_id's (an event_id may look like an order id). */
const ORDER_ID_PREFIX = "\u0000order\u0000";
/** A refund's fingerprint: apart from its order's, which a shop may refund under the order's own number (as churnFeatures). */
const REFUND_ID_PREFIX = "\u0000refund\u0000";
const NO_ORDER = -1;
import { LocalDayCalendar } from "./sessionize-local-day.ts";
import { type EventRun, buildSessionRecord, latestUserId, runLastIdHash, runSessionId } from "./sessionize-record.ts";
import {
  NO_SPLIT,
  REASON_GAP,
  type SplitRules,
  segment,
  splitReason,
} from "./sessionize-segment.ts";
import { type StringPoolSnapshot, StringPool } from "./sessionize-strings.ts";
import { sessionsTable } from "./sessionize-table.ts";
import { type DueQueueSnapshot, DueQueue } from "./sessionize-timers.ts";
import { campaignKey } from "./sessionize-url.ts";
import {
  BOT_FLAG,
  COUNT,
  EMITTED_COUNT,
  EMITTED_LAST_ID,
  EMITTED_USER,
  EVENT_SLOTS,
  ID_KIND,
  ITEM_OR_REVENUE,
  KIND_ADD_TO_CART,
  KIND_CLICK,
  KIND_IDENTIFY,
  KIND_PAGE_VIEW,
  KIND_PURCHASE,
  NO_REF,
  PAGE,
  SESSION_SLOTS,
  type Tombstone,
  STATUS,
  USER,
  VisitorState,
  emittedReasonOf,
  isLive,
  kindFlagsOf,
  packIdKind,
  packPage,
  packStatus,
  parseVisitorKey,
  reasonOf,
  versionOf,
  withReason,
  visitorKeyLength,
  referrerOf,
  urlOf,
  visitorKey,
} from "./sessionize-visitor.ts";

export { sessionsTable } from "./sessionize-table.ts";

export const sessionizeConfig = z
  .strictObject({
    type: z.literal("sessionize"),
    gap: duration("30m").describe("Inactivity gap: an event within `gap` of a session joins it (touching windows merge)."),
    maxDuration: duration("12h").describe("A session never spans this long; the event at start + maxDuration begins a new one."),
    maxEvents: z.number().int().positive().default(2500).describe("A session holds at most this many events."),
    // `false` is off, as leaving the key out: what a YAML boolean written for "no split" means.
    splitAtMidnight: z.preprocess((value) => (value === false ? undefined : value), z
      .string()
      .superRefine((timeZone, ctx) => {
        const problem = timeZoneProblem(timeZone);
        if (problem === undefined) return;
        // `splitAtMidnight: no` means "off" to whoever wrote it; YAML 1.2 reads it as the text "no".
        const off = /^(?:no|off|none|false|n)$/i.test(timeZone) ? "To not split at midnight, leave splitAtMidnight out. " : "";
        ctx.addIssue({ code: "custom", message: problem, params: { hint: `${off}Use an IANA time zone name such as "UTC", "Europe/Berlin" or "America/New_York".` } });
      })
      .optional())
      .describe("IANA time zone; when set, sessions split at local midnight (e.g. \"UTC\", \"Europe/Berlin\"); false or absent: off."),
    splitOnCampaignChange: z
      .boolean()
      .default(false)
      .describe(
        "Split when utm_*, gclid or an external referrer differs from the campaign of the session's first event with a url (events without a url carry none).",
      ),
    outOfOrderness: duration("1m").describe("Watermark = max event time per partition minus this."),
    allowedLateness: duration("1h").describe(
      "An event is late once watermark ≥ its time + this (unless a retained session within gap takes it); sessions stay retained (and updatable) until watermark ≥ end + gap + this, so no event still accepted belongs with one already gone.",
    ),
    idleTimeout: duration("1m").describe("A partition silent this long (processing time) stops holding the watermark back."),
    maxFutureSkew: duration("5m").describe("An event cannot push the watermark past its received_at + this."),
    identityRetention: duration("90d").describe(
      "A departed visitor's last known user_id is kept this long after its last event (event time): a session of it starting later is no longer stitched to that user.",
    ),
  })
  .describe("Sessionizes clickstreams per visitor in event time; writes the `sessions` table.");

export type SessionizeConfig = z.output<typeof sessionizeConfig>;

export const sessionizeExample = { type: "sessionize", gap: "30m", maxDuration: "12h", outOfOrderness: "1m", allowedLateness: "1h" };


const KIND_CODES: Record<EventType, number> = {
  page_view: KIND_PAGE_VIEW,
  click: KIND_CLICK,
  add_to_cart: KIND_ADD_TO_CART,
  purchase: KIND_PURCHASE,
  identify: KIND_IDENTIFY,
};

/** `reason` of late_events rows written by sessionize. */
export const LATE_REASON = "too_late";

// stateBytes() estimates (V8, 64-bit, pointer compression off): object headers, fields, array backing stores with slack.
const VISITOR_BYTES = 312;
const EVENT_BYTES = EVENT_SLOTS * 8 * 1.25;
const SESSION_BYTES = SESSION_SLOTS * 8 * 1.25;
const TIMER_ENTRY_BYTES = 24;
const TOMBSTONE_BYTES = 120;
const ID_SET_ENTRY_BYTES = 24;
const IDENTITY_ENTRY_BYTES = 96;
const ORDERS_BYTES = 56;

/** A session in format 1 (before 2026-12-04): [count, reason, version, live, emittedCount, emittedLastId, emittedUser, emittedReason]. */
type SessionTuple = [number, number, number, boolean, number, number, string | null, number];

/** A departed visitor's last known user_id and the time of its last event. */
interface RememberedIdentity {
  user: string;
  seenAt: number;
}

/** A pool id no session holds: the current user_id when it is the visitor's carried one and not pooled. */
const UNPOOLED = -2;

/**
 * A visitor. Format 2 holds its events and sessions (nearly all of a checkpoint) as float64Column: long columns as
 * text (as JSON numbers, a checkpoint of the live bench's state took ≈ 1.5× the CPU to write, on the main thread;
 * bench/OPTIMIZATIONS.md, session 25), short ones as numbers, as every column was when format 2 was first committed
 * (daad33f). Format 1 held the events as numbers and each session as a tuple with its emitted user_id as a string.
 */
interface VisitorSnapshot {
  key: string;
  events: string | number[];
  /** VisitorState.sessions (EMITTED_USER a pool id, counted in the pool's refs); format 1: tuples. */
  sessions: string | number[] | SessionTuple[];
  tombstones: Tombstone[] | null;
  carriedUser: string | null;
  scheduled: number | null;
}

interface SessionizeSnapshotOfVisitors {
  format: 1 | 2;
  watermark: WatermarkSnapshot;
  pool: StringPoolSnapshot;
  timers: DueQueueSnapshot;
  visitors: VisitorSnapshot[];
  /** Visitors whose state was dropped, with their last known user_id: [visitor key, user_id] (absent before 2026-12). */
  identities?: [string, string][];
  /** Each identity's visitor's last event time, as `identities` (float64 text); absent before identityRetention. */
  identitySeenAt?: string;
}

/**
 * Format 3 (session 28): the visitors as columns, all their events in one Float64Columns and all their sessions in
 * another, instead of an object per visitor; timers name visitors by index. The snapshot copies the sessions into
 * chunks and keeps the events arrays themselves (copy-on-write, VisitorState.eventsShared); json-slices copies and
 * turns each chunk into text in a slice of its own. A checkpoint of the live bench's state
 * (41k visitors holding 700k events) took 0.55–1.5 CPU s of the main thread as format 2: 41k base64 conversions in the
 * snapshot and as many objects for JSON.stringify, which the live worker, at ≈ 85% of a core, then had to catch up
 * with (bench/OPTIMIZATIONS.md, session 28).
 */
interface SessionizeSnapshotOfColumns {
  format: 3;
  watermark: WatermarkSnapshot;
  pool: StringPoolSnapshot;
  /** Heap order; each entry's visitor as its index in `visitors.keys` (−1: a visitor no longer held, dropped). */
  timers: { dues: string; visitors: string };
  visitors: {
    keys: string[];
    events: Float64Columns;
    sessions: Float64Columns;
    /** Each visitor's `scheduled`, always as text: +∞ (no timer) has no JSON number. */
    scheduled: string;
    /** [visitor index, carried user_id] for the visitors that carry one. */
    carriedUsers: [number, string][];
    /** [visitor index, tombstones] for the visitors that have some. */
    tombstones: [number, Tombstone[]][];
    /** [visitor index, evictedThrough] for the visitors that evicted sessions and stayed; absent in older snapshots. */
    evictedThrough?: [number, number][];
    /** [visitor index, [event id fingerprint, order fingerprint, …]] of retained purchases; absent in older snapshots. */
    orders?: [number, number[]][];
  };
  identities: [string, string][];
  /** Each identity's visitor's last event time, as `identities` (float64 text); absent before identityRetention. */
  identitySeenAt?: string;
}

type SessionizeSnapshot = SessionizeSnapshotOfVisitors | SessionizeSnapshotOfColumns;

function nonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

/** The `sessions` row of a record: its columns only, built as one literal (a spread plus delete makes a slow dictionary object). */
function rowOf(record: SessionRecord): Record<string, unknown> {
  return {
    session_id: record.session_id,
    version: record.version,
    retracted: record.retracted,
    site_id: record.site_id,
    visitor_id: record.visitor_id,
    user_id: record.user_id,
    start_ts: record.start_ts,
    end_ts: record.end_ts,
    duration_ms: record.duration_ms,
    event_count: record.event_count,
    pageview_count: record.pageview_count,
    landing_url: record.landing_url,
    exit_url: record.exit_url,
    referrer: record.referrer,
    utm_source: record.utm_source,
    utm_medium: record.utm_medium,
    utm_campaign: record.utm_campaign,
    is_engaged: record.is_engaged,
    is_bounce: record.is_bounce,
    converted: record.converted,
    revenue: record.revenue,
    is_bot: record.is_bot,
    split_reason: record.split_reason,
    page_path: record.page_path,
    page_items: record.page_items,
  };
}

/**
 * Sessions are re-derived from the time-sorted retained events of a visitor (greedy, left to right), so any
 * arrival order within allowedLateness yields the sessions of the sorted run (issue 3, rule 7).
 *
 * Why session ids come from the session's first event by time (hash of visitor key, its ts and event-id hash):
 * ids are then a function of the sorted run alone, so a replay or any arrival order gives the same ids, and a
 * merge keeps the id of the earliest session. When a late event becomes a session's new first event, the old id
 * is retracted (version n+1, retracted = true) and the session continues under the new id; the current view
 * (highest version per id, not retracted) is always the sorted run's sessions.
 */
class Sessionizer implements Operator {
  readonly id = "sessionize";
  readonly tables = [sessionsTable];
  readonly #gap: number;
  readonly #allowedLateness: number;
  readonly #rules: SplitRules;
  readonly #watermark: WatermarkTracker;
  /**
   * The watermark tracker's endedAt: events at or before it are late (−∞ unless restored after a drain's end). The
   * latest event time that arrived, not the skew-capped one: events a few minutes after it were lost to late_events.
   */
  #endedAt = -Infinity;
  readonly #pool = new StringPool();
  /**
   * The visitors by site_id, then anon_id: the per-event lookup, and the only index (timers hold their visitor; a
   * second map by joined key cost 6% of the drain). Looking up the fresh strings JSON.parse gives costs a hash of
   * each; the combined key would be built, flattened and hashed per event (≈ 2× the time, measured).
   */
  readonly #visitorsBySite = new Map<string | undefined, Map<string, VisitorState>>();
  /** The last site looked up and its visitors: one site per pipeline is the common case. */
  #lastSiteId: string | undefined = undefined;
  #lastSiteVisitors: Map<string, VisitorState> | undefined = undefined;
  #visitorCount = 0;
  readonly #timers = new DueQueue<VisitorState>();
  #openSessions = 0;
  #retainedEvents = 0;
  #keyChars = 0;
  #tombstones = 0;
  /**
   * The anon_id → user_id map of rule 10 for visitors whose state was dropped (every session evicted): a visitor who
   * returns, or whose late event arrives only after the eviction, is still stitched to its customer. Without it the
   * stitching depended on arrival order (a late event's new session lost the user its sorted order gives it) and on
   * how long the visitor stayed away. One entry per identified visitor that left: per-customer state. By site_id, then
   * anon_id, as the visitors (a returning visitor's lookup hashes no new string).
   *
   * Discard rule (identityRetention): an identity goes once the watermark passes the visitor's last event + retention
   * + allowedLateness, when no event it could stitch can still be accepted. Each map is in the order visitors left,
   * which is nearly the order of their last events (they leave when the watermark passes end + gap + allowedLateness),
   * so a sweep reads each map from its start and stops at the first identity still kept; whether one is stitched is
   * decided by event time (#recall), so how soon a sweep comes changes no row.
   */
  readonly #identities = new Map<string | undefined, Map<string, RememberedIdentity>>();
  #identityCount = 0;
  #identityChars = 0;
  readonly #identityRetention: number;
  /** When the next identity sweep is due (watermark): the earliest expiry among the maps' first entries, +∞: none. */
  #identitySweepAt = Infinity;

  constructor(config: SessionizeConfig) {
    this.#gap = config.gap;
    this.#allowedLateness = config.allowedLateness;
    this.#identityRetention = config.identityRetention;
    const calendar = config.splitAtMidnight === undefined ? null : new LocalDayCalendar(config.splitAtMidnight);
    this.#rules = {
      gap: config.gap,
      maxDuration: config.maxDuration,
      maxEvents: config.maxEvents,
      dayOf: calendar === null ? null : (ts) => calendar.dayOf(ts),
      campaignOf: config.splitOnCampaignChange ? (events, index) => this.#campaignOf(events, index) : null,
    };
    this.#watermark = new WatermarkTracker({
      outOfOrderness: config.outOfOrderness,
      idleTimeout: config.idleTimeout,
      maxFutureSkew: config.maxFutureSkew,
    });
  }

  /** The operator's event-time watermark (−∞ before any event). */
  watermark(): number {
    return this.#watermark.current;
  }

  onEvent(event: ClickEvent, origin: EventOrigin, ctx: OperatorContext): void {
    const before = this.#watermark.current;
    if (nonEmptyString(event.anon_id)) this.#accept(event, event.anon_id, before, ctx);
    const after = this.#watermark.observe(origin.partition, event.ts, event.received_at, ctx.now());
    if (after > before) this.#advance(after, ctx);
  }

  reportGauges(metrics: Metrics, labels: TaskLabels = {}): void {
    metrics.openSessions.set(labels, this.#openSessions);
  }

  onTick(ctx: OperatorContext): void {
    const before = this.#watermark.current;
    const after = this.#watermark.tick(ctx.now());
    if (after > before) this.#advance(after, ctx);
  }

  /**
   * End of input (a drain): every session is written. Those ending at or before the latest event time that arrived
   * (each ts at most its received_at) go, and a run going on from the checkpoint takes events up to that time as late
   * (restore's #endedAt). A session ending after it holds events of a device whose clock runs ahead: it stays in the
   * checkpoint, so that the run going on knows its events again (a resend is a duplicate) and extends it with a new
   * version, where it would otherwise start a second session over the same minutes.
   */
  onEnd(ctx: OperatorContext): void {
    const arrived = this.#watermark.arrivedThrough;
    const evictBefore = Number.isFinite(arrived) ? arrived + this.#gap + this.#allowedLateness : Infinity;
    this.#watermark.advanceToEnd();
    const timers = this.#timers;
    while (timers.size > 0) {
      const due = timers.peekDue();
      const visitor = timers.pop();
      if (visitor.sessions.length === 0) continue;
      if (due === visitor.scheduled) visitor.scheduled = Infinity;
      this.#settle(visitor, Infinity, evictBefore, ctx);
      this.#dropIfEmpty(visitor);
    }
    // Every visitor has a timer, but end of input must flush even state restored from an older snapshot.
    for (const visitor of this.#allVisitors()) {
      this.#settle(visitor, Infinity, evictBefore, ctx);
      if (this.#dropIfEmpty(visitor)) continue;
      // Kept (see above): due for eviction once the watermark of the run going on passes it.
      visitor.scheduled = Infinity;
      this.#schedule(visitor);
    }
    // Session consumers write their windows through the same time (sequencePatterns), then end.
    ctx.emitSessionInputEnd?.(arrived);
    ctx.emitSessionWatermark(Infinity);
  }

  snapshot(): SessionizeSnapshot {
    const visitors = this.#allVisitors();
    const carriedUsers: [number, string][] = [];
    const tombstones: [number, Tombstone[]][] = [];
    const evictedThrough: [number, number][] = [];
    const orders: [number, number[]][] = [];
    const scheduled = new Array<number>(visitors.length);
    for (let index = 0; index < visitors.length; index++) {
      const visitor = visitors[index];
      visitor.snapshotIndex = index;
      // The snapshot reads the events when it is serialized; the visitor copies them before changing them in place.
      visitor.eventsShared = true;
      scheduled[index] = visitor.scheduled;
      if (visitor.carriedUser !== null) carriedUsers.push([index, visitor.carriedUser]);
      if (visitor.tombstones !== null) tombstones.push([index, visitor.tombstones.map((t) => ({ ...t }))]);
      if (visitor.evictedThrough > Number.NEGATIVE_INFINITY) evictedThrough.push([index, visitor.evictedThrough]);
      if (visitor.orders !== null) orders.push([index, [...visitor.orders]]);
    }
    // A timer of a visitor no longer held (dropped) names no visitor: −1. Its index is from an earlier snapshot, if any.
    const indexOf = (visitor: VisitorState) => {
      const index = visitor.snapshotIndex;
      return index >= 0 && visitors[index] === visitor ? index : -1;
    };
    const timers = this.#timers.entries(indexOf);
    return {
      format: 3,
      watermark: this.#watermark.snapshot(),
      pool: this.#pool.snapshot(),
      timers: { dues: float64ToBase64(timers.dues), visitors: float64ToBase64(timers.keys) },
      visitors: {
        keys: visitors.map((visitor) => visitor.key),
        events: float64ColumnsShared(visitors.map((visitor) => visitor.events)),
        sessions: float64Columns(visitors.map((visitor) => visitor.sessions)),
        scheduled: float64ToBase64(scheduled),
        carriedUsers,
        tombstones,
        evictedThrough,
        orders,
      },
      ...this.#identityEntries(),
    };
  }

  restore(state: unknown): void {
    const snapshot = state as SessionizeSnapshot;
    if (snapshot === null || typeof snapshot !== "object" || ![1, 2, 3].includes(snapshot.format)) {
      throw new Error("sessionize: cannot restore state: expected a snapshot with format 1, 2 or 3");
    }
    this.#watermark.restore(snapshot.watermark);
    this.#endedAt = this.#watermark.endedAt;
    this.#pool.restore(snapshot.pool);
    this.#visitorCount = 0;
    this.#visitorsBySite.clear();
    this.#lastSiteVisitors = undefined;
    this.#openSessions = 0;
    this.#retainedEvents = 0;
    this.#keyChars = 0;
    this.#tombstones = 0;
    this.#identities.clear();
    this.#identityCount = 0;
    this.#identityChars = 0;
    this.#identitySweepAt = Infinity;
    const identities = snapshot.identities ?? [];
    // Snapshots from before identityRetention have no times: their identities count as seen at the watermark.
    const seenAt = snapshot.identitySeenAt === undefined ? null : float64ColumnOf(snapshot.identitySeenAt);
    const restoredAt = Number.isFinite(this.#watermark.current) ? this.#watermark.current : Number.NEGATIVE_INFINITY;
    for (let index = 0; index < identities.length; index++) {
      const [key, user] = identities[index];
      const { siteId, anonId } = parseVisitorKey(key);
      this.#remember(siteId ?? undefined, anonId, user, seenAt === null ? restoredAt : seenAt[index]);
    }
    const visitors = snapshot.format === 3 ? this.#visitorsOfColumns(snapshot.visitors) : snapshot.visitors.map((saved) => this.#visitorOf(saved, snapshot.format));
    for (const visitor of visitors) {
      visitor.reindex();
      this.#siteVisitors(visitor.siteId).set(visitor.anonId, visitor);
      this.#visitorCount++;
      this.#openSessions += visitor.sessionCount;
      this.#retainedEvents += visitor.eventCount;
      this.#keyChars += visitorKeyLength(visitor.siteId, visitor.anonId);
      this.#tombstones += visitor.tombstones?.length ?? 0;
    }
    if (snapshot.format === 3) {
      const keys = float64ColumnOf(snapshot.timers.visitors).map((index) => visitors[index]);
      this.#timers.restoreEntries(float64ColumnOf(snapshot.timers.dues), keys);
    } else {
      const byKey = new Map(visitors.map((visitor) => [visitor.key, visitor]));
      this.#timers.restore(snapshot.timers, (key) => byKey.get(key));
    }
  }

  #visitorsOfColumns(saved: SessionizeSnapshotOfColumns["visitors"]): VisitorState[] {
    const events = float64ColumnsOf(saved.events);
    const sessions = float64ColumnsOf(saved.sessions);
    const scheduled = float64ColumnOf(saved.scheduled);
    if (events.length !== saved.keys.length || sessions.length !== saved.keys.length || scheduled.length !== saved.keys.length) {
      throw new Error("sessionize: cannot restore state: the visitors' columns differ in length");
    }
    const visitors = saved.keys.map((key, index) => {
      const { siteId, anonId } = parseVisitorKey(key);
      const visitor = new VisitorState(siteId ?? undefined, anonId);
      visitor.events = events[index];
      visitor.sessions = sessions[index];
      visitor.scheduled = scheduled[index];
      return visitor;
    });
    for (const [index, user] of saved.carriedUsers) visitors[index].carriedUser = user;
    for (const [index, tombstones] of saved.tombstones) visitors[index].tombstones = tombstones.map((t) => ({ ...t }));
    for (const [index, through] of saved.evictedThrough ?? []) visitors[index].evictedThrough = through;
    for (const [index, pairs] of saved.orders ?? []) visitors[index].orders = [...pairs];
    return visitors;
  }

  #visitorOf(saved: VisitorSnapshot, format: 1 | 2): VisitorState {
    const { siteId, anonId } = parseVisitorKey(saved.key);
    const visitor = new VisitorState(siteId ?? undefined, anonId);
    visitor.events = float64ColumnOf(saved.events);
    visitor.sessions = format === 1 ? this.#sessionsOfFormat1(saved.sessions as SessionTuple[]) : float64ColumnOf(saved.sessions as string | number[]);
    visitor.tombstones = saved.tombstones === null ? null : saved.tombstones.map((t) => ({ ...t }));
    visitor.carriedUser = saved.carriedUser;
    visitor.scheduled = saved.scheduled ?? Infinity;
    return visitor;
  }

  /** Format 1's sessions as slots; their emitted user_ids were strings outside the pool's counts, so they are acquired. */
  #sessionsOfFormat1(tuples: SessionTuple[]): number[] {
    const sessions: number[] = [];
    for (const [count, reason, version, live, emittedCount, emittedLastId, emittedUser, emittedReason] of tuples) {
      const user = emittedUser === null ? NO_REF : this.#pool.acquire(emittedUser);
      sessions.push(count, packStatus(version, live, reason, emittedReason), emittedCount, emittedLastId, user);
    }
    return sessions;
  }

  /** Every visitor, site by site in the order sites and then visitors arrived; a copy, as callers drop visitors. */
  #allVisitors(): VisitorState[] {
    const all: VisitorState[] = [];
    for (const visitors of this.#visitorsBySite.values()) for (const visitor of visitors.values()) all.push(visitor);
    return all;
  }

  stateKeys(): Record<string, number> {
    return { visitors: this.#visitorCount };
  }

  stateBytes(): number {
    let idSetBytes = 0;
    for (const visitors of this.#visitorsBySite.values()) {
      // The order fingerprints of buyers' retained purchases count with the id sets.
      for (const visitor of visitors.values()) idSetBytes += visitor.idSetBytes + (visitor.orders === null ? 0 : ORDERS_BYTES + visitor.orders.length * 10);
    }
    return Math.round(
      this.#visitorCount * VISITOR_BYTES +
        this.#keyChars * 2 +
        this.#retainedEvents * EVENT_BYTES +
        this.#openSessions * SESSION_BYTES +
        this.#tombstones * TOMBSTONE_BYTES +
        this.#timers.size * TIMER_ENTRY_BYTES +
        (idSetBytes / 24) * ID_SET_ENTRY_BYTES +
        this.identityBytes() +
        this.#pool.bytes,
    );
  }

  /** Bytes of the identities of visitors that left (included in stateBytes): per customer, not per open session. */
  identityBytes(): number {
    return this.#identityCount * IDENTITY_ENTRY_BYTES + this.#identityChars * 2;
  }

  /** Remembers a departed visitor's user_id with the time of its last event (`seenAt`), after any earlier entry. */
  #remember(siteId: string | undefined, anonId: string, user: string, seenAt: number): void {
    this.#recall(siteId, anonId, Number.NEGATIVE_INFINITY);
    let users = this.#identities.get(siteId);
    if (users === undefined) {
      users = new Map();
      this.#identities.set(siteId, users);
    }
    users.set(anonId, { user, seenAt });
    this.#identityCount++;
    this.#identityChars += visitorKeyLength(siteId, anonId) + user.length;
    const expiresAt = this.#identityExpiry(seenAt);
    if (expiresAt < this.#identitySweepAt) this.#identitySweepAt = expiresAt;
  }

  /**
   * Takes a visitor's remembered user_id out of the map (its state holds it again); null when none, or when the event
   * at `ts` that brings the visitor back comes identityRetention or more after its last one (the identity goes too).
   */
  #recall(siteId: string | undefined, anonId: string, ts: number): string | null {
    const users = this.#identities.get(siteId);
    const identity = users?.get(anonId);
    if (identity === undefined) return null;
    users!.delete(anonId);
    if (users!.size === 0) this.#identities.delete(siteId);
    this.#identityCount--;
    this.#identityChars -= visitorKeyLength(siteId, anonId) + identity.user.length;
    return ts < identity.seenAt + this.#identityRetention ? identity.user : null;
  }

  /** The watermark from which no event an identity seen at `seenAt` would stitch can be accepted (see #identities). */
  #identityExpiry(seenAt: number): number {
    return seenAt + this.#identityRetention + this.#allowedLateness;
  }

  /** Drops the identities expired at `watermark`, each map from its start up to its first one still kept. */
  #expireIdentities(watermark: number): void {
    let next = Infinity;
    for (const [siteId, users] of this.#identities) {
      for (const [anonId, identity] of users) {
        const expiresAt = this.#identityExpiry(identity.seenAt);
        if (expiresAt > watermark) {
          if (expiresAt < next) next = expiresAt;
          break;
        }
        users.delete(anonId);
        this.#identityCount--;
        this.#identityChars -= visitorKeyLength(siteId, anonId) + identity.user.length;
      }
      if (users.size === 0) this.#identities.delete(siteId);
    }
    this.#identitySweepAt = next;
  }

  /**
   * `clickpipe forget`: the remembered identities of these people (by visitor or user id) go. A visitor of theirs
   * still open goes on until its sessions close and it is evicted (gap + allowedLateness of event time); what it emits
   * meanwhile is dropped on the way out (the worker's tombstone filters).
   */
  forget(ids: ReadonlySet<string>): void {
    for (const [siteId, users] of this.#identities) {
      for (const [anonId, { user }] of users) if (ids.has(anonId) || ids.has(user)) this.#recall(siteId, anonId, Number.NEGATIVE_INFINITY);
    }
  }

  /** The identities as [visitor key, user_id] and their times, site by site in the order they were remembered (snapshots). */
  #identityEntries(): { identities: [string, string][]; identitySeenAt: string } {
    const entries: [string, string][] = [];
    const seenAt: number[] = [];
    for (const [siteId, users] of this.#identities) {
      for (const [anonId, identity] of users) {
        entries.push([visitorKey(siteId, anonId), identity.user]);
        seenAt.push(identity.seenAt);
      }
    }
    return { identities: entries, identitySeenAt: float64ToBase64(seenAt) };
  }

  #accept(event: ClickEvent, anonId: string, watermark: number, ctx: OperatorContext): void {
    const siteId = typeof event.site_id === "string" ? event.site_id : undefined;
    const siteVisitors = this.#siteVisitors(siteId);
    let visitor = siteVisitors.get(anonId);
    // `scheduled` never exceeds the visitor's earliest due time (a final at end + gap, an eviction at
    // end + gap + allowedLateness), so nothing is due while it lies beyond the watermark: the common case.
    if (visitor !== undefined && visitor.scheduled <= watermark) {
      this.#settle(visitor, watermark, watermark, ctx);
      if (this.#dropIfEmpty(visitor)) visitor = undefined;
    }
    const idHash = eventIdHash(event.event_id);
    if (visitor !== undefined && visitor.hasEvent(idHash)) {
      ctx.duplicate(event);
      return;
    }
    // Orders dedupe by order_id too: a shop that resends a purchase gives it a new event_id, and the session's revenue
    // must count the order once (as basket and churnFeatures do). A refund (negative revenue) dedupes by order, amount
    // and UTC day: it is no copy of the order it refunds, nor of another part refund of it.
    const orderId = event.type === "purchase" && typeof event.order_id === "string" && event.order_id !== "" ? eventIdHash(orderKey(event, event.order_id)) : NO_ORDER;
    if (orderId !== NO_ORDER && visitor !== undefined && visitor.hasOrder(orderId)) {
      ctx.duplicate(event);
      return;
    }
    const ts = event.ts;
    const position = visitor === undefined ? 0 : visitor.insertionPoint(ts, idHash);
    // Rule 6: behind the watermark by allowedLateness or more, and no retained session within gap of it. Or at or
    // before the end of a drain this state went on after: its sessions were flushed and are final. Not gap +
    // allowedLateness: sessions are evicted at end + gap + allowedLateness, so an event up to a gap later than an
    // evicted session's end would be accepted without it and start a session the sorted run does not have.
    if (ts <= this.#endedAt || (ts + this.#allowedLateness <= watermark && !this.#absorbable(visitor, position, ts))) {
      ctx.late(event, watermark, LATE_REASON);
      return;
    }
    if (visitor === undefined) {
      visitor = new VisitorState(siteId, anonId);
      if (this.#identityCount > 0) visitor.carriedUser = this.#recall(siteId, anonId, ts);
      siteVisitors.set(anonId, visitor);
      this.#visitorCount++;
      this.#keyChars += visitorKeyLength(siteId, anonId);
    }
    const count = visitor.eventCount;
    this.#insertEvent(visitor, position, event, idHash);
    if (orderId !== NO_ORDER) visitor.addOrder(idHash, orderId);
    this.#retainedEvents++;
    if (position === count) this.#append(visitor, watermark, ctx);
    else this.#insertEarlier(visitor, position, watermark, ctx);
    this.#schedule(visitor);
  }

  /** The visitors of one site_id (undefined: events without one), created when missing. */
  #siteVisitors(siteId: string | undefined): Map<string, VisitorState> {
    if (siteId === this.#lastSiteId && this.#lastSiteVisitors !== undefined) return this.#lastSiteVisitors;
    let visitors = this.#visitorsBySite.get(siteId);
    if (visitors === undefined) {
      visitors = new Map();
      this.#visitorsBySite.set(siteId, visitors);
    }
    this.#lastSiteId = siteId;
    this.#lastSiteVisitors = visitors;
    return visitors;
  }

  /**
   * An event behind the lateness bound that a retained session within gap can still take (a long session still
   * open). Not when a session of the visitor already evicted could be within gap of it: the event's place in the
   * sorted run depends on that session, which is gone (it would split or double count against it).
   */
  #absorbable(visitor: VisitorState | undefined, position: number, ts: number): boolean {
    if (visitor === undefined || ts - this.#gap <= visitor.evictedThrough) return false;
    if (position > 0 && ts - visitor.ts(position - 1) <= this.#gap) return true;
    return position < visitor.eventCount && visitor.ts(position) - ts <= this.#gap;
  }

  /** Interns the event's strings and stores its EVENT_SLOTS numbers at `position`. */
  #insertEvent(visitor: VisitorState, position: number, event: ClickEvent, idHash: number): void {
    const kind = KIND_CODES[event.type] ?? KIND_CLICK;
    const kindFlags = event.is_bot === true ? kind | BOT_FLAG : kind;
    const pool = this.#pool;
    // The previous event's strings are the likely values (same user, click on the page just viewed, same item).
    const events = visitor.events;
    const previous = position > 0 ? (position - 1) * EVENT_SLOTS : -1;
    const previousPage = previous >= 0 ? events[previous + PAGE] : packPage(NO_REF, NO_REF);
    const url = nonEmptyString(event.url) ? pool.acquireLike(urlOf(previousPage), event.url) : NO_REF;
    const referrer = nonEmptyString(event.referrer) ? pool.acquireLike(referrerOf(previousPage), event.referrer) : NO_REF;
    let itemOrRevenue = NO_REF;
    if (kind === KIND_PURCHASE) {
      itemOrRevenue = typeof event.revenue === "number" && Number.isFinite(event.revenue) ? event.revenue : 0;
    } else if (kind === KIND_PAGE_VIEW && nonEmptyString(event.page_item)) {
      const previousIsPageView = previous >= 0 && (kindFlagsOf(events[previous + ID_KIND]) & (BOT_FLAG - 1)) === KIND_PAGE_VIEW;
      itemOrRevenue = pool.acquireLike(previousIsPageView ? events[previous + ITEM_OR_REVENUE] : NO_REF, event.page_item);
    }
    const user = nonEmptyString(event.user_id) ? pool.acquireLike(previous >= 0 ? events[previous + USER] : NO_REF, event.user_id) : NO_REF;
    visitor.insert(position, event.ts, packIdKind(idHash, kindFlags), packPage(url, referrer), itemOrRevenue, user);
  }

  /** The campaign key of event `index`; null when it has no url (its referrer alone is no arrival). */
  #campaignOf(events: number[], index: number): string | null {
    const page = events[index * EVENT_SLOTS + PAGE];
    const url = urlOf(page);
    if (url === NO_REF) return null;
    const referrer = referrerOf(page);
    return campaignKey(this.#pool.urlParts(url), referrer === NO_REF ? undefined : this.#pool.urlParts(referrer));
  }

  /** The new event is the visitor's latest: it joins the last session or begins one (the common, O(1) case). */
  #append(visitor: VisitorState, watermark: number, ctx: OperatorContext): void {
    const index = visitor.eventCount - 1;
    const sessions = visitor.sessions;
    let reason = REASON_GAP;
    if (sessions.length > 0) {
      const last = sessions.length - SESSION_SLOTS;
      const start = index - sessions[last + COUNT];
      // The session's campaign is looked for only when the new event has one (splitReason).
      reason = splitReason(visitor.events, start, index, this.#rules, undefined);
      if (reason === NO_SPLIT) {
        sessions[last + COUNT]++;
        this.#reconcile(visitor, last / SESSION_SLOTS, start, watermark, ctx);
        return;
      }
    }
    const status = packStatus(0, false, reason, 0);
    // A literal sizes the backing store exactly; a first push would reserve 16 more slots for the usual single session.
    if (sessions.length === 0) visitor.sessions = [1, status, 0, 0, NO_REF];
    else sessions.push(1, status, 0, 0, NO_REF);
    this.#openSessions++;
    this.#reconcile(visitor, visitor.sessionCount - 1, index, watermark, ctx);
  }

  /**
   * The new event (now at `position`) lands before later events: re-segment from the session holding its
   * predecessor, keep sessions whose first event is unchanged, retract emitted sessions that no longer begin a session.
   */
  #insertEarlier(visitor: VisitorState, position: number, watermark: number, ctx: OperatorContext): void {
    const sessions = visitor.sessions;
    let first = 0;
    let start = 0;
    if (position > 0) {
      while (start + sessions[first * SESSION_SLOTS + COUNT] <= position - 1) start += sessions[first++ * SESSION_SLOTS + COUNT];
    }
    const firstReason = position === 0 ? REASON_GAP : reasonOf(sessions[first * SESSION_SLOTS + STATUS]);
    // The sessions from `first` on leave the visitor's array; those whose first event is unchanged come back.
    const previous = sessions.splice(first * SESSION_SLOTS);
    const previousCount = previous.length / SESSION_SLOTS;
    const fresh = segment(visitor.events, start, visitor.eventCount, firstReason, this.#rules);
    // Old sessions in the new indexing: events at or after `position` moved one place right.
    const previousRuns: EventRun[] = [];
    let oldStart = start;
    for (let at = 0; at < previous.length; at += SESSION_SLOTS) {
      const count = previous[at + COUNT];
      const from = oldStart >= position ? oldStart + 1 : oldStart;
      const holdsNewEvent = from <= position && position <= from + count;
      previousRuns.push({ from, to: from + count + (holdsNewEvent ? 1 : 0), skip: position });
      oldStart += count;
    }
    let next = 0;
    let freshStart = start;
    for (const { count, reason } of fresh) {
      while (next < previousCount && previousRuns[next].from < freshStart) {
        this.#retire(visitor, previous, next * SESSION_SLOTS, previousRuns[next], ctx);
        next++;
      }
      if (next < previousCount && previousRuns[next].from === freshStart) {
        const at = next++ * SESSION_SLOTS;
        sessions.push(count, withReason(previous[at + STATUS], reason), previous[at + EMITTED_COUNT], previous[at + EMITTED_LAST_ID], previous[at + EMITTED_USER]);
      } else {
        this.#revive(visitor, { from: freshStart, to: freshStart + count, skip: -1 }, count, reason);
      }
      freshStart += count;
    }
    while (next < previousCount) {
      this.#retire(visitor, previous, next * SESSION_SLOTS, previousRuns[next], ctx);
      next++;
    }
    this.#reconcile(visitor, first, start, watermark, ctx);
  }

  /** A session (at `at` in `slots`) that no longer begins a session: retract it if it is live, remember its id's version. */
  #retire(visitor: VisitorState, slots: number[], at: number, run: EventRun, ctx: OperatorContext): void {
    this.#openSessions--;
    if (isLive(slots[at + STATUS])) this.#emit(visitor, slots, at, run, true, ctx);
    this.#releaseUser(slots, at);
    const version = versionOf(slots[at + STATUS]);
    if (version === 0) return;
    visitor.tombstones ??= [];
    visitor.tombstones.push({ sessionId: runSessionId(visitor, run), version, firstTs: visitor.ts(run.from === run.skip ? run.from + 1 : run.from) });
    this.#tombstones++;
  }

  /** Appends a new session to the visitor's; if its id was retracted before, it continues that id's versions. */
  #revive(visitor: VisitorState, run: EventRun, count: number, reason: number): void {
    this.#openSessions++;
    let version = 0;
    const tombstones = visitor.tombstones;
    if (tombstones !== null) {
      const sessionId = sessionIdOf(visitor.siteId, visitor.anonId, visitor.ts(run.from), visitor.idHash(run.from));
      const found = tombstones.findIndex((t) => t.sessionId === sessionId);
      if (found >= 0) {
        version = tombstones[found].version;
        tombstones.splice(found, 1);
        this.#tombstones--;
      }
    }
    visitor.sessions.push(count, packStatus(version, false, reason, 0), 0, 0, NO_REF);
  }

  /** Emits what changed from session `fromSession` (starting at event `fromIndex`) on: updates of live sessions, due finals. */
  #reconcile(visitor: VisitorState, fromSession: number, fromIndex: number, watermark: number, ctx: OperatorContext): void {
    const sessions = visitor.sessions;
    let start = fromIndex;
    // Runs are built only for sessions that emit: this runs for every accepted event.
    for (let at = fromSession * SESSION_SLOTS; at < sessions.length; at += SESSION_SLOTS) {
      const count = sessions[at + COUNT];
      const status = sessions[at + STATUS];
      const from = start;
      const to = start + count;
      start = to;
      if (isLive(status)) {
        if (
          count !== sessions[at + EMITTED_COUNT] ||
          reasonOf(status) !== emittedReasonOf(status) ||
          visitor.idHash(to - 1) !== sessions[at + EMITTED_LAST_ID] ||
          this.#userIdBefore(visitor, to) !== sessions[at + EMITTED_USER]
        ) {
          this.#emit(visitor, sessions, at, { from, to, skip: -1 }, false, ctx);
        }
      } else if (visitor.ts(to - 1) + this.#gap < watermark) {
        this.#emit(visitor, sessions, at, { from, to, skip: -1 }, false, ctx);
      }
    }
  }

  /** Pool id of the user_id a run ending before event `end` has now (UNPOOLED: a carried user_id no session holds). */
  #userIdBefore(visitor: VisitorState, end: number): number {
    const user = latestUserId(visitor, end, -1);
    if (user !== NO_REF || visitor.carriedUser === null) return user;
    return this.#pool.find(visitor.carriedUser) ?? UNPOOLED;
  }

  /** Pool id of a run's user_id (as runUser gives it), with a reference the session holds; NO_REF for null. */
  #retainUser(visitor: VisitorState, run: EventRun): number {
    const user = latestUserId(visitor, run.to, run.skip);
    if (user !== NO_REF) {
      this.#pool.retain(user);
      return user;
    }
    return visitor.carriedUser === null ? NO_REF : this.#pool.acquire(visitor.carriedUser);
  }

  /** Drops the reference a session (at `at` in `slots`) holds to its emitted user_id. */
  #releaseUser(slots: number[], at: number): void {
    const user = slots[at + EMITTED_USER];
    if (user !== NO_REF) this.#pool.release(user);
  }

  /**
   * Emits due finals (rule 5: watermark past end + gap) and evicts sessions past end + gap + allowedLateness, as of
   * `evictBefore` (the watermark, but at a drain's end, see onEnd).
   */
  #settle(visitor: VisitorState, watermark: number, evictBefore: number, ctx: OperatorContext): void {
    const sessions = visitor.sessions;
    let start = 0;
    let evictedSessions = 0;
    let evictedEvents = 0;
    for (let k = 0, at = 0; at < sessions.length; k++, at += SESSION_SLOTS) {
      const from = start;
      const to = start + sessions[at + COUNT];
      start = to;
      const closesAt = visitor.ts(to - 1) + this.#gap;
      // A session is final before it is evicted, even with allowedLateness 0.
      const evictable = evictedSessions === k && closesAt + this.#allowedLateness <= evictBefore;
      if (!isLive(sessions[at + STATUS]) && (closesAt < watermark || evictable)) this.#emit(visitor, sessions, at, { from, to, skip: -1 }, false, ctx);
      if (evictable) {
        evictedSessions++;
        evictedEvents = to;
      }
    }
    if (evictedSessions > 0) this.#evict(visitor, evictedSessions, evictedEvents);
  }

  #evict(visitor: VisitorState, sessionCount: number, eventCount: number): void {
    for (let at = 0; at < sessionCount * SESSION_SLOTS; at += SESSION_SLOTS) this.#releaseUser(visitor.sessions, at);
    visitor.sessions.splice(0, sessionCount * SESSION_SLOTS);
    this.#openSessions -= sessionCount;
    visitor.evictedThrough = Math.max(visitor.evictedThrough, visitor.ts(eventCount - 1));
    const removed = visitor.removePrefix(eventCount);
    visitor.keepOrdersOfRetainedEvents();
    this.#retainedEvents -= eventCount;
    const pool = this.#pool;
    let latestUser: string | null = null;
    for (let base = removed.length - EVENT_SLOTS; base >= 0; base -= EVENT_SLOTS) {
      const user = removed[base + USER];
      if (user !== NO_REF) {
        latestUser ??= pool.get(user);
        pool.release(user);
      }
      const page = removed[base + PAGE];
      const url = urlOf(page);
      const referrer = referrerOf(page);
      if (url !== NO_REF) pool.release(url);
      if (referrer !== NO_REF) pool.release(referrer);
      const item = removed[base + ITEM_OR_REVENUE];
      if ((kindFlagsOf(removed[base + ID_KIND]) & (BOT_FLAG - 1)) === KIND_PAGE_VIEW && item !== NO_REF) pool.release(item);
    }
    if (latestUser !== null) visitor.carriedUser = latestUser;
    if (visitor.tombstones !== null) {
      const firstTs = visitor.eventCount > 0 ? visitor.ts(0) : Infinity;
      const kept = visitor.tombstones.filter((t) => t.firstTs >= firstTs);
      this.#tombstones -= visitor.tombstones.length - kept.length;
      visitor.tombstones = kept.length > 0 ? kept : null;
    }
  }

  #dropIfEmpty(visitor: VisitorState): boolean {
    if (visitor.sessions.length > 0) return false;
    if (visitor.carriedUser !== null) this.#remember(visitor.siteId, visitor.anonId, visitor.carriedUser, visitor.evictedThrough);
    this.#siteVisitors(visitor.siteId).delete(visitor.anonId);
    this.#visitorCount--;
    this.#keyChars -= visitorKeyLength(visitor.siteId, visitor.anonId);
    this.#tombstones -= visitor.tombstones?.length ?? 0;
    return true;
  }

  /** When the visitor next needs attention: a final (end + gap) or an eviction (end + gap + allowedLateness). */
  #nextDue(visitor: VisitorState): number {
    let due = Infinity;
    let start = 0;
    const sessions = visitor.sessions;
    for (let at = 0; at < sessions.length; at += SESSION_SLOTS) {
      start += sessions[at + COUNT];
      const closesAt = visitor.ts(start - 1) + this.#gap;
      const sessionDue = isLive(sessions[at + STATUS]) ? closesAt + this.#allowedLateness : closesAt;
      if (sessionDue < due) due = sessionDue;
    }
    return due;
  }

  #schedule(visitor: VisitorState): void {
    const due = this.#nextDue(visitor);
    if (due < visitor.scheduled) {
      this.#timers.push(due, visitor);
      visitor.scheduled = due;
    }
  }

  /** The watermark advanced: fire due timers, then tell session consumers. */
  #advance(watermark: number, ctx: OperatorContext): void {
    const timers = this.#timers;
    while (timers.size > 0 && timers.peekDue() < watermark) {
      const due = timers.peekDue();
      const visitor = timers.pop();
      // A visitor that left (its state dropped) has no sessions; a later one with the same key has timers of its own.
      if (visitor.sessions.length === 0) continue;
      if (due === visitor.scheduled) visitor.scheduled = Infinity;
      this.#settle(visitor, watermark, watermark, ctx);
      if (!this.#dropIfEmpty(visitor)) this.#schedule(visitor);
    }
    if (this.#identitySweepAt <= watermark) this.#expireIdentities(watermark);
    ctx.emitSessionWatermark(watermark);
  }

  /** Emits the session at `at` in `slots` (the visitor's sessions, or a retired one's) over `run`, and records what it emitted. */
  #emit(visitor: VisitorState, slots: number[], at: number, run: EventRun, retracted: boolean, ctx: OperatorContext): void {
    const status = slots[at + STATUS];
    const reason = reasonOf(status);
    const version = versionOf(status) + 1;
    const record = buildSessionRecord(visitor, this.#pool, run, version, retracted, reason);
    if (retracted) {
      slots[at + STATUS] = packStatus(version, false, reason, emittedReasonOf(status));
    } else {
      slots[at + STATUS] = packStatus(version, true, reason, reason);
      slots[at + EMITTED_COUNT] = record.event_count;
      slots[at + EMITTED_LAST_ID] = runLastIdHash(visitor, run);
      // The new reference before the old one is dropped: the same id must not be freed in between.
      const previousUser = slots[at + EMITTED_USER];
      slots[at + EMITTED_USER] = this.#retainUser(visitor, run);
      if (previousUser !== NO_REF) this.#pool.release(previousUser);
    }
    const kind = retracted ? "retraction" : version === 1 ? "final" : "update";
    ctx.metrics.sessionTally.version(kind, record.duration_ms);
    ctx.emit("sessions", rowOf(record));
    ctx.emitSession(record);
  }
}

export function createSessionize(config: SessionizeConfig, _environment: OperatorEnvironment): Operator {
  return new Sessionizer(config);
}

/** The dedupe key of a purchase's order_id: the order's, or for a refund that of the refund (refundDedupeKey) of that order. */
function orderKey(event: ClickEvent, orderId: string): string {
  return isRefund(event) ? `${REFUND_ID_PREFIX}${orderId}\u0000${refundDedupeKey(event)}` : ORDER_ID_PREFIX + orderId;
}
