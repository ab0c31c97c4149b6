// Synthetic traffic: determinism, validity, order, and its ground truth checked by independent recomputation.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeRecord } from "../../src/events/decode.ts";
import type { ClickEvent } from "../../src/events/event.ts";
import { createTraffic, generateLines, generateTraffic, toNdjsonLine, DEFAULT_START } from "../../src/ingest/generate.ts";

const DAY = 86_400_000;
const MINUTE = 60_000;
const OPTIONS = { visitors: 600, days: 7, seed: 42 };

function digest(lines: Iterable<string>): string {
  const hash = createHash("sha256");
  for (const line of lines) hash.update(line + "\n");
  return hash.digest("hex");
}

const traffic = createTraffic(OPTIONS);
const lines = [...(function* () {
  for (const event of traffic.events()) yield toNdjsonLine(event);
})()];
const events: ClickEvent[] = lines.map((line) => {
  const result = decodeRecord(line, 0);
  if (!result.ok) throw new Error(`${result.reason}: ${result.message} in ${line}`);
  return result.event;
});
const { truth, counts } = traffic;

function byAnonId(): Map<string, ClickEvent[]> {
  const groups = new Map<string, ClickEvent[]>();
  for (const event of events) {
    const group = groups.get(event.anon_id as string);
    if (group === undefined) groups.set(event.anon_id as string, [event]);
    else group.push(event);
  }
  return groups;
}

describe("generateTraffic: determinism", () => {
  it("gives byte-identical output for the same seed", () => {
    expect(digest(generateLines(OPTIONS))).toBe(digest(lines));
  });

  it("gives different output for different seeds", () => {
    expect(digest(generateLines({ ...OPTIONS, seed: 43 }))).not.toBe(digest(lines));
  });

  it("emits exactly the lines generateLines emits", () => {
    expect(digest(generateLines(OPTIONS))).toBe(digest([...generateTraffic(OPTIONS)].map(toNdjsonLine)));
  });
});

describe("generateTraffic: every event", () => {
  it("decodes as a valid event with its own event_id and an ISO UTC ts", () => {
    expect(events.length).toBe(lines.length);
    expect(events.length).toBe(counts.events);
    for (const line of lines) expect(line).toMatch(/^\{"type":"[a-z_]+","ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","event_id":"/);
    expect(new Set(events.map((event) => event.event_id)).size).toBe(events.length);
  });

  it("lies in [start, start + days) and comes in event-time order", () => {
    expect(truth.start).toBe(DEFAULT_START);
    expect(truth.end).toBe(DEFAULT_START + 7 * DAY);
    for (let i = 0; i < events.length; i++) {
      expect(events[i].ts).toBeGreaterThanOrEqual(truth.start);
      expect(events[i].ts).toBeLessThan(truth.end);
      if (i > 0) expect(events[i].ts).toBeGreaterThanOrEqual(events[i - 1].ts);
    }
  });

  it("respects a custom start", () => {
    const start = Date.UTC(2015, 4, 17, 6);
    const custom = [...generateTraffic({ visitors: 50, days: 1, seed: 1, start })];
    expect(Math.min(...custom.map((event) => event.ts))).toBeGreaterThanOrEqual(start);
    expect(Math.max(...custom.map((event) => event.ts))).toBeLessThan(start + DAY);
  });
});

describe("generateTraffic: sessions", () => {
  it("separates visits of a device by more than 30 minutes and keeps pauses inside a visit under 30 minutes", () => {
    // Independent sessionization: a new session whenever a device is silent for more than 30 minutes.
    let sessions = 0;
    for (const deviceEvents of byAnonId().values()) {
      sessions++;
      for (let i = 1; i < deviceEvents.length; i++) {
        const gap = deviceEvents[i].ts - deviceEvents[i - 1].ts;
        expect(gap).toBeGreaterThan(0);
        // The generator never leaves a gap in (25 min, 31 min): a sessionizer's 30-minute rule cannot be borderline.
        expect(gap <= 25 * MINUTE || gap >= 31 * MINUTE).toBe(true);
        if (gap > 30 * MINUTE) sessions++;
      }
    }
    expect(sessions).toBe(counts.sessions);
  });

  it("has return visits, bounces, landing pages with utm parameters and external referrers", () => {
    const devices = byAnonId();
    const returning = [...devices.values()].filter((deviceEvents) =>
      deviceEvents.some((event, i) => i > 0 && event.ts - deviceEvents[i - 1].ts > DAY / 2),
    );
    expect(returning.length / devices.size).toBeGreaterThan(0.2);
    const pageViews = events.filter((event) => event.type === "page_view");
    expect(pageViews.some((event) => /[?&]utm_source=[^&]+&utm_medium=[^&]+&utm_campaign=/.test(event.url as string))).toBe(true);
    expect(pageViews.some((event) => (event.referrer as string).startsWith("https://www.google.com"))).toBe(true);
    expect(pageViews.some((event) => (event.url as string).startsWith("/search?q="))).toBe(true);
    for (const event of pageViews) expect(event.url).toMatch(/^\/(c\/[a-z-]+(\/p\/\d+)?|search\?q=\S+|cart|checkout)?(\?utm_\S+)?$/);
    expect(counts.sessions / events.length).toBeLessThan(0.2);
  });

  it("averages about 20 events per visitor over 3 days (the benchmark's scale)", () => {
    const threeDays = createTraffic({ visitors: 1500, days: 3, seed: 7 });
    let count = 0;
    for (const _event of threeDays.events()) count++;
    expect(count / 1500).toBeGreaterThan(15);
    expect(count / 1500).toBeLessThan(25);
  });
});

describe("generateTraffic: customers and orders", () => {
  it("links devices to customers only through identify events the truth predicts", () => {
    const deviceOwner = new Map<string, string>();
    for (const [userId, customer] of truth.customers) for (const anonId of customer.anonIds) deviceOwner.set(anonId, userId);
    const identifies = events.filter((event) => event.type === "identify");
    expect(identifies.length).toBeGreaterThan(0);
    for (const event of identifies) expect(deviceOwner.get(event.anon_id as string)).toBe(event.user_id);
    expect([...truth.customers.values()].some((customer) => customer.anonIds.length === 2)).toBe(true);
    // user_id appears on a device's events only from its first identify on.
    const identifiedAt = new Map<string, number>();
    for (const event of events) {
      if (event.type === "identify" && !identifiedAt.has(event.anon_id as string)) identifiedAt.set(event.anon_id as string, event.ts);
      if (event.user_id !== undefined) expect(event.ts).toBeGreaterThanOrEqual(identifiedAt.get(event.anon_id as string) as number);
    }
  });

  it("makes orders whose revenue is the sum of their items, by identified customers", () => {
    const purchases = events.filter((event) => event.type === "purchase");
    expect(purchases.length).toBe(counts.purchases);
    expect(purchases.length).toBeGreaterThan(20);
    expect(new Set(purchases.map((event) => event.order_id)).size).toBe(purchases.length);
    for (const purchase of purchases) {
      expect(truth.customers.has(purchase.user_id as string)).toBe(true);
      const items = purchase.items ?? [];
      expect(items.length).toBeGreaterThan(0);
      const cents = items.reduce((sum, item) => sum + Math.round((item.price as number) * 100) * (item.qty as number), 0);
      expect(Math.round((purchase.revenue as number) * 100)).toBe(cents);
      expect(purchase.currency).toBe("EUR");
      for (const item of items) expect(item.sku).toMatch(/^SKU-\d+$/);
    }
    const carts = events.filter((event) => event.type === "add_to_cart");
    expect(carts.length).toBeGreaterThan(purchases.length);
    const conversion = purchases.length / counts.sessions;
    expect(conversion).toBeGreaterThan(0.01);
    expect(conversion).toBeLessThan(0.15);
  });

  it("sends nothing from a churner at or after their churn instant, and something before it", () => {
    expect(truth.churnedCustomers.size).toBeGreaterThan(5);
    const lastSeen = new Map<string, number>();
    for (const event of events) {
      for (const id of [event.user_id, event.anon_id]) if (id !== undefined) lastSeen.set(id, event.ts);
    }
    for (const [userId, churnedAt] of truth.churnedCustomers) {
      expect(churnedAt % DAY).toBe(DEFAULT_START % DAY);
      expect(churnedAt).toBeGreaterThan(truth.start);
      expect(churnedAt).toBeLessThan(truth.end);
      const anonIds = (truth.customers.get(userId) as { anonIds: string[] }).anonIds;
      const seen = anonIds.map((anonId) => lastSeen.get(anonId)).filter((ts): ts is number => ts !== undefined);
      expect(seen.length).toBeGreaterThan(0);
      expect(Math.max(...seen)).toBeLessThan(churnedAt);
    }
    // Customers who stay are still seen in the second half of the period (most of them).
    const stayers = [...truth.customers].filter(([userId]) => !truth.churnedCustomers.has(userId));
    const seenLate = stayers.filter(([, customer]) => customer.anonIds.some((anonId) => (lastSeen.get(anonId) ?? 0) >= truth.start + 3.5 * DAY));
    expect(seenLate.length / stayers.length).toBeGreaterThan(0.5);
  });
});

describe("generateTraffic: bots", () => {
  it("has crawlers with a crawler user agent that send bursts over 100 events in 100 s; people never do", () => {
    expect(truth.bots.size).toBeGreaterThan(0);
    for (const [anonId, deviceEvents] of byAnonId()) {
      let burst = 0;
      for (let first = 0, last = 0; last < deviceEvents.length; last++) {
        while (deviceEvents[last].ts - deviceEvents[first].ts >= 100_000) first++;
        burst = Math.max(burst, last - first + 1);
      }
      if (truth.bots.has(anonId)) {
        expect(burst).toBeGreaterThan(100);
        expect(deviceEvents[0].ua).toMatch(/bot|python-requests/i);
        expect(deviceEvents.every((event) => event.user_id === undefined)).toBe(true);
      } else {
        expect(burst).toBeLessThan(60);
        expect(deviceEvents[0].ua).not.toMatch(/bot/i);
      }
    }
  });
});
