// Properties of churnFeatures snapshots: independent of arrival order within outOfOrderness, point-in-time, duplicate-proof.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ClickEvent } from "../../src/events/event.ts";
import type { Row } from "../../src/sinks/table.ts";
import { OperatorHarness } from "../helpers/operator-harness.ts";
import { DAY, MINUTE, at, churnOperator, snapshotsOf } from "./churn-features-fixtures.ts";

const BASE = at("2024-02-27");
const USERS = ["ann", "bob", "cyd"];

interface Generated {
  event: ClickEvent;
  /** Arrival delay after event time, at most the operator's outOfOrderness (1m). */
  delay: number;
  /** When set, a second copy of this purchase (same order_id, new event_id) arrives this long after event time. */
  copyDelay: number | null;
}

// Times cluster around midnights so that disorder crosses snapshot boundaries.
const timeInDay = fc.oneof(
  fc.integer({ min: 0, max: DAY - 1 }),
  fc.integer({ min: DAY - 2 * MINUTE, max: DAY - 1 }),
  fc.integer({ min: 0, max: 2 * MINUTE }),
);

const generatedEvent = fc
  .record({
    purchase: fc.boolean(),
    // A quarter of the purchases are refunds (negative revenue).
    refund: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    user: fc.option(fc.constantFrom(...USERS), { nil: undefined, freq: 6 }),
    day: fc.integer({ min: 0, max: 4 }),
    time: timeInDay,
    revenue: fc.integer({ min: 1, max: 500 }).map((cents) => cents / 4),
    delay: fc.integer({ min: 0, max: MINUTE }),
    copyDelay: fc.option(fc.integer({ min: 0, max: MINUTE }), { nil: null }),
  })
  .map(({ purchase, refund, user, day, time, revenue, delay, copyDelay }): Omit<Generated, "event"> & { make: (i: number) => ClickEvent } => ({
    delay,
    copyDelay: purchase ? copyDelay : null,
    make: (i) => {
      const ts = BASE + day * DAY + time;
      const ids = user === undefined ? { anon_id: `anon-${i % 3}` } : { user_id: user };
      return purchase
        ? { type: "purchase", ts, event_id: `e${i}`, order_id: `o${i}`, revenue: refund ? -revenue : revenue, ...ids }
        : { type: "page_view", ts, event_id: `e${i}`, url: "https://shop.example/", ...ids };
    },
  }));

const generatedEvents = fc
  .array(generatedEvent, { minLength: 1, maxLength: 60 })
  .map((items) => items.map((item, i): Generated => ({ event: item.make(i), delay: item.delay, copyDelay: item.copyDelay })));

function runInOrder(events: ClickEvent[]) {
  const operator = churnOperator({ outOfOrderness: "1m", allowedLateness: "1h" });
  const harness = new OperatorHarness();
  harness.feed(operator, events);
  operator.onEnd(harness);
  return harness;
}

function byArrival(items: { event: ClickEvent; arrival: number }[]): ClickEvent[] {
  return items
    .map((item, index) => ({ ...item, index }))
    .sort((a, b) => a.arrival - b.arrival || a.index - b.index)
    .map((item) => item.event);
}

/**
 * The oracle: lifetimes' definitions computed naively from the events with time before the snapshot's end, refunds
 * (negative revenue) dropped from the transactions as lifetimes' data preparation drops returns, and netted into revenue.
 */
function expectedSnapshot(events: ClickEvent[], end: number): Map<string, Partial<Row>> {
  const snapshotDay = Math.floor((end - 1) / DAY);
  const expected = new Map<string, Partial<Row>>();
  const seen = events.filter((event) => event.ts < end && event.user_id !== undefined);
  for (const user of new Set(seen.map((event) => event.user_id!))) {
    const purchases = seen.filter((event) => event.user_id === user && event.type === "purchase" && event.revenue! >= 0);
    const refunds = seen.filter((event) => event.user_id === user && event.type === "purchase" && event.revenue! < 0);
    const perDay = new Map<number, number>();
    for (const p of purchases) perDay.set(Math.floor(p.ts / DAY), (perDay.get(Math.floor(p.ts / DAY)) ?? 0) + p.revenue!);
    const days = [...perDay.keys()].sort((a, b) => a - b);
    const revenue = [...purchases, ...refunds].reduce((sum, p) => sum + p.revenue!, 0);
    if (days.length === 0) {
      expected.set(user, { frequency: null, recency_days: null, t_days: null, monetary_value: null, orders_total: 0, revenue_total: revenue });
      continue;
    }
    const repeatRevenue = days.slice(1).reduce((sum, day) => sum + perDay.get(day)!, 0);
    expected.set(user, {
      first_purchase_ts: Math.min(...purchases.map((p) => p.ts)),
      last_purchase_ts: Math.max(...purchases.map((p) => p.ts)),
      frequency: days.length - 1,
      recency_days: days.at(-1)! - days[0],
      t_days: snapshotDay - days[0],
      monetary_value: days.length > 1 ? repeatRevenue / (days.length - 1) : 0,
      orders_total: purchases.length,
      revenue_total: revenue,
      days_since_last_purchase: snapshotDay - days.at(-1)!,
    });
  }
  return expected;
}

describe("churnFeatures - properties", () => {
  it("writes the same snapshots whatever the arrival order within outOfOrderness, each equal to the point-in-time oracle", () => {
    fc.assert(
      fc.property(generatedEvents, (generated) => {
        const events = generated.map((item) => item.event);
        const inTimeOrder = runInOrder(byArrival(generated.map((item) => ({ event: item.event, arrival: item.event.ts }))));
        const shuffled = runInOrder(byArrival(generated.map((item) => ({ event: item.event, arrival: item.event.ts + item.delay }))));
        expect(shuffled.lateEvents).toEqual([]);
        expect(shuffled.rowsOf("customer_features")).toEqual(inTimeOrder.rowsOf("customer_features"));
        expect(shuffled.rowsOf("_SUCCESS")).toEqual(inTimeOrder.rowsOf("_SUCCESS"));

        const { rows, successes } = snapshotsOf(shuffled);
        const firstDay = Math.floor(Math.min(...events.map((e) => e.ts)) / DAY);
        const lastDay = Math.floor(Math.max(...events.map((e) => e.ts)) / DAY);
        expect(successes).toHaveLength(lastDay - firstDay + 1);
        successes.forEach((date, i) => {
          expect(Date.parse(`${date}T00:00:00Z`) / DAY).toBe(firstDay + i);
          const expected = expectedSnapshot(events, Date.parse(`${date}T00:00:00Z`) + DAY);
          const actual = rows.get(date) ?? [];
          expect(actual.map((row) => row.customer_id).sort()).toEqual([...expected.keys()].sort());
          for (const row of actual) expect(row).toMatchObject(expected.get(String(row.customer_id))!);
        });
      }),
      { numRuns: 150 },
    );
  });

  it("ignores re-sent copies of orders and refunds (same order_id, new event_id) and counts each as a duplicate", async () => {
    await fc.assert(
      fc.asyncProperty(generatedEvents, async (generated) => {
        const original = runInOrder(byArrival(generated.map((item) => ({ event: item.event, arrival: item.event.ts }))));
        const arrivals = generated.map((item) => ({ event: item.event, arrival: item.event.ts + item.delay }));
        const copies = generated
          .filter((item) => item.copyDelay !== null)
          .map((item) => ({ event: { ...item.event, event_id: `${item.event.event_id}-copy` }, arrival: item.event.ts + item.copyDelay! }));
        const withCopies = runInOrder(byArrival([...arrivals, ...copies]));
        expect(withCopies.rowsOf("customer_features")).toEqual(original.rowsOf("customer_features"));
        expect(await withCopies.metricValue("clickpipe_events_duplicate_total")).toBe(copies.length);
      }),
      { numRuns: 100 },
    );
  });
});
