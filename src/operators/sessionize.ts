// Operator `sessionize`: event-time sessions per (site_id, anon_id) with gap, splits, watermarks and late data.
import { z } from "zod";
import { duration } from "../config/duration.ts";
import type { ClickEvent, EventOrigin, EventType } from "../events/event.ts";
import type { Operator, OperatorContext, SessionRecord } from "../runtime/operator.ts";
import { WatermarkTracker, type WatermarkSnapshot } from "../runtime/watermark.ts";
import type { OperatorEnvironment } from "./environment.ts";
import { eventIdHash, sessionIdOf } from "./sessionize-hash.ts";
import { LocalDayCalendar } from "./sessionize-local-day.ts";
import { type EventRun, buildSessionRecord, latestUser, runLastIdHash, runSessionId } from "./sessionize-record.ts";
import {
  NO_SPLIT,
  REASON_GAP,
  type SplitRules,
  segment,
  sessionCampaign,
  splitReason,
} from "./sessionize-segment.ts";
import { type StringPoolSnapshot, StringPool } from "./sessionize-strings.ts";
import { sessionsTable } from "./sessionize-table.ts";
import { type DueQueueSnapshot, DueQueue } from "./sessionize-timers.ts";
import { campaignKey } from "./sessionize-url.ts";
import {
  BOT_FLAG,
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
  type SessionMeta,
  USER,
  VisitorState,
  kindFlagsOf,
  packIdKind,
  packPage,
  parseVisitorKey,
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
    splitAtMidnight: z
      .string()
      .optional()
      .describe("IANA time zone; when set, sessions split at local midnight (e.g. \"UTC\", \"Europe/Berlin\")."),
    splitOnCampaignChange: z
      .boolean()
      .default(false)
      .describe("Split when utm_*, gclid or an external referrer changes."),
    outOfOrderness: duration("1m").describe("Watermark = max event time per partition minus this."),
    allowedLateness: duration("1h").describe("Sessions stay retained (and updatable) until watermark ≥ end + gap + this."),
    idleTimeout: duration("1m").describe("A partition silent this long (processing time) stops holding the watermark back."),
    maxFutureSkew: duration("5m").describe("An event cannot push the watermark past its received_at + this."),
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
const VISITOR_BYTES = 280;
const EVENT_BYTES = EVENT_SLOTS * 8 * 1.25;
const SESSION_BYTES = 104;
const TIMER_ENTRY_BYTES = 24;
const TOMBSTONE_BYTES = 120;
const ID_SET_ENTRY_BYTES = 24;
const IDENTITY_ENTRY_BYTES = 64;

type SessionTuple = [number, number, number, boolean, number, number, string | null, number];

interface VisitorSnapshot {
  key: string;
  events: number[];
  sessions: SessionTuple[];
  tombstones: { sessionId: string; version: number; firstTs: number }[] | null;
  carriedUser: string | null;
  scheduled: number | null;
}

interface SessionizeSnapshot {
  format: 1;
  watermark: WatermarkSnapshot;
  pool: StringPoolSnapshot;
  timers: DueQueueSnapshot;
  visitors: VisitorSnapshot[];
  /** Visitors whose state was dropped, with their last known user_id: [visitor key, user_id] (absent before 2026-12). */
  identities?: [string, string][];
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

function newSession(count: number, reason: number): SessionMeta {
  return { count, reason, version: 0, live: false, emittedCount: 0, emittedLastId: 0, emittedUser: null, emittedReason: 0 };
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
  #reportedOpenSessions = Number.NaN;
  #retainedEvents = 0;
  #keyChars = 0;
  #tombstones = 0;
  /**
   * The anon_id → user_id map of rule 10 for visitors whose state was dropped (every session evicted): a visitor who
   * returns, or whose late event arrives only after the eviction, is still stitched to its customer. Without it the
   * stitching depended on arrival order (a late event's new session lost the user its sorted order gives it) and on
   * how long the visitor stayed away. One entry per identified visitor that left: per-customer state. By site_id, then
   * anon_id, as the visitors (a returning visitor's lookup hashes no new string).
   */
  readonly #identities = new Map<string | undefined, Map<string, string>>();
  #identityCount = 0;
  #identityChars = 0;

  constructor(config: SessionizeConfig) {
    this.#gap = config.gap;
    this.#allowedLateness = config.allowedLateness;
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
    this.#reportOpenSessions(ctx);
  }

  /** The gauge changes on a minority of events; prom-client's set hashes its labels on every call. */
  #reportOpenSessions(ctx: OperatorContext): void {
    if (this.#openSessions === this.#reportedOpenSessions) return;
    this.#reportedOpenSessions = this.#openSessions;
    ctx.metrics.openSessions.set(this.#openSessions);
  }

  onTick(ctx: OperatorContext): void {
    const before = this.#watermark.current;
    const after = this.#watermark.tick(ctx.now());
    if (after > before) this.#advance(after, ctx);
  }

  onEnd(ctx: OperatorContext): void {
    this.#watermark.advanceToEnd();
    this.#advance(Infinity, ctx);
    // Every visitor has a timer, but end of input must flush even state restored from an older snapshot.
    for (const visitor of this.#allVisitors()) {
      this.#settle(visitor, Infinity, ctx);
      this.#dropIfEmpty(visitor);
    }
    ctx.metrics.openSessions.set(this.#openSessions);
  }

  snapshot(): SessionizeSnapshot {
    const visitors: VisitorSnapshot[] = [];
    for (const visitor of this.#allVisitors()) {
      visitors.push({
        key: visitor.key,
        events: visitor.events.slice(),
        sessions: visitor.sessions.map((m): SessionTuple => [
          m.count,
          m.reason,
          m.version,
          m.live,
          m.emittedCount,
          m.emittedLastId,
          m.emittedUser,
          m.emittedReason,
        ]),
        tombstones: visitor.tombstones === null ? null : visitor.tombstones.map((t) => ({ ...t })),
        carriedUser: visitor.carriedUser,
        scheduled: Number.isFinite(visitor.scheduled) ? visitor.scheduled : null,
      });
    }
    return {
      format: 1,
      watermark: this.#watermark.snapshot(),
      pool: this.#pool.snapshot(),
      timers: this.#timers.snapshot((visitor) => visitor.key),
      visitors,
      identities: this.#identityEntries(),
    };
  }

  restore(state: unknown): void {
    const snapshot = state as SessionizeSnapshot;
    if (snapshot === null || typeof snapshot !== "object" || snapshot.format !== 1) {
      throw new Error("sessionize: cannot restore state: expected a snapshot with format 1");
    }
    this.#watermark.restore(snapshot.watermark);
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
    for (const [key, user] of snapshot.identities ?? []) {
      const { siteId, anonId } = parseVisitorKey(key);
      this.#remember(siteId ?? undefined, anonId, user);
    }
    const byKey = new Map<string, VisitorState>();
    for (const saved of snapshot.visitors) {
      const { siteId, anonId } = parseVisitorKey(saved.key);
      const visitor = new VisitorState(siteId ?? undefined, anonId);
      visitor.events = saved.events.slice();
      visitor.reindex();
      visitor.sessions = saved.sessions.map(([count, reason, version, live, emittedCount, emittedLastId, emittedUser, emittedReason]) => ({
        count,
        reason,
        version,
        live,
        emittedCount,
        emittedLastId,
        emittedUser,
        emittedReason,
      }));
      visitor.tombstones = saved.tombstones === null ? null : saved.tombstones.map((t) => ({ ...t }));
      visitor.carriedUser = saved.carriedUser;
      visitor.scheduled = saved.scheduled ?? Infinity;
      this.#siteVisitors(visitor.siteId).set(anonId, visitor);
      byKey.set(saved.key, visitor);
      this.#visitorCount++;
      this.#openSessions += visitor.sessions.length;
      this.#retainedEvents += visitor.eventCount;
      this.#keyChars += saved.key.length;
      this.#tombstones += visitor.tombstones?.length ?? 0;
    }
    this.#timers.restore(snapshot.timers, (key) => byKey.get(key));
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
    for (const visitors of this.#visitorsBySite.values()) for (const visitor of visitors.values()) idSetBytes += visitor.idSetBytes;
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

  #remember(siteId: string | undefined, anonId: string, user: string): void {
    this.#recall(siteId, anonId);
    let users = this.#identities.get(siteId);
    if (users === undefined) {
      users = new Map();
      this.#identities.set(siteId, users);
    }
    users.set(anonId, user);
    this.#identityCount++;
    this.#identityChars += visitorKeyLength(siteId, anonId) + user.length;
  }

  /** Takes a visitor's remembered user_id out of the map (its state holds it again); null when none. */
  #recall(siteId: string | undefined, anonId: string): string | null {
    const users = this.#identities.get(siteId);
    const user = users?.get(anonId);
    if (user === undefined) return null;
    users!.delete(anonId);
    this.#identityCount--;
    this.#identityChars -= visitorKeyLength(siteId, anonId) + user.length;
    return user;
  }

  /** The identities as [visitor key, user_id], site by site in the order they were remembered (snapshots). */
  #identityEntries(): [string, string][] {
    const entries: [string, string][] = [];
    for (const [siteId, users] of this.#identities) for (const [anonId, user] of users) entries.push([visitorKey(siteId, anonId), user]);
    return entries;
  }

  #accept(event: ClickEvent, anonId: string, watermark: number, ctx: OperatorContext): void {
    const siteId = typeof event.site_id === "string" ? event.site_id : undefined;
    const siteVisitors = this.#siteVisitors(siteId);
    let visitor = siteVisitors.get(anonId);
    // `scheduled` never exceeds the visitor's earliest due time (a final at end + gap, an eviction at
    // end + gap + allowedLateness), so nothing is due while it lies beyond the watermark: the common case.
    if (visitor !== undefined && visitor.scheduled <= watermark) {
      this.#settle(visitor, watermark, ctx);
      if (this.#dropIfEmpty(visitor)) visitor = undefined;
    }
    const idHash = eventIdHash(event.event_id);
    if (visitor !== undefined && visitor.hasEvent(idHash)) {
      ctx.metrics.eventsDuplicate.inc();
      return;
    }
    const ts = event.ts;
    const position = visitor === undefined ? 0 : visitor.insertionPoint(ts, idHash);
    // Rule 6: behind the watermark by more than gap + allowedLateness, and no retained session within gap of it.
    if (ts + this.#gap + this.#allowedLateness <= watermark && !this.#absorbable(visitor, position, ts)) {
      ctx.late(event, watermark, LATE_REASON);
      ctx.metrics.eventsLate.inc();
      return;
    }
    if (visitor === undefined) {
      visitor = new VisitorState(siteId, anonId);
      if (this.#identityCount > 0) visitor.carriedUser = this.#recall(siteId, anonId);
      siteVisitors.set(anonId, visitor);
      this.#visitorCount++;
      this.#keyChars += visitorKeyLength(siteId, anonId);
    }
    const count = visitor.eventCount;
    this.#insertEvent(visitor, position, event, idHash);
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

  #absorbable(visitor: VisitorState | undefined, position: number, ts: number): boolean {
    if (visitor === undefined) return false;
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

  #campaignOf(events: number[], index: number): string {
    const page = events[index * EVENT_SLOTS + PAGE];
    const url = urlOf(page);
    const referrer = referrerOf(page);
    return campaignKey(
      url === NO_REF ? undefined : this.#pool.urlParts(url),
      referrer === NO_REF ? undefined : this.#pool.urlParts(referrer),
    );
  }

  /** The new event is the visitor's latest: it joins the last session or begins one (the common, O(1) case). */
  #append(visitor: VisitorState, watermark: number, ctx: OperatorContext): void {
    const index = visitor.eventCount - 1;
    const sessions = visitor.sessions;
    const last = sessions[sessions.length - 1];
    let reason = REASON_GAP;
    if (last !== undefined) {
      const start = index - last.count;
      reason = splitReason(visitor.events, start, index, this.#rules, sessionCampaign(visitor.events, start, this.#rules));
      if (reason === NO_SPLIT) {
        last.count++;
        this.#reconcile(visitor, sessions.length - 1, start, watermark, ctx);
        return;
      }
    }
    // A literal sizes the backing store exactly; a first push would reserve 17 slots for the usual single session.
    if (sessions.length === 0) visitor.sessions = [newSession(1, reason)];
    else sessions.push(newSession(1, reason));
    this.#openSessions++;
    this.#reconcile(visitor, visitor.sessions.length - 1, index, watermark, ctx);
  }

  /**
   * The new event (now at `position`) lands before later events: re-segment from the session holding its
   * predecessor, keep metas whose first event is unchanged, retract emitted sessions that no longer begin a session.
   */
  #insertEarlier(visitor: VisitorState, position: number, watermark: number, ctx: OperatorContext): void {
    const sessions = visitor.sessions;
    let first = 0;
    let start = 0;
    if (position > 0) {
      while (start + sessions[first].count <= position - 1) start += sessions[first++].count;
    }
    const firstReason = position === 0 ? REASON_GAP : sessions[first].reason;
    const previous = sessions.splice(first);
    const fresh = segment(visitor.events, start, visitor.eventCount, firstReason, this.#rules);
    // Old sessions in the new indexing: events at or after `position` moved one place right.
    const previousRuns: EventRun[] = [];
    let oldStart = start;
    for (const meta of previous) {
      const from = oldStart >= position ? oldStart + 1 : oldStart;
      const holdsNewEvent = from <= position && position <= from + meta.count;
      previousRuns.push({ from, to: from + meta.count + (holdsNewEvent ? 1 : 0), skip: position });
      oldStart += meta.count;
    }
    let next = 0;
    let freshStart = start;
    for (const { count, reason } of fresh) {
      while (next < previous.length && previousRuns[next].from < freshStart) {
        this.#retire(visitor, previous[next], previousRuns[next], ctx);
        next++;
      }
      let meta: SessionMeta;
      if (next < previous.length && previousRuns[next].from === freshStart) {
        meta = previous[next++];
        meta.count = count;
        meta.reason = reason;
      } else {
        meta = this.#revive(visitor, { from: freshStart, to: freshStart + count, skip: -1 }, count, reason);
      }
      sessions.push(meta);
      freshStart += count;
    }
    while (next < previous.length) {
      this.#retire(visitor, previous[next], previousRuns[next], ctx);
      next++;
    }
    this.#reconcile(visitor, first, start, watermark, ctx);
  }

  /** A session that no longer begins a session: retract it if it is live, remember its id's version. */
  #retire(visitor: VisitorState, meta: SessionMeta, run: EventRun, ctx: OperatorContext): void {
    this.#openSessions--;
    if (meta.live) this.#emit(visitor, meta, run, true, ctx);
    if (meta.version === 0) return;
    visitor.tombstones ??= [];
    visitor.tombstones.push({ sessionId: runSessionId(visitor, run), version: meta.version, firstTs: visitor.ts(run.from === run.skip ? run.from + 1 : run.from) });
    this.#tombstones++;
  }

  /** A new session; if its id was retracted before, it continues that id's versions. */
  #revive(visitor: VisitorState, run: EventRun, count: number, reason: number): SessionMeta {
    this.#openSessions++;
    const meta = newSession(count, reason);
    const tombstones = visitor.tombstones;
    if (tombstones === null) return meta;
    const sessionId = sessionIdOf(visitor.siteId, visitor.anonId, visitor.ts(run.from), visitor.idHash(run.from));
    const found = tombstones.findIndex((t) => t.sessionId === sessionId);
    if (found >= 0) {
      meta.version = tombstones[found].version;
      tombstones.splice(found, 1);
      this.#tombstones--;
    }
    return meta;
  }

  /** Emits what changed from session `fromSession` (starting at event `fromIndex`) on: updates of live sessions, due finals. */
  #reconcile(visitor: VisitorState, fromSession: number, fromIndex: number, watermark: number, ctx: OperatorContext): void {
    const sessions = visitor.sessions;
    let start = fromIndex;
    // Runs are built only for sessions that emit: this runs for every accepted event.
    for (let k = fromSession; k < sessions.length; k++) {
      const meta = sessions[k];
      const from = start;
      const to = start + meta.count;
      start = to;
      if (meta.live) {
        if (
          meta.count !== meta.emittedCount ||
          meta.reason !== meta.emittedReason ||
          visitor.idHash(to - 1) !== meta.emittedLastId ||
          latestUser(visitor, this.#pool, to, -1) !== meta.emittedUser
        ) {
          this.#emit(visitor, meta, { from, to, skip: -1 }, false, ctx);
        }
      } else if (visitor.ts(to - 1) + this.#gap < watermark) {
        this.#emit(visitor, meta, { from, to, skip: -1 }, false, ctx);
      }
    }
  }

  /** Emits due finals (rule 5: watermark past end + gap) and evicts sessions past end + gap + allowedLateness. */
  #settle(visitor: VisitorState, watermark: number, ctx: OperatorContext): void {
    const sessions = visitor.sessions;
    let start = 0;
    let evictedSessions = 0;
    let evictedEvents = 0;
    for (let k = 0; k < sessions.length; k++) {
      const meta = sessions[k];
      const from = start;
      const to = start + meta.count;
      start = to;
      const closesAt = visitor.ts(to - 1) + this.#gap;
      // A session is final before it is evicted, even with allowedLateness 0.
      const evictable = evictedSessions === k && closesAt + this.#allowedLateness <= watermark;
      if (!meta.live && (closesAt < watermark || evictable)) this.#emit(visitor, meta, { from, to, skip: -1 }, false, ctx);
      if (evictable) {
        evictedSessions++;
        evictedEvents = to;
      }
    }
    if (evictedSessions > 0) this.#evict(visitor, evictedSessions, evictedEvents);
  }

  #evict(visitor: VisitorState, sessionCount: number, eventCount: number): void {
    visitor.sessions.splice(0, sessionCount);
    this.#openSessions -= sessionCount;
    const removed = visitor.removePrefix(eventCount);
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
    if (visitor.carriedUser !== null) this.#remember(visitor.siteId, visitor.anonId, visitor.carriedUser);
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
    for (const meta of visitor.sessions) {
      start += meta.count;
      const closesAt = visitor.ts(start - 1) + this.#gap;
      const sessionDue = meta.live ? closesAt + this.#allowedLateness : closesAt;
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
      this.#settle(visitor, watermark, ctx);
      if (!this.#dropIfEmpty(visitor)) this.#schedule(visitor);
    }
    ctx.emitSessionWatermark(watermark);
  }

  #emit(visitor: VisitorState, meta: SessionMeta, run: EventRun, retracted: boolean, ctx: OperatorContext): void {
    const version = meta.version + 1;
    const record = buildSessionRecord(visitor, this.#pool, run, version, retracted, meta.reason);
    meta.version = version;
    meta.live = !retracted;
    if (!retracted) {
      meta.emittedCount = record.event_count;
      meta.emittedLastId = runLastIdHash(visitor, run);
      meta.emittedUser = record.user_id;
      meta.emittedReason = meta.reason;
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
