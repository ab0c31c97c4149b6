// Operator `sequencePatterns`: frequent page paths (subsequence and contiguous) per event-time window of sessions.
import { z } from "zod";
import { recordPatternWindowGauges, recordPatternWindowPatterns, type PatternWindowGauges } from "../metrics/business.ts";
import type { Metrics } from "../metrics/registry.ts";
import { duration } from "../config/duration.ts";
import type { Operator, OperatorContext, SessionRecord } from "../runtime/operator.ts";
import { formatUtcDay } from "../events/time.ts";
import type { Row, TableSpec } from "../sinks/table.ts";
import type { OperatorEnvironment } from "./environment.ts";
import { DEFAULT_ITEM_JOIN } from "./mining/itemset-sequence.ts";
import { sequenceMinSupportCount } from "./mining/min-support.ts";
import { InlinePatternMiner, ThreadPatternMiner, type PatternMiner } from "./mining/pattern-miner.ts";
import type { CountedPattern } from "./mining/pattern-counting.ts";

export const sequencePatternsConfig = z
  .strictObject({
    type: z.literal("sequencePatterns"),
    window: duration("1h").describe("Tumbling window size, aligned to the UTC epoch; a session belongs to the window holding its end."),
    every: duration().optional().describe("Hop size for hopping windows; omitted means tumbling."),
    item: z.enum(["page_item", "page_path"]).default("page_item").describe("page_item (after urlRules) or page_path (raw path)."),
    maxLength: z.number().int().min(1).max(10).default(3).describe("Longest pattern counted."),
    minSupport: z.number().positive().default(0.01).describe("In (0,1): a ratio of the window's sessions (ceil); ≥ 1: a count."),
    topK: z.number().int().positive().optional().describe("Bounded-memory mode: Space-Saving with this many counters per length."),
    allowedLateness: duration().optional().describe("Defaults to the sessionize operator's allowedLateness."),
    itemsetSeparator: z
      .string()
      .min(1)
      .optional()
      .describe('When set, a page item holding this separator is an itemset of simultaneous items (SPMF sequences, e.g. " "); default: every page item is one item.'),
  })
  .describe("Counts frequent page sequences per window of sessions (not those flagged is_bot); writes the `patterns` table.");

export type SequencePatternsConfig = z.output<typeof sequencePatternsConfig>;

export const sequencePatternsExample = { type: "sequencePatterns", window: "1h", item: "page_item", maxLength: 3, minSupport: 0.01 };

export const patternsTable: TableSpec = {
  name: "patterns",
  columns: [
    { name: "window_start", type: "timestamp", nullable: false },
    { name: "window_end", type: "timestamp", nullable: false },
    { name: "kind", type: "string", nullable: false },
    { name: "pattern", type: "string", nullable: false },
    { name: "length", type: "int32", nullable: false },
    { name: "support", type: "int64", nullable: false },
    { name: "support_ratio", type: "float64", nullable: false },
    { name: "error_bound", type: "int64", nullable: false },
    // Beyond the contract: `pattern` cannot be split back into items that hold " > " (README, design notes).
    // Parts written before it lack it: DuckDB reads them with union_by_name as null.
    { name: "items", type: "list<string>", nullable: false },
  ],
  partitionKey: "dt",
  partitionOf: (row) => formatUtcDay(row.window_start as number),
};

/** The current version of a session while any window holding it is open. */
interface TrackedSession {
  id: string;
  version: number;
  endTs: number;
  elements: string[];
  /** Start of the last window holding it: when that one closes, all of its windows have (they close in start order). */
  lastTrackedWindow: number;
  /** False once a newer version, a retraction or a restore replaced it: its windows skip it. */
  current: boolean;
}

interface PatternWindow {
  start: number;
  /**
   * The sessions whose version ended in the window, in arrival order, replaced ones included (`current` false): an
   * array push per session instead of a Set of ids (bench/OPTIMIZATIONS.md, session 17). Replacements are rare.
   */
  tracked: TrackedSession[];
  /** Current sessions among `tracked`: the window's session count. */
  sessionCount: number;
}

interface SequencePatternsSnapshot {
  /** null before the first session watermark (and, in snapshots of earlier versions, after the end: see `ended`). */
  watermark: number | null;
  /** After a drain's end: a run going on from this state takes sessionize's watermark from its start again. */
  ended: boolean;
  /**
   * Windows starting at or before this are closed for good: those the watermark closed before a drain's end, when this
   * state is or went on after one; null when none. Absent in snapshots of earlier versions: their end stays +∞.
   */
  closedThrough?: number | null;
  /**
   * Starts of the later windows a drain's end wrote, closed for good as well (absent: none): only a drain that was not
   * told how far its input arrived (see `arrivedThrough`) writes windows after closedThrough. Snapshots of versions
   * before these have none: their closedThrough was the window of the latest session end instead.
   */
  closedWindows?: number[];
  /** What sessionize's drain end said arrived (onSessionInputEnd), while this state waits for its end; absent: none. */
  arrivedThrough?: number;
  lateSessionVersions: number;
  sessions: [id: string, version: number, endTs: number, elements: string[]][];
  /** The last closed window's pattern gauges, so a restarted worker shows them again; absent before any window. */
  lastWindow?: PatternWindowGauges;
}

/**
 * Window state is the current version of every session in an open window: a newer version or a retraction replaces
 * the older one exactly, in both modes. Patterns are counted when the window closes (watermark ≥ end + gap +
 * allowedLateness), the only moment its rows are written: exact mode mines the final sessions with PrefixSpan
 * (support-pruned; dense counters when the window's alphabet is small, mining/dense-pattern-counts.ts), topK mode
 * streams each session's distinct patterns through Space-Saving summaries of k counters.
 * Counting at close instead of per session version keeps memory at the sessions' items: incrementally counting every
 * distinct pattern took 58 s and ~1.4 GB for 2,000 Kosarak sessions capped at 200 pages, PrefixSpan 0.4 s.
 * Discard rule: a window goes when it closes; a session when the last window holding it closes. Versions for closed
 * windows are dropped and counted in `lateSessionVersions`, so closed windows stay final.
 *
 * A drain's end writes the windows through the latest event time that arrived (sessionize's, each event's ts at most
 * its received_at: onSessionInputEnd), and they stay closed in a run going on from its checkpoint. A later window holds
 * only sessions of devices whose clocks run ahead (minutes past the hour within maxFutureSkew, or days): it stays open
 * in the checkpoint with them, and the run going on writes it once, with its other sessions, when its watermark
 * passes. Written at the drain's end, it would have held those sessions alone, and the rest of the window's would have
 * been late for it. A final drain leaves it in the checkpoint, not in the lake. The end is sessionize's +∞ watermark
 * (or onEnd, whichever comes first).
 *
 * With `environment.miningThread` the counting runs on a thread of its own (mining/pattern-miner.ts): a closed window's
 * rows are then written when its answer comes, at the latest before the next snapshot or the end, which wait for it.
 */
export class SequencePatternsOperator implements Operator {
  readonly id = "sequencePatterns";
  readonly tables = [patternsTable];
  private readonly windowSize: number;
  private readonly hop: number;
  /** Time after a window's end until no session in it can change: gap + allowedLateness. */
  private readonly settle: number;
  private readonly itemJoin: string;
  private readonly sessions = new Map<string, TrackedSession>();
  private readonly windows = new Map<number, PatternWindow>();
  /**
   * Start of the earliest open window (+∞: none), NaN when it must be recomputed; the per-event check reads it.
   * Always a number, so V8 keeps the field an unboxed double: an `undefined` in it made every write allocate.
   */
  private earliestWindowStart = Number.POSITIVE_INFINITY;
  private sessionWatermark = Number.NEGATIVE_INFINITY;
  private sessionBytes = 0;
  private late = 0;
  /** Windows starting at or before this closed before a drain's end this state went on after (−∞: none). */
  private closedThroughStart = Number.NEGATIVE_INFINITY;
  /**
   * The later windows a drain's end wrote without knowing how far its input arrived (sessions forwarded by an earlier
   * version's events task, or its checkpoint): closed for good, and only those. Not every window through the latest
   * session end: a session of a device whose clock runs ahead ends days later than the drain's input, and every later
   * session, which sessionize takes as new, would have been too late for patterns until then.
   */
  private readonly closedWindows = new Set<number>();
  /** The latest event time that arrived, from sessionize at a drain's end (max over events partitions; −∞: not yet). */
  private arrivedThrough = Number.NEGATIVE_INFINITY;
  /** A drain's end came (sessionize's +∞ watermark or onEnd): the windows through arrivedThrough are written. */
  private ended = false;
  private readonly config: SequencePatternsConfig;
  private readonly miner: PatternMiner;
  private lastWindow: PatternWindowGauges | undefined;
  /** Whether the restored last window's gauges were set (reportGauges, once). */
  private gaugesRestored = true;

  constructor(config: SequencePatternsConfig, environment: OperatorEnvironment) {
    this.config = config;
    this.windowSize = config.window;
    this.hop = config.every ?? config.window;
    if (this.windowSize <= 0 || this.hop <= 0 || this.hop > this.windowSize) {
      throw new RangeError(`sequencePatterns: every (${this.hop} ms) must be positive and at most window (${this.windowSize} ms)`);
    }
    this.settle = (environment.session?.gap ?? 0) + (config.allowedLateness ?? environment.session?.allowedLateness ?? 0);
    this.itemJoin = config.itemsetSeparator ?? DEFAULT_ITEM_JOIN;
    this.miner = environment.miningThread === true ? new ThreadPatternMiner(this.id) : new InlinePatternMiner();
  }

  /** Session versions that arrived after every window holding them had closed. */
  get lateSessionVersions(): number {
    return this.late;
  }

  onSession(session: SessionRecord, ctx: OperatorContext): void {
    this.miner.poll();
    const previous = this.sessions.get(session.session_id);
    if (previous !== undefined && session.version <= previous.version) return;
    if (previous !== undefined) this.untrack(previous);
    // Crawlers' sessions (is_bot, kept under the default `bots: flag`) are not customers' paths, and the patterns table
    // cannot be filtered for them afterwards. One crawler session of 200 page items in a window of 20 sessions (a
    // ratio minSupport of 0.05 is then a count of 1) made all C(200, 3) ≈ 1.3M of its 3-item subsequences frequent.
    if (session.retracted || session.is_bot) return;
    // Session records are built fresh per version and never changed afterwards, so their arrays are kept, not copied.
    const elements = this.config.item === "page_path" ? session.page_path : session.page_items;
    // Too late for every window holding it: the sessions table has it, patterns will not; counted, never silent.
    if (!this.track(session.session_id, session.version, session.end_ts, elements)) ctx.metrics.sessionsLate.inc({ operator: "sequencePatterns" });
  }

  watermark(): number {
    return this.ended ? Number.POSITIVE_INFINITY : this.sessionWatermark;
  }

  onSessionWatermark(watermark: number, ctx: OperatorContext): void {
    this.miner.poll();
    if (!(watermark > this.sessionWatermark)) return;
    // About once per event: the common answer "nothing closes" in line (a call would box the doubles it is passed).
    // NaN (unknown) fails the comparison and lets closeSettledWindows look; +∞ (a drain's end) always does.
    if (this.earliestWindowStart + this.windowSize + this.settle > watermark) {
      this.sessionWatermark = watermark;
      return;
    }
    if (watermark === Number.POSITIVE_INFINITY) {
      this.end(ctx);
      return;
    }
    this.sessionWatermark = watermark;
    this.closeSettledWindows(ctx);
  }

  onSessionInputEnd(arrivedThrough: number, _ctx: OperatorContext): void {
    if (arrivedThrough > this.arrivedThrough) this.arrivedThrough = arrivedThrough;
  }

  /** Live mode: rows of windows counted meanwhile are written without waiting for the next session. */
  onTick(_ctx: OperatorContext): void {
    this.miner.poll();
  }

  onEnd(ctx: OperatorContext): void {
    this.end(ctx);
  }

  /**
   * A drain's end, once: in a pipeline sessionize's +∞ watermark comes before onEnd, and windows closed by it had
   * counted as the drain's (nothing stayed closed after it, so a later session wrote a window a second time).
   */
  private end(ctx: OperatorContext): void {
    if (this.ended) return;
    this.ended = true;
    // What the watermark closed stays closed.
    if (Number.isFinite(this.sessionWatermark)) {
      const closedByWatermark = Math.floor((this.sessionWatermark - this.windowSize - this.settle) / this.hop) * this.hop;
      if (closedByWatermark > this.closedThroughStart) this.closedThroughStart = closedByWatermark;
    }
    if (this.arrivedThrough > Number.NEGATIVE_INFINITY) {
      // The windows holding what arrived are written now and stay closed; later ones stay open (see the class).
      const through = this.lastWindowStart(this.arrivedThrough);
      if (through > this.closedThroughStart) this.closedThroughStart = through;
      this.arrivedThrough = Number.NEGATIVE_INFINITY;
    } else {
      // Not told (an earlier version's events task): every open window is written now, and exactly those stay closed.
      for (const start of this.windows.keys()) if (start > this.closedThroughStart) this.closedWindows.add(start);
    }
    this.closeSettledWindows(ctx);
    this.miner.settle();
  }

  /** Every closed window's rows are written first: the state below no longer holds their sessions. */
  snapshot(): SequencePatternsSnapshot {
    this.miner.settle();
    return {
      watermark: Number.isFinite(this.sessionWatermark) ? this.sessionWatermark : null,
      ended: this.ended || this.sessionWatermark === Number.POSITIVE_INFINITY,
      closedThrough: Number.isFinite(this.closedThroughStart) ? this.closedThroughStart : null,
      ...(this.closedWindows.size > 0 && { closedWindows: [...this.closedWindows].sort((a, b) => a - b) }),
      ...(Number.isFinite(this.arrivedThrough) && { arrivedThrough: this.arrivedThrough }),
      lateSessionVersions: this.late,
      sessions: [...this.sessions].map(([id, s]) => [id, s.version, s.endTs, s.elements]),
      ...(this.lastWindow !== undefined && { lastWindow: this.lastWindow }),
    };
  }

  restore(state: unknown): void {
    // Windows closed before: their rows are written first, as counting inline wrote them when they closed.
    this.miner.settle();
    const snapshot = state as SequencePatternsSnapshot;
    this.sessions.clear();
    this.windows.clear();
    this.earliestWindowStart = Number.POSITIVE_INFINITY;
    this.sessionBytes = 0;
    this.closedThroughStart = snapshot.closedThrough ?? Number.NEGATIVE_INFINITY;
    this.closedWindows.clear();
    for (const start of snapshot.closedWindows ?? []) if (start > this.closedThroughStart) this.closedWindows.add(start);
    this.arrivedThrough = snapshot.arrivedThrough ?? Number.NEGATIVE_INFINITY;
    this.ended = false;
    // A drain's end: later sessions go on in the windows after the ones it wrote, with sessionize's watermark again.
    if (snapshot.ended) this.sessionWatermark = snapshot.closedThrough === undefined ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    else this.sessionWatermark = snapshot.watermark ?? Number.NEGATIVE_INFINITY;
    this.late = snapshot.lateSessionVersions;
    this.lastWindow = snapshot.lastWindow;
    this.gaugesRestored = false;
    for (const [id, version, endTs, elements] of snapshot.sessions) this.track(id, version, endTs, elements);
  }

  /** After a restore, the last closed window's gauges again (they read 0 until the next window closed). */
  reportGauges(metrics: Metrics): void {
    if (this.gaugesRestored || this.lastWindow === undefined) return;
    recordPatternWindowGauges(metrics, this.lastWindow);
    this.gaugesRestored = true;
  }

  ready(): Promise<void> {
    return this.miner.ready();
  }

  close(): Promise<void> {
    return this.miner.close();
  }

  stateKeys(): Record<string, number> {
    return { sessions: this.sessions.size, windows: this.windows.size };
  }

  stateBytes(): number {
    let bytes = this.sessionBytes;
    for (const window of this.windows.values()) bytes += 64 + window.sessionCount * 16;
    return bytes;
  }

  /**
   * Called once per session version: no arrays or closures (the windows holding `endTs` are walked by start). False
   * when every window holding it has closed (a late session version).
   */
  private track(id: string, version: number, endTs: number, elements: string[]): boolean {
    const last = this.lastWindowStart(endTs);
    let start = this.firstWindowStart(endTs);
    while (start <= last && this.isClosed(start)) start += this.hop;
    if (start > last) {
      this.late += 1;
      return false;
    }
    const tracked: TrackedSession = { id, version, endTs, elements, lastTrackedWindow: start, current: true };
    this.sessions.set(id, tracked);
    this.sessionBytes += sessionBytes(id, elements);
    for (; start <= last; start += this.hop) {
      // A window a drain's end wrote may lie between open ones (hopping windows).
      if (this.closedWindows.size > 0 && this.isClosed(start)) continue;
      const window = this.windowAt(start);
      window.tracked.push(tracked);
      window.sessionCount++;
      tracked.lastTrackedWindow = start;
    }
    return true;
  }

  private untrack(session: TrackedSession): void {
    this.sessions.delete(session.id);
    this.sessionBytes -= sessionBytes(session.id, session.elements);
    session.current = false;
    const last = this.lastWindowStart(session.endTs);
    for (let start = this.firstWindowStart(session.endTs); start <= last; start += this.hop) {
      const window = this.windows.get(start);
      // Windows only close (and go) as the watermark grows: every one still here was open when track took the session in.
      if (window !== undefined) window.sessionCount--;
    }
  }

  private windowAt(start: number): PatternWindow {
    let window = this.windows.get(start);
    if (window === undefined) {
      window = { start, tracked: [], sessionCount: 0 };
      this.windows.set(start, window);
      if (start < this.earliestWindowStart) this.earliestWindowStart = start; // false while NaN: recomputed later
    }
    return window;
  }

  /** Start of the earliest epoch-aligned window [start, start + window) holding `ts`. */
  private firstWindowStart(ts: number): number {
    return (Math.floor((ts - this.windowSize) / this.hop) + 1) * this.hop;
  }

  /** Start of the latest window holding `ts`; the windows holding it start every hop from firstWindowStart to here. */
  private lastWindowStart(ts: number): number {
    return Math.floor(ts / this.hop) * this.hop;
  }

  private isClosed(start: number): boolean {
    return (
      start <= this.closedThroughStart ||
      start + this.windowSize + this.settle <= this.sessionWatermark ||
      (this.closedWindows.size > 0 && this.closedWindows.has(start))
    );
  }

  private closeSettledWindows(ctx: OperatorContext): void {
    if (this.closedWindows.size > 0 && Number.isFinite(this.sessionWatermark)) {
      // Those the watermark closes anyway need not be kept.
      for (const start of this.closedWindows) if (start + this.windowSize + this.settle <= this.sessionWatermark) this.closedWindows.delete(start);
    }
    if (!this.anyWindowClosed()) return;
    const settled = [...this.windows.keys()].filter((start) => this.isClosed(start)).sort((a, b) => a - b);
    for (const start of settled) this.closeWindow(this.windows.get(start)!, ctx);
  }

  private anyWindowClosed(): boolean {
    if (Number.isNaN(this.earliestWindowStart)) {
      let earliest = Number.POSITIVE_INFINITY;
      for (const start of this.windows.keys()) if (start < earliest) earliest = start;
      this.earliestWindowStart = earliest;
    }
    return this.isClosed(this.earliestWindowStart);
  }

  private closeWindow(window: PatternWindow, ctx: OperatorContext): void {
    this.windows.delete(window.start);
    this.earliestWindowStart = Number.NaN;
    const sessionCount = window.sessionCount;
    if (sessionCount > 0) {
      const { maxLength, topK, itemsetSeparator } = this.config;
      const request = {
        elements: this.memberElements(window),
        maxLength,
        itemJoin: this.itemJoin,
        itemsetSeparator,
        minCount: sequenceMinSupportCount(this.config.minSupport, sessionCount),
        topK,
      };
      const windowStart = window.start;
      const windowEnd = window.start + this.windowSize;
      this.miner.submit(request, (found) => {
        for (const counted of found) ctx.emit(patternsTable.name, patternRow(windowStart, windowEnd, counted, sessionCount));
        this.lastWindow = recordPatternWindowPatterns(ctx.metrics, found);
      });
    }
    for (const session of window.tracked) {
      if (session.current && session.lastTrackedWindow === window.start) {
        this.sessions.delete(session.id);
        this.sessionBytes -= sessionBytes(session.id, session.elements);
        session.current = false;
      }
    }
  }

  /**
   * The current sessions' elements. Space-Saving's result depends on the order it sees them, so for topK they go in
   * (end time, id) order, which neither arrival order nor a restore changes; exact counts do not depend on it.
   */
  private memberElements(window: PatternWindow): string[][] {
    const current = window.tracked.filter((session) => session.current);
    if (this.config.topK !== undefined) current.sort((a, b) => a.endTs - b.endTs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return current.map((session) => session.elements);
  }
}

function patternRow(windowStart: number, windowEnd: number, counted: CountedPattern, sessionCount: number): Row {
  return {
    window_start: windowStart,
    window_end: windowEnd,
    kind: counted.kind,
    pattern: counted.pattern,
    length: counted.length,
    support: counted.support,
    support_ratio: counted.support / sessionCount,
    error_bound: counted.errorBound,
    items: counted.items,
  };
}

function sessionBytes(id: string, elements: readonly string[]): number {
  let chars = id.length;
  for (const element of elements) chars += element.length + 8;
  return 96 + chars * 2;
}

export function createSequencePatterns(config: SequencePatternsConfig, environment: OperatorEnvironment): Operator {
  return new SequencePatternsOperator(config, environment);
}
