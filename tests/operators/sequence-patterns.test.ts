// sequencePatterns: window assignment and closing, exact counts vs SPMF and batch PrefixSpan, versions, snapshots, topK.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatPattern } from "../../src/operators/mining/itemset-sequence.ts";
import { sequenceMinSupportCount } from "../../src/operators/mining/min-support.ts";
import { prefixSpan } from "../../src/operators/mining/prefixspan.ts";
import { parseSpmfPatterns, parseSpmfSequences } from "../../src/operators/mining/spmf-format.ts";
import { createSequencePatterns, patternsTable, sequencePatternsConfig, SequencePatternsOperator } from "../../src/operators/sequence-patterns.ts";
import type { OperatorEnvironment } from "../../src/operators/environment.ts";
import { createSessionize, sessionizeConfig } from "../../src/operators/sessionize.ts";
import type { ClickEvent } from "../../src/events/event.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { Pipeline } from "../../src/runtime/pipeline.ts";
import type { Row } from "../../src/sinks/table.ts";
import { pageSession } from "./mining/arbitraries.ts";
import { recordingContext } from "./mining/recording-context.ts";
import { sessionRecord } from "./mining/session-records.ts";
import { bruteForceSupports } from "./mining/brute-force-patterns.ts";

const HOUR = 3_600_000;
const MINUTE = 60_000;
const T0 = Date.UTC(2024, 2, 1, 10); // a window start: 2024-03-01T10:00Z
const environment: OperatorEnvironment = { pipelineName: "test", session: { gap: 30 * MINUTE, allowedLateness: HOUR } };
const CLOSE = T0 + HOUR + 30 * MINUTE + HOUR; // window end + gap + allowedLateness

function operator(overrides: Record<string, unknown> = {}, env: OperatorEnvironment = environment): SequencePatternsOperator {
  const config = sequencePatternsConfig.parse({ type: "sequencePatterns", minSupport: 1, ...overrides });
  return createSequencePatterns(config, env) as SequencePatternsOperator;
}

const supports = (rows: Row[], kind = "subsequence") =>
  new Map(rows.filter((row) => row.kind === kind).map((row) => [row.pattern as string, row.support as number]));

describe("sequencePatterns", () => {
  it("gives SPMF's 53 patterns of contextPrefixSpan when its sequences arrive as sessions of one window", () => {
    const fixture = (name: string) => readFileSync(new URL(`../fixtures/spmf/${name}`, import.meta.url), "utf8");
    const expected = new Map(parseSpmfPatterns(fixture("spmPatterns.txt")).map((p) => [formatPattern(p.pattern), p.support]));
    // Each SPMF itemset travels as one page item, its items separated by the configured itemsetSeparator.
    const op = operator({ minSupport: 2, maxLength: 10, itemsetSeparator: " " });
    const ctx = recordingContext();
    parseSpmfSequences(fixture("contextPrefixSpan.txt")).forEach((sequence, index) =>
      op.onSession(sessionRecord(`s${index}`, T0 + index * MINUTE, sequence.map((itemset) => itemset.join(" "))), ctx),
    );
    op.onEnd(ctx);
    expect(supports(ctx.rowsOf("patterns"))).toEqual(expected);
    expect(ctx.rowsOf("patterns").every((row) => row.support_ratio === (row.support as number) / 4 && row.error_bound === 0)).toBe(true);
  });

  it("writes one row per pattern with the window, kind, length, support and ratio", () => {
    const op = operator({ minSupport: 2, maxLength: 2 });
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + 5 * MINUTE, ["/home", "/cart"]), ctx);
    op.onSession(sessionRecord("b", T0 + 50 * MINUTE, ["/home", "/x", "/cart"]), ctx);
    op.onSessionWatermark(CLOSE, ctx);
    const rows = ctx.rowsOf("patterns");
    expect(rows).toEqual([
      { window_start: T0, window_end: T0 + HOUR, kind: "subsequence", pattern: "/cart", length: 1, support: 2, support_ratio: 1, error_bound: 0, items: ["/cart"] },
      { window_start: T0, window_end: T0 + HOUR, kind: "subsequence", pattern: "/home", length: 1, support: 2, support_ratio: 1, error_bound: 0, items: ["/home"] },
      { window_start: T0, window_end: T0 + HOUR, kind: "subsequence", pattern: "/home > /cart", length: 2, support: 2, support_ratio: 1, error_bound: 0, items: ["/home", "/cart"] },
      { window_start: T0, window_end: T0 + HOUR, kind: "contiguous", pattern: "/cart", length: 1, support: 2, support_ratio: 1, error_bound: 0, items: ["/cart"] },
      { window_start: T0, window_end: T0 + HOUR, kind: "contiguous", pattern: "/home", length: 1, support: 2, support_ratio: 1, error_bound: 0, items: ["/home"] },
    ]);
    expect(patternsTable.partitionOf(rows[0])).toBe("2024-03-01");
  });

  it("leaves crawler sessions (is_bot) out of the counts and the window's session total, also when a later version is flagged", () => {
    const op = operator({ minSupport: 0.5, maxLength: 2 });
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + 5 * MINUTE, ["/home", "/cart"]), ctx);
    op.onSession(sessionRecord("b", T0 + 6 * MINUTE, ["/home", "/x"]), ctx);
    // Counted, three bots would make /p1 frequent and the ratio's count 3 of 5 sessions: /home (2) would not be.
    for (const id of ["bot1", "bot2", "bot3"]) op.onSession({ ...sessionRecord(id, T0 + 7 * MINUTE, ["/p1", "/p2"]), is_bot: true }, ctx);
    // A session first seen as a customer's, then flagged in its next version: its first version's items go too.
    op.onSession(sessionRecord("c", T0 + 8 * MINUTE, ["/p1"]), ctx);
    op.onSession({ ...sessionRecord("c", T0 + 9 * MINUTE, ["/p1", "/p2"]), version: 2, is_bot: true }, ctx);
    op.onSessionWatermark(CLOSE, ctx);
    // Two sessions, a count of ceil(0.5 × 2) = 1: every pattern of a and b, none of the bots'.
    expect(supports(ctx.rowsOf("patterns"))).toEqual(new Map([["/cart", 1], ["/home", 1 + 1], ["/home > /cart", 1], ["/home > /x", 1], ["/x", 1]]));
    expect(ctx.rowsOf("patterns").every((row) => row.support_ratio === (row.support as number) / 2)).toBe(true);
  });

  it("puts a session in the window holding its end time, half-open [start, end)", () => {
    const op = operator();
    const ctx = recordingContext();
    op.onSession(sessionRecord("last-ms", T0 + HOUR - 1, ["/a"]), ctx);
    op.onSession(sessionRecord("next-window", T0 + HOUR, ["/b"]), ctx);
    op.onEnd(ctx);
    const byWindow = ctx.rowsOf("patterns").map((row) => [row.window_start, row.kind, row.pattern]);
    expect(byWindow).toEqual([
      [T0, "subsequence", "/a"],
      [T0, "contiguous", "/a"],
      [T0 + HOUR, "subsequence", "/b"],
      [T0 + HOUR, "contiguous", "/b"],
    ]);
  });

  it("closes a window only once the session watermark reaches its end + gap + allowedLateness", () => {
    const op = operator();
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + MINUTE, ["/a"]), ctx);
    op.onSessionWatermark(CLOSE - 1, ctx);
    expect(ctx.rows).toHaveLength(0);
    op.onSessionWatermark(CLOSE, ctx);
    expect(ctx.rowsOf("patterns")).toHaveLength(2);
  });

  it("takes allowedLateness from its own config over the sessionize one", () => {
    const op = operator({ allowedLateness: "0ms" });
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + MINUTE, ["/a"]), ctx);
    op.onSessionWatermark(T0 + HOUR + 30 * MINUTE, ctx);
    expect(ctx.rowsOf("patterns")).toHaveLength(2);
  });

  it("counts only the newest version of a session, and nothing of a retracted one", () => {
    const op = operator();
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + MINUTE, ["/a", "/b"]), ctx);
    op.onSession(sessionRecord("a", T0 + 2 * MINUTE, ["/a", "/c"], { version: 2 }), ctx);
    op.onSession(sessionRecord("a", T0 + MINUTE, ["/a", "/b"]), ctx); // stale version 1 again: ignored
    op.onSession(sessionRecord("gone", T0 + MINUTE, ["/z"]), ctx);
    op.onSession(sessionRecord("gone", T0 + MINUTE, ["/z"], { version: 2, retracted: true }), ctx);
    op.onEnd(ctx);
    expect(supports(ctx.rowsOf("patterns"))).toEqual(new Map([["/a", 1], ["/c", 1], ["/a > /c", 1]]));
    expect(ctx.rowsOf("patterns").every((row) => row.support_ratio === 1)).toBe(true);
  });

  it("snapshots the current sessions in arrival order (a new version last) and replaces them after a restore", () => {
    const op = operator();
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + MINUTE, ["/a"]), ctx);
    op.onSession(sessionRecord("b", T0 + MINUTE, ["/b"]), ctx);
    op.onSession(sessionRecord("c", T0 + MINUTE, ["/c"]), ctx);
    op.onSession(sessionRecord("a", T0 + 2 * MINUTE, ["/a", "/x"], { version: 2 }), ctx);
    op.onSession(sessionRecord("c", T0 + MINUTE, ["/c"], { version: 2, retracted: true }), ctx);
    const snapshot = JSON.parse(JSON.stringify(op.snapshot())) as { sessions: [string, number][] };
    expect(snapshot.sessions.map(([id, version]) => [id, version])).toEqual([
      ["b", 1],
      ["a", 2],
    ]);
    const restored = operator();
    restored.restore(snapshot);
    const after = recordingContext();
    restored.onSession(sessionRecord("b", T0 + 3 * MINUTE, ["/b", "/y"], { version: 2 }), after);
    restored.onSession(sessionRecord("d", T0 + 3 * MINUTE, ["/d"]), after);
    restored.onEnd(after);
    expect(supports(after.rowsOf("patterns"))).toEqual(
      new Map([["/a", 1], ["/x", 1], ["/a > /x", 1], ["/b", 1], ["/y", 1], ["/b > /y", 1], ["/d", 1]]),
    );
  });

  it("moves a session whose new version ends in the next window", () => {
    const op = operator();
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + 59 * MINUTE, ["/a"]), ctx);
    op.onSession(sessionRecord("a", T0 + 61 * MINUTE, ["/a", "/b"], { version: 2 }), ctx);
    op.onEnd(ctx);
    expect(new Set(ctx.rowsOf("patterns").map((row) => row.window_start))).toEqual(new Set([T0 + HOUR]));
  });

  it("keeps a closed window final: a later version for it is dropped and counted", async () => {
    const op = operator();
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + MINUTE, ["/a"]), ctx);
    op.onSessionWatermark(CLOSE, ctx);
    const closedRows = ctx.rows.length;
    op.onSession(sessionRecord("a", T0 + 2 * MINUTE, ["/b"], { version: 2 }), ctx);
    op.onSession(sessionRecord("b", T0 + 3 * MINUTE, ["/b"]), ctx);
    op.onEnd(ctx);
    expect(ctx.rows.length).toBe(closedRows);
    expect(op.lateSessionVersions).toBe(2);
    expect((await ctx.metrics.sessionsLate.get()).values[0].value).toBe(2);
  });

  it("turns a ratio minSupport into ceil(ratio × sessions in the window)", () => {
    const op = operator({ minSupport: 0.5 });
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + MINUTE, ["/a", "/b"]), ctx);
    op.onSession(sessionRecord("b", T0 + MINUTE, ["/a"]), ctx);
    op.onSession(sessionRecord("c", T0 + MINUTE, ["/c"]), ctx);
    op.onEnd(ctx);
    // ceil(0.5 × 3) = 2: only /a (in a and b) qualifies.
    expect(supports(ctx.rowsOf("patterns"))).toEqual(new Map([["/a", 2]]));
  });

  it("counts page_path instead of page_items when item is page_path", () => {
    const op = operator({ item: "page_path" });
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + MINUTE, ["product"], { paths: ["/p/1"] }), ctx);
    op.onEnd(ctx);
    expect(supports(ctx.rowsOf("patterns"))).toEqual(new Map([["/p/1", 1]]));
  });

  it("counts contiguous runs apart from gapped subsequences", () => {
    const op = operator({ minSupport: 2 });
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + MINUTE, ["/a", "/b", "/c"]), ctx);
    op.onSession(sessionRecord("b", T0 + MINUTE, ["/a", "/x", "/b"]), ctx);
    op.onEnd(ctx);
    const rows = ctx.rowsOf("patterns");
    expect(supports(rows, "subsequence").get("/a > /b")).toBe(2);
    expect(supports(rows, "contiguous").get("/a > /b")).toBeUndefined();
    expect(supports(rows, "contiguous")).toEqual(new Map([["/a", 2], ["/b", 2]]));
  });

  it("replaces a session in its hopping windows still open after the first of them closed", () => {
    // Windows of 1h every 30m: a session ending at 10:45 is in [10:00, 11:00) and [10:30, 11:30). The first closes
    // (10:00 + 1h + 30m + 1h); a new version then counts only in the second, which holds one session (ratio 1).
    const op = operator({ window: "1h", every: "30m", minSupport: 0.5 });
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + 45 * MINUTE, ["/a"]), ctx);
    op.onSession(sessionRecord("b", T0 + 50 * MINUTE, ["/b"]), ctx);
    op.onSessionWatermark(CLOSE, ctx);
    op.onSession(sessionRecord("a", T0 + 45 * MINUTE, ["/c"], { version: 2 }), ctx);
    op.onSession(sessionRecord("b", T0 + 50 * MINUTE, ["/b"], { version: 2, retracted: true }), ctx);
    op.onEnd(ctx);
    const rows = ctx.rowsOf("patterns").filter((row) => row.kind === "subsequence");
    expect(rows.map((row) => [row.window_start, row.pattern, row.support, row.support_ratio])).toEqual([
      [T0, "/a", 1, 0.5],
      [T0, "/b", 1, 0.5],
      [T0 + 30 * MINUTE, "/c", 1, 1],
    ]);
  });

  it("puts a session in every hopping window holding its end", () => {
    const op = operator({ window: "1h", every: "30m" });
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + 45 * MINUTE, ["/a"]), ctx);
    op.onEnd(ctx);
    const windows = ctx.rowsOf("patterns").filter((row) => row.kind === "subsequence").map((row) => [row.window_start, row.window_end]);
    expect(windows).toEqual([
      [T0, T0 + HOUR],
      [T0 + 30 * MINUTE, T0 + 90 * MINUTE],
    ]);
  });

  it("emits the same rows after a JSON snapshot and restore mid-stream", () => {
    const sessions = [
      sessionRecord("a", T0 + MINUTE, ["/a", "/b"]),
      sessionRecord("b", T0 + 2 * MINUTE, ["/a", "/b", "/c"]),
      sessionRecord("a", T0 + 3 * MINUTE, ["/a", "/c"], { version: 2 }),
      sessionRecord("c", T0 + HOUR + MINUTE, ["/b"]),
      sessionRecord("b", T0 + 2 * MINUTE, ["/a"], { version: 2, retracted: true }),
    ];
    const straight = operator();
    const straightCtx = recordingContext();
    for (const s of sessions) straight.onSession(s, straightCtx);
    straight.onEnd(straightCtx);

    const first = operator();
    const ctx = recordingContext();
    for (const s of sessions.slice(0, 3)) first.onSession(s, ctx);
    first.onSessionWatermark(T0, ctx);
    const state = JSON.parse(JSON.stringify(first.snapshot()));
    const second = operator();
    second.restore(state);
    expect(second.snapshot()).toEqual(state);
    expect(second.stateBytes()).toBe(first.stateBytes());
    for (const s of sessions.slice(3)) second.onSession(s, ctx);
    second.onEnd(ctx);
    expect(ctx.rows).toEqual(straightCtx.rows);
  });

  it("after a drain that did not say how far its input arrived (an earlier version's), keeps the windows it wrote closed and counts later sessions", () => {
    // The drain's input ends near T0 (sessionize's watermark, held back by maxFutureSkew, is there), but one device's
    // clock ran 10 h ahead: its session ends at T0 + 10h. Without onSessionInputEnd (records forwarded by an earlier
    // version's events task), the drain writes every open window, that one too, and keeps exactly those closed.
    const drained = operator();
    const first = recordingContext();
    drained.onSession(sessionRecord("a", T0 + MINUTE, ["/a"]), first);
    drained.onSession(sessionRecord("ahead", T0 + 10 * HOUR, ["/s"]), first);
    drained.onSessionWatermark(T0 + 2 * MINUTE, first);
    drained.onEnd(first);
    expect(first.rowsOf("patterns").filter((row) => row.kind === "subsequence").map((row) => [row.window_start, row.pattern])).toEqual([
      [T0, "/a"],
      [T0 + 10 * HOUR, "/s"],
    ]);
    // The live run goes on after it; sessionize takes events after the drain's end as new sessions.
    const resumed = operator();
    resumed.restore(JSON.parse(JSON.stringify(drained.snapshot())));
    const ctx = recordingContext();
    resumed.onSession(sessionRecord("b", T0 + 3 * HOUR, ["/b"]), ctx);
    resumed.onSession(sessionRecord("c", T0 + 10 * HOUR + 5 * MINUTE, ["/c"]), ctx); // in a window the drain wrote
    resumed.onSessionWatermark(T0 + 3 * HOUR + 10 * MINUTE, ctx);
    resumed.onEnd(ctx);
    // Oracle, a run that never stopped: b alone in its window. c's window was written by the drain and stays final.
    expect(ctx.rowsOf("patterns")).toEqual([
      { window_start: T0 + 3 * HOUR, window_end: T0 + 4 * HOUR, kind: "subsequence", pattern: "/b", length: 1, support: 1, support_ratio: 1, error_bound: 0, items: ["/b"] },
      { window_start: T0 + 3 * HOUR, window_end: T0 + 4 * HOUR, kind: "contiguous", pattern: "/b", length: 1, support: 1, support_ratio: 1, error_bound: 0, items: ["/b"] },
    ]);
    expect(resumed.lateSessionVersions).toBe(1);
    expect(resumed.snapshot().sessions).toEqual([]);
  });

  it("after a drain that did not say how far its input arrived, keeps the hopping windows it wrote closed and counts a later session in the ones between them", () => {
    // Windows of 1h every 30m. The drain wrote [10:30, 11:30) and [11:00, 12:00) (a session ending at 11:10) and, for a
    // device clock running ahead, [12:30, 13:30) and [13:00, 14:00) (13:10). A session ending at 12:50 after it counts
    // in [12:00, 13:00) only: [12:30, 13:30) was written.
    const drained = operator({ window: "1h", every: "30m" });
    const first = recordingContext();
    drained.onSession(sessionRecord("a", T0 + 70 * MINUTE, ["/a"]), first);
    drained.onSession(sessionRecord("ahead", T0 + 190 * MINUTE, ["/s"]), first);
    drained.onSessionWatermark(T0 + 72 * MINUTE, first);
    drained.onEnd(first);
    const resumed = operator({ window: "1h", every: "30m" });
    resumed.restore(JSON.parse(JSON.stringify(drained.snapshot())));
    const ctx = recordingContext();
    resumed.onSession(sessionRecord("b", T0 + 170 * MINUTE, ["/b"]), ctx);
    resumed.onSessionWatermark(T0 + HOUR * 6, ctx);
    expect(ctx.rowsOf("patterns").filter((row) => row.kind === "subsequence").map((row) => [row.window_start, row.pattern, row.support_ratio])).toEqual([
      [T0 + 120 * MINUTE, "/b", 1],
    ]);
    // Its last window closed: it is no longer held (nor snapshotted, nor counted late after a restore).
    expect(resumed.snapshot().sessions).toEqual([]);
    expect(resumed.stateBytes()).toBe(0);
  });

  it("after a drain whose input held a device clock hours ahead, writes the windows through what arrived, and that device's window later, once, with the sessions after it", () => {
    // The drain's input arrived through T0 + 2 min; one device's clock ran 10 h ahead: its session ends at T0 + 10h.
    const drained = operator();
    const first = recordingContext();
    drained.onSession(sessionRecord("a", T0 + MINUTE, ["/a"]), first);
    drained.onSession(sessionRecord("ahead", T0 + 10 * HOUR, ["/s"]), first);
    drained.onSessionWatermark(T0 + MINUTE, first);
    drained.onSessionInputEnd(T0 + 2 * MINUTE, first);
    drained.onEnd(first);
    expect(first.rowsOf("patterns").filter((row) => row.kind === "subsequence").map((row) => [row.window_start, row.pattern])).toEqual([[T0, "/a"]]);
    // A final drain leaves that window's session in the checkpoint.
    expect(drained.snapshot().sessions.map(([id]) => id)).toEqual(["ahead"]);
    const resumed = operator();
    resumed.restore(JSON.parse(JSON.stringify(drained.snapshot())));
    const ctx = recordingContext();
    resumed.onSession(sessionRecord("b", T0 + 3 * HOUR, ["/b"]), ctx);
    resumed.onSession(sessionRecord("c", T0 + 10 * HOUR + 5 * MINUTE, ["/c"]), ctx);
    resumed.onSessionWatermark(T0 + 3 * HOUR + 10 * MINUTE, ctx);
    resumed.onSessionInputEnd(T0 + 11 * HOUR, ctx);
    resumed.onEnd(ctx);
    // By hand: b alone in its window; the ahead device's window once, with ahead and c (each 1 of 2 sessions).
    const row = (start: number, kind: string, pattern: string, support: number, ratio: number) =>
      ({ window_start: start, window_end: start + HOUR, kind, pattern, length: 1, support, support_ratio: ratio, error_bound: 0, items: [pattern] });
    expect(ctx.rowsOf("patterns")).toEqual([
      row(T0 + 3 * HOUR, "subsequence", "/b", 1, 1),
      row(T0 + 3 * HOUR, "contiguous", "/b", 1, 1),
      row(T0 + 10 * HOUR, "subsequence", "/c", 1, 0.5),
      row(T0 + 10 * HOUR, "subsequence", "/s", 1, 0.5),
      row(T0 + 10 * HOUR, "contiguous", "/c", 1, 0.5),
      row(T0 + 10 * HOUR, "contiguous", "/s", 1, 0.5),
    ]);
    expect(resumed.lateSessionVersions).toBe(0);
    // Oracle: a run that never stopped.
    const straight = operator();
    const straightCtx = recordingContext();
    for (const session of [sessionRecord("a", T0 + MINUTE, ["/a"]), sessionRecord("ahead", T0 + 10 * HOUR, ["/s"]), sessionRecord("b", T0 + 3 * HOUR, ["/b"])]) {
      straight.onSession(session, straightCtx);
    }
    straight.onSessionWatermark(T0 + 3 * HOUR + 10 * MINUTE, straightCtx);
    straight.onSession(sessionRecord("c", T0 + 10 * HOUR + 5 * MINUTE, ["/c"]), straightCtx);
    straight.onSessionInputEnd(T0 + 11 * HOUR, straightCtx);
    straight.onEnd(straightCtx);
    expect([...first.rows, ...ctx.rows]).toEqual(straightCtx.rows);
  });

  it("frees every session and window once all windows closed", () => {
    const op = operator();
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + MINUTE, ["/a", "/b"]), ctx);
    expect(op.stateBytes()).toBeGreaterThan(0);
    op.onEnd(ctx);
    expect(op.stateBytes()).toBe(0);
    expect(op.snapshot().sessions).toEqual([]);
  });

  it("equals batch PrefixSpan and exhaustive counting on the final versions of random sessions", () => {
    const version = fc.record({ session: fc.integer({ min: 0, max: 7 }), pages: pageSession, retract: fc.boolean() });
    fc.assert(
      fc.property(fc.array(version, { maxLength: 25 }), fc.constantFrom(1, 2, 0.3), (versions, minSupport) => {
        const op = operator({ minSupport, maxLength: 3 });
        const ctx = recordingContext();
        const latest = new Map<string, { version: number; pages: string[] | null }>();
        for (const { session, pages, retract } of versions) {
          const id = `s${session}`;
          const next = (latest.get(id)?.version ?? 0) + 1;
          latest.set(id, { version: next, pages: retract ? null : pages });
          op.onSession(sessionRecord(id, T0 + session * MINUTE, pages, { version: next, retracted: retract }), ctx);
        }
        op.onEnd(ctx);
        const finals = [...latest.values()].flatMap(({ pages }) => (pages === null ? [] : [pages.map((page) => [page])]));
        const minCount = sequenceMinSupportCount(minSupport, finals.length);
        const batch = new Map(prefixSpan(finals, { minSupportCount: minCount, maxLength: 3 }).map((p) => [formatPattern(p.pattern), p.support]));
        const streamed = supports(ctx.rowsOf("patterns"));
        expect(streamed).toEqual(batch);
        expect(streamed).toEqual(bruteForceSupports(finals, 3, minCount));
      }),
      { numRuns: 150 },
    );
  });

  describe("topK (Space-Saving) mode", () => {
    const pages = ["/", "/a", "/b", "/c", "/d", "/e"];
    const randomSessions = fc.array(fc.array(fc.constantFrom(...pages), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 30 });

    it("reports exact counts with error 0 while every pattern fits in k counters", () => {
      const exact = operator({ maxLength: 2 });
      const approximate = operator({ maxLength: 2, topK: 1000 });
      const exactCtx = recordingContext();
      const approximateCtx = recordingContext();
      ["/a /b /c", "/a /c", "/b /a"].forEach((text, index) => {
        exact.onSession(sessionRecord(`s${index}`, T0 + MINUTE, text.split(" ")), exactCtx);
        approximate.onSession(sessionRecord(`s${index}`, T0 + MINUTE, text.split(" ")), approximateCtx);
      });
      exact.onEnd(exactCtx);
      approximate.onEnd(approximateCtx);
      expect(approximateCtx.rows).toEqual(exactCtx.rows);
    });

    it("never underestimates, stays within error_bound, and reports every pattern above N/k", () => {
      fc.assert(
        fc.property(randomSessions, fc.integer({ min: 1, max: 8 }), (sessions, k) => {
          const exact = operator({ maxLength: 2 });
          const approximate = operator({ maxLength: 2, topK: k });
          const exactCtx = recordingContext();
          const approximateCtx = recordingContext();
          sessions.forEach((visited, index) => {
            exact.onSession(sessionRecord(`s${index}`, T0 + MINUTE, visited), exactCtx);
            approximate.onSession(sessionRecord(`s${index}`, T0 + MINUTE, visited), approximateCtx);
          });
          exact.onEnd(exactCtx);
          approximate.onEnd(approximateCtx);
          for (const kind of ["subsequence", "contiguous"]) {
            const truth = exactCtx.rowsOf("patterns").filter((row) => row.kind === kind);
            const reported = approximateCtx.rowsOf("patterns").filter((row) => row.kind === kind);
            const truthOf = new Map(truth.map((row) => [row.pattern, row.support as number]));
            for (const row of reported) {
              const actual = truthOf.get(row.pattern as string) ?? 0;
              expect(row.support).toBeGreaterThanOrEqual(actual);
              expect((row.support as number) - (row.error_bound as number)).toBeLessThanOrEqual(actual);
            }
            for (const length of [1, 2]) {
              const occurrences = truth.filter((row) => row.length === length).reduce((sum, row) => sum + (row.support as number), 0);
              const kept = new Set(reported.filter((row) => row.length === length).map((row) => row.pattern));
              for (const row of truth) if (row.length === length && (row.support as number) > occurrences / k) expect(kept.has(row.pattern)).toBe(true);
            }
          }
        }),
        { numRuns: 150 },
      );
    });
  });
});

describe("sequencePatterns - drains behind sessionize in a pipeline", () => {
  const MIDNIGHT = Date.UTC(2024, 2, 2);
  let eventNumber = 0;
  /** A page view of `anon` stamped `ts` by its device, collected at `receivedAt`. */
  const view = (anon: string, ts: number, receivedAt: number, page: string): ClickEvent => ({
    type: "page_view",
    ts,
    received_at: receivedAt,
    event_id: `pv${++eventNumber}`,
    anon_id: anon,
    site_id: "shop",
    url: `https://shop.example${page}`,
    page_item: page,
  });

  /** sessionize (30m gap, 1h allowedLateness) and hourly sequencePatterns, as `run` builds them; their rows and state. */
  function pipeline(state?: Record<string, unknown>) {
    const rows: Row[] = [];
    const metrics = new Metrics();
    const session = { gap: 30 * MINUTE, allowedLateness: HOUR };
    const operators = [
      createSessionize(sessionizeConfig.parse({ type: "sessionize" }), { pipelineName: "test" }),
      createSequencePatterns(sequencePatternsConfig.parse({ type: "sequencePatterns", window: "1h", minSupport: 1 }), { pipelineName: "test", session }),
    ];
    const run = new Pipeline({ operators, sink: { append: (table, row) => void (table === "patterns" && rows.push(row)), markSuccess: () => undefined }, metrics });
    if (state !== undefined) run.restore(state);
    return {
      rows,
      metrics,
      drain(events: ClickEvent[]): Record<string, unknown> {
        events.forEach((event, sequence) => run.processEvent(event, { partition: 0, sequence }));
        run.end();
        return JSON.parse(JSON.stringify(run.snapshot())) as Record<string, unknown>;
      },
    };
  }
  const patterns = (rows: Row[]) => rows.map((row) => [row.window_start, row.kind, row.pattern, row.support, row.support_ratio]);

  it("after a drain whose input held a device clock minutes ahead, writes that device's window once, with the sessions after it", () => {
    // Collected through 23:58; one device's clock runs 4 minutes ahead: sent at 23:58, stamped 00:02.
    const drainedInput = [view("a", MIDNIGHT - 50 * MINUTE, MIDNIGHT - 50 * MINUTE, "/a"), view("ahead", MIDNIGHT + 2 * MINUTE, MIDNIGHT - 2 * MINUTE, "/s")];
    const laterInput = [view("b", MIDNIGHT + 20 * MINUTE, MIDNIGHT + 20 * MINUTE, "/b"), view("d", MIDNIGHT + 3 * HOUR, MIDNIGHT + 3 * HOUR, "/d")];
    const first = pipeline();
    const state = first.drain(drainedInput);
    // 23:00 was written; 00:00, reached only by the clock ahead, was not.
    expect(patterns(first.rows)).toEqual([
      [MIDNIGHT - HOUR, "subsequence", "/a", 1, 1],
      [MIDNIGHT - HOUR, "contiguous", "/a", 1, 1],
    ]);
    const second = pipeline(state);
    second.drain(laterInput);
    // 00:00 by hand, once: ahead's /s and b's /b, each in 1 of its 2 sessions. Before, the drain wrote it with /s
    // alone, and the run going on wrote it a second time with /b alone.
    expect(patterns(second.rows)).toEqual([
      [MIDNIGHT, "subsequence", "/b", 1, 0.5],
      [MIDNIGHT, "subsequence", "/s", 1, 0.5],
      [MIDNIGHT, "contiguous", "/b", 1, 0.5],
      [MIDNIGHT, "contiguous", "/s", 1, 0.5],
      [MIDNIGHT + 3 * HOUR, "subsequence", "/d", 1, 1],
      [MIDNIGHT + 3 * HOUR, "contiguous", "/d", 1, 1],
    ]);
    // Oracle: one drain over both inputs.
    const once = pipeline();
    once.drain([...drainedInput, ...laterInput]);
    expect([...first.rows, ...second.rows]).toEqual(once.rows);
  });

  it("after a drain, the window holding its end stays written: a later session in it is counted late, not a second set of rows", async () => {
    const first = pipeline();
    const state = first.drain([view("a", MIDNIGHT + 10 * HOUR, MIDNIGHT + 10 * HOUR, "/a"), view("a", MIDNIGHT + 10 * HOUR + 5 * MINUTE, MIDNIGHT + 10 * HOUR + 5 * MINUTE, "/b")]);
    expect(patterns(first.rows).map(([start, kind, pattern]) => [start, kind, pattern])).toEqual([
      [MIDNIGHT + 10 * HOUR, "subsequence", "/a"],
      [MIDNIGHT + 10 * HOUR, "subsequence", "/b"],
      [MIDNIGHT + 10 * HOUR, "subsequence", "/a > /b"],
      [MIDNIGHT + 10 * HOUR, "contiguous", "/a"],
      [MIDNIGHT + 10 * HOUR, "contiguous", "/b"],
      [MIDNIGHT + 10 * HOUR, "contiguous", "/a > /b"],
    ]);
    const second = pipeline(state);
    // b's session (10:40) starts after the drain's end (10:05), in the window the drain wrote.
    second.drain([view("b", MIDNIGHT + 10 * HOUR + 40 * MINUTE, MIDNIGHT + 10 * HOUR + 40 * MINUTE, "/b")]);
    expect(second.rows).toEqual([]);
    expect((await second.metrics.sessionsLate.get()).values[0].value).toBe(1);
  });
});

describe("sequencePatterns - gauges across a restart", () => {
  it("a restored operator shows its last closed window's pattern gauges again, not 0 until the next window", async () => {
    const op = operator();
    const ctx = recordingContext();
    op.onSession(sessionRecord("a", T0 + MINUTE, ["/a", "/b"]), ctx);
    op.onSession(sessionRecord("b", T0 + 2 * MINUTE, ["/a", "/b"]), ctx);
    op.onSessionWatermark(CLOSE, ctx);
    const gauge = async (metrics: typeof ctx.metrics, kind: string) =>
      (await metrics.patternsFrequent.get()).values.find((value) => value.labels.kind === kind)?.value;
    const frequent = await gauge(ctx.metrics, "subsequence");
    // Both sessions are /a, /b: the subsequences /a, /b and /a > /b, each in both.
    expect(frequent).toBe(3);
    const restored = operator();
    const after = recordingContext();
    restored.restore(JSON.parse(JSON.stringify(op.snapshot())));
    expect(await gauge(after.metrics, "subsequence")).toBe(0);
    restored.reportGauges!(after.metrics);
    expect(await gauge(after.metrics, "subsequence")).toBe(frequent);
  });
});
