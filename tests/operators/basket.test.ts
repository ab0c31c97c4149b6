// basket: per-window orders, dedupe, lateness and closing, and arules' Groceries result through the operator.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { basketConfig, basketRulesTable, createBasket, crossSellTable } from "../../src/operators/basket.ts";
import { parseBasketCsv } from "../../src/operators/mining/spmf-format.ts";
import type { ClickEvent } from "../../src/events/event.ts";
import type { Operator } from "../../src/runtime/operator.ts";
import { type RecordingContext, recordingContext } from "./mining/recording-context.ts";

const DAY = 86_400_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const D0 = Date.UTC(2024, 2, 1);
const origin = { partition: 0, sequence: 1 };

function basket(overrides: Record<string, unknown> = {}): Operator {
  return createBasket(basketConfig.parse({ type: "basket", ...overrides }), { pipelineName: "test" });
}

function purchase(orderId: string, ts: number, skus: string[], categories: string[] = []): ClickEvent {
  return {
    type: "purchase",
    ts,
    event_id: `e-${orderId}-${ts}`,
    anon_id: "v",
    order_id: orderId,
    revenue: 10,
    items: skus.map((sku, index) => ({ sku, category: categories[index], price: 1, qty: 1 })),
  };
}

/** The rules as [window_start, antecedent, consequent, orders], sorted. */
function rulesOf(ctx: RecordingContext): [number, string, string, number][] {
  return ctx
    .rowsOf("basket_rules")
    .map((rule): [number, string, string, number] => [rule.window_start as number, rule.antecedent as string, rule.consequent as string, rule.orders as number])
    .sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]) || a[2].localeCompare(b[2]));
}

function pageView(ts: number): ClickEvent {
  return { type: "page_view", ts, event_id: `pv-${ts}`, anon_id: "v", url: "https://shop.example/" };
}

describe("basket", () => {
  it("gives arules' Groceries result for the 9,835 baskets as one day of orders: 5,622 rules led by {Instant food products, soda} ⇒ {hamburger meat}", () => {
    const baskets = parseBasketCsv(readFileSync(new URL("../fixtures/groceries/groceries_baskets.csv", import.meta.url), "utf8"));
    const op = basket({ minSupport: 0.001, minConfidence: 0.5, maxLength: 5 });
    const ctx = recordingContext();
    baskets.forEach((items, index) => op.onEvent!(purchase(`o${index}`, D0 + index * 1000, items), origin, ctx));
    op.onEnd(ctx);
    const rules = ctx.rowsOf("basket_rules");
    expect(rules).toHaveLength(5622);
    const top = rules[0];
    expect(top).toMatchObject({ window_start: D0, window_end: D0 + DAY, antecedent: "Instant food products & soda", consequent: "hamburger meat", orders: 12 });
    expect(top.support).toBeCloseTo(0.001220132, 9);
    expect(top.confidence).toBeCloseTo(0.6315789, 7);
    expect(top.lift).toBeCloseTo(18.99565, 5);
    expect(basketRulesTable.partitionOf(top)).toBe("2024-03-01");
    // Cross-sell reads only one-product antecedents; each list is ordered by lift.
    const crossSell = ctx.rowsOf("cross_sell");
    const oneItemRules = rules.filter((rule) => !(rule.antecedent as string).includes(" & "));
    expect(crossSell.length).toBe(oneItemRules.length);
    for (const row of crossSell) {
      const rule = oneItemRules.find((r) => r.antecedent === row.product && r.consequent === row.recommended)!;
      expect(row.lift).toBe(rule.lift);
    }
  });

  it("mines rules and cross-sell lists per window, by hand on five orders", () => {
    const op = basket({ minSupport: 0.4, minConfidence: 1, maxLength: 2 });
    const ctx = recordingContext();
    [["1", "3", "4"], ["2", "3", "5"], ["1", "2", "3", "5"], ["2", "5"], ["1", "2", "3", "5"]].forEach((items, index) =>
      op.onEvent!(purchase(`o${index}`, D0 + index * MINUTE, items), origin, ctx),
    );
    op.onEnd(ctx);
    const window = { window_start: D0, window_end: D0 + DAY };
    expect(ctx.rowsOf("basket_rules")).toEqual([
      { ...window, antecedent: "2", consequent: "5", support: 0.8, confidence: 1, lift: 1.25, orders: 4, antecedent_items: ["2"] },
      { ...window, antecedent: "5", consequent: "2", support: 0.8, confidence: 1, lift: 1.25, orders: 4, antecedent_items: ["5"] },
      { ...window, antecedent: "1", consequent: "3", support: 0.6, confidence: 1, lift: 1.25, orders: 3, antecedent_items: ["1"] },
    ]);
    expect(ctx.rowsOf("cross_sell")).toEqual([
      { ...window, product: "1", rank: 1, recommended: "3", lift: 1.25, confidence: 1, support: 0.6 },
      { ...window, product: "2", rank: 1, recommended: "5", lift: 1.25, confidence: 1, support: 0.8 },
      { ...window, product: "5", rank: 1, recommended: "2", lift: 1.25, confidence: 1, support: 0.8 },
    ]);
    expect(crossSellTable.partitionOf(ctx.rowsOf("cross_sell")[0])).toBe("2024-03-01");
  });

  it("takes a refund (a purchase with negative revenue) as no order: its items are no co-purchase", () => {
    const op = basket({ minSupport: 0.1, minConfidence: 0.1, maxLength: 2 });
    const ctx = recordingContext();
    op.onEvent!(purchase("o1", D0 + MINUTE, ["a", "b"]), origin, ctx);
    op.onEvent!(purchase("o2", D0 + 2 * MINUTE, ["a", "c"]), origin, ctx);
    // The return of o1's items under an order number of its own, as Online Retail's C-invoices and GA4's refund carry them.
    op.onEvent!({ ...purchase("r1", D0 + 3 * MINUTE, ["a", "b"]), revenue: -10 }, origin, ctx);
    op.onEnd(ctx);
    // By hand over the two orders: a in 2, b in 1, c in 1, {a, b} in 1, {a, c} in 1.
    const window = { window_start: D0, window_end: D0 + DAY };
    expect(ctx.rowsOf("basket_rules")).toEqual([
      { ...window, antecedent: "b", consequent: "a", support: 0.5, confidence: 1, lift: 1, orders: 1, antecedent_items: ["b"] },
      { ...window, antecedent: "c", consequent: "a", support: 0.5, confidence: 1, lift: 1, orders: 1, antecedent_items: ["c"] },
      { ...window, antecedent: "a", consequent: "b", support: 0.5, confidence: 0.5, lift: 1, orders: 1, antecedent_items: ["a"] },
      { ...window, antecedent: "a", consequent: "c", support: 0.5, confidence: 0.5, lift: 1, orders: 1, antecedent_items: ["a"] },
    ]);
  });

  it("counts a repeated order_id once in its window", async () => {
    const op = basket({ minSupport: 0.5, minConfidence: 0.5 });
    const ctx = recordingContext();
    op.onEvent!(purchase("o1", D0 + MINUTE, ["a", "b"]), origin, ctx);
    op.onEvent!(purchase("o1", D0 + 2 * MINUTE, ["a", "b"]), origin, ctx);
    op.onEvent!(purchase("o2", D0 + 3 * MINUTE, ["c"]), origin, ctx);
    op.onEnd(ctx);
    // Two orders: {a, b} has support 1/2, so a ⇒ b and b ⇒ a qualify.
    expect(ctx.rowsOf("basket_rules").map((row) => [row.antecedent, row.consequent, row.support])).toEqual([
      ["a", "b", 0.5],
      ["b", "a", 0.5],
    ]);
    expect((await ctx.metrics.eventsDuplicate.get()).values[0].value).toBe(1);
  });

  it("counts an order resent with a time in the next day once, in the day of its earliest time, in either arrival order", async () => {
    // The shop resends o1 (a new event_id) half a second after midnight, while the first day is still open.
    const orders = [purchase("o1", D0 + DAY - 1000, ["a", "b"]), purchase("o2", D0 + DAY - 500, ["c"]), purchase("o3", D0 + DAY + 600, ["c"])];
    const resent = purchase("o1", D0 + DAY + 500, ["a", "b"]);
    const config = { minSupport: 0.3, minConfidence: 0.5 };
    // Oracle: the same orders without the resend.
    const once = basket(config);
    const onceCtx = recordingContext();
    for (const event of orders) once.onEvent!(event, origin, onceCtx);
    once.onEnd(onceCtx);
    expect(onceCtx.rowsOf("basket_rules").map((row) => [row.window_start, row.antecedent, row.consequent])).toEqual([
      [D0, "a", "b"],
      [D0, "b", "a"],
    ]);
    for (const arrival of [[orders[0], orders[1], resent, orders[2]], [resent, orders[0], orders[1], orders[2]]]) {
      const op = basket(config);
      const ctx = recordingContext();
      for (const event of arrival) op.onEvent!(event, origin, ctx);
      op.onEnd(ctx);
      expect(ctx.rowsOf("basket_rules")).toEqual(onceCtx.rowsOf("basket_rules"));
      expect((await ctx.metrics.eventsDuplicate.get()).values[0].value).toBe(1);
      expect(op.stateBytes!()).toBe(0);
    }
  });

  it("keeps two sites' orders with the same order_id apart (order numbers are per shop), and dedupes within a site", async () => {
    const op = basket({ minSupport: 0.5, minConfidence: 0.5 });
    const ctx = recordingContext();
    const de = { ...purchase("1001", D0 + MINUTE, ["a", "b"]), site_id: "shop-de" };
    op.onEvent!(de, origin, ctx);
    op.onEvent!({ ...purchase("1001", D0 + 2 * MINUTE, ["a", "c"]), site_id: "shop-fr" }, origin, ctx);
    op.onEvent!({ ...de, event_id: "resent", ts: D0 + 3 * MINUTE }, origin, ctx);
    op.onEnd(ctx);
    // Oracle by hand: orders {a, b} (shop-de) and {a, c} (shop-fr); a is in 2/2, b and c in 1/2 each.
    // Rules with support ≥ 0.5 and confidence ≥ 0.5: b ⇒ a and c ⇒ a (confidence 1); a ⇒ b and a ⇒ c (0.5).
    expect(rulesOf(ctx)).toEqual([
      [D0, "a", "b", 1],
      [D0, "a", "c", 1],
      [D0, "b", "a", 1],
      [D0, "c", "a", 1],
    ]);
    expect((await ctx.metrics.eventsDuplicate.get()).values[0].value).toBe(1);
  });

  it("uses the category field when item is category", () => {
    const op = basket({ item: "category", minSupport: 0.5, minConfidence: 1 });
    const ctx = recordingContext();
    op.onEvent!(purchase("o1", D0, ["sku1", "sku2"], ["shoes", "socks"]), origin, ctx);
    op.onEvent!(purchase("o2", D0, ["sku3", "sku4"], ["shoes", "socks"]), origin, ctx);
    op.onEnd(ctx);
    expect(ctx.rowsOf("basket_rules").map((row) => `${row.antecedent} ⇒ ${row.consequent}`)).toEqual(["shoes ⇒ socks", "socks ⇒ shoes"]);
  });

  it("closes a day once the watermark (max event time − outOfOrderness) reaches its end + allowedLateness", () => {
    const op = basket({ minSupport: 0.5, minConfidence: 0.5, outOfOrderness: "1m", allowedLateness: "1h" });
    const ctx = recordingContext();
    op.onEvent!(purchase("o1", D0 + MINUTE, ["a", "b"]), origin, ctx);
    op.onEvent!(pageView(D0 + DAY + HOUR + MINUTE - 1), origin, ctx);
    expect(ctx.rows).toHaveLength(0);
    op.onEvent!(pageView(D0 + DAY + HOUR + MINUTE), origin, ctx);
    expect(ctx.rowsOf("basket_rules")).toHaveLength(2);
  });

  it("sends a purchase for a closed window to late_events and takes one for an open window", () => {
    const op = basket({ minSupport: 0.5, minConfidence: 0.5, outOfOrderness: "0ms", allowedLateness: "1h" });
    const ctx = recordingContext();
    op.onEvent!(pageView(D0 + DAY + HOUR), origin, ctx); // day D0 is closed from here on
    const late = purchase("late", D0 + 5 * HOUR, ["a"]);
    op.onEvent!(late, origin, ctx);
    op.onEvent!(purchase("in-time", D0 + DAY + 5 * MINUTE, ["x", "y"]), origin, ctx);
    op.onEnd(ctx);
    expect(ctx.lates).toEqual([{ event: late, watermark: D0 + DAY + HOUR, reason: "window_closed" }]);
    expect(ctx.rowsOf("basket_rules").map((row) => row.window_start)).toEqual([D0 + DAY, D0 + DAY]);
  });

  it("emits the same rows after a JSON snapshot and restore mid-window", () => {
    const events = [
      purchase("o1", D0 + MINUTE, ["a", "b"]),
      purchase("o2", D0 + 2 * MINUTE, ["a", "b", "c"]),
      purchase("o3", D0 + 3 * MINUTE, ["a", "c"]),
      purchase("o2", D0 + 4 * MINUTE, ["a", "b", "c"]),
      purchase("o4", D0 + DAY + MINUTE, ["b", "c"]),
    ];
    const config = { minSupport: 0.3, minConfidence: 0.5 };
    const straight = basket(config);
    const straightCtx = recordingContext();
    for (const event of events) straight.onEvent!(event, origin, straightCtx);
    straight.onEnd(straightCtx);

    const first = basket(config);
    const ctx = recordingContext();
    for (const event of events.slice(0, 3)) first.onEvent!(event, origin, ctx);
    const state = JSON.parse(JSON.stringify(first.snapshot()));
    const second = basket(config);
    second.restore(state);
    expect(second.snapshot()).toEqual(state);
    expect(second.stateBytes!()).toBe(first.stateBytes!());
    for (const event of events.slice(3)) second.onEvent!(event, origin, ctx);
    second.onEnd(ctx);
    expect(ctx.rows).toEqual(straightCtx.rows);
    expect(ctx.rows.length).toBeGreaterThan(0);
    expect(second.stateBytes!()).toBe(0);
  });

  it("goes on after a drain's end: its written days stay closed, later days count and close as before", () => {
    const drained = basket({ minSupport: 0.01, minConfidence: 0.3 });
    const first = recordingContext();
    drained.onEvent!(purchase("o1", D0 + HOUR, ["a", "b"]), origin, first);
    drained.onEvent!(purchase("o2", D0 + 2 * HOUR, ["a", "b"]), origin, first);
    drained.onEnd!(first);
    expect(first.rowsOf("basket_rules").map((rule) => rule.window_start)).toEqual([D0, D0]);

    const resumed = basket({ minSupport: 0.01, minConfidence: 0.3 });
    resumed.restore!(JSON.parse(JSON.stringify(drained.snapshot!())));
    const ctx = recordingContext();
    // The drained day was written: a purchase for it is late, as it would be in a run that never stopped.
    resumed.onEvent!(purchase("o3", D0 + 3 * HOUR, ["a", "c"]), origin, ctx);
    expect(ctx.lates.map((late) => [late.event.order_id, late.reason])).toEqual([["o3", "window_closed"]]);
    resumed.onEvent!(purchase("o4", D0 + 2 * DAY, ["c", "d"]), origin, ctx);
    resumed.onEvent!(purchase("o5", D0 + 2 * DAY + HOUR, ["c", "d"]), origin, ctx);
    resumed.onEvent!(pageView(D0 + 4 * DAY), origin, ctx);
    expect(ctx.rowsOf("basket_rules").map((rule) => [rule.window_start, rule.antecedent, rule.consequent])).toEqual([
      [D0 + 2 * DAY, "c", "d"],
      [D0 + 2 * DAY, "d", "c"],
    ]);
  });

  const received = (event: ClickEvent, receivedAt: number): ClickEvent => ({ ...event, received_at: receivedAt });

  /** A drain over `events`: the operator (for its snapshot) and what it wrote. */
  function drainOver(config: Record<string, unknown>, events: ClickEvent[]) {
    const operator = basket(config);
    const ctx = recordingContext();
    for (const event of events) operator.onEvent!(event, origin, ctx);
    operator.onEnd!(ctx);
    return { operator, ctx };
  }

  /** A run going on from the drain's checkpoint (through JSON, as stored) over `events`, to its own end. */
  function resumeAfter(config: Record<string, unknown>, drained: ReturnType<typeof basket>, events: ClickEvent[]) {
    const resumed = basket(config);
    resumed.restore!(JSON.parse(JSON.stringify(drained.snapshot!())));
    const ctx = recordingContext();
    for (const event of events) resumed.onEvent!(event, origin, ctx);
    resumed.onEnd!(ctx);
    return ctx;
  }

  it("after a drain whose input held a device clock minutes ahead past midnight, writes that day once, with the purchases of the run going on", () => {
    const config = { minSupport: 0.01, minConfidence: 0.3 };
    // Collected on day 0; one device's clock runs 4 minutes ahead (within maxFutureSkew, 5m): sent at 23:58, stamped
    // 00:02 of day 1, a page view and a purchase.
    const drainedInput = [
      received(purchase("o1", D0 + 9 * HOUR, ["a", "b"]), D0 + 9 * HOUR),
      received(pageView(D0 + DAY + 2 * MINUTE), D0 + DAY - 2 * MINUTE),
      received(purchase("o2", D0 + DAY + 2 * MINUTE, ["c", "d"]), D0 + DAY - 2 * MINUTE),
    ];
    const laterInput = [received(purchase("o3", D0 + DAY + 10 * HOUR, ["c", "e"]), D0 + DAY + 10 * HOUR), received(pageView(D0 + 2 * DAY + 2 * HOUR), D0 + 2 * DAY + 2 * HOUR)];
    const { operator: drained, ctx: first } = drainOver(config, drainedInput);
    // The drain wrote day 0 only: day 1 was reached by the clock ahead alone (the latest time that arrived is 23:58).
    expect(rulesOf(first)).toEqual([
      [D0, "a", "b", 1],
      [D0, "b", "a", 1],
    ]);
    // A final drain leaves that day's orders in the checkpoint, not in the lake.
    expect((drained.snapshot!() as { windows: [number, unknown[]][] }).windows.map(([start, orders]) => [start, orders.length])).toEqual([[D0 + DAY, 1]]);

    const ctx = resumeAfter(config, drained, laterInput);
    // Day 1 by hand, once: o2 {c, d} and o3 {c, e}; c in both (support 1), d and e in one (0.5). c ⇒ d: confidence
    // 0.5, lift 0.5 / (1 × 0.5) = 1; d ⇒ c: confidence 1, lift 1; likewise c ⇒ e and e ⇒ c.
    expect(rulesOf(ctx)).toEqual([
      [D0 + DAY, "c", "d", 1],
      [D0 + DAY, "c", "e", 1],
      [D0 + DAY, "d", "c", 1],
      [D0 + DAY, "e", "c", 1],
    ]);
    expect(ctx.rowsOf("basket_rules").every((rule) => rule.lift === 1)).toBe(true);
    expect(ctx.lates).toEqual([]);
    // Oracle: one run over both inputs that never stopped.
    expect([...first.rows, ...ctx.rows]).toEqual(drainOver(config, [...drainedInput, ...laterInput]).ctx.rows);
  });

  it("after a drain whose input held a device clock days ahead, writes that day once, with the purchases of the run going on", () => {
    const config = { minSupport: 0.01, minConfidence: 0.3 };
    // Sent on day 0 by a device whose clock says day 2: the drain's end stays on day 0.
    const drainedInput = [received(purchase("o1", D0 + HOUR, ["a", "b"]), D0 + HOUR), received(purchase("o2", D0 + 2 * DAY + HOUR, ["x", "y"]), D0 + HOUR)];
    const laterInput = [
      received(purchase("o3", D0 + DAY + HOUR, ["c", "d"]), D0 + DAY + HOUR),
      received(purchase("o4", D0 + 2 * DAY + 2 * HOUR, ["x", "z"]), D0 + 2 * DAY + 2 * HOUR),
    ];
    const { operator: drained, ctx: first } = drainOver(config, drainedInput);
    expect(rulesOf(first)).toEqual([
      [D0, "a", "b", 1],
      [D0, "b", "a", 1],
    ]);
    const ctx = resumeAfter(config, drained, laterInput);
    // Day 1 counts o3; day 2 was not written by the drain: its one set of rules holds o2 and o4 ({x, y}, {x, z}).
    expect(rulesOf(ctx)).toEqual([
      [D0 + DAY, "c", "d", 1],
      [D0 + DAY, "d", "c", 1],
      [D0 + 2 * DAY, "x", "y", 1],
      [D0 + 2 * DAY, "x", "z", 1],
      [D0 + 2 * DAY, "y", "x", 1],
      [D0 + 2 * DAY, "z", "x", 1],
    ]);
    expect(ctx.lates).toEqual([]);
    expect([...first.rows, ...ctx.rows]).toEqual(drainOver(config, [...drainedInput, ...laterInput]).ctx.rows);
  });

  it("after a drain of an earlier version, keeps the days it wrote for a clock ahead closed (closedWindows)", () => {
    // The basket state an earlier version's drain committed: the watermark ended at day 0 (its latest time capped at
    // received_at + maxFutureSkew, no arrivedThrough), day 2 written for a purchase stamped days ahead.
    const config = { minSupport: 0.01, minConfidence: 0.3 };
    const resumed = basket(config);
    resumed.restore!({ watermark: { current: "Infinity", partitions: [[0, D0 + HOUR + 5 * MINUTE]] }, windows: [], closedWindows: [D0 + 2 * DAY] });
    const ctx = recordingContext();
    resumed.onEvent!({ ...purchase("o3", D0 + DAY + HOUR, ["c", "d"]), received_at: D0 + DAY + HOUR }, origin, ctx);
    resumed.onEvent!({ ...purchase("o4", D0 + 2 * DAY + 2 * HOUR, ["e", "f"]), received_at: D0 + 2 * DAY + 2 * HOUR }, origin, ctx);
    resumed.onEvent!({ ...purchase("o5", D0 + 5 * MINUTE, ["g", "h"]), received_at: D0 + 2 * DAY + 2 * HOUR }, origin, ctx);
    resumed.onEnd!(ctx);
    // Day 1 counts o3; day 2 was written then, so o4 is late rather than a second set of day-2 rules; day 0 too.
    expect(rulesOf(ctx)).toEqual([
      [D0 + DAY, "c", "d", 1],
      [D0 + DAY, "d", "c", 1],
    ]);
    expect(ctx.lates.map((late) => [late.event.order_id, late.reason])).toEqual([
      ["o4", "window_closed"],
      ["o5", "window_closed"],
    ]);
  });
});
