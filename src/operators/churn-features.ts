// Operator `churnFeatures`: per-customer RFM / BG/NBD summary and behaviour, as point-in-time daily snapshots.
import { z } from "zod";
import { duration } from "../config/duration.ts";
import type { ClickEvent, EventOrigin } from "../events/event.ts";
import { isRefund, refundDedupeKey } from "../events/refund.ts";
import type { Operator, OperatorContext, SessionRecord } from "../runtime/operator.ts";
import { SUCCESS_MARKER_TABLE } from "../runtime/pipeline.ts";
import { WatermarkTracker, type WatermarkSnapshot } from "../runtime/watermark.ts";
import { utcDay, type Row, type TableSpec } from "../sinks/table.ts";
import { CustomerStore, DAY_MS, dayOf, type BehaviourWindows, type CustomerStoreJson } from "./churn-customer-store.ts";
import { IdentityMap, type IdentityJson } from "./churn-identity.ts";
import { compareStrings, emptyBucket, PendingEvents, type DayBucket, type FoldBatch, type PendingJson } from "./churn-pending.ts";
import { quintileScores } from "./churn-rfm.ts";
import type { OperatorEnvironment } from "./environment.ts";
import { idOfSiteKey, siteKey } from "./site-key.ts";

export const churnFeaturesConfig = z
  .strictObject({
    type: z.literal("churnFeatures"),
    snapshotEvery: duration("1d")
      .refine((ms) => ms > 0 && ms % DAY_MS === 0, 'expected whole days like "1d" (snapshots are UTC days)')
      .describe("Snapshot period (UTC days); a snapshot is the table as of the period's end."),
    outOfOrderness: duration("1m").describe("Watermark = max event time minus this."),
    allowedLateness: duration("1h").describe("A period's snapshot is written once the watermark passes its end + this."),
    idleTimeout: duration("1m").describe("A partition silent this long (processing time) stops holding the watermark back."),
    maxFutureSkew: duration("5m").describe("An event cannot push the watermark past its received_at + this."),
    identityRetention: duration("90d").describe(
      "An anon_id → user_id mapping not seen again for this long (event time) is forgotten.",
    ),
  })
  .describe("Keeps churn features per customer; writes `customer_features` snapshots.");

export type ChurnFeaturesConfig = z.output<typeof churnFeaturesConfig>;

export const churnFeaturesExample = { type: "churnFeatures", snapshotEvery: "1d", allowedLateness: "1h" };

export const CUSTOMER_FEATURES = "customer_features";
const LATE_REASON = "snapshot_written";
const MICROS = 1_000_000;

export const customerFeaturesTable: TableSpec = {
  name: CUSTOMER_FEATURES,
  partitionKey: "snapshot_date",
  partitionOf: (row: Row) => String(row.snapshot_date),
  columns: [
    { name: "customer_id", type: "string", nullable: false },
    { name: "snapshot_date", type: "date", nullable: false },
    { name: "first_purchase_ts", type: "timestamp" },
    { name: "last_purchase_ts", type: "timestamp" },
    { name: "frequency", type: "int64" },
    { name: "recency_days", type: "int64" },
    { name: "t_days", type: "int64" },
    { name: "monetary_value", type: "float64" },
    { name: "orders_total", type: "int64", nullable: false },
    { name: "revenue_total", type: "float64", nullable: false },
    { name: "days_since_last_purchase", type: "int64" },
    { name: "sessions_7d", type: "int64" },
    { name: "sessions_30d", type: "int64" },
    { name: "sessions_90d", type: "int64" },
    { name: "pageviews_30d", type: "int64" },
    { name: "avg_session_duration_s_30d", type: "float64" },
    { name: "days_since_last_session", type: "int64" },
    { name: "cart_adds_30d", type: "int64", nullable: false },
    { name: "cart_abandon_rate_30d", type: "float64" },
    { name: "rfm_r", type: "int32" },
    { name: "rfm_f", type: "int32" },
    { name: "rfm_m", type: "int32" },
    { name: "rfm_code", type: "string" },
  ],
};

/** The operator's checkpoint: plain JSON (infinities as strings). */
export interface ChurnFeaturesState {
  watermark: WatermarkSnapshot;
  sessionWatermark: number | string;
  nextPeriod: number | null;
  writtenUntil: number | string;
  /**
   * The latest accepted event time, each at most its received_at. Checkpoints of earlier versions hold it capped at
   * received_at + maxFutureSkew instead (at most that much later); they restore as they are.
   */
  maxEventTs: number | string;
  store: CustomerStoreJson;
  identity: IdentityJson;
  pending: PendingJson;
  /**
   * How `identity` and pending mappings key devices: "site", siteKey(site_id, anon_id); "site, then anon_id" also holds
   * devices by anon_id alone from a checkpoint written before sites were told apart (absent: such a checkpoint), whose
   * site is unknown: a site's device that has no mapping of its own falls back to its anon_id's.
   */
  deviceKeys?: "site" | "site, then anon_id";
}

/**
 * Semantics (issue 6), in short:
 * - A customer is a user_id, the same on every site. Events with both anon_id and user_id (identify included) map the
 *   device, (site_id, anon_id) as sessionize keys visitors, to the user; a purchase or cart add with only an anon_id
 *   counts for that user if a mapping with event time before the end of its snapshot period exists; otherwise it is
 *   dropped. Anonymous visitors never become customers. Orders dedupe by (site_id, order_id).
 * - A customer appears from the first snapshot whose instant follows any of their events, purchases or sessions.
 * - Everything accepted stays pending until its period's snapshot is written, then folds into compact per-customer
 *   state; a snapshot is therefore exactly "all accepted data with event time before the period's end".
 * - Sessions count on the UTC day of their end_ts (their last event), so a snapshot only holds sessions complete
 *   before its instant. A period is written once the session watermark passes its end + gap + sessionize's
 *   allowedLateness: sessionize evicts a session then, and until then a late event may still extend it past the end
 *   (whose first version, folded already, would then count again on the later day).
 * - A drain's end writes every day through the latest event time that arrived: each event's ts, at most its
 *   received_at. A day that only events of a clock running ahead reached (minutes within maxFutureSkew past
 *   midnight, or days) stays pending in the checkpoint with those events, and a run going on from it writes that day
 *   once, with the rest of it, when its watermark passes. Written at the drain's end, the day would have held those
 *   events alone and sent the rest of the day to late_events. Keeping only the written day closed (as basket and
 *   sequencePatterns did with windows before they too left them open) would not do: a snapshot holds every day before
 *   it, so the days between could no longer be written.
 * - Nulls: purchase summary columns are null without purchases (orders_total/revenue_total are 0); without sessionize
 *   every session column is null (unknown, not zero) and cart adds come from add_to_cart events; avg duration and
 *   days_since_last_session are null without sessions in range, cart_abandon_rate_30d without cart sessions;
 *   RFM scores are null for customers without purchases.
 * - Refunds (a purchase with negative revenue: the event schema's only way to carry one) are no transaction, as
 *   lifetimes/BTYD data preparation drops returns: they count in no order, purchase day, frequency, recency/T,
 *   first/last purchase, R or F. Their amount is netted into revenue_total (net revenue) and so into RFM M.
 *   monetary_value stays the mean order revenue of the repeat purchase days: a refund cannot be told to belong to a
 *   repeat day rather than the first (its order may be long folded), and Gamma-Gamma needs it positive, which netting
 *   could break. A refund-only day makes the customer appear, with purchase columns null if they have no order. Refunds
 *   dedupe by event_id and by (site_id, order_id, amount, UTC day) (see dedupeIds).
 */
class ChurnFeaturesOperator implements Operator {
  readonly id = "churnFeatures";
  readonly tables = [customerFeaturesTable];
  readonly #config: ChurnFeaturesConfig;
  /** The session gap when sessionize feeds this operator; snapshots then also wait for the session watermark. */
  readonly #sessionGap: number | undefined;
  /**
   * How far the session watermark must pass a period's end before its sessions are final: sessionize changes a session
   * (a late event within allowedLateness extends it, even past midnight) until it evicts it at end + gap + allowedLateness.
   */
  readonly #sessionsFinalAfter: number;
  #tracker: WatermarkTracker;
  #sessionWatermark = -Infinity;
  /** Index of the first period whose snapshot is not written yet; null before any event. */
  #nextPeriod: number | null = null;
  /** End of the last written period: earlier purchases are late. */
  #writtenUntil = -Infinity;
  /** The latest accepted event time, at most its received_at: no period after this one's is written. */
  #maxEventTs = -Infinity;
  #store = new CustomerStore();
  #identity = new IdentityMap();
  /** Restored from a checkpoint keyed by anon_id alone (ChurnFeaturesState.deviceKeys). */
  #anonIdDevices = false;
  #pending = new PendingEvents();
  readonly #windows: BehaviourWindows = {
    sessions7d: 0,
    sessions30d: 0,
    sessions90d: 0,
    pageviews30d: 0,
    durationMs30d: 0,
    cartAdds30d: 0,
    cartSessions30d: 0,
    abandonedSessions30d: 0,
  };

  readonly #inputPartitions: number;

  constructor(config: ChurnFeaturesConfig, environment: OperatorEnvironment) {
    this.#config = config;
    this.#sessionGap = environment.session?.gap;
    this.#sessionsFinalAfter = environment.session === undefined ? 0 : environment.session.gap + environment.session.allowedLateness;
    this.#inputPartitions = environment.inputPartitions ?? 0;
    this.#tracker = this.#newTracker();
    // A field V8 has only seen initialized is a constant to the code it optimizes. #writtenUntil is first written at
    // the first snapshot, and that write then deoptimized every function that had inlined the late check: the worker's
    // hot loop among them, back to slower code for 50–85 ms of a drain (bench/OPTIMIZATIONS.md, session 30). Written
    // twice here, it is an ordinary field from the start.
    this.#writtenUntil = 0;
    this.#writtenUntil = -Infinity;
  }

  onEvent(event: ClickEvent, origin: EventOrigin, ctx: OperatorContext): void {
    if (event.ts < this.#writtenUntil) {
      this.#late(event, LATE_REASON, ctx);
    } else if (this.#beforeFirstPeriodClosed(event.ts)) {
      this.#late(event, "before_first_snapshot", ctx);
    } else {
      this.#accept(event, ctx);
    }
    this.#tracker.observe(origin.partition, event.ts, event.received_at, ctx.now());
    this.#writeReadySnapshots(ctx);
  }

  onSession(session: SessionRecord, ctx: OperatorContext): void {
    // A version for a day already written cannot change that snapshot; sessionize's watermark makes this rare.
    if (session.end_ts < this.#writtenUntil) {
      ctx.metrics.sessionsLate.inc({ operator: "churnFeatures" });
      return;
    }
    this.#pending.putSession({
      sessionId: session.session_id,
      version: session.version,
      retracted: session.retracted,
      userId: session.user_id || null,
      // Apart, not siteKey's one string: a string per pending session held until its day folds (≈ 8 MB a drain).
      visitorId: session.visitor_id,
      siteId: session.site_id,
      endTs: session.end_ts,
      pageviews: session.pageview_count,
      durationMs: session.duration_ms,
      cartAdds: session.cart_adds ?? 0,
      converted: session.converted,
      isBot: session.is_bot,
    });
  }

  onSessionWatermark(watermark: number, ctx: OperatorContext): void {
    if (watermark > this.#sessionWatermark) this.#sessionWatermark = watermark;
    this.#writeReadySnapshots(ctx);
  }

  onTick(ctx: OperatorContext): void {
    this.#tracker.tick(ctx.now());
    this.#writeReadySnapshots(ctx);
  }

  /**
   * Watermarks to +∞: writes every snapshot up to and including the period holding the latest event time that arrived
   * (#maxEventTs); later periods (a clock running ahead) stay pending for a run from this state.
   */
  onEnd(ctx: OperatorContext): void {
    this.#tracker.advanceToEnd();
    this.#sessionWatermark = Infinity;
    this.#writeReadySnapshots(ctx);
  }

  watermark(): number {
    return this.#tracker.current;
  }

  stateKeys(): Record<string, number> {
    return { customers: this.#store.size };
  }

  stateBytes(): number {
    return this.#store.bytes() + this.#identity.bytes() + this.#pending.bytes();
  }

  snapshot(): ChurnFeaturesState {
    return {
      watermark: this.#tracker.snapshot(),
      sessionWatermark: encodeTime(this.#sessionWatermark),
      nextPeriod: this.#nextPeriod,
      writtenUntil: encodeTime(this.#writtenUntil),
      maxEventTs: encodeTime(this.#maxEventTs),
      store: this.#store.toJSON(),
      identity: this.#identity.toJSON(),
      pending: this.#pending.toJSON(),
      deviceKeys: this.#anonIdDevices ? "site, then anon_id" : "site",
    };
  }

  /** `clickpipe forget`: the people's customer records, identity links and pending days and sessions go. */
  forget(ids: ReadonlySet<string>): void {
    this.restore(withoutPeople(this.snapshot(), ids));
  }

  restore(state: unknown): void {
    const saved = state as ChurnFeaturesState;
    this.#tracker = this.#newTracker();
    this.#tracker.restore(saved.watermark);
    const sessionWatermark = decodeTime(saved.sessionWatermark);
    // +∞ is a drain's end, whose days are all written: later sessions arrive with sessionize's watermark again.
    this.#sessionWatermark = sessionWatermark === Infinity ? -Infinity : sessionWatermark;
    this.#nextPeriod = saved.nextPeriod;
    this.#writtenUntil = decodeTime(saved.writtenUntil);
    this.#maxEventTs = decodeTime(saved.maxEventTs);
    this.#store = CustomerStore.fromJSON(saved.store);
    this.#identity = IdentityMap.fromJSON(saved.identity);
    this.#pending = PendingEvents.fromJSON(saved.pending);
    this.#anonIdDevices = saved.deviceKeys !== "site";
  }

  #newTracker(): WatermarkTracker {
    const { outOfOrderness, idleTimeout, maxFutureSkew } = this.#config;
    return new WatermarkTracker({ outOfOrderness, idleTimeout, maxFutureSkew }, this.#inputPartitions);
  }

  /**
   * Before the first snapshot, an event earlier than the first period moves that period back (out-of-order data within
   * allowedLateness) — unless the watermark already passed its period's end + allowedLateness: then it is late. Else one
   * event from 1970 (a ts in seconds) after today's traffic made a daily snapshot of every day since.
   */
  #beforeFirstPeriodClosed(ts: number): boolean {
    if (this.#writtenUntil !== -Infinity || this.#nextPeriod === null) return false;
    const period = this.#periodOf(ts);
    return period < this.#nextPeriod && (period + 1) * this.#config.snapshotEvery + this.#config.allowedLateness <= this.#tracker.current;
  }

  /**
   * An event of a period already written (or before the first): that snapshot cannot change. What this operator counts
   * from events (purchases; cart adds without sessionize) goes to late_events. A device → user link it carries still
   * holds for the periods not written yet, as if it had come in time: the fold applies links by their time, in any
   * order, so later snapshots equal an in-order run's. Rare, so off the per-event path.
   */
  #late(event: ClickEvent, reason: string, ctx: OperatorContext): void {
    if (event.type === "purchase" || (event.type === "add_to_cart" && this.#sessionGap === undefined)) ctx.late(event, this.#tracker.current, reason);
    if (event.user_id && event.anon_id) this.#identity.apply(siteKey(event.site_id, event.anon_id), event.user_id, event.ts);
  }

  #periodOf(ts: number): number {
    return Math.floor(ts / this.#config.snapshotEvery);
  }

  #accept(event: ClickEvent, ctx: OperatorContext): void {
    this.#noteAccepted(event);
    const user = event.user_id || undefined;
    // Devices are (site_id, anon_id), as sessionize's visitors: another site's same cookie id is someone else. The
    // day's mappings are per site; a siteKey string is made only for an anonymous purchase or cart add.
    const anonId = event.anon_id || undefined;
    const day = this.#pending.day(dayOf(event.ts));
    if (user !== undefined && anonId !== undefined) {
      const mappings = this.#pending.siteMappings(day, event.site_id);
      const mapping = mappings.get(anonId);
      if (mapping === undefined) mappings.set(anonId, { user, ts: event.ts });
      else if (event.ts > mapping.ts || (event.ts === mapping.ts && user > mapping.user)) {
        mapping.user = user;
        mapping.ts = event.ts;
      }
    }
    const isPurchase = event.type === "purchase";
    // With sessionize, cart adds come from sessions (session.cart_adds) and must not be counted twice.
    const isCartAdd = event.type === "add_to_cart" && this.#sessionGap === undefined;
    const refund = isPurchase && isRefund(event);
    if (isPurchase || isCartAdd) {
      if (this.#pending.checkAndRemember(day, dedupeIds(event, isPurchase, refund))) {
        ctx.duplicate(event);
        return;
      }
    }
    let bucket: DayBucket | undefined;
    if (user !== undefined) bucket = bucketIn(day.users, user);
    else if (anonId !== undefined && (isPurchase || isCartAdd)) bucket = bucketIn(day.anons, siteKey(event.site_id, anonId));
    if (bucket === undefined) return;
    if (isCartAdd) bucket.cartAdds += 1;
    if (refund) {
      // A refund is no transaction (lifetimes, RFM): only its amount counts, netted into revenue_total.
      bucket.refundMicros += Math.round((event.revenue as number) * MICROS);
    } else if (isPurchase) {
      const revenue = Number.isFinite(event.revenue) ? (event.revenue as number) : 0;
      bucket.orders += 1;
      bucket.revenueMicros += Math.round(revenue * MICROS);
      if (!(bucket.minTs <= event.ts)) bucket.minTs = event.ts;
      if (!(bucket.maxTs >= event.ts)) bucket.maxTs = event.ts;
    }
  }

  /** Tracks where snapshots start and end: the first period with any event, and the latest event time that arrived. */
  #noteAccepted(event: ClickEvent): void {
    const period = this.#periodOf(event.ts);
    if (this.#nextPeriod === null || (this.#writtenUntil === -Infinity && period < this.#nextPeriod)) this.#nextPeriod = period;
    // Capped at received_at, not received_at + maxFutureSkew: a clock a few minutes ahead just before midnight made a
    // drain's end write the next day with that event alone, and a run going on from it took the rest of the day as late.
    const received = event.received_at;
    const ts = received !== undefined && received < event.ts ? received : event.ts;
    if (ts > this.#maxEventTs) this.#maxEventTs = ts;
  }

  /** Writes every period whose snapshot is due, never past the period of #maxEventTs (the end of input's limit). */
  #writeReadySnapshots(ctx: OperatorContext): void {
    const lastPeriod = this.#periodOf(this.#maxEventTs);
    while (this.#nextPeriod !== null && this.#nextPeriod <= lastPeriod) {
      const end = (this.#nextPeriod + 1) * this.#config.snapshotEvery;
      const eventsDone = this.#tracker.current >= end + this.#config.allowedLateness;
      const sessionsDone = this.#sessionGap === undefined || this.#sessionWatermark >= end + this.#sessionsFinalAfter;
      if (!eventsDone || !sessionsDone) return;
      this.#fold(this.#pending.takeBefore(end), end);
      this.#emitSnapshot(end, ctx);
      this.#writtenUntil = end;
      this.#nextPeriod += 1;
    }
  }

  /** The user of a device (a siteKey); from a checkpoint keyed by anon_id alone, a site's device falls back to its anon_id. */
  #resolve(device: string): string | undefined {
    const user = this.#identity.resolve(device);
    if (user !== undefined || !this.#anonIdDevices) return user;
    const anonId = idOfSiteKey(device);
    return anonId === device ? undefined : this.#identity.resolve(anonId);
  }

  /** Folds everything before `end` into the store in a fixed order, so the result never depends on arrival order. */
  #fold(batch: FoldBatch, end: number): void {
    for (const day of batch.days) {
      for (const [site, mappings] of day.mappings) for (const [anon, mapping] of mappings) this.#identity.apply(siteKey(site, anon), mapping.user, mapping.ts);
    }
    this.#identity.evictBefore(end - this.#config.identityRetention);
    const store = this.#store;
    for (const day of batch.days) {
      for (const user of [...day.users.keys()].sort(compareStrings)) addBucket(store, store.slotOf(user), day.day, day.users.get(user)!);
      for (const anon of [...day.anons.keys()].sort(compareStrings)) {
        const user = this.#resolve(anon);
        if (user !== undefined) addBucket(store, store.slotOf(user), day.day, day.anons.get(anon)!);
      }
    }
    for (const session of batch.sessions) {
      if (session.isBot) continue;
      const user = session.userId ?? this.#resolve(siteKey(session.siteId, session.visitorId));
      if (user === undefined) continue;
      store.addSession(store.slotOf(user), {
        day: dayOf(session.endTs),
        pageviews: session.pageviews,
        durationMs: session.durationMs,
        cartAdds: session.cartAdds,
        converted: session.converted,
      });
    }
  }

  /** Writes the whole customer table as of `end` (exclusive), then its `_SUCCESS` marker. */
  #emitSnapshot(end: number, ctx: OperatorContext): void {
    const store = this.#store;
    const snapshotDay = dayOf(end - 1);
    const snapshotDate = utcDay(end - 1);
    const rfm = rfmScores(store);
    const withSessions = this.#sessionGap !== undefined;
    const firstTs = store.column("firstPurchaseTs");
    const lastTs = store.column("lastPurchaseTs");
    const purchaseDays = store.column("purchaseDays");
    const orders = store.column("orders");
    const revenueMicros = store.column("revenueMicros");
    const repeatRevenueMicros = store.column("repeatRevenueMicros");
    const lastSessionDay = store.column("lastSessionDay");
    let purchaser = 0;
    for (let slot = 0; slot < store.size; slot++) {
      const w = store.windowsAt(slot, snapshotDay, this.#windows);
      const bought = purchaseDays[slot] > 0;
      const firstDay = bought ? dayOf(firstTs[slot]) : 0;
      const lastDay = bought ? dayOf(lastTs[slot]) : 0;
      // lifetimes: frequency = repeat purchase days, monetary_value = mean revenue of the repeat days (0 when none).
      const frequency = purchaseDays[slot] - 1;
      const r = bought ? rfm.r[purchaser] : 0;
      const f = bought ? rfm.f[purchaser] : 0;
      const m = bought ? rfm.m[purchaser] : 0;
      if (bought) purchaser += 1;
      ctx.emit(CUSTOMER_FEATURES, {
        customer_id: store.idAt(slot),
        snapshot_date: snapshotDate,
        first_purchase_ts: bought ? firstTs[slot] : null,
        last_purchase_ts: bought ? lastTs[slot] : null,
        frequency: bought ? frequency : null,
        recency_days: bought ? lastDay - firstDay : null,
        t_days: bought ? snapshotDay - firstDay : null,
        monetary_value: bought ? (frequency > 0 ? repeatRevenueMicros[slot] / MICROS / frequency : 0) : null,
        orders_total: orders[slot],
        revenue_total: revenueMicros[slot] / MICROS,
        days_since_last_purchase: bought ? snapshotDay - lastDay : null,
        sessions_7d: withSessions ? w.sessions7d : null,
        sessions_30d: withSessions ? w.sessions30d : null,
        sessions_90d: withSessions ? w.sessions90d : null,
        pageviews_30d: withSessions ? w.pageviews30d : null,
        avg_session_duration_s_30d: w.sessions30d > 0 ? w.durationMs30d / w.sessions30d / 1000 : null,
        days_since_last_session: Number.isNaN(lastSessionDay[slot]) ? null : snapshotDay - lastSessionDay[slot],
        cart_adds_30d: w.cartAdds30d,
        cart_abandon_rate_30d: w.cartSessions30d > 0 ? w.abandonedSessions30d / w.cartSessions30d : null,
        rfm_r: bought ? r : null,
        rfm_f: bought ? f : null,
        rfm_m: bought ? m : null,
        rfm_code: bought ? `${r}${f}${m}` : null,
      });
    }
    ctx.emit(SUCCESS_MARKER_TABLE, { table: CUSTOMER_FEATURES, partition: snapshotDate });
  }
}

function bucketIn(buckets: Map<string, DayBucket>, key: string): DayBucket {
  let bucket = buckets.get(key);
  if (bucket === undefined) {
    bucket = emptyBucket();
    buckets.set(key, bucket);
  }
  return bucket;
}

/**
 * Dedupe ids of a purchase or cart add: its event_id, and for an order its (site_id, order_id), since order numbers are
 * per shop (two sites' #1001 are two orders) and a shop resends an order under a new event_id. A refund's order key
 * also holds its amount and UTC day (refundDedupeKey) and a prefix of its own: a shop may refund under the order's own
 * number, which is no copy of that order, and refund one order in parts; a resent refund still counts once.
 */
export function dedupeIds(event: ClickEvent, isPurchase: boolean, refund: boolean): string[] {
  const eventKey = `e:${event.event_id}`;
  if (!isPurchase || event.order_id === undefined) return [eventKey];
  const order = siteKey(event.site_id, event.order_id);
  return [refund ? `r:${order}:${refundDedupeKey(event)}` : `o:${order}`, eventKey];
}

function addBucket(store: CustomerStore, slot: number, day: number, bucket: DayBucket): void {
  if (bucket.orders > 0) store.addPurchaseDay(slot, day, bucket.orders, bucket.revenueMicros, bucket.minTs, bucket.maxTs);
  if (bucket.refundMicros !== 0) store.addRefunds(slot, bucket.refundMicros);
  if (bucket.cartAdds > 0) store.addCartAdds(slot, day, bucket.cartAdds);
}

/**
 * RFM quintiles among customers with purchases, in slot order: R by last purchase day (more recent scores higher),
 * F by orders_total, M by revenue_total (net of refunds, so refunds lower M but not R or F). Ties share the score of
 * their lowest rank (see quintileScores).
 */
function rfmScores(store: CustomerStore): { r: Uint8Array; f: Uint8Array; m: Uint8Array } {
  const purchaseDays = store.column("purchaseDays");
  const lastTs = store.column("lastPurchaseTs");
  const orders = store.column("orders");
  const revenueMicros = store.column("revenueMicros");
  let count = 0;
  for (let slot = 0; slot < store.size; slot++) if (purchaseDays[slot] > 0) count += 1;
  const lastDays = new Float64Array(count);
  const orderCounts = new Float64Array(count);
  const revenues = new Float64Array(count);
  let i = 0;
  for (let slot = 0; slot < store.size; slot++) {
    if (purchaseDays[slot] === 0) continue;
    lastDays[i] = dayOf(lastTs[slot]);
    orderCounts[i] = orders[slot];
    revenues[i] = revenueMicros[slot];
    i += 1;
  }
  return { r: quintileScores(lastDays, count), f: quintileScores(orderCounts, count), m: quintileScores(revenues, count) };
}

function encodeTime(ms: number): number | string {
  return Number.isFinite(ms) ? ms : String(ms);
}

function decodeTime(value: number | string): number {
  return typeof value === "string" ? Number(value) : value;
}

/**
 * The state without what it keeps of these people (customer or user ids and visitor ids): their customer records
 * (so the RFM quintiles no longer count them), identity links to or from them, and their pending buckets and sessions.
 */
export function withoutPeople(state: ChurnFeaturesState, ids: ReadonlySet<string>): ChurnFeaturesState {
  const store = state.store;
  const keep = store.ids.map((id) => !ids.has(id));
  const kept = <T>(values: T[]): T[] => values.filter((_value, index) => keep[index]);
  const columns = Object.fromEntries(Object.entries(store.columns).map(([name, values]) => [name, kept(values)])) as typeof store.columns;
  return {
    ...state,
    store: { ids: kept(store.ids), columns, recent: kept(store.recent), older: kept(store.older) },
    identity: state.identity.filter(([device, userId]) => !ids.has(idOfSiteKey(device)) && !ids.has(userId)),
    pending: {
      days: state.pending.days.map((day) => ({
        ...day,
        users: day.users.filter(([user]) => !ids.has(user)),
        anons: day.anons.filter(([device]) => !ids.has(idOfSiteKey(device))),
        mappings: day.mappings.filter(([device, user]) => !ids.has(idOfSiteKey(device)) && !ids.has(user)),
      })),
      sessions: state.pending.sessions.filter((session) => !ids.has(session.visitorId) && (session.userId === null || !ids.has(session.userId))),
    },
  };
}

export function createChurnFeatures(config: ChurnFeaturesConfig, environment: OperatorEnvironment): Operator {
  return new ChurnFeaturesOperator(config, environment);
}
