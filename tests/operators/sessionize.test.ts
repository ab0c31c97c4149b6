// sessionize: hand-built cases for each rule of issue 3 (gap, splits, watermark, late data, ids, identity, columns).
import { describe, expect, it } from "vitest";
import { sessionizeConfig, sessionsTable } from "../../src/operators/sessionize.ts";
import { LocalDayCalendar } from "../../src/operators/sessionize-local-day.ts";
import type { SessionRecord } from "../../src/runtime/operator.ts";
import { float64ColumnOf } from "../../src/runtime/float64-text.ts";
import { OperatorHarness, currentView } from "../helpers/operator-harness.ts";
import { HOUR, MINUTE, SECOND, T0, event, sessionize } from "./sessionize-fixtures.ts";

type SessionRow = Omit<SessionRecord, "cart_adds">;

function run(events: ReturnType<typeof event>[], overrides: Record<string, unknown> = {}) {
  const operator = sessionize(overrides);
  const harness = new OperatorHarness();
  harness.feed(operator, events);
  operator.onEnd(harness);
  return { operator, harness, view: currentView(harness.rowsOf("sessions")) as unknown as SessionRow[] };
}

function spans(rows: SessionRow[]) {
  return rows
    .map((row) => ({ visitor: row.visitor_id, start: row.start_ts, end: row.end_ts, count: row.event_count, reason: row.split_reason }))
    .sort((a, b) => a.visitor.localeCompare(b.visitor) || a.start - b.start);
}

describe("sessionize - gap", () => {
  it("keeps two events exactly 30 min apart in one session (touching windows merge)", () => {
    const { view } = run([event("a", T0), event("a", T0 + 30 * MINUTE)]);
    expect(spans(view)).toEqual([{ visitor: "a", start: T0, end: T0 + 30 * MINUTE, count: 2, reason: "gap" }]);
  });

  it("starts a new session 30 min + 1 ms after the last event", () => {
    const { view } = run([event("a", T0), event("a", T0 + 30 * MINUTE + 1)]);
    expect(spans(view)).toEqual([
      { visitor: "a", start: T0, end: T0, count: 1, reason: "gap" },
      { visitor: "a", start: T0 + 30 * MINUTE + 1, end: T0 + 30 * MINUTE + 1, count: 1, reason: "gap" },
    ]);
  });

  it("keys sessions by (site_id, anon_id)", () => {
    const { view } = run([event("a", T0), event("a", T0 + MINUTE, { site_id: "blog" }), event("b", T0 + 2 * MINUTE)]);
    expect(view.map((row) => [row.site_id, row.visitor_id, row.event_count]).sort()).toEqual([
      ["blog", "a", 1],
      ["shop", "a", 1],
      ["shop", "b", 1],
    ]);
  });

  it("ignores events without anon_id", () => {
    const { view, harness } = run([event("a", T0), { ...event("x", T0 + MINUTE), anon_id: undefined, user_id: "u1" }]);
    expect(view).toHaveLength(1);
    expect(harness.lateEvents).toEqual([]);
  });
});

describe("sessionize - hard splits", () => {
  it("begins a new session with the event at start + 12 h", () => {
    const events = [];
    for (let t = 0; t <= 12 * HOUR; t += 20 * MINUTE) events.push(event("a", T0 + t));
    const { view } = run(events);
    expect(spans(view)).toEqual([
      { visitor: "a", start: T0, end: T0 + 12 * HOUR - 20 * MINUTE, count: 36, reason: "gap" },
      { visitor: "a", start: T0 + 12 * HOUR, end: T0 + 12 * HOUR, count: 1, reason: "max_duration" },
    ]);
  });

  it("splits after maxEvents events", () => {
    const { view } = run([0, 1, 2, 3, 4].map((i) => event("a", T0 + i * SECOND)), { maxEvents: 3 });
    expect(spans(view).map((s) => [s.count, s.reason])).toEqual([
      [3, "gap"],
      [2, "max_events"],
    ]);
  });

  it("splits at local midnight in Europe/Berlin, not at UTC midnight", () => {
    // 22:50Z and 23:10Z are 23:50 and 00:10 in Berlin (CET, UTC+1); 23:50Z and 00:10Z are 00:50 and 01:10.
    const berlin = [
      event("a", Date.UTC(2024, 2, 9, 22, 50)),
      event("a", Date.UTC(2024, 2, 9, 23, 10)),
      event("b", Date.UTC(2024, 2, 9, 23, 50)),
      event("b", Date.UTC(2024, 2, 10, 0, 10)),
    ];
    const { view } = run(berlin, { splitAtMidnight: "Europe/Berlin" });
    expect(spans(view).map((s) => [s.visitor, s.count, s.reason])).toEqual([
      ["a", 1, "gap"],
      ["a", 1, "midnight"],
      ["b", 2, "gap"],
    ]);
  });

  it("rejects an unknown time zone in its config, as validate reports it, and at construction", () => {
    const parsed = sessionizeConfig.safeParse({ type: "sessionize", splitAtMidnight: "Mars/Olympus" });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => [issue.path.join("."), issue.message])).toEqual([["splitAtMidnight", 'unknown time zone "Mars/Olympus"']]);
    expect(() => new LocalDayCalendar("Mars/Olympus")).toThrow(/unknown time zone "Mars\/Olympus"/);
  });

  it("splits on a campaign change but not on internal navigation or the same campaign", () => {
    const base = "https://shop.example";
    const events = [
      event("a", T0, { url: `${base}/?utm_source=news&utm_medium=email`, referrer: "" }),
      event("a", T0 + MINUTE, { url: `${base}/c/shoes`, referrer: `${base}/` }),
      event("a", T0 + 2 * MINUTE, { url: `${base}/?utm_source=news&utm_medium=email` }),
      event("a", T0 + 3 * MINUTE, { url: `${base}/?utm_source=ads&gclid=xyz` }),
      event("a", T0 + 4 * MINUTE, { url: `${base}/c/bags`, referrer: "https://www.google.com/search" }),
    ];
    const { view } = run(events, { splitOnCampaignChange: true });
    expect(spans(view).map((s) => [s.count, s.reason])).toEqual([
      [3, "gap"],
      [1, "campaign"],
      [1, "campaign"],
    ]);
    const sorted = [...view].sort((a, b) => a.start_ts - b.start_ts);
    expect(sorted.map((row) => row.utm_source)).toEqual(["news", "ads", null]);
    expect(sorted[2].referrer).toBe("https://www.google.com/search");
  });

  it("does not split on campaign changes unless splitOnCampaignChange is on", () => {
    const { view } = run([
      event("a", T0, { url: "https://shop.example/?utm_source=news" }),
      event("a", T0 + MINUTE, { url: "https://shop.example/?utm_source=ads" }),
    ]);
    // One session of both events, ended by the gap, attributed to the campaign it started with.
    expect(spans(view)).toEqual([{ visitor: "a", start: T0, end: T0 + MINUTE, count: 2, reason: "gap" }]);
    expect(view[0].utm_source).toBe("news");
  });
});

describe("sessionize - watermark and finals", () => {
  it("emits a session (version 1) only once the watermark passes end + gap", () => {
    const operator = sessionize();
    const harness = new OperatorHarness();
    harness.feed(operator, [event("a", T0)]);
    // watermark = T0 + 31 min - 1 min = T0 + 30 min = end + gap: not past it yet.
    harness.feed(operator, [event("b", T0 + 31 * MINUTE)]);
    expect(harness.rowsOf("sessions")).toEqual([]);
    harness.feed(operator, [event("b", T0 + 31 * MINUTE + 1)]);
    expect(harness.rowsOf("sessions").map((row) => [row.visitor_id, row.version])).toEqual([["a", 1]]);
    expect(harness.sessionWatermarks.at(-1)).toBe(T0 + 30 * MINUTE + 1);
    operator.onEnd(harness);
    expect(harness.sessionWatermarks.at(-1)).toBe(Infinity);
    expect(harness.rowsOf("sessions").map((row) => [row.visitor_id, row.version])).toEqual([
      ["a", 1],
      ["b", 1],
    ]);
  });

  it("keeps one visitor's far-future clock from closing other sessions (maxFutureSkew)", async () => {
    const operator = sessionize();
    const harness = new OperatorHarness(T0);
    harness.feed(operator, [event("a", T0, { received_at: T0 })]);
    harness.feed(operator, [event("skewed", T0 + 24 * HOUR, { received_at: T0 + SECOND })]);
    // The skewed event only counts up to received_at + 5 min, so the watermark is T0 + 1 s + 4 min.
    expect(operator.watermark?.()).toBe(T0 + SECOND + 4 * MINUTE);
    expect(harness.rowsOf("sessions")).toEqual([]);
    // a's session is still open: a later event joins it.
    harness.feed(operator, [event("a", T0 + 20 * MINUTE, { received_at: T0 + 20 * MINUTE })]);
    operator.onEnd(harness);
    const a = currentView(harness.rowsOf("sessions")).filter((row) => row.visitor_id === "a");
    expect(a.map((row) => row.event_count)).toEqual([2]);
    expect(await harness.metricValue("clickpipe_events_late_total")).toBe(0);
  });

  it("stops waiting for an idle partition after idleTimeout of processing time", () => {
    const operator = sessionize();
    const harness = new OperatorHarness(0);
    harness.send(operator, event("slow", T0), { partition: 1, sequence: 1 });
    harness.send(operator, event("a", T0), { partition: 0, sequence: 1 });
    harness.send(operator, event("a", T0 + 2 * HOUR), { partition: 0, sequence: 2 });
    operator.onTick?.(harness);
    expect(operator.watermark?.()).toBe(T0 - MINUTE);
    expect(harness.rowsOf("sessions")).toEqual([]);
    harness.advanceClock(MINUTE);
    operator.onTick?.(harness);
    expect(operator.watermark?.()).toBe(T0 + 2 * HOUR - MINUTE);
    expect(harness.rowsOf("sessions").map((row) => [row.visitor_id, row.start_ts]).sort()).toEqual([
      ["a", T0],
      ["slow", T0],
    ]);
  });
});

describe("sessionize - late data", () => {
  it("merges two emitted sessions bridged by a late event: the later one is retracted, the earlier re-emitted", async () => {
    const operator = sessionize();
    const harness = new OperatorHarness();
    const first = event("a", T0);
    const second = event("a", T0 + 40 * MINUTE);
    harness.feed(operator, [first, second, event("z", T0 + 80 * MINUTE)]);
    const emitted = harness.rowsOf("sessions").map((row) => ({ ...row }));
    expect(emitted.map((row) => [row.start_ts, row.version, row.retracted])).toEqual([
      [T0, 1, false],
      [T0 + 40 * MINUTE, 1, false],
    ]);
    // Watermark T0 + 79 min: both sessions are final (end + 30 min passed) and retained (end + 90 min not reached).
    harness.feed(operator, [event("a", T0 + 20 * MINUTE)]);
    const after = harness.rowsOf("sessions").slice(2);
    expect(after.map((row) => [row.session_id, row.version, row.retracted, row.event_count])).toEqual([
      [emitted[1].session_id, 2, true, 1],
      [emitted[0].session_id, 2, false, 3],
    ]);
    expect(harness.sessions.slice(2).map((s) => [s.session_id, s.version, s.retracted])).toEqual(
      after.map((row) => [row.session_id, row.version, row.retracted]),
    );
    operator.onEnd(harness);
    const a = currentView(harness.rowsOf("sessions")).filter((row) => row.visitor_id === "a");
    expect(a.map((row) => [row.session_id, row.start_ts, row.end_ts, row.event_count])).toEqual([
      [emitted[0].session_id, T0, T0 + 40 * MINUTE, 3],
    ]);
    expect(await harness.metricValue("clickpipe_sessions_emitted_total", { kind: "retraction" })).toBe(1);
    expect(await harness.metricValue("clickpipe_sessions_emitted_total", { kind: "update" })).toBe(1);
    expect(await harness.metricValue("clickpipe_sessions_emitted_total", { kind: "final" })).toBe(3);
    expect(await harness.metricValue("clickpipe_events_late_total")).toBe(0);
  });

  it("sends an event no retained session can take and allowedLateness or more behind the watermark to late_events", async () => {
    const operator = sessionize();
    const harness = new OperatorHarness();
    harness.feed(operator, [event("a", T0 + 3 * HOUR)]);
    const watermark = T0 + 3 * HOUR - MINUTE;
    // ts + 1 h = T0 + 2h58m ≤ watermark: too late.
    const tooLate = event("b", T0 + 2 * HOUR - 2 * MINUTE);
    // ts + 1 h > watermark: a new visitor's first event a bit behind still starts a session.
    const behindButFine = event("c", T0 + 2 * HOUR);
    harness.feed(operator, [tooLate, behindButFine]);
    expect(harness.lateEvents).toEqual([{ event: tooLate, watermarkAtArrival: watermark, reason: "too_late" }]);
    expect(await harness.metricValue("clickpipe_events_late_total")).toBe(1);
    // c's session (end + gap long passed) is emitted at once.
    expect(harness.rowsOf("sessions").map((row) => [row.visitor_id, row.start_ts])).toEqual([["c", T0 + 2 * HOUR]]);
  });

  it("retracts the old id when a late event becomes a session's first event, giving the time-sorted run's id", () => {
    const later = event("a", T0 + 10 * MINUTE);
    const earlier = event("a", T0);
    const push = event("z", T0 + HOUR);
    const { harness } = run([later, push, earlier]);
    const sorted = run([earlier, later, push]);
    const rows = harness.rowsOf("sessions").filter((row) => row.visitor_id === "a");
    expect(rows.map((row) => [row.start_ts, row.version, row.retracted])).toEqual([
      [T0 + 10 * MINUTE, 1, false],
      [T0 + 10 * MINUTE, 2, true],
      [T0, 1, false],
    ]);
    const ids = (view: SessionRow[]) => view.map((row) => row.session_id).sort();
    expect(ids(currentView(harness.rowsOf("sessions")) as unknown as SessionRow[])).toEqual(ids(sorted.view));
  });

  it("counts a repeated event_id once", async () => {
    const first = event("a", T0);
    const { view, harness } = run([first, event("a", T0 + MINUTE), { ...first }]);
    expect(view.map((row) => row.event_count)).toEqual([2]);
    expect(await harness.metricValue("clickpipe_events_duplicate_total")).toBe(1);
  });

  it("forgets a visitor's event ids once its sessions are evicted (end + gap + allowedLateness)", () => {
    const operator = sessionize();
    const harness = new OperatorHarness();
    const first = event("a", T0);
    harness.feed(operator, [first, event("z", T0 + 91 * MINUTE + 1), { ...first }]);
    expect(operator.stateBytes?.()).toBeGreaterThan(0);
    expect(harness.lateEvents.map((late) => late.event.event_id)).toEqual([first.event_id]);
  });
});

describe("sessionize - late data against evicted sessions", () => {
  it("an event never starts a session of its own in place of the evicted one it belongs to: it is late instead", () => {
    // Defaults: gap 30m, allowedLateness 1h, outOfOrderness 1m. b at 11:32 puts the watermark at 11:31, past a's
    // eviction (end 10:00 + gap + allowedLateness). a2 at 10:20 belongs with it: late (10:20 + 1h ≤ 11:31), where
    // accepting it (as the rule ts + gap + allowedLateness did) made it a session of its own without a word.
    const a2 = event("a", T0 + 20 * MINUTE);
    const { view, harness } = run([event("a", T0), event("b", T0 + 92 * MINUTE), a2]);
    expect(spans(view).filter((s) => s.visitor === "a")).toEqual([{ visitor: "a", start: T0, end: T0, count: 1, reason: "gap" }]);
    expect(harness.lateEvents.map((late) => late.event.event_id)).toEqual([a2.event_id]);
    // Less than allowedLateness behind the watermark, an event still joins its session as the sorted run has it.
    const { view: inTime, harness: none } = run([event("c", T0), event("d", T0 + 80 * MINUTE), event("c", T0 + 20 * MINUTE)]);
    expect(spans(inTime).filter((s) => s.visitor === "c")).toEqual([{ visitor: "c", start: T0, end: T0 + 20 * MINUTE, count: 2, reason: "gap" }]);
    expect(none.lateEvents).toEqual([]);
  });

  it("an old event next to a retained session is late, not absorbed, when a session evicted before it was within gap", () => {
    const a2 = event("a", T0 + 20 * MINUTE);
    // maxEvents 2: [10:00, 10:20] and [10:40, 11:00] (max_events). f at 12:01 (watermark 12:00) evicts the first
    // (end 10:20 + gap + allowedLateness), keeps the second; then a2 comes again, within gap of the retained one.
    const { view, harness } = run(
      [event("a", T0), a2, event("a", T0 + 40 * MINUTE), event("a", T0 + 60 * MINUTE), event("f", T0 + 121 * MINUTE), { ...a2 }],
      { maxEvents: 2 },
    );
    expect(spans(view).filter((s) => s.visitor === "a").map(({ start, end, count }) => [start, end, count])).toEqual([
      [T0, T0 + 20 * MINUTE, 2],
      [T0 + 40 * MINUTE, T0 + 60 * MINUTE, 2],
    ]);
    expect(harness.lateEvents.map((late) => late.event.event_id)).toEqual([a2.event_id]);
  });
});

describe("sessionize - identity and columns", () => {
  it("takes the last user_id by event time and stitches later sessions of the visitor to it", () => {
    const { view } = run([
      event("a", T0),
      event("a", T0 + MINUTE, { type: "identify", user_id: "u1" }),
      event("a", T0 + 2 * MINUTE, { user_id: "u2" }),
      event("a", T0 + 3 * MINUTE),
      // A new session without user_id: stitched to the visitor's last known user.
      event("a", T0 + 2 * HOUR),
    ]);
    expect(spans(view).map((s) => s.count)).toEqual([4, 1]);
    expect([...view].sort((x, y) => x.start_ts - y.start_ts).map((row) => row.user_id)).toEqual(["u2", "u2"]);
  });

  it("stitches a visitor to its last known user after its state was evicted: returning later, or by a late event", () => {
    const { view, operator } = run([
      event("a", T0, { user_id: "u1" }),
      // Visitor b moves the watermark past a's eviction (end + gap + allowedLateness = T0 + 1h30m): a's state is dropped.
      event("b", T0 + 2 * HOUR),
      // A late event of a (behind the watermark by less than allowedLateness): a new session after the evicted one.
      event("a", T0 + 60 * MINUTE),
      // And a's return the next day.
      event("b", T0 + 26 * HOUR),
      event("a", T0 + 27 * HOUR),
    ]);
    const sessionsOfA = view.filter((row) => row.visitor_id === "a").sort((x, y) => x.start_ts - y.start_ts);
    expect(sessionsOfA.map((row) => [row.start_ts - T0, row.user_id])).toEqual([
      [0, "u1"],
      [60 * MINUTE, "u1"],
      [27 * HOUR, "u1"],
    ]);
    expect(view.filter((row) => row.visitor_id === "b").map((row) => row.user_id)).toEqual([null, null]);
    // Kept across checkpoints: the identity is in the snapshot of a state with no visitor left.
    expect((operator.snapshot() as { visitors: { keys: string[] }; identities: [string, string][] })).toMatchObject({ visitors: { keys: [] }, identities: [["shop\u0001a", "u1"]] });
  });

  it("keeps a departed visitor's user across a restore, hands it to the returning visitor once, and remembers it again", () => {
    const operator = sessionize();
    const harness = new OperatorHarness();
    harness.feed(operator, [event("a", T0, { user_id: "u1" }), event("b", T0 + 2 * HOUR)]);
    type Snapshot = { visitors: { keys: string[] }; identities: [string, string][] };
    const departed = operator.snapshot() as Snapshot;
    expect(departed.identities).toEqual([["shop\u0001a", "u1"]]);
    expect(departed.visitors.keys).toEqual(["shop\u0001b"]);

    const restored = sessionize();
    restored.restore(JSON.parse(JSON.stringify(departed)));
    const after = new OperatorHarness();
    after.feed(restored, [event("a", T0 + 3 * HOUR)]);
    // Back as a visitor: the user is its state's, no longer an identity of its own.
    const returned = restored.snapshot() as Snapshot;
    expect(returned.identities).toEqual([]);
    expect([...returned.visitors.keys].sort()).toEqual(["shop\u0001a", "shop\u0001b"]);
    restored.onEnd(after);
    const rows = currentView(after.rowsOf("sessions")) as unknown as SessionRow[];
    expect(rows.filter((row) => row.visitor_id === "a").map((row) => row.user_id)).toEqual(["u1"]);
    expect((restored.snapshot() as Snapshot).identities).toEqual([["shop\u0001a", "u1"]]);
  });

  it("keeps a departed visitor's identity for identityRetention after its last event: as many after day 30 as after day 2, same sessions", () => {
    const DAY = 24 * HOUR;
    type Snapshot = { identities: [string, string][] };
    // Five customers get a new device each day (a cleared cookie) that logs in at minute k; each device comes back
    // once, anonymously, the next day at 12:00 + k minutes (stitched to its customer), then never again. A visitor
    // without a user moves the watermark to 22:59 each day.
    const days = 30;
    const eventsOfDay = (day: number) => {
      const events = [];
      for (let k = 0; k < 5; k++) events.push(event(`d${day}-${k}`, T0 + day * DAY + k * MINUTE, { type: "identify", user_id: `u${k}` }));
      if (day > 0) for (let k = 0; k < 5; k++) events.push(event(`d${day - 1}-${k}`, T0 + day * DAY + 12 * HOUR + k * MINUTE));
      events.push(event("clock", T0 + day * DAY + 23 * HOUR));
      return events;
    };
    const retained = sessionize({ identityRetention: "2d" });
    const forever = sessionize({ identityRetention: "36500d" });
    const retainedHarness = new OperatorHarness();
    const foreverHarness = new OperatorHarness();
    const identitiesAfterDay: number[] = [];
    for (let day = 0; day < days; day++) {
      const events = eventsOfDay(day);
      retainedHarness.feed(retained, events);
      foreverHarness.feed(forever, events);
      identitiesAfterDay.push((retained.snapshot() as Snapshot).identities.length);
    }
    // At 22:59 of day d (the watermark): day d's devices (left at 01:30 + k min), day d−1's (back at 12:00, left
    // 13:30 + k min) and day d−2's (back on day d−1 at 12:00 + k min: forgotten from day d + 13:00 + k min on, its last
    // event + 2d + allowedLateness 1h). Day d−3's went at 13:00 + k min of day d−1.
    expect(identitiesAfterDay.slice(0, 3)).toEqual([5, 10, 15]);
    expect(identitiesAfterDay[days - 1]).toBe(identitiesAfterDay[2]);
    expect(identitiesAfterDay.every((count, day) => day < 2 || count === 15)).toBe(true);
    // Without a retention they pile up: 5 more each day.
    expect((forever.snapshot() as Snapshot).identities).toHaveLength(5 * days);
    retained.onEnd(retainedHarness);
    forever.onEnd(foreverHarness);
    // No device came back as late as its retention: the same sessions, every return stitched to its customer.
    const sessions = currentView(retainedHarness.rowsOf("sessions"));
    expect(sessions).toEqual(currentView(foreverHarness.rowsOf("sessions")));
    const devices = sessions.filter((row) => row.visitor_id !== "clock");
    expect(devices).toHaveLength(5 * days + 5 * (days - 1));
    expect(devices.filter((row) => row.user_id !== `u${String(row.visitor_id).split("-")[1]}`)).toEqual([]);
  });

  it("stitches a visitor back up to identityRetention after its last event, not at it, and keeps the times across a restore", () => {
    const DAY = 24 * HOUR;
    const operator = sessionize({ identityRetention: "1d" });
    const harness = new OperatorHarness();
    harness.feed(operator, [event("a", T0, { user_id: "u1" }), event("c", T0 + 10 * MINUTE, { user_id: "u2" }), event("b", T0 + 2 * HOUR)]);
    const restored = sessionize({ identityRetention: "1d" });
    restored.restore(JSON.parse(JSON.stringify(operator.snapshot())));
    const after = new OperatorHarness();
    // a's last event was at T0, c's at T0 + 10 min: a back 1 ms before a day has passed, c exactly a day after.
    after.feed(restored, [event("a", T0 + DAY - 1), event("c", T0 + 10 * MINUTE + DAY)]);
    restored.onEnd(after);
    const rows = currentView(after.rowsOf("sessions")) as unknown as SessionRow[];
    expect(rows.map((row) => [row.visitor_id, row.user_id]).sort()).toEqual([
      ["a", "u1"],
      ["b", null],
      ["c", null],
    ]);
  });

  it("counts the identities of a snapshot without their times (an earlier version's) as seen at its watermark", () => {
    const DAY = 24 * HOUR;
    const operator = sessionize({ identityRetention: "1d" });
    const harness = new OperatorHarness();
    harness.feed(operator, [event("a", T0, { user_id: "u1" }), event("c", T0, { user_id: "u2" }), event("b", T0 + 2 * HOUR)]);
    const saved = JSON.parse(JSON.stringify(operator.snapshot())) as { identitySeenAt?: string };
    delete saved.identitySeenAt;
    const restored = sessionize({ identityRetention: "1d" });
    restored.restore(saved);
    const after = new OperatorHarness();
    // The watermark was T0 + 2h − 1m (outOfOrderness): a back just before a day after it, c a day after it.
    after.feed(restored, [event("a", T0 + 2 * HOUR - MINUTE + DAY - 1), event("c", T0 + 2 * HOUR - MINUTE + DAY)]);
    restored.onEnd(after);
    const rows = currentView(after.rowsOf("sessions")) as unknown as SessionRow[];
    expect(rows.map((row) => [row.visitor_id, row.user_id]).sort()).toEqual([
      ["a", "u1"],
      ["b", null],
      ["c", null],
    ]);
  });

  it("names in a snapshot's timers only the visitors it holds, not one dropped since an earlier snapshot", () => {
    const operator = sessionize();
    const harness = new OperatorHarness();
    // a's session ends at T0: final at T0 + 30m, evictable from T0 + 90m (gap + allowedLateness) on.
    const evictable = T0 + 90 * MINUTE;
    // The watermark (max ts − 1m outOfOrderness) passes a's final: a's eviction timer (due `evictable`) is queued.
    harness.feed(operator, [event("a", T0), event("b", T0 + 40 * MINUTE)]);
    type Snapshot = { visitors: { keys: string[] }; timers: { visitors: string } };
    const first = operator.snapshot() as Snapshot;
    expect([...first.visitors.keys].sort()).toEqual(["shop\u0001a", "shop\u0001b"]);
    // c puts the watermark at exactly `evictable`, where the timer does not fire yet (only timers due before it do).
    // Then a comes back: its old state is evicted and dropped where the event is accepted, its timer stays queued.
    harness.feed(operator, [event("c", evictable + MINUTE), event("a", evictable + MINUTE)]);
    const second = operator.snapshot() as Snapshot;
    expect([...second.visitors.keys].sort()).toEqual(["shop\u0001a", "shop\u0001b", "shop\u0001c"]);
    // One timer per visitor held, and the stale one naming no visitor (−1), not where the old a was in `first`.
    expect(float64ColumnOf(second.timers.visitors).sort((x, y) => x - y)).toEqual([-1, 0, 1, 2]);
  });

  it("continues exactly after a restore of its checkpoint: the visitors as columns (format 3)", () => {
    const events = [
      ...Array.from({ length: 30 }, (_, i) => event("a", T0 + i * MINUTE, i % 7 === 3 ? { user_id: `u${i}` } : {})),
      event("b", T0 + 5 * MINUTE),
      event("b", T0 + 6 * MINUTE, { type: "purchase", revenue: 12.5, order_id: "o1" }),
    ].sort((x, y) => x.ts - y.ts);
    const whole = new OperatorHarness();
    const uninterrupted = sessionize();
    whole.feed(uninterrupted, events);
    uninterrupted.onEnd(whole);

    const before = sessionize();
    const first = new OperatorHarness();
    first.feed(before, events.slice(0, 27));
    type Columns = { lengths: number[]; chunks: string[] };
    type Snapshot = { format: number; visitors: { keys: string[]; events: Columns; sessions: Columns; carriedUsers: unknown[] } };
    const snapshot = JSON.parse(JSON.stringify(before.snapshot())) as Snapshot;
    expect(snapshot.format).toBe(3);
    // 25 events of a and 2 of b (5 numbers each) in one text, one session each (5 numbers) in another.
    const { keys, events: eventColumns, sessions } = snapshot.visitors;
    expect(keys.map((key) => ({ key, events: eventColumns.lengths[keys.indexOf(key)], sessions: sessions.lengths[keys.indexOf(key)] }))).toEqual(
      expect.arrayContaining([
        { key: "shop\u0001a", events: 125, sessions: 5 },
        { key: "shop\u0001b", events: 10, sessions: 5 },
      ]),
    );
    expect(eventColumns.chunks.map((chunk) => Buffer.byteLength(chunk, "base64"))).toEqual([135 * 8]);
    const restored = sessionize();
    restored.restore(snapshot);
    const after = new OperatorHarness();
    after.feed(restored, events.slice(27));
    restored.onEnd(after);
    expect([...first.rowsOf("sessions"), ...after.rowsOf("sessions")]).toEqual(whole.rowsOf("sessions"));
    expect(currentView(whole.rowsOf("sessions")).map((row) => [row.visitor_id, row.event_count, row.user_id])).toEqual([
      ["a", 30, "u24"],
      ["b", 2, null],
    ]);
  });

  it("fills every column from the session's events", () => {
    const base = "https://shop.example";
    const operator = sessionize();
    const harness = new OperatorHarness();
    harness.feed(operator, [
      event("a", T0, { url: `${base}/c/shoes?utm_source=news&utm_medium=email&utm_campaign=spring`, referrer: "https://mail.example/", page_item: "shoes" }),
      event("a", T0 + 5 * SECOND, { type: "click" }),
      event("a", T0 + 10 * SECOND, { type: "add_to_cart", sku: "s1" }),
      event("a", T0 + 20 * SECOND, { url: `${base}/cart?x=1` }),
      event("a", T0 + 30 * SECOND, { type: "purchase", order_id: "o1", revenue: 42.5 }),
      event("a", T0 + 40 * SECOND, { type: "purchase", order_id: "o2", revenue: 7.5, is_bot: true }),
    ]);
    operator.onEnd(harness);
    const [row] = harness.rowsOf("sessions");
    expect(row).toEqual({
      session_id: expect.stringMatching(/^[0-9a-f]{16}$/),
      version: 1,
      retracted: false,
      site_id: "shop",
      visitor_id: "a",
      user_id: null,
      start_ts: T0,
      end_ts: T0 + 40 * SECOND,
      duration_ms: 40 * SECOND,
      event_count: 6,
      pageview_count: 2,
      landing_url: `${base}/c/shoes?utm_source=news&utm_medium=email&utm_campaign=spring`,
      exit_url: `${base}/cart?x=1`,
      referrer: "https://mail.example/",
      utm_source: "news",
      utm_medium: "email",
      utm_campaign: "spring",
      is_engaged: true,
      is_bounce: false,
      converted: true,
      revenue: 50,
      is_bot: true,
      split_reason: "gap",
      page_path: ["/c/shoes", "/cart"],
      page_items: ["shoes", "/cart"],
    });
    expect(harness.sessions).toEqual([{ ...row, cart_adds: 1, sales: 50, refunds: 0 }]);
  });

  it("marks a single short page view as a bounce and 10 s as engaged", () => {
    const { view } = run([
      event("a", T0),
      event("b", T0),
      event("b", T0 + 10 * SECOND, { type: "click" }),
      event("c", T0),
      event("c", T0 + 9999, { type: "click" }),
    ]);
    const byVisitor = Object.fromEntries(view.map((row) => [row.visitor_id, [row.is_engaged, row.is_bounce]]));
    expect(byVisitor).toEqual({ a: [false, true], b: [true, false], c: [false, true] });
  });

  it("caps page_path and page_items at 200 page views", () => {
    const events = Array.from({ length: 250 }, (_, i) => event("a", T0 + i * SECOND, { url: `/p/${i}` }));
    const { view } = run(events);
    expect(view[0].pageview_count).toBe(250);
    expect(view[0].page_path).toEqual(Array.from({ length: 200 }, (_, i) => `/p/${i}`));
    expect(view[0].page_items).toHaveLength(200);
  });

  it("declares the sessions table with ARCHITECTURE.md's columns in order, partitioned by the UTC day of start_ts", () => {
    expect(sessionsTable.name).toBe("sessions");
    expect(sessionsTable.partitionKey).toBe("dt");
    expect(sessionsTable.columns.map((column) => column.name)).toEqual(
      "session_id, version, retracted, site_id, visitor_id, user_id, start_ts, end_ts, duration_ms, event_count, pageview_count, landing_url, exit_url, referrer, utm_source, utm_medium, utm_campaign, is_engaged, is_bounce, converted, revenue, is_bot, split_reason, page_path, page_items".split(", "),
    );
    expect(sessionsTable.partitionOf({ start_ts: Date.UTC(2024, 2, 9, 23, 59, 59, 999) })).toBe("2024-03-09");
    const { view } = run([event("a", T0)]);
    expect(Object.keys(view[0])).toEqual(sessionsTable.columns.map((column) => column.name));
  });
});

describe("sessionize - state", () => {
  /** Realistic traffic: 10 events per session, a 500-page catalog, 1 in 5 visitors logged in, search referrers. */
  function realisticTraffic(visitors: number) {
    const events = [];
    for (let v = 0; v < visitors; v++) {
      const start = T0 + (v % 600) * SECOND;
      for (let i = 0; i < 10; i++) {
        const page = (v * 13 + i * 31) % 500;
        const type = i === 3 ? "click" : i === 6 ? "add_to_cart" : "page_view";
        events.push(
          event(`anon-${v.toString(36)}-3f9c2a7d1b`, start + i * 20 * SECOND, {
            type,
            event_id: `0192d3a4-7c1e-7b9a-8f00-${String(v * 10 + i).padStart(12, "0")}`,
            user_id: v % 5 === 0 ? `customer-${v}@example.com` : undefined,
            ...(type === "page_view"
              ? { url: `https://shop.example/c/cat${page % 50}/p/${page}`, referrer: i === 0 ? "https://www.google.com/" : "https://shop.example/" }
              : { sku: "sku-1" }),
          }),
        );
      }
    }
    return events.sort((a, b) => a.ts - b.ts);
  }

  it("holds at most 1 KiB per open session on realistic traffic, and after end of input only the identities", () => {
    const operator = sessionize();
    const harness = new OperatorHarness();
    harness.feed(operator, realisticTraffic(2000));
    expect(harness.rowsOf("sessions")).toEqual([]);
    const bytes = operator.stateBytes?.() ?? Infinity;
    expect(bytes / 2000).toBeLessThanOrEqual(1024);
    // An honest estimate: at least the 10 events × 5 numbers × 8 bytes each session holds.
    expect(bytes / 2000).toBeGreaterThan(400);
    operator.onEnd(harness);
    expect(harness.rowsOf("sessions")).toHaveLength(2000);
    // Left: the anon_id → user_id entries of the 400 visitors with a user_id (every fifth), per customer state.
    const left = operator.snapshot() as { visitors: { keys: string[] }; identities: [string, string][] };
    expect(left.visitors.keys).toEqual([]);
    expect(left.identities).toHaveLength(400);
    expect((operator.stateBytes?.() ?? Infinity) / 400).toBeLessThanOrEqual(256);
  });

  it("reports open sessions and session durations in metrics", async () => {
    const operator = sessionize();
    const harness = new OperatorHarness();
    harness.feed(operator, [event("a", T0), event("a", T0 + 20 * SECOND), event("b", T0 + MINUTE)]);
    // The gauge is set when the worker reports its gauges (once a second and at the end), not per event.
    operator.reportGauges?.(harness.metrics);
    expect(await harness.metricValue("clickpipe_open_sessions")).toBe(2);
    operator.onEnd(harness);
    operator.reportGauges?.(harness.metrics);
    expect(await harness.metricValue("clickpipe_open_sessions")).toBe(0);
    expect(await harness.metricValue("clickpipe_session_duration_seconds")).toBe(2);
    expect(await harness.metricValue("clickpipe_sessions_emitted_total", { kind: "final" })).toBe(2);
  });
});

describe("sessionize - after a drain", () => {
  const MIDNIGHT = Date.UTC(2024, 2, 11);
  /** The event as collected: received at `receivedAt` (its ts is what the device's clock said). */
  const at = (e: ReturnType<typeof event>, receivedAt: number) => ({ ...e, received_at: receivedAt });

  function drainThenContinue(drainedInput: ReturnType<typeof event>[], laterInput: ReturnType<typeof event>[]) {
    const drained = sessionize();
    const first = new OperatorHarness();
    first.feed(drained, drainedInput);
    drained.onEnd(first);
    const resumed = sessionize();
    resumed.restore(JSON.parse(JSON.stringify(drained.snapshot())));
    const later = new OperatorHarness();
    later.feed(resumed, laterInput);
    resumed.onEnd(later);
    return { drained, first, resumed, later };
  }

  it("after a drain whose input held a device clock minutes ahead, takes what came after the latest time that arrived, and goes on with that device's session", async () => {
    // Collected until 23:58; one device's clock runs 4 minutes ahead (within maxFutureSkew, 5m): sent at 23:58,
    // stamped 00:02. The latest event time that arrived is 23:58, not 00:02.
    const ahead = at(event("ahead", MIDNIGHT + 2 * MINUTE), MIDNIGHT - 2 * MINUTE);
    const drainedInput = [at(event("a", MIDNIGHT - 10 * MINUTE), MIDNIGHT - 10 * MINUTE), ahead];
    const laterInput = [
      at(event("b", MIDNIGHT - MINUTE), MIDNIGHT - MINUTE),
      at(event("c", MIDNIGHT + MINUTE), MIDNIGHT + MINUTE),
      // The device goes on, still ahead, and resends its 00:02 event (same event_id).
      at(event("ahead", MIDNIGHT + 4 * MINUTE), MIDNIGHT),
      { ...ahead, received_at: MIDNIGHT + MINUTE },
    ];
    const { drained, first, later } = drainThenContinue(drainedInput, laterInput);
    // The drain wrote both sessions; the device's, reaching past what arrived, stays in the checkpoint too.
    expect(spans(first.rowsOf("sessions") as unknown as SessionRow[])).toEqual([
      { visitor: "a", start: MIDNIGHT - 10 * MINUTE, end: MIDNIGHT - 10 * MINUTE, count: 1, reason: "gap" },
      { visitor: "ahead", start: MIDNIGHT + 2 * MINUTE, end: MIDNIGHT + 2 * MINUTE, count: 1, reason: "gap" },
    ]);
    expect((drained.snapshot() as { visitors: { keys: string[] } }).visitors.keys).toEqual(["shop\u0001ahead"]);
    // b (23:59) and c (00:01) came after 23:58: before, both went to late_events, as at or before the capped 00:02.
    expect(later.lateEvents).toEqual([]);
    const view = spans(currentView([...first.rowsOf("sessions"), ...later.rowsOf("sessions")]) as unknown as SessionRow[]);
    expect(view).toEqual([
      { visitor: "a", start: MIDNIGHT - 10 * MINUTE, end: MIDNIGHT - 10 * MINUTE, count: 1, reason: "gap" },
      { visitor: "ahead", start: MIDNIGHT + 2 * MINUTE, end: MIDNIGHT + 4 * MINUTE, count: 2, reason: "gap" },
      { visitor: "b", start: MIDNIGHT - MINUTE, end: MIDNIGHT - MINUTE, count: 1, reason: "gap" },
      { visitor: "c", start: MIDNIGHT + MINUTE, end: MIDNIGHT + MINUTE, count: 1, reason: "gap" },
    ]);
    // The device's session goes on as version 2 of the one the drain wrote, and the resent event is a duplicate.
    expect(later.rowsOf("sessions").filter((row) => row.visitor_id === "ahead").map((row) => [row.version, row.event_count])).toEqual([[2, 2]]);
    expect(await later.metricValue("clickpipe_events_duplicate_total")).toBe(1);
    // Oracle: one run over both inputs that never stopped.
    const { view: straight } = run([...drainedInput, ...laterInput]);
    expect(view).toEqual(spans(straight));
  });

  it("after a drain, an event at or before the latest time that arrived is late: the drain's sessions through it are final", () => {
    const drainedInput = [at(event("a", MIDNIGHT - 10 * MINUTE), MIDNIGHT - 10 * MINUTE), at(event("ahead", MIDNIGHT + 2 * MINUTE), MIDNIGHT - 2 * MINUTE)];
    const lateOne = at(event("b", MIDNIGHT - 2 * MINUTE), MIDNIGHT + 5 * MINUTE);
    const { later } = drainThenContinue(drainedInput, [lateOne]);
    expect(later.lateEvents.map((late) => [late.event, late.reason])).toEqual([[lateOne, "too_late"]]);
    expect(later.rowsOf("sessions")).toEqual([]);
  });
});

describe("sessionize - orders", () => {
  it("counts a purchase resent with a new event_id but the same order_id once: revenue and events, the copy a duplicate", async () => {
    const { view, harness, operator } = run([
      event("b", T0, { user_id: "u" }),
      event("b", T0 + 2 * MINUTE, { type: "purchase", user_id: "u", order_id: "o1", revenue: 10.5 }),
      event("b", T0 + 2 * MINUTE + 5 * SECOND, { type: "purchase", user_id: "u", order_id: "o1", revenue: 10.5 }),
      event("b", T0 + 3 * MINUTE, { type: "purchase", user_id: "u", order_id: "o2", revenue: 4 }),
    ]);
    expect(view.map((row) => [row.event_count, row.revenue, row.converted])).toEqual([[3, 14.5, true]]);
    expect(await harness.metricValue("clickpipe_events_duplicate_total")).toBe(1);
    // Nothing of the orders is left once the visitor is gone (only its remembered identity).
    expect(JSON.stringify(operator.snapshot())).not.toContain('"orders":[[');
  });

  it("nets a refund under its order's own number into the session's revenue; a resent refund is a duplicate", async () => {
    const { view, harness } = run([
      event("b", T0, { user_id: "u" }),
      event("b", T0 + 2 * MINUTE, { type: "purchase", user_id: "u", order_id: "o1", revenue: 10.5 }),
      event("b", T0 + 4 * MINUTE, { type: "purchase", user_id: "u", order_id: "o1", revenue: -4 }),
      event("b", T0 + 4 * MINUTE + 5 * SECOND, { type: "purchase", user_id: "u", order_id: "o1", revenue: -4 }),
      event("b", T0 + 5 * MINUTE, { type: "purchase", user_id: "u", order_id: "o1", revenue: -2.5 }),
    ]);
    // Events: the page view, the order, and its two part refunds (4, then 2.5); 10.5 − 4 − 2.5 = 4.
    expect(view.map((row) => [row.event_count, row.revenue])).toEqual([[4, 4]]);
    expect(await harness.metricValue("clickpipe_events_duplicate_total")).toBe(1);
  });

  it("counts equal part refunds of one order on two UTC days twice, as churnFeatures does", () => {
    const midnight = Date.UTC(2024, 2, 11);
    const { view } = run([
      event("b", midnight - 30 * MINUTE, { user_id: "u" }),
      event("b", midnight - 20 * MINUTE, { type: "purchase", user_id: "u", order_id: "o1", revenue: 10.5 }),
      event("b", midnight - 10 * MINUTE, { type: "purchase", user_id: "u", order_id: "o1", revenue: -4 }),
      event("b", midnight + 10 * MINUTE, { type: "purchase", user_id: "u", order_id: "o1", revenue: -4 }),
    ]);
    // Two returned items of 4, one before and one after midnight (two events): no copy of each other, as their days
    // differ. All four events, 10.5 − 4 − 4 = 2.5, however the visit is cut into sessions.
    expect(view.reduce((sum, row) => sum + row.event_count, 0)).toBe(4);
    expect(view.reduce((sum, row) => sum + row.revenue, 0)).toBe(2.5);
  });

  it("takes a session whose only purchase is a refund as not converted, its revenue netted", async () => {
    const { view } = run([
      event("b", T0, { user_id: "u" }),
      event("b", T0 + 5 * SECOND, { type: "purchase", user_id: "u", order_id: "o1", revenue: -7.5 }),
      event("c", T0, { user_id: "v" }),
      event("c", T0 + MINUTE, { type: "purchase", user_id: "v", order_id: "o2", revenue: 0 }),
      event("c", T0 + 2 * MINUTE, { type: "purchase", user_id: "v", order_id: "o2", revenue: -3 }),
    ]);
    // b: one page view and a refund 5 s later: no sale, so not converted, and not engaged either (one page view, under
    // the 10 s an engaged session lasts, no conversion). c: a free order (revenue 0) converts; its refund nets to −3.
    const byVisitor = new Map(view.map((row) => [row.visitor_id, [row.converted, row.is_engaged, row.revenue]]));
    expect(byVisitor.get("b")).toEqual([false, false, -7.5]);
    expect(byVisitor.get("c")).toEqual([true, true, -3]);
  });

  it("remembers a retained purchase's order across a restore", () => {
    const first = sessionize();
    const before = new OperatorHarness();
    before.feed(first, [event("b", T0, { type: "purchase", order_id: "o1", revenue: 10 })]);
    const restored = sessionize();
    restored.restore(JSON.parse(JSON.stringify(first.snapshot())));
    const after = new OperatorHarness();
    after.feed(restored, [event("b", T0 + MINUTE, { type: "purchase", order_id: "o1", revenue: 10 })]);
    restored.onEnd(after);
    expect((currentView(after.rowsOf("sessions")) as unknown as SessionRow[]).map((row) => row.revenue)).toEqual([10]);
  });
});

describe("sessionize - where a visit came from", () => {
  it("takes utm fields and referrer from the session's first event with a url, not from an identify before it", () => {
    const { view } = run([
      event("a", T0, { type: "identify", user_id: "u1" }),
      event("a", T0 + SECOND, { url: "https://s.example/?utm_source=news&utm_campaign=mar", referrer: "https://mail.example.org/" }),
    ]);
    expect(view.map((row) => [row.utm_source, row.utm_campaign, row.referrer, row.landing_url])).toEqual([
      ["news", "mar", "https://mail.example.org/", "https://s.example/?utm_source=news&utm_campaign=mar"],
    ]);
  });
});

describe("sessionize - campaign of a session whose first event has no url", () => {
  const base = "https://shop.example";
  const news = `${base}/?utm_source=news&utm_medium=email`;
  const ads = `${base}/?utm_source=ads&gclid=xyz`;
  const campaignSplits = { splitOnCampaignChange: true };

  function campaignSpans(rows: SessionRow[]) {
    return [...rows]
      .sort((a, b) => a.visitor_id.localeCompare(b.visitor_id) || a.start_ts - b.start_ts)
      .map((row) => [row.visitor_id, row.start_ts - T0, row.event_count, row.split_reason, row.utm_source]);
  }

  it("takes the campaign from the first event with a url: an identify or a server-side purchase before it causes no split", () => {
    const { view } = run(
      [
        // a: identify, then news (sets the campaign), internal page, purchase (no url: no campaign), then ads splits.
        event("a", T0, { type: "identify", user_id: "u1" }),
        event("a", T0 + MINUTE, { url: news }),
        event("a", T0 + 2 * MINUTE, { url: `${base}/c/shoes`, referrer: `${base}/` }),
        event("a", T0 + 3 * MINUTE, { type: "purchase", order_id: "o1", revenue: 20 }),
        event("a", T0 + 4 * MINUTE, { url: ads }),
        // b: a server-side purchase first, then two page views of one campaign: one session.
        event("b", T0, { type: "purchase", order_id: "o2", revenue: 5 }),
        event("b", T0 + 10 * SECOND, { url: news }),
        event("b", T0 + 20 * SECOND, { url: news }),
        // c: identify, a direct page view (campaign "": the session's), then news differs from it and splits.
        event("c", T0, { type: "identify", user_id: "u3" }),
        event("c", T0 + MINUTE, { url: `${base}/` }),
        event("c", T0 + 2 * MINUTE, { url: news }),
      ],
      campaignSplits,
    );
    expect(campaignSpans(view)).toEqual([
      ["a", 0, 4, "gap", "news"],
      ["a", 4 * MINUTE, 1, "campaign", "ads"],
      ["b", 0, 3, "gap", "news"],
      ["c", 0, 2, "gap", null],
      ["c", 2 * MINUTE, 1, "campaign", "news"],
    ]);
    const first = view.find((row) => row.visitor_id === "a" && row.start_ts === T0);
    expect([first?.user_id, first?.revenue, first?.converted, first?.landing_url]).toEqual(["u1", 20, true, news]);
  });

  it("gives the in-order sessions and ids when the identify arrives after the page views it precedes", () => {
    const identify = event("a", T0, { type: "identify", user_id: "u1" });
    const pageViews = [event("a", T0 + MINUTE, { url: news }), event("a", T0 + 2 * MINUTE, { url: news }), event("a", T0 + 3 * MINUTE, { url: ads })];
    // z's event moves the watermark to T0 + 39 min, past the news session's end + gap: it is emitted (first event the
    // page view at 1 min). The identify then arrives 39 min behind (within allowedLateness) and becomes that session's
    // first event: the page view's id is retracted, not split off as a session of its own; ads still splits.
    const watermarkMover = event("z", T0 + 40 * MINUTE);
    const late = run([pageViews[0], pageViews[1], watermarkMover, identify, pageViews[2]], campaignSplits);
    const inOrder = run([identify, ...pageViews, watermarkMover], campaignSplits);
    const expected = [
      ["a", 0, 3, "gap", "news"],
      ["a", 3 * MINUTE, 1, "campaign", "ads"],
      ["z", 40 * MINUTE, 1, "gap", null],
    ];
    expect(late.harness.lateEvents).toEqual([]);
    expect(campaignSpans(late.view)).toEqual(expected);
    expect(campaignSpans(inOrder.view)).toEqual(expected);
    const ids = (rows: SessionRow[]) => rows.map((row) => [row.start_ts, row.session_id]).sort();
    expect(ids(late.view)).toEqual(ids(inOrder.view));
    const retracted = late.harness.rowsOf("sessions").filter((row) => row.retracted === true);
    expect(retracted.map((row) => [row.start_ts as number - T0, row.event_count])).toEqual([[MINUTE, 2]]);
  });

  it("continues a session restored from a checkpoint at any point as the uninterrupted run", () => {
    const events = [
      event("a", T0, { type: "identify", user_id: "u1" }),
      event("a", T0 + MINUTE, { url: news }),
      event("a", T0 + 2 * MINUTE, { type: "purchase", order_id: "o1", revenue: 20 }),
      event("a", T0 + 3 * MINUTE, { url: news }),
      event("a", T0 + 4 * MINUTE, { url: ads }),
    ];
    for (let cut = 0; cut <= events.length; cut++) {
      const before = sessionize(campaignSplits);
      const beforeHarness = new OperatorHarness();
      beforeHarness.feed(before, events.slice(0, cut));
      const after = sessionize(campaignSplits);
      after.restore(JSON.parse(JSON.stringify(before.snapshot())));
      const afterHarness = new OperatorHarness();
      afterHarness.feed(after, events.slice(cut));
      after.onEnd(afterHarness);
      const rows = currentView([...beforeHarness.rowsOf("sessions"), ...afterHarness.rowsOf("sessions")]) as unknown as SessionRow[];
      expect({ cut, spans: campaignSpans(rows) }).toEqual({
        cut,
        spans: [
          ["a", 0, 4, "gap", "news"],
          ["a", 4 * MINUTE, 1, "campaign", "ads"],
        ],
      });
    }
  });
});
