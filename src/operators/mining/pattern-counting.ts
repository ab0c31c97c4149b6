// Window pattern supports: exact (PrefixSpan + n-gram counts) or bounded-memory (Space-Saving), over final sessions.
import { CountMap } from "./count-map.ts";
import { UNWATCHED, type CountingProgress } from "./counting-progress.ts";
import { denseOneItemPatternCounts } from "./dense-pattern-counts.ts";
import { forEachDistinctContiguous, forEachDistinctSubsequence } from "./distinct-subsequences.ts";
import { compareItemLists, compareItems, DEFAULT_ITEM_JOIN, PATTERN_STEP_SEPARATOR, sessionSequence, type ItemsetSequence } from "./itemset-sequence.ts";
import { forEachFrequentSequence } from "./prefixspan.ts";
import { decodeSessions, encodeSessions, type EncodedSessions } from "./session-dictionary.ts";
import { SpaceSaving } from "./space-saving.ts";

export type PatternKind = "subsequence" | "contiguous";
export const PATTERN_KINDS: readonly PatternKind[] = ["subsequence", "contiguous"];

/** One counted pattern, ready for the `patterns` table. */
export interface CountedPattern {
  kind: PatternKind;
  /** The `items` joined by " > " (the contract's column; ambiguous when an item holds " > "). */
  pattern: string;
  /** One element per step (a multi-item step's items joined by the item join): what tells patterns apart. */
  items: string[];
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
 * frequent prefixes are grown), contiguous runs by counting each session's distinct n-grams. Unordered: the caller
 * orders rows. Patterns are formatted only once they are known to be frequent. `progress` is told the work done
 * (counting-progress.ts).
 */
export function exactPatternCounts(
  sequences: readonly ItemsetSequence[],
  maxLength: number,
  itemJoin: string,
  minCount: number,
  progress: CountingProgress = UNWATCHED,
): CountedPattern[] {
  const found: CountedPattern[] = [];
  forEachFrequentSequence(sequences, { minSupportCount: minCount, maxLength, progress }, (pattern, support, items) => {
    const steps: string[] = new Array(pattern.length);
    let length = 0;
    for (let step = 0; step < pattern.length; step++) {
      const ids = pattern[step];
      let text = "";
      for (let k = 0; k < ids.length; k++) text += k === 0 ? items[ids[k]] : itemJoin + items[ids[k]];
      steps[step] = text;
      length += ids.length;
    }
    found.push({ kind: "subsequence", pattern: steps.join(PATTERN_STEP_SEPARATOR), items: steps, length, support, errorBound: 0 });
  });
  for (const counted of exactContiguousCounts(sequences, maxLength, itemJoin, minCount, progress)) found.push(counted);
  return found;
}

/**
 * Exact supports (sessions holding the run at least once) of every contiguous run of 1..maxLength steps with support
 * ≥ minCount; `length` counts steps, a multi-item step being one token written with `itemJoin`. Unordered. What
 * sequencePatterns counts for its `contiguous` rows, and what `clickpipe mine patterns --kind contiguous` writes.
 */
export function exactContiguousCounts(
  sequences: readonly ItemsetSequence[],
  maxLength: number,
  itemJoin: string,
  minCount: number,
  progress: CountingProgress = UNWATCHED,
): CountedPattern[] {
  const numeric = sequences.every((sequence) => sequence.every((step) => step.length === 1))
    ? countOneItemRuns(sequences, maxLength, minCount, progress)
    : undefined;
  if (numeric !== undefined) return numeric;
  const found: CountedPattern[] = [];
  // Keyed by item tokens: keyed by the text, "a > b" then "c" and "a" then "b > c" were one run.
  const { sequences: tokenSequences, items } = itemTokens(sequences);
  const runs = new CountMap();
  const lengthOf = new Map<string, number>();
  for (const sequence of tokenSequences) {
    forEachDistinctContiguous(sequence, maxLength, (key, length) => {
      progress.advance(1);
      const count = (runs.get(key) ?? 0) + 1;
      runs.set(key, count);
      if (count === minCount) lengthOf.set(key, length);
    }, TOKEN_JOIN);
  }
  for (const [key, length] of lengthOf) found.push(countedOfKey("contiguous", key, items, itemJoin, length, runs.get(key)!, 0));
  return found;
}

/**
 * Contiguous runs of one-item steps (web sessions) counted under numeric keys (the run's item ids in base
 * `items + 1`), so no text is built for the many infrequent runs. Undefined when the keys would not be exact doubles.
 */
function countOneItemRuns(
  sequences: readonly ItemsetSequence[],
  maxLength: number,
  minCount: number,
  progress: CountingProgress,
): CountedPattern[] | undefined {
  const idOf = new Map<string, number>();
  const items: string[] = [];
  const encoded = sequences.map((sequence) =>
    Int32Array.from(sequence, (step) => {
      let id = idOf.get(step[0]);
      if (id === undefined) {
        id = items.length;
        idOf.set(step[0], id);
        items.push(step[0]);
      }
      return id;
    }),
  );
  const base = items.length + 1;
  const longest = Math.min(maxLength, encoded.reduce((most, ids) => Math.max(most, ids.length), 0));
  if (base ** longest > Number.MAX_SAFE_INTEGER) return undefined;
  // One map probe per run occurrence: the key's slot, with its support and the last sequence counted in parallel arrays
  // (two maps cost four probes). Slots are numbered in first-seen order, the order the rows come out in.
  const slotOf = new Map<number, number>();
  const keys: number[] = [];
  const supports: number[] = [];
  const lastSequence: number[] = [];
  encoded.forEach((ids, sequence) => {
    for (let start = 0; start < ids.length; start++) {
      progress.advance(longest);
      let key = 0;
      for (let length = 1; length <= longest && start + length <= ids.length; length++) {
        key = key * base + ids[start + length - 1] + 1;
        const slot = slotOf.get(key);
        if (slot === undefined) {
          slotOf.set(key, keys.length);
          keys.push(key);
          supports.push(1);
          lastSequence.push(sequence);
        } else if (lastSequence[slot] !== sequence) {
          lastSequence[slot] = sequence;
          supports[slot]++;
        }
      }
    }
  });
  const found: CountedPattern[] = [];
  for (let slot = 0; slot < keys.length; slot++) {
    const key = keys[slot];
    const support = supports[slot];
    if (support < minCount) continue;
    const run: string[] = [];
    for (let rest = key; rest > 0; rest = Math.floor(rest / base)) run.push(items[(rest % base) - 1]);
    run.reverse();
    found.push({ kind: "contiguous", pattern: run.join(PATTERN_STEP_SEPARATOR), items: run, length: run.length, support, errorBound: 0 });
  }
  return found;
}

/**
 * Bounded-memory supports: one Space-Saving summary of `capacity` counters per kind and length, fed each session's
 * distinct patterns. Estimates never fall below the true support and exceed it by at most `errorBound`; with N the
 * (session, distinct pattern) pairs of that kind and length, every pattern whose support exceeds N / capacity is kept.
 */
export function approximatePatternCounts(
  sequences: readonly ItemsetSequence[],
  maxLength: number,
  itemJoin: string,
  capacity: number,
  minCount: number,
  progress: CountingProgress = UNWATCHED,
): CountedPattern[] {
  const summaries = new Map<PatternKind, SpaceSaving[]>();
  for (const kind of PATTERN_KINDS) summaries.set(kind, Array.from({ length: maxLength }, () => new SpaceSaving(capacity)));
  // Keyed by item tokens: keyed by the text, "a > b" then "c" and "a" then "b > c" shared one counter.
  const { sequences: tokenSequences, items } = itemTokens(sequences);
  for (const sequence of tokenSequences) {
    for (const kind of PATTERN_KINDS) {
      const byLength = summaries.get(kind)!;
      forEachDistinctPattern(kind, sequence, maxLength, TOKEN_JOIN, (key, length) => {
        progress.advance(1);
        byLength[length - 1].offer(key);
      });
    }
  }
  const found: CountedPattern[] = [];
  for (const kind of PATTERN_KINDS) {
    summaries.get(kind)!.forEach((summary, index) => {
      for (const { key, count, error } of summary.entries()) {
        if (count >= minCount) found.push(countedOfKey(kind, key, items, itemJoin, index + 1, count, error));
      }
    });
  }
  return found;
}

/** Joins the tokens of a multi-item step in a token key; tokens hold neither it nor " > ". */
const TOKEN_JOIN = DEFAULT_ITEM_JOIN;

/**
 * The sequences with every item replaced by a token naming its id (base 36, zero-padded to one width) in `items`, the
 * window's distinct items in compareItems order: tokens compare as their items do, so itemsets stay canonical, and a
 * pattern's key (tokens joined by TOKEN_JOIN and " > ") names one pattern, whatever its items hold.
 */
function itemTokens(sequences: readonly ItemsetSequence[]): { sequences: ItemsetSequence[]; items: string[] } {
  const distinct = new Set<string>();
  for (const sequence of sequences) for (const step of sequence) for (const item of step) distinct.add(item);
  const items = [...distinct].sort(compareItems);
  const width = Math.max(1, (items.length - 1).toString(36).length);
  const tokenOf = new Map(items.map((item, id) => [item, id.toString(36).padStart(width, "0")] as const));
  return { sequences: sequences.map((sequence) => sequence.map((step) => step.map((item) => tokenOf.get(item)!))), items };
}

/** A counted pattern from its token key (itemTokens): its steps' items back, joined as the table writes them. */
function countedOfKey(kind: PatternKind, key: string, items: readonly string[], itemJoin: string, length: number, support: number, errorBound: number): CountedPattern {
  const steps = key.split(PATTERN_STEP_SEPARATOR).map((step) => step.split(TOKEN_JOIN).map((token) => items[Number.parseInt(token, 36)]).join(itemJoin));
  return { kind, pattern: steps.join(PATTERN_STEP_SEPARATOR), items: steps, length, support, errorBound };
}

/** One window's counting: its sessions' elements (in the order that makes topK deterministic) and the settings. */
export interface WindowPatternsRequest {
  /** Each session's page items (or paths), one array per session. */
  elements: readonly (readonly string[])[];
  maxLength: number;
  /** Joins the items of a multi-item step in a pattern's text. */
  itemJoin: string;
  /** Splits an element into an itemset (SPMF sequences); undefined: every element is one item. */
  itemsetSeparator?: string;
  minCount: number;
  /** Bounded-memory mode (Space-Saving) with this many counters per kind and length; undefined: exact. */
  topK?: number;
}

/** A window's counting settings: everything of WindowPatternsRequest but the sessions. */
export type WindowPatternSettings = Omit<WindowPatternsRequest, "elements">;

/**
 * The window's frequent patterns in the `patterns` table's row order: what sequencePatterns writes when it closes.
 * `progress` is told the work done as it goes, for a watchdog on another thread (counting-progress.ts).
 */
export function countWindowPatterns(request: WindowPatternsRequest, progress: CountingProgress = UNWATCHED): CountedPattern[] {
  return densePatterns(request, () => encodeSessions(request.elements), progress) ?? sparsePatterns(request, progress);
}

/** countWindowPatterns over sessions already encoded (the mining thread's job): decoded only for PrefixSpan. */
export function countEncodedWindowPatterns(
  settings: WindowPatternSettings,
  sessions: EncodedSessions,
  progress: CountingProgress = UNWATCHED,
): CountedPattern[] {
  return densePatterns(settings, () => sessions, progress) ?? sparsePatterns({ ...settings, elements: decodeSessions(sessions) }, progress);
}

/** Web sessions (one item per step) over a small alphabet: dense counters, no PrefixSpan (same rows, exact); else undefined. */
function densePatterns(settings: WindowPatternSettings, sessions: () => EncodedSessions, progress: CountingProgress): CountedPattern[] | undefined {
  const oneItemSteps = settings.itemsetSeparator === undefined || settings.itemsetSeparator === "";
  if (settings.topK !== undefined || !oneItemSteps) return undefined;
  return denseOneItemPatternCounts(sessions(), settings.maxLength, settings.minCount, progress)?.sort(byOutputOrder);
}

/** PrefixSpan and run counting (exact), or Space-Saving (topK). */
function sparsePatterns(request: WindowPatternsRequest, progress: CountingProgress): CountedPattern[] {
  const sequences = request.elements.map((elements) => sessionSequence(elements, request.itemsetSeparator));
  const found =
    request.topK === undefined
      ? exactPatternCounts(sequences, request.maxLength, request.itemJoin, request.minCount, progress)
      : approximatePatternCounts(sequences, request.maxLength, request.itemJoin, request.topK, request.minCount, progress);
  return found.sort(byOutputOrder);
}

/** Rows in (kind as PATTERN_KINDS orders it, length, support desc, pattern, items) order. */
function byOutputOrder(a: CountedPattern, b: CountedPattern): number {
  return (
    (a.kind === b.kind ? 0 : a.kind === PATTERN_KINDS[0] ? -1 : 1) ||
    a.length - b.length ||
    b.support - a.support ||
    compareItems(a.pattern, b.pattern) ||
    compareItemLists(a.items, b.items)
  );
}
