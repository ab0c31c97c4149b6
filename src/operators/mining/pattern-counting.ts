// Window pattern supports: exact (PrefixSpan + n-gram counts) or bounded-memory (Space-Saving), over final sessions.
import { CountMap } from "./count-map.ts";
import { forEachDistinctContiguous, forEachDistinctSubsequence } from "./distinct-subsequences.ts";
import { formatPattern, patternItemCount, type ItemsetSequence } from "./itemset-sequence.ts";
import { prefixSpan } from "./prefixspan.ts";
import { SpaceSaving } from "./space-saving.ts";

export type PatternKind = "subsequence" | "contiguous";
export const PATTERN_KINDS: readonly PatternKind[] = ["subsequence", "contiguous"];

/** One counted pattern, ready for the `patterns` table. */
export interface CountedPattern {
  kind: PatternKind;
  pattern: string;
  length: number;
  support: number;
  /** How far `support` may exceed the truth: 0 for exact counts. */
  errorBound: number;
}

/** Calls `visit` for each distinct pattern of one kind in one sequence. */
export function forEachDistinctPattern(
  kind: PatternKind,
  sequence: ItemsetSequence,
  maxLength: number,
  itemJoin: string,
  visit: (pattern: string, length: number) => void,
): void {
  if (kind === "subsequence") forEachDistinctSubsequence(sequence, maxLength, visit, itemJoin);
  else forEachDistinctContiguous(sequence, maxLength, visit, itemJoin);
}

/**
 * Exact supports of every pattern with support ≥ minCount: subsequences by PrefixSpan (support-pruned, so only
 * frequent prefixes are grown), contiguous runs by counting each session's distinct n-grams.
 */
export function exactPatternCounts(
  sequences: readonly ItemsetSequence[],
  maxLength: number,
  itemJoin: string,
  minCount: number,
): CountedPattern[] {
  const found: CountedPattern[] = prefixSpan(sequences, { minSupportCount: minCount, maxLength }).map(({ pattern, support }) => ({
    kind: "subsequence",
    pattern: formatPattern(pattern, itemJoin),
    length: patternItemCount(pattern),
    support,
    errorBound: 0,
  }));
  const runs = new CountMap();
  const lengthOf = new Map<string, number>();
  for (const sequence of sequences) {
    forEachDistinctContiguous(sequence, maxLength, (pattern, length) => {
      const count = (runs.get(pattern) ?? 0) + 1;
      runs.set(pattern, count);
      if (count === minCount) lengthOf.set(pattern, length);
    }, itemJoin);
  }
  for (const [pattern, length] of lengthOf) found.push({ kind: "contiguous", pattern, length, support: runs.get(pattern)!, errorBound: 0 });
  return found;
}

/**
 * Bounded-memory supports: one Space-Saving summary of `capacity` counters per kind and length, fed each session's
 * distinct patterns. Estimates never fall below the true support and exceed it by at most `errorBound`; with N the
 * (session, distinct pattern) pairs of that kind and length, every pattern whose support exceeds N / capacity is kept.
 */
export function approximatePatternCounts(
  sequences: Iterable<ItemsetSequence>,
  maxLength: number,
  itemJoin: string,
  capacity: number,
  minCount: number,
): CountedPattern[] {
  const summaries = new Map<PatternKind, SpaceSaving[]>();
  for (const kind of PATTERN_KINDS) summaries.set(kind, Array.from({ length: maxLength }, () => new SpaceSaving(capacity)));
  for (const sequence of sequences) {
    for (const kind of PATTERN_KINDS) {
      const byLength = summaries.get(kind)!;
      forEachDistinctPattern(kind, sequence, maxLength, itemJoin, (pattern, length) => byLength[length - 1].offer(pattern));
    }
  }
  const found: CountedPattern[] = [];
  for (const kind of PATTERN_KINDS) {
    summaries.get(kind)!.forEach((summary, index) => {
      for (const { key, count, error } of summary.entries()) {
        if (count >= minCount) found.push({ kind, pattern: key, length: index + 1, support: count, errorBound: error });
      }
    });
  }
  return found;
}
