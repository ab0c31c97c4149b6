// Sequence patterns and basket benchmark (issue 5), in-process: sessions/s and memory for 1M sessions at maxLength 3
// in exact and topK modes, and FP-Growth on Groceries. Run with `node --expose-gc`; prints JSON.
import { readFileSync } from "node:fs";
import { associationRules } from "../src/operators/mining/association-rules.ts";
import { fpGrowth } from "../src/operators/mining/fp-growth.ts";
import { parseBasketCsv } from "../src/operators/mining/spmf-format.ts";
import { createSequencePatterns, sequencePatternsConfig } from "../src/operators/sequence-patterns.ts";
import { createSessionize, sessionizeConfig } from "../src/operators/sessionize.ts";
import type { SessionRecord } from "../src/runtime/operator.ts";
import { CountingContext, cpuSecondsSince, keepAlive, log, ROOT, settledHeapBytes } from "./bench-kit.ts";
import { benchConfig, decodedEvents, publishedLines } from "./inputs.ts";

const SESSIONS = Number(process.env.BENCH_PATTERN_SESSIONS ?? 1_000_000);
const SPAN_MS = 7 * 24 * 3600_000;
const GAP_MS = 30 * 60_000;
const TOP_K = Number(process.env.BENCH_PATTERN_TOPK ?? 1000);
const GROCERIES = `${ROOT}tests/fixtures/groceries/groceries_baskets.csv`;

export interface PatternModeResult {
  mode: string;
  sessions: number;
  windows: number;
  patternRows: number;
  seconds: number;
  cpuSeconds: number;
  sessionsPerSecond: number;
  sessionsPerCpuSecond: number;
  /** Highest stateBytes() seen (sampled every 10,000 sessions). */
  peakStateBytes: number;
  /** Highest heap growth over the start, after full collections (sampled every 100,000 sessions). */
  peakHeapDeltaBytes: number;
  /** Sessions held at the sample with the highest heap growth. */
  sessionsHeldAtPeak: number;
}

export interface PatternsBenchResult {
  sessionPool: { sessions: number; averagePages: number };
  modes: PatternModeResult[];
  groceries: { baskets: number; itemsets: number; rules: number; expectedRules: number; seconds: number };
}

/** page_items of the sessions sessionize finds in generated traffic: realistic paths over the shop's categories. */
function sessionPagePaths(): string[][] {
  const events = decodedEvents(publishedLines(benchConfig(), 10_000, 3, 7));
  const latest = new Map<string, SessionRecord>();
  const context = new CountingContext();
  context.onSession = (session) => latest.set(session.session_id, session);
  const operator = createSessionize(sessionizeConfig.parse({ type: "sessionize" }), { pipelineName: "bench" });
  events.forEach((event, i) => operator.onEvent!(event, { partition: 0, sequence: i + 1 }, context));
  operator.onEnd(context);
  return [...latest.values()].filter((s) => !s.retracted && s.page_items.length > 0).map((s) => s.page_items);
}

/** One million sessions cycling through the pool's paths, ending evenly over a week (≈ 6,000 per 1h window). */
function syntheticSession(paths: readonly string[][], index: number, base: number): SessionRecord {
  const page_items = paths[index % paths.length];
  const end = base + Math.floor((index * SPAN_MS) / SESSIONS);
  return {
    session_id: `s${index}`,
    version: 1,
    retracted: false,
    site_id: "demo-shop",
    visitor_id: `v${index}`,
    user_id: null,
    start_ts: end - 60_000,
    end_ts: end,
    duration_ms: 60_000,
    event_count: page_items.length,
    pageview_count: page_items.length,
    landing_url: null,
    exit_url: null,
    referrer: null,
    utm_source: null,
    utm_medium: null,
    utm_campaign: null,
    is_engaged: page_items.length > 1,
    is_bounce: page_items.length === 1,
    converted: false,
    revenue: 0,
    is_bot: false,
    split_reason: "gap",
    page_path: page_items,
    page_items,
  };
}

function runMode(mode: string, paths: readonly string[][], topK: number | undefined): PatternModeResult {
  const config = sequencePatternsConfig.parse({ type: "sequencePatterns", window: "1h", maxLength: 3, minSupport: 0.01, topK });
  const operator = createSequencePatterns(config, { pipelineName: "bench", session: { gap: GAP_MS, allowedLateness: 3600_000 } });
  const context = new CountingContext();
  const base = Date.UTC(2026, 0, 5);
  const heapBase = settledHeapBytes();
  let peakStateBytes = 0;
  let peakHeapDeltaBytes = 0;
  let sessionsHeldAtPeak = 0;
  let samplingCpu = 0;
  let samplingWall = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < SESSIONS; i++) {
    const session = syntheticSession(paths, i, base);
    operator.onSession!(session, context);
    // Sessionize's watermark runs about one gap ahead of the end of the sessions it emits.
    if ((i & 63) === 63) operator.onSessionWatermark!(session.end_ts + GAP_MS, context);
    if (i % 10_000 === 9_999) {
      const sampleCpu = process.cpuUsage();
      const sampleWall = performance.now();
      peakStateBytes = Math.max(peakStateBytes, operator.stateBytes!());
      if (i % 100_000 === 99_999) {
        const delta = settledHeapBytes() - heapBase;
        if (delta > peakHeapDeltaBytes) {
          peakHeapDeltaBytes = delta;
          sessionsHeldAtPeak = (operator.snapshot() as { sessions: unknown[] }).sessions.length;
        }
      }
      samplingCpu += cpuSecondsSince(sampleCpu);
      samplingWall += (performance.now() - sampleWall) / 1000;
    }
  }
  operator.onEnd(context);
  const seconds = (performance.now() - started) / 1000 - samplingWall;
  const cpuSeconds = cpuSecondsSince(cpuBefore) - samplingCpu;
  keepAlive(paths);
  const result = {
    mode,
    sessions: SESSIONS,
    windows: Math.ceil(SPAN_MS / 3600_000),
    patternRows: context.rows,
    seconds,
    cpuSeconds,
    sessionsPerSecond: SESSIONS / seconds,
    sessionsPerCpuSecond: SESSIONS / cpuSeconds,
    peakStateBytes,
    peakHeapDeltaBytes,
    sessionsHeldAtPeak,
  };
  log(`patterns ${mode}: ${Math.round(result.sessionsPerSecond).toLocaleString("en")} sessions/s, peak state ${(peakStateBytes / 2 ** 20).toFixed(1)} MiB, peak heap +${(peakHeapDeltaBytes / 2 ** 20).toFixed(1)} MiB, ${context.rows} pattern rows`);
  return result;
}

function groceries(): PatternsBenchResult["groceries"] {
  const baskets = parseBasketCsv(readFileSync(GROCERIES, "utf8"));
  fpGrowth(baskets, { minSupport: 0.01, maxLength: 5 }); // warm-up
  const started = performance.now();
  const { itemsets, transactionCount } = fpGrowth(baskets, { minSupport: 0.001, maxLength: 5 });
  const rules = associationRules(itemsets, transactionCount, 0.5);
  const seconds = (performance.now() - started) / 1000;
  log(`FP-Growth on Groceries: ${rules.length} rules in ${seconds.toFixed(3)} s`);
  return { baskets: transactionCount, itemsets: itemsets.length, rules: rules.length, expectedRules: 5622, seconds };
}

export function measurePatterns(): PatternsBenchResult {
  log("patterns: sessionizing generated traffic for realistic page paths…");
  const paths = sessionPagePaths();
  const averagePages = paths.reduce((sum, path) => sum + path.length, 0) / paths.length;
  const modes = [runMode("exact", paths, undefined), runMode(`topK ${TOP_K}`, paths, TOP_K)];
  return { sessionPool: { sessions: paths.length, averagePages }, modes, groceries: groceries() };
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(JSON.stringify(measurePatterns()) + "\n");
