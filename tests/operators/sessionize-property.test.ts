// sessionize invariant (issue 3, rule 7) as a property: any arrival order within allowedLateness gives the sessions of
// a simple reference sessionizer over the time-sorted events; snapshot/restore mid-stream changes nothing.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ClickEvent } from "../../src/events/event.ts";
import { eventIdHash } from "../../src/operators/sessionize-hash.ts";
import { float64ColumnOf } from "../../src/runtime/float64-text.ts";
import { isLive, parseVisitorKey, SESSION_SLOTS, STATUS } from "../../src/operators/sessionize-visitor.ts";
import type { Operator } from "../../src/runtime/operator.ts";
import type { Row } from "../../src/sinks/table.ts";
import { OperatorHarness, currentView } from "../helpers/operator-harness.ts";
import { sessionize } from "./sessionize-fixtures.ts";

const GAP = 1000;
const MAX_DURATION = 3000;
const MAX_EVENTS = 8;
const ALLOWED_LATENESS = 3000;
const CONFIG = {
  gap: "1s",
  maxDuration: "3s",
  maxEvents: MAX_EVENTS,
  outOfOrderness: "200ms",
  allowedLateness: "3s",
  idleTimeout: "1d",
  splitAtMidnight: "Europe/Berlin",
  splitOnCampaignChange: true,
};
/** 4 s before midnight in Berlin, so generated traffic crosses a local midnight. */
const BASE = Date.UTC(2024, 2, 9, 23, 0, 0) - 4000;

const berlinDay = new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Berlin" });

interface Generated {
  events: ClickEvent[];
  /** Per event (and per duplicate), a delay in [0, allowedLateness) defining the arrival order. */
  arrivals: ClickEvent[];
}

/** The reference: sort by (ts, event id hash), split greedily, build the columns the property compares. */
function referenceSessions(events: ClickEvent[]): Row[] {
  const byVisitor = new Map<string, ClickEvent[]>();
  for (const event of events) {
    const list = byVisitor.get(event.anon_id as string) ?? [];
    list.push(event);
    byVisitor.set(event.anon_id as string, list);
  }
  const sessions: Row[] = [];
  for (const [visitor, list] of byVisitor) {
    list.sort((a, b) => a.ts - b.ts || eventIdHash(a.event_id) - eventIdHash(b.event_id));
    const runs: { events: ClickEvent[]; reason: string }[] = [];
    for (const event of list) {
      const current = runs.at(-1);
      const previous = current?.events.at(-1);
      let reason: string | null = "gap";
      if (current !== undefined && previous !== undefined) {
        const campaign = (e: ClickEvent) => new URL(e.url ?? "https://x/", "https://x/").searchParams.get("utm_source") ?? "";
        // A session's campaign is its first event with a url's; events without one neither split nor set it.
        const arrival = current.events.find((e) => e.url !== undefined);
        reason = null;
        if (event.ts - previous.ts > GAP) reason = "gap";
        else if (event.ts - current.events[0].ts >= MAX_DURATION) reason = "max_duration";
        else if (current.events.length >= MAX_EVENTS) reason = "max_events";
        else if (berlinDay.format(event.ts) !== berlinDay.format(previous.ts)) reason = "midnight";
        else if (arrival !== undefined && campaign(event) !== "" && campaign(event) !== campaign(arrival)) reason = "campaign";
      }
      if (reason === null) current?.events.push(event);
      else runs.push({ events: [event], reason });
    }
    let knownUser: string | null = null;
    for (const run of runs) {
      const pageViews = run.events.filter((e) => e.type === "page_view");
      const ownUser = run.events.findLast((e) => e.user_id !== undefined)?.user_id ?? null;
      knownUser = ownUser ?? knownUser;
      const start = run.events[0].ts;
      const end = run.events.at(-1)?.ts as number;
      sessions.push({
        visitor_id: visitor,
        start_ts: start,
        end_ts: end,
        event_count: run.events.length,
        pageview_count: pageViews.length,
        split_reason: run.reason,
        user_id: knownUser,
        landing_url: pageViews[0]?.url ?? null,
        exit_url: pageViews.at(-1)?.url ?? null,
        page_path: pageViews.map((e) => new URL(e.url as string).pathname),
        revenue: run.events.reduce((sum, e) => sum + (e.type === "purchase" ? (e.revenue as number) : 0), 0),
        utm_source: new URL(run.events.find((e) => e.url !== undefined)?.url ?? "https://x/").searchParams.get("utm_source"),
      });
    }
  }
  return sortRows(sessions);
}

function sortRows(rows: Row[]): Row[] {
  // Two sessions of one visitor may start in the same millisecond (a split between simultaneous events): the whole
  // row breaks the tie, so both sides sort alike.
  return rows.sort(
    (a, b) =>
      String(a.visitor_id).localeCompare(String(b.visitor_id)) ||
      (a.start_ts as number) - (b.start_ts as number) ||
      JSON.stringify(a).localeCompare(JSON.stringify(b)),
  );
}

function comparable(rows: Row[]): Row[] {
  const columns = ["visitor_id", "start_ts", "end_ts", "event_count", "pageview_count", "split_reason", "user_id", "landing_url", "exit_url", "page_path", "revenue", "utm_source"];
  return sortRows(rows.map((row) => Object.fromEntries(columns.map((column) => [column, row[column]]))));
}

const eventArbitrary = fc.record({
  visitor: fc.constantFrom("a", "b", "c"),
  step: fc.integer({ min: 0, max: 1000 }),
  type: fc.constantFrom("page_view", "page_view", "click", "purchase", "identify"),
  utm: fc.constantFrom(null, null, null, null, null, null, "news", "ads"),
  user: fc.constantFrom(undefined, undefined, undefined, "u1", "u2"),
  revenue: fc.integer({ min: 1, max: 100 }),
  delay: fc.integer({ min: 0, max: ALLOWED_LATENESS - 1 }),
  duplicate: fc.option(fc.integer({ min: 0, max: ALLOWED_LATENESS - 1 }), { freq: 8 }),
});

/** Per case, the largest step between a visitor's events: dense traffic hits the hard splits, sparse the gap. */
const trafficArbitrary = fc.tuple(fc.constantFrom(400, 900, 1500), fc.array(eventArbitrary, { minLength: 1, maxLength: 60, size: "max" })).map(([maxStep, specs]): Generated => {
  const clocks = new Map<string, number>();
  const events: ClickEvent[] = [];
  const arrivals: { event: ClickEvent; at: number; order: number }[] = [];
  specs.forEach((spec, index) => {
    const ts = (clocks.get(spec.visitor) ?? BASE) + Math.round((spec.step * maxStep) / 1000);
    clocks.set(spec.visitor, ts);
    const type = spec.type as ClickEvent["type"];
    const event: ClickEvent = { type, ts, event_id: `ev${index}`, anon_id: spec.visitor, site_id: "s" };
    if (type === "page_view") event.url = `https://shop.example/p${index % 3}${spec.utm === null ? "" : `?utm_source=${spec.utm}`}`;
    if (type === "purchase") Object.assign(event, { order_id: `o${index}`, revenue: spec.revenue });
    if (type === "identify") event.user_id = spec.user ?? "u3";
    else if (spec.user !== undefined) event.user_id = spec.user;
    events.push(event);
    arrivals.push({ event, at: ts + spec.delay, order: arrivals.length });
    if (spec.duplicate !== null) arrivals.push({ event: { ...event }, at: ts + spec.duplicate, order: arrivals.length });
  });
  arrivals.sort((x, y) => x.at - y.at || x.order - y.order);
  return { events, arrivals: arrivals.map((arrival) => arrival.event) };
});

function runAll(operator: Operator, harness: OperatorHarness, events: ClickEvent[]): void {
  harness.feed(operator, events);
  operator.onEnd(harness);
}

/**
 * After end of input no visitor, pooled string or timer is left, only the identity map of rule 10: per visitor that
 * carried a user_id, the user_id of its latest event (by ts, then event-id hash) that has one.
 */
function expectOnlyIdentitiesLeft(operator: Operator, arrivals: ClickEvent[]): void {
  const snapshot = operator.snapshot() as { visitors: { keys: string[] }; pool: { strings: (string | null)[] }; identities: [string, string][] };
  expect(snapshot.visitors.keys).toEqual([]);
  expect(snapshot.pool.strings.filter((text) => text !== null)).toEqual([]);
  const latest = new Map<string, ClickEvent>();
  for (const event of arrivals) {
    if (event.user_id === undefined) continue;
    const known = latest.get(event.anon_id as string);
    const later = known === undefined || event.ts > known.ts || (event.ts === known.ts && eventIdHash(event.event_id) > eventIdHash(known.event_id));
    if (later) latest.set(event.anon_id as string, event);
  }
  const identities = new Map(snapshot.identities.map(([key, user]) => [parseVisitorKey(key).anonId, user]));
  expect(identities).toEqual(new Map([...latest].map(([anonId, event]) => [anonId, event.user_id])));
  expect(operator.stateBytes?.() === 0).toBe(latest.size === 0);
}

describe("sessionize - invariant over arrival orders", () => {
  it("gives the reference sessions of the time-sorted events for any arrival order within allowedLateness", () => {
    fc.assert(
      fc.property(trafficArbitrary, ({ events, arrivals }) => {
        const harness = new OperatorHarness();
        runAll(sessionize(CONFIG), harness, arrivals);
        expect(harness.lateEvents).toEqual([]);
        const view = currentView(harness.rowsOf("sessions"));
        expect(comparable(view)).toEqual(comparable(referenceSessions(events)));

        // Stable ids: the same session ids as the in-order run.
        const sorted = [...events].sort((a, b) => a.ts - b.ts);
        const inOrder = new OperatorHarness();
        runAll(sessionize(CONFIG), inOrder, sorted);
        const ids = (rows: Row[]) => sortRows(rows.map((row) => ({ visitor_id: row.visitor_id, start_ts: row.start_ts, id: row.session_id })));
        expect(ids(view)).toEqual(ids(currentView(inOrder.rowsOf("sessions"))));
      }),
      { numRuns: 400 },
    );
  });

  it("continues identically after snapshot -> JSON -> restore into a fresh operator at any point", () => {
    fc.assert(
      fc.property(trafficArbitrary, fc.nat(), ({ arrivals }, cutSeed) => {
        const cut = cutSeed % (arrivals.length + 1);
        const whole = new OperatorHarness();
        const uninterrupted = sessionize(CONFIG);
        runAll(uninterrupted, whole, arrivals);
        expectOnlyIdentitiesLeft(uninterrupted, arrivals);

        const split = new OperatorHarness();
        const before = sessionize(CONFIG);
        split.feed(before, arrivals.slice(0, cut));
        const after = sessionize(CONFIG);
        // Serialized at once, or (copy-on-write: the snapshot reads the visitors' events only then) after the rest of
        // the arrivals went into the operator it was taken from: the same text.
        const now = JSON.stringify(before.snapshot());
        const later = before.snapshot();
        if (cutSeed % 2 === 1) {
          // Inserts anywhere, then end of input: every session flushed and every event evicted (removed prefixes).
          runAll(before, new OperatorHarness(), arrivals.slice(cut));
          expect(JSON.stringify(later)).toBe(now);
        }
        after.restore(JSON.parse(now));
        runAll(after, split, arrivals.slice(cut));
        // After end of input every session is flushed and evicted: counters and string refcounts are back to zero.
        expectOnlyIdentitiesLeft(after, arrivals);
        expect(after.stateBytes?.()).toBe(uninterrupted.stateBytes?.());

        expect(split.rowsOf("sessions")).toEqual(whole.rowsOf("sessions"));
        expect(split.sessionWatermarks).toEqual(whole.sessionWatermarks);
      }),
      { numRuns: 200 },
    );
  });
});

// Checkpoints the earlier code wrote: format 1 (a tuple per session, before 2026-12-04) and format 2 (an object per
// visitor with its events and sessions as float64 columns, text when long and numbers when short; before session 28).
// Both fixtures hold the same seeded streams and cuts (tests/fixtures/sessionize/generate-format1.ts).
describe.each([
  { format: 1, file: "format1-snapshots.json" },
  { format: 2, file: "format2-snapshots.json" },
])("sessionize - checkpoints of format $format", ({ format, file }) => {
  interface SnapshotFixture {
    config: Record<string, unknown>;
    streams: { events: ClickEvent[]; cuts: { cut: number; rowsBefore: number; snapshot: unknown }[] }[];
  }
  const fixture = JSON.parse(readFileSync(new URL(`../fixtures/sessionize/${file}`, import.meta.url), "utf8")) as SnapshotFixture;

  it("restores a snapshot the earlier code wrote and continues exactly as an uninterrupted run", () => {
    let liveSessions = 0;
    const columnForms = new Set<string>();
    for (const { events, cuts } of fixture.streams) {
      const whole = new OperatorHarness();
      const uninterrupted = sessionize(fixture.config);
      runAll(uninterrupted, whole, events);
      for (const { cut, rowsBefore, snapshot } of cuts) {
        const { visitors } = snapshot as { format: number; visitors: { events: unknown; sessions: unknown }[] };
        expect((snapshot as { format: number }).format).toBe(format);
        if (format === 1) {
          liveSessions += (visitors as { sessions: [number, number, number, boolean][] }[]).flatMap((visitor) => visitor.sessions).filter((session) => session[3]).length;
        } else {
          for (const visitor of visitors) columnForms.add(typeof visitor.events);
          liveSessions += visitors.flatMap((visitor) => float64ColumnOf(visitor.sessions as string | number[]).filter((_, i) => i % SESSION_SLOTS === STATUS)).filter(isLive).length;
        }
        const after = sessionize(fixture.config);
        after.restore(structuredClone(snapshot));
        const split = new OperatorHarness();
        runAll(after, split, events.slice(cut));
        expect(split.rowsOf("sessions")).toEqual(whole.rowsOf("sessions").slice(rowsBefore));
        expectOnlyIdentitiesLeft(after, events);
        expect(after.stateBytes?.()).toBe(uninterrupted.stateBytes?.());
      }
    }
    // The cuts hold sessions already emitted and still open to updates (their user_id compared on each change).
    expect(liveSessions).toBeGreaterThan(20);
    // Format 2 wrote long columns as text and short ones as numbers: the fixture holds both.
    if (format === 2) expect([...columnForms].sort()).toEqual(["object", "string"]);
  });
});
