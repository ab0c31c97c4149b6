// Business figures for the "customers live" dashboard: cheap counter and gauge updates operators call per session or window.
import { PATTERN_TABLE_KINDS, type PatternTableKind } from "./labels.ts";
import type { Metrics } from "./registry.ts";

/** The fields of a session (SessionRecord: its row's columns, and sales and refunds) that the business counters read. */
export interface BusinessSession {
  version: number;
  retracted: boolean;
  is_bot: boolean;
  is_bounce: boolean;
  converted: boolean;
  /** Net of refunds. */
  revenue: number;
  /** The refunds netted into revenue, as a positive amount (SessionRecord.refunds); absent: none. */
  refunds?: number;
  /** Its sales, summed apart from revenue (SessionRecord.sales); absent: revenue + refunds. */
  sales?: number;
}

/**
 * Counts a session once, at its first final version (version 1, not retracted), and only sessions of people:
 * counters cannot go down, so later versions and retractions are ignored rather than double counted, and bots
 * would skew bounce and conversion rates. Safe to call for every session version emitted.
 */
export function recordFinalSession(metrics: Metrics, session: BusinessSession): void {
  if (session.version !== 1 || session.retracted || session.is_bot) return;
  const refunds = session.refunds ?? 0;
  metrics.sessionTally.person(session.is_bounce, session.converted, session.sales ?? session.revenue + refunds, refunds);
}

/** Sets the gauges of one closed pattern window for one kind: how many patterns were frequent and the top support. */
export function recordPatternWindow(metrics: Metrics, kind: PatternTableKind, frequentCount: number, topSupport: number): void {
  metrics.patternsFrequent.set({ kind }, frequentCount);
  metrics.patternsTopSupport.set({ kind }, topSupport);
}

/**
 * Sets both kinds' gauges from the frequent patterns of one closed window (rows of the `patterns` table or the
 * counted patterns behind them); a kind without frequent patterns is set to 0. Pattern strings never reach labels.
 */
export function recordPatternWindowPatterns(metrics: Metrics, patterns: readonly { kind: string; support: number }[]): PatternWindowGauges {
  const gauges = patternWindowGauges(patterns);
  recordPatternWindowGauges(metrics, gauges);
  return gauges;
}

/** Per kind of the `patterns` table: [frequent patterns, top support] of one closed window. */
export type PatternWindowGauges = Record<PatternTableKind, [frequent: number, topSupport: number]>;

export function patternWindowGauges(patterns: readonly { kind: string; support: number }[]): PatternWindowGauges {
  const gauges = {} as PatternWindowGauges;
  for (const kind of PATTERN_TABLE_KINDS) {
    let frequent = 0;
    let top = 0;
    for (const pattern of patterns) {
      if (pattern.kind !== kind) continue;
      frequent++;
      if (pattern.support > top) top = pattern.support;
    }
    gauges[kind] = [frequent, top];
  }
  return gauges;
}

export function recordPatternWindowGauges(metrics: Metrics, gauges: PatternWindowGauges): void {
  for (const kind of PATTERN_TABLE_KINDS) recordPatternWindow(metrics, kind, gauges[kind][0], gauges[kind][1]);
}
