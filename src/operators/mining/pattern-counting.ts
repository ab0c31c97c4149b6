// Exact per-window pattern supports that sessions can join and leave (late versions, retractions).
import { CountMap } from "./count-map.ts";
import { forEachDistinctContiguous, forEachDistinctSubsequence } from "./distinct-subsequences.ts";
import type { ItemsetSequence } from "./itemset-sequence.ts";
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
 * Sessions containing each pattern, per kind and length. A session adds +1 to each distinct pattern it holds and
 * its removal subtracts the same, so counts always equal a batch count over the sessions currently in.
 */
export class ExactPatternCounts {
  private readonly counts = new Map<PatternKind, CountMap[]>();
  private keyChars = 0;
  private entries = 0;

  readonly maxLength: number;
  readonly itemJoin: string;

  constructor(maxLength: number, itemJoin: string) {
    this.maxLength = maxLength;
    this.itemJoin = itemJoin;
    for (const kind of PATTERN_KINDS) this.counts.set(kind, Array.from({ length: maxLength }, () => new CountMap()));
  }

  add(sequence: ItemsetSequence): void {
    this.apply(sequence, 1);
  }

  remove(sequence: ItemsetSequence): void {
    this.apply(sequence, -1);
  }

  /** Patterns with support ≥ minCount. */
  frequent(minCount: number): CountedPattern[] {
    const found: CountedPattern[] = [];
    for (const kind of PATTERN_KINDS) {
      this.counts.get(kind)!.forEach((byPattern, index) => {
        for (const [pattern, support] of byPattern.entries()) {
          if (support >= minCount) found.push({ kind, pattern, length: index + 1, support, errorBound: 0 });
        }
      });
    }
    return found;
  }

  /** Rough bytes held: map entries plus UTF-16 key text. */
  approximateBytes(): number {
    return this.entries * 64 + this.keyChars * 2;
  }

  private apply(sequence: ItemsetSequence, delta: 1 | -1): void {
    for (const kind of PATTERN_KINDS) {
      const byLength = this.counts.get(kind)!;
      forEachDistinctPattern(kind, sequence, this.maxLength, this.itemJoin, (pattern, length) => {
        const byPattern = byLength[length - 1];
        const next = (byPattern.get(pattern) ?? 0) + delta;
        if (next > 0) {
          if (next === 1 && delta === 1) {
            this.entries += 1;
            this.keyChars += pattern.length;
          }
          byPattern.set(pattern, next);
        } else {
          byPattern.delete(pattern);
          this.entries -= 1;
          this.keyChars -= pattern.length;
        }
      });
    }
  }
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
