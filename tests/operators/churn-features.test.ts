// churnFeatures on hand-computed cases: the lifetimes summary, nulls, stitching, late data, sessions, checkpoints.
import { describe, expect, it } from "vitest";
import type { ClickEvent } from "../../src/events/event.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { createChurnFeatures, customerFeaturesTable, type ChurnFeaturesState } from "../../src/operators/churn-features.ts";
import { createSessionize, sessionizeConfig } from "../../src/operators/sessionize.ts";
import { Pipeline, type RowSink } from "../../src/runtime/pipeline.ts";
import type { Row } from "../../src/sinks/table.ts";
import { OperatorHarness } from "../helpers/operator-harness.ts";
import {
  DAY,
  MINUTE,
  at,
  cartAdd,
  churnConfig,
  churnOperator,
  identify,
  pageView,
  purchase,
  rowOf,
  session,
  snapshotsOf,
} from "./churn-features-fixtures.ts";

/** The pipeline's sink for tests: rows per table. */
class RowCollector implements RowSink {
  readonly rows = new Map<string, Row[]>();

  append(table: string, row: Row): void {
    if (!this.rows.has(table)) this.rows.set(table, []);
    this.rows.get(table)!.push(row);
  }

  markSuccess(): void {}

  rowsOf(table: string): Row[] {
    return this.rows.get(table) ?? [];
  }
}

describe("churnFeatures - purchase summary", () => {
  it("matches lifetimes' summary_data_from_transaction_data test case (daily periods, observed to 2015-02-07)", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    harness.feed(operator, [
      purchase("2", at("2015-01-01"), 10, "o1"),
      purchase("3", at("2015-01-01"), 5, "o2"),
      purchase("3", at("2015-01-02"), 7, "o3"),
      purchase("3", at("2015-01-05"), 9, "o4"),
      purchase("1", at("2015-02-01"), 20, "o5"),
      purchase("1", at("2015-02-06"), 30, "o6"),
      purchase("1", at("2015-02-06T20:00:00Z"), 12, "o7"),
      // Pushes the watermark past 2015-02-07's end + 1h allowed lateness.
      pageView(at("2015-02-08T01:02:00Z"), { anon: "visitor" }),
    ]);
    const { rows, successes } = snapshotsOf(harness);
    expect(successes.at(-1)).toBe("2015-02-07");
    const snapshot = rows.get("2015-02-07");
    const summary = (id: string) => {
      const row = rowOf(snapshot, id)!;
      return [row.frequency, row.recency_days, row.t_days, row.monetary_value, row.orders_total, row.revenue_total];
    };
    // frequency/recency/T from lifetimes' test; monetary = mean revenue of the repeat days (day 02-06: 30 + 12).
    expect(summary("1")).toEqual([1, 5, 6, 42, 3, 62]);
    expect(summary("2")).toEqual([0, 0, 37, 0, 1, 10]);
    expect(summary("3")).toEqual([2, 4, 37, 8, 3, 21]);
    expect(rowOf(snapshot, "1")).toMatchObject({
      first_purchase_ts: at("2015-02-01"),
      last_purchase_ts: at("2015-02-06T20:00:00Z"),
      days_since_last_purchase: 1,
      snapshot_date: "2015-02-07",
    });
  });

  it("writes one snapshot per UTC day from the first event's day, each followed by its _SUCCESS, empty days included", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    harness.feed(operator, [pageView(at("2020-05-01T10:00:00Z"), { anon: "a" }), purchase("u", at("2020-05-03T23:59:59Z"), 5, "o1")]);
    operator.onEnd(harness);
    operator.onTick!(harness);
    const { rows, successes } = snapshotsOf(harness);
    // Up to and including the day of the latest event, even with the watermark at +∞.
    expect(successes).toEqual(["2020-05-01", "2020-05-02", "2020-05-03"]);
    expect(rows.get("2020-05-01")).toBeUndefined();
    expect(rows.get("2020-05-03")).toHaveLength(1);
    expect(customerFeaturesTable.columns.slice(0, 22).map((column) => column.name)).toEqual([
      "customer_id", "snapshot_date", "first_purchase_ts", "last_purchase_ts", "frequency", "recency_days", "t_days",
      "monetary_value", "orders_total", "revenue_total", "days_since_last_purchase", "sessions_7d", "sessions_30d",
      "sessions_90d", "pageviews_30d", "avg_session_duration_s_30d", "days_since_last_session", "cart_adds_30d",
      "cart_abandon_rate_30d", "rfm_r", "rfm_f", "rfm_m",
    ]);
    expect(Object.keys(rows.get("2020-05-03")![0])).toEqual(customerFeaturesTable.columns.map((column) => column.name));
  });

  it("does not write a day's snapshot until the watermark passes its end + allowedLateness", () => {
    const operator = churnOperator({ outOfOrderness: "1m", allowedLateness: "1h" });
    const harness = new OperatorHarness();
    harness.feed(operator, [purchase("u", at("2021-03-01T12:00:00Z"), 5, "o1"), pageView(at("2021-03-02T01:00:59Z"), { anon: "a" })]);
    expect(snapshotsOf(harness).successes).toEqual([]);
    harness.feed(operator, [pageView(at("2021-03-02T01:01:00Z"), { anon: "a" })]);
    expect(snapshotsOf(harness).successes).toEqual(["2021-03-01"]);
  });

  it("gives a known user without purchases null purchase summary columns and zero totals", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    harness.feed(operator, [pageView(at("2022-01-01T08:00:00Z"), { user: "browser" }), purchase("buyer", at("2022-01-01T09:00:00Z"), 3, "o1")]);
    operator.onEnd(harness);
    const row = rowOf(snapshotsOf(harness).rows.get("2022-01-01"), "browser")!;
    expect(row).toMatchObject({
      first_purchase_ts: null,
      last_purchase_ts: null,
      frequency: null,
      recency_days: null,
      t_days: null,
      monetary_value: null,
      orders_total: 0,
      revenue_total: 0,
      days_since_last_purchase: null,
      rfm_r: null,
      rfm_code: null,
    });
    // Without sessionize, session columns are unknown (null), not zero.
    expect(row).toMatchObject({ sessions_7d: null, sessions_30d: null, pageviews_30d: null, days_since_last_session: null, cart_adds_30d: 0 });
  });

  it("counts a re-published order once and counts the copies as duplicates", async () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    const order = purchase("u", at("2022-02-01T10:00:00Z"), 25, "order-1");
    harness.feed(operator, [order, { ...order, event_id: "another-copy" }, { ...order }, purchase("u", at("2022-02-01T11:00:00Z"), 5, "order-2")]);
    operator.onEnd(harness);
    expect(rowOf(snapshotsOf(harness).rows.get("2022-02-01"), "u")).toMatchObject({ orders_total: 2, revenue_total: 30 });
    expect(await harness.metricValue("clickpipe_events_duplicate_total")).toBe(2);
  });

  it("sends a purchase whose day's snapshot is already written to late_events and leaves later snapshots unchanged", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    harness.feed(operator, [purchase("u", at("2022-03-01T10:00:00Z"), 10, "o1"), pageView(at("2022-03-02T02:00:00Z"), { anon: "a" })]);
    const tooLate = purchase("u", at("2022-03-01T23:00:00Z"), 99, "o2");
    harness.feed(operator, [tooLate, purchase("u", at("2022-03-02T00:00:00Z"), 1, "o3")]);
    operator.onEnd(harness);
    expect(harness.lateEvents).toEqual([{ event: tooLate, watermarkAtArrival: at("2022-03-02T01:59:00Z"), reason: "snapshot_written" }]);
    expect(rowOf(snapshotsOf(harness).rows.get("2022-03-02"), "u")).toMatchObject({ orders_total: 2, revenue_total: 11, frequency: 1 });
  });

  it("sends a cart add of a written day to late_events when cart adds come from events (no sessionize)", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    harness.feed(operator, [cartAdd(at("2022-03-01T10:00:00Z"), "u"), pageView(at("2022-03-02T02:00:00Z"), { anon: "a" })]);
    const tooLate = cartAdd(at("2022-03-01T23:00:00Z"), "u");
    harness.feed(operator, [tooLate]);
    operator.onEnd(harness);
    expect(harness.lateEvents).toEqual([{ event: tooLate, watermarkAtArrival: at("2022-03-02T01:59:00Z"), reason: "snapshot_written" }]);
  });

  it("keeps the device → user link of a late identify for the days not written yet, as an in-order run does", () => {
    // Day 1 (03-01) is written before the identify of device-1 (03-01 18:00) arrives; device-1 buys anonymously on 03-02.
    const before = [purchase("u", at("2022-03-01T10:00:00Z"), 10, "o1"), pageView(at("2022-03-02T02:00:00Z"), { anon: "a" })];
    const link = identify(at("2022-03-01T18:00:00Z"), "device-1", "alice");
    const after = [purchase(undefined, at("2022-03-02T09:00:00Z"), 40, "o2", { anon_id: "device-1" }), pageView(at("2022-03-03T02:00:00Z"), { anon: "a" })];
    const snapshotsFor = (events: ClickEvent[]) => {
      const operator = churnOperator();
      const harness = new OperatorHarness();
      harness.feed(operator, events);
      operator.onEnd(harness);
      return { rows: snapshotsOf(harness).rows, late: harness.lateEvents };
    };
    const lateLink = snapshotsFor([...before, link, ...after]);
    const inOrder = snapshotsFor([before[0], link, before[1], ...after]);
    expect(lateLink.late).toEqual([]); // an identify counts nothing itself
    // Hand-computed: alice's anonymous purchase of 03-02 is credited to her from 03-02 on, as in order.
    expect(rowOf(lateLink.rows.get("2022-03-02"), "alice")).toMatchObject({ orders_total: 1, revenue_total: 40 });
    const byCustomer = (rows: Row[] | undefined) => [...(rows ?? [])].sort((a, b) => String(a.customer_id).localeCompare(String(b.customer_id)));
    for (const date of ["2022-03-02", "2022-03-03"]) expect(byCustomer(lateLink.rows.get(date))).toEqual(byCustomer(inOrder.rows.get(date)));
  });

  it("takes an event before the first period for late once the watermark passed its day (a ts in seconds reads as 1970)", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    // Out of order within allowedLateness (1h): the first snapshot moves back to 1 March.
    const early = purchase("u", at("2022-03-01T23:30:00Z"), 5, "o0");
    const seconds = purchase("v", Math.floor(at("2022-03-02T10:00:00Z") / 1000), 7, "o2");
    harness.feed(operator, [purchase("u", at("2022-03-02T00:10:00Z"), 10, "o1"), early, seconds, pageView(at("2022-03-03T02:00:00Z"), { anon: "a" })]);
    operator.onEnd(harness);
    expect(harness.lateEvents).toEqual([{ event: seconds, watermarkAtArrival: at("2022-03-02T00:09:00Z"), reason: "before_first_snapshot" }]);
    expect(snapshotsOf(harness).successes).toEqual(["2022-03-01", "2022-03-02", "2022-03-03"]);
  });

  it("scores RFM quintiles among purchasers with ties sharing the lowest rank's score", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    // Ten customers: c0..c9 with i+1 orders of 10 each on day i; c8 and c9 tie on everything.
    const events = [];
    for (let i = 0; i < 10; i++) {
      const day = Math.min(i, 8);
      const orders = Math.min(i, 8) + 1;
      for (let k = 0; k < orders; k++) events.push(purchase(`c${i}`, at("2023-01-01") + day * DAY + k * MINUTE, 10, `c${i}-${k}`));
    }
    events.sort((a, b) => a.ts - b.ts);
    harness.feed(operator, [pageView(at("2023-01-01"), { user: "no-orders" }), ...events]);
    operator.onEnd(harness);
    const rows = snapshotsOf(harness).rows.get("2023-01-09")!;
    // 1 + floor(5 × (purchasers strictly below) / 10): ranks 0..7 → 1,1,2,2,3,3,4,4; the tied pair (8 below) → 5.
    expect(["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"].map((id) => rowOf(rows, id)!.rfm_code)).toEqual([
      "111", "111", "222", "222", "333", "333", "444", "444", "555", "555",
    ]);
    expect(rowOf(rows, "no-orders")!.rfm_r).toBeNull();
  });
});

describe("churnFeatures - refunds (purchases with negative revenue)", () => {
  /**
   * r buys o1 (100) and o2 (40) on 03-01 and o3 (60) on 03-03; refunds 30 of o1 under o1's own number on 03-03 (a
   * resend of it under a new event_id follows), then 20 under a return number and 10 more of o1 on 03-05 (a copy of the
   * return with its own event_id follows); g buys 150 on 03-01; z only refunds 15 on 03-02; s buys s1 (80) on 03-05 and
   * returns all of it under s1's number that day, while the order's dedupe key is still held.
   */
  function refundRun() {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    const refundOfO1 = purchase("r", at("2023-03-03T15:00:00Z"), -30, "o1", { event_id: "refund-o1" });
    const returnRet1 = purchase("r", at("2023-03-05T11:00:00Z"), -20, "ret-1", { event_id: "refund-ret-1" });
    harness.feed(operator, [
      purchase("r", at("2023-03-01T10:00:00Z"), 100, "o1"),
      purchase("g", at("2023-03-01T11:00:00Z"), 150, "g1"),
      purchase("r", at("2023-03-01T12:00:00Z"), 40, "o2"),
      purchase("z", at("2023-03-02T09:00:00Z"), -15, "z-ret"),
      purchase("r", at("2023-03-03T09:00:00Z"), 60, "o3"),
      refundOfO1,
      { ...refundOfO1, ts: at("2023-03-03T16:00:00Z"), event_id: "refund-o1-resent" },
      returnRet1,
      { ...returnRet1 },
      purchase("r", at("2023-03-05T12:00:00Z"), -10, "o1", { event_id: "refund-o1-part-2" }),
      purchase("s", at("2023-03-05T13:00:00Z"), 80, "s1"),
      purchase("s", at("2023-03-05T18:00:00Z"), -80, "s1", { event_id: "refund-s1" }),
    ]);
    operator.onEnd(harness);
    return harness;
  }

  const purchaseColumns = (row: Row | undefined) => ({
    first_purchase_ts: row?.first_purchase_ts,
    last_purchase_ts: row?.last_purchase_ts,
    frequency: row?.frequency,
    recency_days: row?.recency_days,
    t_days: row?.t_days,
    monetary_value: row?.monetary_value,
    orders_total: row?.orders_total,
    revenue_total: row?.revenue_total,
    days_since_last_purchase: row?.days_since_last_purchase,
    rfm: row?.rfm_code,
  });

  it("takes a refund as no transaction: no order, purchase day, recency or first/last purchase; its amount nets revenue_total", () => {
    const { rows, successes } = snapshotsOf(refundRun());
    expect(successes).toEqual(["2023-03-01", "2023-03-02", "2023-03-03", "2023-03-04", "2023-03-05"]);
    const first = at("2023-03-01T10:00:00Z");
    // Before any refund of r: two orders on one day. RFM against g (same last day, 1 order, 150): R tie, F 3, M 1.
    expect(purchaseColumns(rowOf(rows.get("2023-03-01"), "r"))).toEqual({
      first_purchase_ts: first, last_purchase_ts: at("2023-03-01T12:00:00Z"), frequency: 0, recency_days: 0, t_days: 0,
      monetary_value: 0, orders_total: 2, revenue_total: 140, days_since_last_purchase: 0, rfm: "131",
    });
    // 03-03: o3 is a repeat day; the refund of o1 (same order number, a purchase day's later time) nets 30 off the
    // revenue and moves nothing else; its resend counts once. monetary_value = o3's 60 (refunds stay out of it).
    // RFM among r and g: r last day 03-03 > 03-01, 3 orders > 1, net 170 > 150, so r scores 3 where g scores 1.
    expect(purchaseColumns(rowOf(rows.get("2023-03-03"), "r"))).toEqual({
      first_purchase_ts: first, last_purchase_ts: at("2023-03-03T09:00:00Z"), frequency: 1, recency_days: 2, t_days: 2,
      monetary_value: 60, orders_total: 3, revenue_total: 170, days_since_last_purchase: 0, rfm: "333",
    });
    // 03-05, a refund-only day: no purchase day (frequency 1, last purchase 03-03), 20 + 10 more netted (140). The
    // second refund of o1 has another amount: a part refund, not a copy. RFM among r, g and s (last day 03-05, 1 order,
    // net 0): R 2 (one of three before), F 4, M 2 (net 140 is below g's 150 now).
    expect(purchaseColumns(rowOf(rows.get("2023-03-05"), "r"))).toEqual({
      first_purchase_ts: first, last_purchase_ts: at("2023-03-03T09:00:00Z"), frequency: 1, recency_days: 2, t_days: 4,
      monetary_value: 60, orders_total: 3, revenue_total: 140, days_since_last_purchase: 2, rfm: "242",
    });
    expect(rowOf(rows.get("2023-03-05"), "g")?.rfm_code).toBe("114");
    // A refund under its order's number the same day is no copy of the order: the order stays one, its revenue nets to 0.
    // Its R is 4 (latest of three), F 1 (1 order ties g), M 1 (net 0 is the least).
    expect(purchaseColumns(rowOf(rows.get("2023-03-05"), "s"))).toEqual({
      first_purchase_ts: at("2023-03-05T13:00:00Z"), last_purchase_ts: at("2023-03-05T13:00:00Z"), frequency: 0,
      recency_days: 0, t_days: 0, monetary_value: 0, orders_total: 1, revenue_total: 0, days_since_last_purchase: 0, rfm: "411",
    });
  });

  it("shows a customer who only refunded from the refund's day, with null purchase columns and negative net revenue", () => {
    const { rows } = snapshotsOf(refundRun());
    expect(rowOf(rows.get("2023-03-01"), "z")).toBeUndefined();
    for (const date of ["2023-03-02", "2023-03-05"]) {
      expect(purchaseColumns(rowOf(rows.get(date), "z"))).toEqual({
        first_purchase_ts: null, last_purchase_ts: null, frequency: null, recency_days: null, t_days: null,
        monetary_value: null, orders_total: 0, revenue_total: -15, days_since_last_purchase: null, rfm: null,
      });
    }
  });

  it("counts a resent refund once, as a duplicate, but not a refund under its purchase's order number", async () => {
    expect(await refundRun().metricValue("clickpipe_events_duplicate_total")).toBe(2);
  });

  it("restores a checkpoint whose pending buckets predate refunds (no refundMicros) and nets later refunds", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    harness.feed(operator, [purchase("u", at("2023-04-01T10:00:00Z"), 50, "o1")]);
    const saved = JSON.parse(JSON.stringify(operator.snapshot())) as ChurnFeaturesState;
    for (const day of saved.pending.days) for (const [, bucket] of [...day.users, ...day.anons]) delete bucket.refundMicros;
    expect(JSON.stringify(saved)).not.toContain("refundMicros");
    const restored = churnOperator();
    restored.restore(saved);
    harness.feed(restored, [purchase("u", at("2023-04-01T18:00:00Z"), -20, "o1", { event_id: "refund" })]);
    restored.onEnd(harness);
    expect(purchaseColumns(rowOf(snapshotsOf(harness).rows.get("2023-04-01"), "u"))).toMatchObject({
      last_purchase_ts: at("2023-04-01T10:00:00Z"), orders_total: 1, revenue_total: 30,
    });
  });

  it("counts equal part refunds of one order on two days twice, whatever order they arrive in", () => {
    // u buys o1 (100) on 03-01 and refunds 10 of it twice under o1's number: 03-01 23:50 and 03-02 00:10, two events
    // (two returned items of 10). In order, the second arrives while 03-01 is still pending (its snapshot waits for the
    // watermark to pass 03-02 01:00); in the other arrival, a page view at 03-02 01:05 writes 03-01 first. The second
    // refund is of another day, so no copy of the first either way: 03-02's net is 100 − 10 − 10 = 80 in both.
    const order = purchase("u", at("2023-03-01T10:00:00Z"), 100, "o1");
    const first = purchase("u", at("2023-03-01T23:50:00Z"), -10, "o1", { event_id: "return-1" });
    const second = purchase("u", at("2023-03-02T00:10:00Z"), -10, "o1", { event_id: "return-2" });
    const later = pageView(at("2023-03-02T01:05:00Z"), { anon: "other" });
    for (const events of [
      [order, first, second, later],
      [order, first, later, second],
    ]) {
      const operator = churnOperator();
      const harness = new OperatorHarness();
      harness.feed(operator, events);
      operator.onEnd(harness);
      const { rows } = snapshotsOf(harness);
      expect(purchaseColumns(rowOf(rows.get("2023-03-01"), "u"))).toMatchObject({ orders_total: 1, revenue_total: 90 });
      expect(purchaseColumns(rowOf(rows.get("2023-03-02"), "u"))).toMatchObject({ orders_total: 1, revenue_total: 80 });
    }
  });
});

describe("churnFeatures - identity stitching", () => {
  it("credits an anonymous purchase to the user its device is identified as before the period ends", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    harness.feed(operator, [
      purchase(undefined, at("2022-04-01T09:00:00Z"), 40, "o1", { anon_id: "device-1" }),
      identify(at("2022-04-01T18:00:00Z"), "device-1", "alice"),
      purchase(undefined, at("2022-04-01T19:00:00Z"), 7, "o2", { anon_id: "stranger" }),
      // Identified only on the next day: the 04-01 purchase of device-2 stays anonymous.
      purchase(undefined, at("2022-04-01T20:00:00Z"), 9, "o3", { anon_id: "device-2" }),
      identify(at("2022-04-02T08:00:00Z"), "device-2", "bob"),
    ]);
    operator.onEnd(harness);
    const rows = snapshotsOf(harness).rows;
    expect(rows.get("2022-04-01")!.map((row) => row.customer_id)).toEqual(["alice"]);
    expect(rowOf(rows.get("2022-04-01"), "alice")).toMatchObject({ orders_total: 1, revenue_total: 40 });
    expect(rowOf(rows.get("2022-04-02"), "bob")).toMatchObject({ orders_total: 0 });
  });
});

describe("churnFeatures - day boundaries", () => {
  // Purchases 1 ms either side of UTC midnights, over a leap day and a new year; values computed by hand as lifetimes'
  // summary_data_from_transaction_data with daily periods: frequency = purchase days − 1, recency = last − first day,
  // T = snapshot day − first day, monetary_value = mean revenue of the repeat days.
  const events = () => [
    purchase("u", at("2024-02-28T23:59:59.999Z"), 1, "o1"),
    purchase("u", at("2024-02-29T00:00:00.000Z"), 2, "o2"),
    purchase("u", at("2024-02-29T23:59:59.999Z"), 4, "o3"),
    purchase("u", at("2024-03-01T00:00:00.000Z"), 8, "o4"),
    purchase("v", at("2024-12-31T23:59:59.999Z"), 16, "o5"),
    purchase("v", at("2025-01-01T00:00:00.000Z"), 32, "o6"),
  ];
  const summary = (row: Row | undefined) =>
    row && [row.frequency, row.recency_days, row.t_days, row.monetary_value, row.orders_total, row.days_since_last_purchase];

  it("puts a purchase 1 ms before midnight on its UTC day, over a leap day and a new year (daily snapshots)", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    harness.feed(operator, events());
    operator.onEnd(harness);
    const { rows } = snapshotsOf(harness);
    expect(summary(rowOf(rows.get("2024-02-28"), "u"))).toEqual([0, 0, 0, 0, 1, 0]);
    expect(summary(rowOf(rows.get("2024-02-29"), "u"))).toEqual([1, 1, 1, 6, 3, 0]);
    expect(summary(rowOf(rows.get("2024-03-01"), "u"))).toEqual([2, 2, 2, 7, 4, 0]);
    // 2024 is a leap year: Feb 28 (day 59) to Dec 31 (day 366) is 307 days.
    expect(summary(rowOf(rows.get("2024-12-31"), "u"))).toEqual([2, 2, 307, 7, 4, 305]);
    expect(summary(rowOf(rows.get("2024-12-31"), "v"))).toEqual([0, 0, 0, 0, 1, 0]);
    expect(summary(rowOf(rows.get("2025-01-01"), "v"))).toEqual([1, 1, 1, 32, 2, 0]);
  });

  it("ends 7d periods at the UTC epoch's weeks (Thursday to Wednesday): a snapshot is the state at its last day's end", () => {
    const operator = churnOperator({ snapshotEvery: "7d" });
    const harness = new OperatorHarness();
    harness.feed(operator, events());
    operator.onEnd(harness);
    const { rows, successes } = snapshotsOf(harness);
    // 2024-02-29 is day 19782 = 7 × 2826 since 1970-01-01: a period begins there, the one before ends 2024-02-28.
    expect(successes.slice(0, 2)).toEqual(["2024-02-28", "2024-03-06"]);
    expect(successes.at(-1)).toBe("2025-01-01");
    expect(summary(rowOf(rows.get("2024-02-28"), "u"))).toEqual([0, 0, 0, 0, 1, 0]);
    expect(summary(rowOf(rows.get("2024-03-06"), "u"))).toEqual([2, 2, 7, 7, 4, 5]);
    expect(summary(rowOf(rows.get("2025-01-01"), "v"))).toEqual([1, 1, 1, 32, 2, 0]);
  });
});

describe("churnFeatures - several sites", () => {
  it("counts two sites' orders with the same order_id for their own customers (order numbers are per shop)", async () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    const de = purchase("alice", at("2022-04-01T09:00:00Z"), 40, "1001", { site_id: "shop-de" });
    harness.feed(operator, [
      de,
      purchase("bob", at("2022-04-01T10:00:00Z"), 30, "1001", { site_id: "shop-fr" }),
      { ...de, event_id: "resent", ts: at("2022-04-01T09:05:00Z") },
    ]);
    operator.onEnd(harness);
    const rows = snapshotsOf(harness).rows.get("2022-04-01");
    expect(rowOf(rows, "alice")).toMatchObject({ orders_total: 1, revenue_total: 40 });
    expect(rowOf(rows, "bob")).toMatchObject({ orders_total: 1, revenue_total: 30 });
    expect(await harness.metricValue("clickpipe_events_duplicate_total")).toBe(1);
  });

  it("stitches a device to a user per (site_id, anon_id), as sessionize keys visitors: another site's same anon_id is someone else", () => {
    const operator = churnOperator({}, { session: { gap: 30 * MINUTE, allowedLateness: 60 * MINUTE } });
    const harness = new OperatorHarness();
    harness.feed(operator, [
      { ...identify(at("2022-04-01T08:00:00Z"), "dev", "alice"), site_id: "shop-de" },
      { ...identify(at("2022-04-01T08:30:00Z"), "dev", "bob"), site_id: "shop-fr" },
      // Anonymous on each site after both identifies: shop-de's device is alice's, shop-fr's bob's.
      purchase(undefined, at("2022-04-01T09:00:00Z"), 40, "de-1", { anon_id: "dev", site_id: "shop-de" }),
      purchase(undefined, at("2022-04-01T09:10:00Z"), 30, "fr-1", { anon_id: "dev", site_id: "shop-fr" }),
      // A third site never identified its "dev": nobody's.
      purchase(undefined, at("2022-04-01T09:20:00Z"), 7, "it-1", { anon_id: "dev", site_id: "shop-it" }),
    ]);
    operator.onSession!(session("s-de", { end_ts: at("2022-04-01T09:00:00Z"), visitor_id: "dev", site_id: "shop-de" }), harness);
    operator.onSession!(session("s-it", { end_ts: at("2022-04-01T09:20:00Z"), visitor_id: "dev", site_id: "shop-it" }), harness);
    operator.onEnd(harness);
    const rows = snapshotsOf(harness).rows.get("2022-04-01")!;
    expect(rows.map((row) => row.customer_id).sort()).toEqual(["alice", "bob"]);
    expect(rowOf(rows, "alice")).toMatchObject({ orders_total: 1, revenue_total: 40, sessions_7d: 1 });
    expect(rowOf(rows, "bob")).toMatchObject({ orders_total: 1, revenue_total: 30, sessions_7d: 0 });
  });

  it("restores a checkpoint from before site keys: its devices, held by anon_id alone, still stitch that anon_id's purchases and sessions on a site", () => {
    const environment = { session: { gap: 30 * MINUTE, allowedLateness: 60 * MINUTE } };
    const before = churnOperator({}, environment);
    const beforeHarness = new OperatorHarness();
    // A checkpoint written before (site_id, anon_id) keys held every device by its anon_id alone, whatever its site:
    // one identified on 03-30 (folded into the identity map by 04-01's watermark) and one identified on 04-01 (pending).
    beforeHarness.feed(before, [
      identify(at("2022-03-30T08:00:00Z"), "dev-old", "alice"),
      identify(at("2022-04-01T08:00:00Z"), "dev-new", "bob"),
    ]);
    const saved: Record<string, unknown> = JSON.parse(JSON.stringify(before.snapshot()));
    for (const key of Object.keys(saved)) if (!["watermark", "sessionWatermark", "nextPeriod", "writtenUntil", "maxEventTs", "store", "identity", "pending"].includes(key)) delete saved[key];
    const operator = churnOperator({}, environment);
    operator.restore(saved);
    const harness = new OperatorHarness();
    harness.feed(operator, [
      purchase(undefined, at("2022-04-01T09:00:00Z"), 40, "de-1", { anon_id: "dev-old", site_id: "shop-de" }),
      purchase(undefined, at("2022-04-01T09:10:00Z"), 30, "de-2", { anon_id: "dev-new", site_id: "shop-de" }),
    ]);
    operator.onSession!(session("s-de", { end_ts: at("2022-04-01T09:00:00Z"), visitor_id: "dev-old", site_id: "shop-de" }), harness);
    operator.onEnd(harness);
    const rows = snapshotsOf(harness).rows.get("2022-04-01")!;
    expect(rowOf(rows, "alice")).toMatchObject({ orders_total: 1, revenue_total: 40, sessions_7d: 1 });
    expect(rowOf(rows, "bob")).toMatchObject({ orders_total: 1, revenue_total: 30 });
    // A checkpoint written since keeps a device without a site_id apart from a site's same anon_id.
    const since = churnOperator({}, environment);
    new OperatorHarness().feed(since, [identify(at("2022-03-30T08:00:00Z"), "dev-x", "carol"), pageView(at("2022-04-01T08:00:00Z"), { user: "carol" })]);
    const restored = churnOperator({}, environment);
    restored.restore(JSON.parse(JSON.stringify(since.snapshot())));
    const restoredHarness = new OperatorHarness();
    restoredHarness.feed(restored, [purchase(undefined, at("2022-04-01T09:00:00Z"), 5, "it-1", { anon_id: "dev-x", site_id: "shop-it" })]);
    restored.onEnd(restoredHarness);
    expect(rowOf(snapshotsOf(restoredHarness).rows.get("2022-04-01")!, "carol")).toMatchObject({ orders_total: 0 });
  });

  it("forgets the links of the person's anon_id on every site (tombstones name anon_ids without a site), and keeps other customers", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    harness.feed(operator, [
      { ...identify(at("2022-04-01T08:00:00Z"), "dev", "alice"), site_id: "shop-de" },
      { ...identify(at("2022-04-01T08:30:00Z"), "dev", "bob"), site_id: "shop-fr" },
    ]);
    operator.forget!(new Set(["alice", "dev"]));
    harness.feed(operator, [
      purchase(undefined, at("2022-04-01T09:00:00Z"), 40, "de-1", { anon_id: "dev", site_id: "shop-de" }),
      purchase("bob", at("2022-04-01T09:10:00Z"), 30, "fr-1", { site_id: "shop-fr" }),
    ]);
    operator.onEnd(harness);
    expect(snapshotsOf(harness).rows.get("2022-04-01")!.map((row) => row.customer_id)).toEqual(["bob"]);
    expect(JSON.stringify(operator.snapshot())).not.toMatch(/alice|"dev"|dev"/);
  });
});

describe("churnFeatures - behaviour from sessions", () => {
  const environment = { session: { gap: 30 * MINUTE, allowedLateness: 60 * MINUTE } };

  function behaviourRun() {
    const operator = churnOperator({}, environment);
    const harness = new OperatorHarness();
    const sessions = [
      session("s1", { user_id: "u1", end_ts: at("2024-03-31T10:00:00Z"), duration_ms: 600_000, pageview_count: 5, cart_adds: 2 }),
      session("s2", { user_id: "u1", end_ts: at("2024-03-28T12:00:00Z"), duration_ms: 300_000, pageview_count: 3, cart_adds: 1, converted: true }),
      session("s3", { user_id: "u1", end_ts: at("2024-03-10T12:00:00Z"), duration_ms: 120_000, pageview_count: 2 }),
      session("s4", { user_id: "u1", end_ts: at("2024-02-01T12:00:00Z"), duration_ms: 60_000, pageview_count: 1 }),
      session("s5", { user_id: "u1", end_ts: at("2023-12-01T12:00:00Z"), duration_ms: 60_000, pageview_count: 1 }),
      session("s6", { user_id: "u1", end_ts: at("2024-03-30T12:00:00Z"), pageview_count: 9 }),
      session("s6", { user_id: "u1", end_ts: at("2024-03-30T12:00:00Z"), pageview_count: 9, version: 2, retracted: true }),
      session("s7", { user_id: "u1", end_ts: at("2024-03-29T12:00:00Z"), pageview_count: 1 }),
      session("s7", { user_id: "u1", end_ts: at("2024-03-29T12:00:00Z"), duration_ms: 60_000, pageview_count: 4, version: 2 }),
      session("s8", { visitor_id: "dev9", end_ts: at("2024-03-30T12:00:00Z"), duration_ms: 30_000, pageview_count: 2 }),
      session("s9", { visitor_id: "nobody", end_ts: at("2024-03-30T12:00:00Z"), pageview_count: 2 }),
      session("s10", { user_id: "robot", end_ts: at("2024-03-30T12:00:00Z"), is_bot: true }),
    ];
    for (const s of sessions) operator.onSession!(s, harness);
    harness.feed(operator, [
      pageView(at("2023-12-01T11:00:00Z"), { user: "u1" }),
      purchase("u1", at("2024-03-28T11:59:00Z"), 50, "o1"),
      identify(at("2024-03-29T09:00:00Z"), "dev9", "u1"),
      pageView(at("2024-04-01T01:05:00Z"), { anon: "someone" }),
    ]);
    return { operator, harness };
  }

  it("waits for the session watermark to pass a day's end + gap + sessionize's allowedLateness before writing it", () => {
    const { operator, harness } = behaviourRun();
    expect(snapshotsOf(harness).successes).toEqual([]);
    operator.onSessionWatermark!(at("2023-12-02T01:29:59Z"), harness);
    expect(snapshotsOf(harness).successes).toEqual([]);
    operator.onSessionWatermark!(at("2023-12-02T01:30:00Z"), harness);
    expect(snapshotsOf(harness).successes).toEqual(["2023-12-01"]);
  });

  it("counts a session version for a day already written in clickpipe_sessions_late_total{operator=churnFeatures}", async () => {
    const { operator, harness } = behaviourRun();
    operator.onSessionWatermark!(at("2023-12-02T01:30:00Z"), harness);
    expect(snapshotsOf(harness).successes).toEqual(["2023-12-01"]);
    operator.onSession!(session("late", { user_id: "u1", end_ts: at("2023-12-01T20:00:00Z"), pageview_count: 3 }), harness);
    expect(await harness.metricValue("clickpipe_sessions_late_total", { operator: "churnFeatures" })).toBe(1);
  });

  it("counts a session once when a late event (within sessionize's allowedLateness) extends it past midnight", () => {
    // Real sessionize (gap 30m, allowedLateness 1h) feeding churnFeatures (allowedLateness 1h), as a pipeline runs them.
    const sessionizeSettings = sessionizeConfig.parse({ type: "sessionize" });
    const env = { pipelineName: "test", session: { gap: sessionizeSettings.gap, allowedLateness: sessionizeSettings.allowedLateness } };
    const sink = new RowCollector();
    const pipeline = new Pipeline({ operators: [createSessionize(sessionizeSettings, env), createChurnFeatures(churnConfig(), env)], sink, metrics: new Metrics() });
    let sequence = 0;
    const events = [
      pageView(at("2024-01-01T23:50:00Z"), { user: "u", anon: "dev-u" }),
      // The watermark reaches 01:04: past 01-01's end + 1h and its session's end + gap, so 23:50's session is final.
      pageView(at("2024-01-02T01:05:00Z"), { anon: "someone" }),
      // 59 min behind the watermark: not late for sessionize, within gap of 23:50, so it extends that session to 00:05.
      pageView(at("2024-01-02T00:05:00Z"), { user: "u", anon: "dev-u" }),
      pageView(at("2024-01-03T05:00:00Z"), { anon: "someone" }),
    ];
    for (const event of events) pipeline.processEvent(event, { partition: 0, sequence: ++sequence });
    pipeline.end();

    // Oracle: sessionize's own table, current truth (the highest version per session_id, not retracted), counted per
    // user on the UTC day of its end_ts, as of each snapshot's day.
    const latest = new Map<string, Row>();
    for (const row of sink.rowsOf("sessions")) {
      const id = String(row.session_id);
      if (!latest.has(id) || Number(row.version) > Number(latest.get(id)!.version)) latest.set(id, row);
    }
    const current = [...latest.values()].filter((row) => !row.retracted && row.user_id === "u");
    expect(current).toHaveLength(1);
    const features = sink.rowsOf("customer_features").filter((row) => row.customer_id === "u");
    expect(features.map((row) => row.snapshot_date)).toEqual(["2024-01-01", "2024-01-02", "2024-01-03"]);
    for (const row of features) {
      const snapshotEnd = at(String(row.snapshot_date)) + DAY;
      const expected = current.filter((s) => Number(s.end_ts) < snapshotEnd).length;
      expect(row.sessions_7d, String(row.snapshot_date)).toBe(expected);
    }
  });

  it("computes 7/30/90-day session windows, pageviews, durations, carts and abandonment from current session versions", () => {
    const { operator, harness } = behaviourRun();
    operator.onSessionWatermark!(at("2024-04-01T02:00:00Z"), harness);
    const { rows, successes } = snapshotsOf(harness);
    expect(successes.at(-1)).toBe("2024-03-31");
    const march31 = rows.get("2024-03-31")!;
    expect(march31.map((row) => row.customer_id)).toEqual(["u1"]);
    // 7d: s1, s2, s7(v2), s8 (dev9 → u1); 30d adds s3; 90d adds s4; s5 is older; s6 retracted; s9 anonymous; s10 a bot.
    expect(march31[0]).toMatchObject({
      sessions_7d: 4,
      sessions_30d: 5,
      sessions_90d: 6,
      pageviews_30d: 5 + 3 + 2 + 4 + 2,
      avg_session_duration_s_30d: (600 + 300 + 120 + 60 + 30) / 5,
      days_since_last_session: 0,
      cart_adds_30d: 3,
      cart_abandon_rate_30d: 0.5,
      orders_total: 1,
      days_since_last_purchase: 3,
    });
    // On 03-09 only s4 (37 days ago) is in range: nothing in 30 days, so average and abandonment are null.
    expect(rowOf(rows.get("2024-03-09"), "u1")).toMatchObject({
      sessions_7d: 0,
      sessions_30d: 0,
      sessions_90d: 1,
      pageviews_30d: 0,
      avg_session_duration_s_30d: null,
      days_since_last_session: 37,
      cart_adds_30d: 0,
      cart_abandon_rate_30d: null,
    });
    // On 2024-02-29, s5 (2023-12-01) is 90 days back: outside the window [12-02, 02-29].
    expect(rowOf(rows.get("2024-02-29"), "u1")).toMatchObject({ sessions_90d: 1, days_since_last_session: 28 });
    expect(rowOf(rows.get("2024-02-28"), "u1")).toMatchObject({ sessions_90d: 2 });
  });

  it("counts add_to_cart events as cart adds when there is no sessionize", () => {
    const operator = churnOperator();
    const harness = new OperatorHarness();
    harness.feed(operator, [
      cartAdd(at("2024-01-01T10:00:00Z"), "u"),
      cartAdd(at("2024-01-20T10:00:00Z"), "u"),
      cartAdd(at("2024-01-31T10:00:00Z"), "u"),
      cartAdd(at("2024-02-01T10:00:00Z"), "u"),
    ]);
    operator.onEnd(harness);
    // 30-day window of 01-31 is [01-02, 01-31].
    expect(rowOf(snapshotsOf(harness).rows.get("2024-01-31"), "u")).toMatchObject({ cart_adds_30d: 2, cart_abandon_rate_30d: null });
  });
});

describe("churnFeatures - checkpoints and state", () => {
  it("continues identically after snapshot() → JSON → restore() at any point, pending sessions and mappings included", () => {
    const environment = { session: { gap: 30 * MINUTE, allowedLateness: 60 * MINUTE } };
    const steps: ((operator: ReturnType<typeof churnOperator>, harness: OperatorHarness) => void)[] = [];
    const feed = (events: ClickEvent[]) => steps.push((op, h) => h.feed(op, events));
    feed([pageView(at("2024-05-01T10:00:00Z"), { user: "u1", anon: "d1" })]);
    steps.push((op, h) => op.onSession!(session("s1", { visitor_id: "d1", end_ts: at("2024-05-01T10:10:00Z"), duration_ms: 1000 }), h));
    feed([purchase(undefined, at("2024-05-01T11:00:00Z"), 12.5, "o1", { anon_id: "d1" })]);
    feed([cartAdd(at("2024-05-02T01:00:00Z"), "u2"), pageView(at("2024-05-02T03:00:00Z"), { anon: "x" })]);
    steps.push((op, h) => op.onSessionWatermark!(at("2024-05-02T03:00:00Z"), h));
    feed([purchase("u2", at("2024-05-02T04:00:00Z"), 3, "o2")]);
    steps.push((op, h) => op.onSession!(session("s2", { user_id: "u2", end_ts: at("2024-05-02T05:00:00Z"), cart_adds: 1 }), h));
    feed([purchase("u2", at("2024-05-03T04:00:00Z"), 3, "o2")]);
    steps.push((op, h) => op.onEnd(h));

    const straight = new OperatorHarness();
    const uninterrupted = churnOperator({}, environment);
    for (const step of steps) step(uninterrupted, straight);

    for (let cut = 0; cut < steps.length; cut++) {
      const harness = new OperatorHarness();
      let operator = churnOperator({}, environment);
      steps.forEach((step, i) => {
        if (i === cut) {
          const saved = JSON.parse(JSON.stringify(operator.snapshot()));
          operator = churnOperator({}, environment);
          operator.restore(saved);
        }
        step(operator, harness);
      });
      expect(harness.rowsOf("customer_features")).toEqual(straight.rowsOf("customer_features"));
      expect(harness.rowsOf("_SUCCESS")).toEqual(straight.rowsOf("_SUCCESS"));
    }
    expect(straight.rowsOf("_SUCCESS").length).toBe(3);
    expect(rowOf(straight.rowsOf("customer_features"), "u1")).toMatchObject({ orders_total: 1, revenue_total: 12.5, sessions_7d: 1 });
  });

  it("keeps at most 2 KiB per customer active every day, and stops growing once windows are full", () => {
    const environment = { session: { gap: 30 * MINUTE, allowedLateness: 60 * MINUTE } };
    const operator = churnOperator({}, environment);
    const harness = new OperatorHarness();
    const customers = 200;
    const bytesAt: number[] = [];
    const start = at("2024-01-01");
    for (let day = 0; day < 140; day++) {
      for (let c = 0; c < customers; c++) {
        const ts = start + day * DAY + c * 1000;
        operator.onSession!(session(`s-${day}-${c}`, { user_id: `customer-${c}`, end_ts: ts, duration_ms: 1000, cart_adds: 1 }), harness);
        harness.feed(operator, [purchase(`customer-${c}`, ts, 1, `o-${day}-${c}`)]);
      }
      operator.onSessionWatermark!(start + day * DAY, harness);
      bytesAt.push(operator.stateBytes!());
    }
    operator.onEnd(harness);
    const perCustomer = operator.stateBytes!() / customers;
    expect(perCustomer).toBeLessThanOrEqual(2048);
    expect(perCustomer).toBeGreaterThan(1000);
    expect(bytesAt[139]).toBeLessThanOrEqual(bytesAt[100] * 1.05);
    const last = rowOf(snapshotsOf(harness).rows.get("2024-05-19"), "customer-7")!;
    expect(last).toMatchObject({ sessions_7d: 7, sessions_30d: 30, sessions_90d: 90, frequency: 139, cart_adds_30d: 30 });
  });

  it("rejects a snapshot period that is not whole days", () => {
    expect(() => churnConfig({ snapshotEvery: "12h" })).toThrow(/whole days/);
    expect(churnConfig().snapshotEvery).toBe(DAY);
  });
});

describe("churnFeatures - a drain, then a run from its checkpoint", () => {
  /** As the collector stamps it: received when it happened, unless a test says otherwise. */
  const arrived = (event: ClickEvent, receivedAt = event.ts): ClickEvent => ({ ...event, received_at: receivedAt });
  const summary = (rows: Row[] | undefined) => (rows ?? []).map((row) => [row.customer_id, row.orders_total, row.revenue_total]);

  function resumed(drained: ReturnType<typeof churnOperator>, environment = {}) {
    const operator = churnOperator({}, environment);
    operator.restore(JSON.parse(JSON.stringify(drained.snapshot())));
    return operator;
  }

  it("after a drain whose input held a purchase stamped two days ahead, writes the days between with their events, then that day", () => {
    const drained = churnOperator();
    const first = new OperatorHarness();
    first.feed(drained, [
      arrived(purchase("a", at("2026-03-01T09:00:00Z"), 10, "o1")),
      // Received on 1 March from a device whose clock says 3 March: past maxFutureSkew (5m), so its time is capped.
      arrived(purchase("ahead", at("2026-03-03T10:00:00Z"), 5, "o2"), at("2026-03-01T10:00:00Z")),
      arrived(pageView(at("2026-03-01T23:59:00Z"), { anon: "x" })),
    ]);
    drained.onEnd(first);
    expect(snapshotsOf(first).successes).toEqual(["2026-03-01"]);

    const operator = resumed(drained);
    const harness = new OperatorHarness();
    harness.feed(operator, [
      arrived(purchase("b", at("2026-03-02T10:00:00Z"), 7, "o3")),
      arrived(purchase("c", at("2026-03-03T12:00:00Z"), 3, "o4")),
      arrived(pageView(at("2026-03-04T01:30:00Z"), { anon: "x" })),
    ]);
    const { rows, successes } = snapshotsOf(harness);
    expect(successes).toEqual(["2026-03-02", "2026-03-03"]);
    expect(summary(rows.get("2026-03-02"))).toEqual([
      ["a", 1, 10],
      ["b", 1, 7],
    ]);
    // The purchase stamped 3 March waited in the checkpoint for its day.
    expect(summary(rows.get("2026-03-03"))).toEqual([
      ["a", 1, 10],
      ["b", 1, 7],
      ["ahead", 1, 5],
      ["c", 1, 3],
    ]);
    expect(harness.lateEvents).toEqual([]);
  });

  it("after a drain whose last event came from a clock minutes ahead (within maxFutureSkew) past midnight, writes that day once, with the rest of it", () => {
    const environment = { session: { gap: 30 * MINUTE, allowedLateness: 60 * MINUTE } };
    const steps: ((operator: ReturnType<typeof churnOperator>, harness: OperatorHarness) => void)[] = [];
    // The drain's input: 1 March, received as it happened, but one device's clock is 4 minutes ahead: sent at 23:58,
    // stamped 2 March 00:02. maxFutureSkew (5m) lets that time through.
    steps.push((op, h) => {
      h.feed(op, [arrived(purchase("a", at("2026-03-01T09:00:00Z"), 10, "o1"))]);
      op.onSession!(session("s-a", { user_id: "a", end_ts: at("2026-03-01T09:00:00Z"), duration_ms: 60_000 }), h);
      h.feed(op, [arrived(purchase("ahead", at("2026-03-02T00:02:00Z"), 5, "o2"), at("2026-03-01T23:58:00Z"))]);
      op.onSession!(session("s-ahead", { user_id: "ahead", end_ts: at("2026-03-02T00:02:00Z") }), h);
      h.feed(op, [arrived(pageView(at("2026-03-01T23:59:00Z"), { anon: "x" }))]);
      op.onSessionWatermark!(at("2026-03-01T23:58:00Z"), h);
    });
    // After the drain: 2 March's traffic, then enough of 3 March to close 2 March (end + 1h; sessions end + 30m + 1h).
    steps.push((op, h) => {
      h.feed(op, [arrived(purchase("b", at("2026-03-02T10:00:00Z"), 7, "o3"))]);
      op.onSession!(session("s-b", { user_id: "b", end_ts: at("2026-03-02T10:00:00Z") }), h);
      h.feed(op, [arrived(pageView(at("2026-03-03T01:30:00Z"), { anon: "x" }))]);
      op.onSessionWatermark!(at("2026-03-03T01:30:00Z"), h);
    });

    const drained = churnOperator({}, environment);
    const first = new OperatorHarness();
    steps[0](drained, first);
    drained.onEnd(first);
    // Only 1 March: no event received on 2 March shows that day began. Before, 2 March was written here with the
    // device's purchase alone, and b's purchase below went to late_events.
    expect(snapshotsOf(first).successes).toEqual(["2026-03-01"]);
    expect(summary(snapshotsOf(first).rows.get("2026-03-01"))).toEqual([["a", 1, 10]]);

    const operator = resumed(drained, environment);
    const harness = new OperatorHarness();
    steps[1](operator, harness);
    const { rows, successes } = snapshotsOf(harness);
    expect(successes).toEqual(["2026-03-02"]);
    expect(
      rows.get("2026-03-02")!.map((row) => [row.customer_id, row.orders_total, row.revenue_total, row.sessions_7d, row.days_since_last_purchase]),
    ).toEqual([
      ["a", 1, 10, 1, 1],
      ["ahead", 1, 5, 1, 0],
      ["b", 1, 7, 1, 0],
    ]);
    expect(harness.lateEvents).toEqual([]);

    // Oracle: one run that never stopped writes the same two days.
    const straight = new OperatorHarness();
    const uninterrupted = churnOperator({}, environment);
    for (const step of steps) step(uninterrupted, straight);
    expect([...first.rowsOf("customer_features"), ...harness.rowsOf("customer_features")]).toEqual(straight.rowsOf("customer_features"));
  });
});

describe("churnFeatures - forget", () => {
  it("after forget, snapshots equal those of a run that never saw the person (RFM quintiles included)", () => {
    const before: ClickEvent[] = [
      purchase("1", at("2020-03-01T10:00:00Z"), 10, "o1"),
      purchase("2", at("2020-03-01T11:00:00Z"), 40, "o2"),
      identify(at("2020-03-01T12:00:00Z"), "dev-3", "3"),
      purchase("3", at("2020-03-01T12:05:00Z"), 900, "o3"),
      purchase("3", at("2020-03-02T12:05:00Z"), 500, "o4"),
      purchase("4", at("2020-03-02T13:00:00Z"), 25, "o5"),
      pageView(at("2020-03-02T14:00:00Z"), { anon: "dev-3" }),
    ];
    const after: ClickEvent[] = [
      purchase("1", at("2020-03-04T10:00:00Z"), 15, "o6"),
      purchase("5", at("2020-03-05T10:00:00Z"), 60, "o7"),
      pageView(at("2020-03-08T02:00:00Z"), { anon: "visitor" }),
    ];
    const isPerson = (event: ClickEvent) => event.user_id === "3" || event.anon_id === "dev-3";
    const forgetting = churnOperator();
    const withForget = new OperatorHarness();
    withForget.feed(forgetting, before);
    const writtenBeforeForget = new Set(snapshotsOf(withForget).successes);
    forgetting.forget!(new Set(["3", "dev-3"]));
    withForget.feed(forgetting, after);
    forgetting.onEnd(withForget);

    const never = churnOperator();
    const without = new OperatorHarness();
    without.feed(never, [...before, ...after].filter((event) => !isPerson(event)));
    never.onEnd(without);

    const written = snapshotsOf(withForget).rows;
    const oracle = snapshotsOf(without).rows;
    const later = [...oracle.keys()].filter((date) => !writtenBeforeForget.has(date));
    expect(later.length).toBeGreaterThan(3);
    for (const date of later) expect(written.get(date), date).toEqual(oracle.get(date));
    // The person is not in the state a checkpoint would keep.
    expect(JSON.stringify(forgetting.snapshot())).not.toMatch(/"dev-3"|"3"/);
  });
});
