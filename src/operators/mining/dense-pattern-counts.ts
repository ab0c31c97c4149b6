// Exact window supports for web sessions over a small item alphabet: each session's distinct patterns counted in dense arrays.
import { UNWATCHED, type CountingProgress } from "./counting-progress.ts";
import { PATTERN_STEP_SEPARATOR } from "./itemset-sequence.ts";
import type { CountedPattern } from "./pattern-counting.ts";
import type { EncodedSessions } from "./session-dictionary.ts";

/**
 * Most counters per pattern length and kind (alphabet size ^ length): 2^18, i.e. ≤ 64 items for patterns of 3 items.
 * Above it the caller falls back to PrefixSpan, whose support pruning keeps large alphabets bounded.
 */
export const DENSE_PATTERN_CELLS = 1 << 18;

/**
 * The exact supports (sessions containing the pattern, each session once) of every subsequence and contiguous run of
 * 1..maxLength one-item steps with support ≥ minCount: what PrefixSpan plus run counting find (exactPatternCounts),
 * unordered, over the window's sessions as dictionary ids (session-dictionary.ts: the mining thread's job as it
 * arrives). Undefined when the window's alphabet is too large for dense counters (DENSE_PATTERN_CELLS).
 *
 * Why: web sessions' page items come from a small alphabet (the demo's urlRules give 28), where enumerating each
 * session's distinct patterns beats PrefixSpan's projections several times over (bench/OPTIMIZATIONS.md, session 17).
 * A pattern of length ℓ is the counter index Σ item_i × B^(ℓ−i), B the alphabet size; a session's distinct
 * subsequences of length ℓ are its distinct (ℓ−1)-subsequences completed before a position, extended by that
 * position's item, so each session costs Σ over positions of its distinct shorter patterns so far, not length^ℓ.
 * `progress` is told the counters probed (counting-progress.ts).
 */
export function denseOneItemPatternCounts(
  sessions: EncodedSessions,
  maxLength: number,
  minCount: number,
  progress: CountingProgress = UNWATCHED,
): CountedPattern[] | undefined {
  const { dictionary: items, elementIds, sessionEnds } = sessions;
  let longest = 0;
  for (let sequence = 0; sequence < sessionEnds.length; sequence++) {
    const length = sessionEnds[sequence] - (sequence === 0 ? 0 : sessionEnds[sequence - 1]);
    if (length > longest) longest = length;
  }
  const lengths = Math.min(maxLength, longest);
  const base = items.length;
  if (base ** lengths > DENSE_PATTERN_CELLS) return undefined;

  // Per length (index ℓ − 1): counters, the last session counted (sequence + 1, so zeroed arrays need no fill), and
  // the counters in first-seen order, for both kinds.
  const subsequences = Array.from({ length: lengths }, (_, index) => new DenseCounters(base ** (index + 1)));
  const runs = Array.from({ length: lengths }, (_, index) => new DenseCounters(base ** (index + 1)));
  // This session's distinct subsequences per length so far (lengths below the longest only: they get extended).
  const completed: number[][] = Array.from({ length: Math.max(0, lengths - 1) }, () => []);

  let from = 0;
  for (let sequence = 0; sequence < sessionEnds.length; from = sessionEnds[sequence], sequence++) {
    const end = sessionEnds[sequence];
    const mark = sequence + 1;
    for (const list of completed) list.length = 0;
    for (let at = from; at < end; at++) {
      const item = elementIds[at];
      progress.advance(lengths);
      // Longest first: a pattern completed at this position must not be extended by the same position.
      for (let length = lengths; length >= 2; length--) {
        const counters = subsequences[length - 1];
        const prefixes = completed[length - 2];
        const extended = length < lengths ? completed[length - 1] : undefined;
        progress.advance(prefixes.length);
        for (let p = 0; p < prefixes.length; p++) {
          const index = prefixes[p] * base + item;
          if (counters.count(index, mark) && extended !== undefined) extended.push(index);
        }
      }
      if (subsequences[0].count(item, mark) && lengths > 1) completed[0].push(item);
      // Contiguous runs starting here.
      let index = 0;
      for (let length = 1; length <= lengths && at + length <= end; length++) {
        index = index * base + elementIds[at + length - 1];
        runs[length - 1].count(index, mark);
      }
    }
  }

  const found: CountedPattern[] = [];
  const collect = (kind: CountedPattern["kind"], byLength: DenseCounters[]) => {
    byLength.forEach((counters, lengthIndex) => {
      const length = lengthIndex + 1;
      for (const index of counters.firstSeen) {
        const support = counters.supports[index];
        if (support < minCount) continue;
        const steps = patternItems(index, length, base, items);
        found.push({ kind, pattern: steps.join(PATTERN_STEP_SEPARATOR), items: steps, length, support, errorBound: 0 });
      }
    });
  };
  collect("subsequence", subsequences);
  collect("contiguous", runs);
  return found;
}

/** Support counters of one pattern length and kind, each session counted once. */
class DenseCounters {
  readonly supports: Int32Array;
  readonly lastSession: Int32Array;
  readonly firstSeen: number[] = [];
  constructor(cells: number) {
    this.supports = new Int32Array(cells);
    this.lastSession = new Int32Array(cells);
  }

  /** Counts `index` for session `mark` (sequence + 1); false when this session already counted it. */
  count(index: number, mark: number): boolean {
    if (this.lastSession[index] === mark) return false;
    this.lastSession[index] = mark;
    if (this.supports[index]++ === 0) this.firstSeen.push(index);
    return true;
  }
}

/** The items of counter `index` (base-B digits, most significant first), in order. */
function patternItems(index: number, length: number, base: number, items: readonly string[]): string[] {
  const steps: string[] = new Array(length);
  let rest = index;
  for (let step = length - 1; step >= 0; step--) {
    steps[step] = items[rest % base];
    rest = Math.floor(rest / base);
  }
  return steps;
}
