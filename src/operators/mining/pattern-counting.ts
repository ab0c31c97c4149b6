// Window pattern supports: exact (PrefixSpan + level-wise run counts) or bounded-memory (Space-Saving), over final sessions.
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
 * frequent prefixes are grown), contiguous runs level by level where their prefix and suffix are frequent
 * (exactContiguousCounts). Unordered: the caller orders rows. Patterns are formatted only once they are known to be
 * frequent. `progress` is told the work done (counting-progress.ts).
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
 * sequencePatterns counts for its `contiguous` rows (outside its dense counters), and what `clickpipe mine patterns
 * --kind contiguous` writes.
 *
 * Level-wise (Apriori/GSP): a run of k steps is counted only where its (k−1)-step prefix and suffix are frequent, which
 * loses no frequent run since a session holding a run holds both. Memory is the frequent runs, one level's candidates
 * and three numbers per step of input, not every distinct run: unpruned, 200-page sessions had 20,100 runs each.
 */
export function exactContiguousCounts(
  sequences: readonly ItemsetSequence[],
  maxLength: number,
  itemJoin: string,
  minCount: number,
  progress: CountingProgress = UNWATCHED,
): CountedPattern[] {
  const found: CountedPattern[] = [];
  if (maxLength < 1) return found;
  const { steps, stepTexts, sessionEnds } = encodeSteps(sequences, itemJoin);
  const stepCount = stepTexts.length;

  // Length 1: each step's support, read from the position array (a -1 after each session ends it).
  const supports = new Int32Array(stepCount);
  const lastSession = new Int32Array(stepCount).fill(-1);
  let session = 0;
  for (let at = 0; at < steps.length; at++) {
    const step = steps[at];
    if (step < 0) {
      session++;
      continue;
    }
    if (lastSession[step] !== session) {
      lastSession[step] = session;
      supports[step]++;
    }
  }
  progress.advance(steps.length);
  let level: CountedPattern[] = [];
  const idOfStep = new Int32Array(stepCount).fill(-1);
  for (let step = 0; step < stepCount; step++) {
    if (supports[step] < minCount) continue;
    idOfStep[step] = level.length;
    level.push({ kind: "contiguous", pattern: stepTexts[step], items: [stepTexts[step]], length: 1, support: supports[step], errorBound: 0 });
  }
  // frequentAt[at]: the id (index in `level`) of the frequent run of the current length starting at `at`, else -1;
  // alive: the positions where one starts, ascending.
  const frequentAt = new Int32Array(steps.length);
  let aliveCount = 0;
  for (let at = 0; at < steps.length; at++) {
    frequentAt[at] = steps[at] < 0 ? -1 : idOfStep[steps[at]];
    if (frequentAt[at] >= 0) aliveCount++;
  }
  let alive = new Int32Array(aliveCount);
  aliveCount = 0;
  for (let at = 0; at < steps.length; at++) if (frequentAt[at] >= 0) alive[aliveCount++] = at;

  for (let length = 2; ; length++) {
    for (const counted of level) found.push(counted);
    if (length > maxLength || alive.length === 0) return found;
    if (level.length * stepCount > Number.MAX_SAFE_INTEGER) throw new RangeError(`contiguous runs: ${level.length} frequent runs of ${length - 1} steps over ${stepCount} steps are too many to key exactly`);
    const candidates = new RunCandidates();
    let sessionIndex = 0;
    for (let a = 0; a < alive.length; a++) {
      const at = alive[a];
      while (at >= sessionEnds[sessionIndex]) sessionIndex++;
      // The suffix starts at at + 1 (the session's -1 at worst); it is read before this loop overwrites that slot.
      if (frequentAt[at + 1] < 0) {
        frequentAt[at] = -1;
        continue;
      }
      frequentAt[at] = candidates.count(frequentAt[at] * stepCount + steps[at + length - 1], sessionIndex);
      if ((a & 0xfff) === 0xfff) progress.advance(0x1000);
    }
    // The frequent candidates become the next level; their positions stay alive, others drop out.
    const previous = level;
    level = [];
    const idOfSlot = new Int32Array(candidates.keys.length).fill(-1);
    for (let slot = 0; slot < candidates.keys.length; slot++) {
      const support = candidates.supports[slot];
      if (support < minCount) continue;
      const key = candidates.keys[slot];
      const prefix = previous[Math.floor(key / stepCount)];
      const text = stepTexts[key % stepCount];
      idOfSlot[slot] = level.length;
      level.push({ kind: "contiguous", pattern: prefix.pattern + PATTERN_STEP_SEPARATOR + text, items: [...prefix.items, text], length, support, errorBound: 0 });
    }
    let kept = 0;
    for (let a = 0; a < alive.length; a++) {
      const at = alive[a];
      const slot = frequentAt[at];
      frequentAt[at] = slot < 0 ? -1 : idOfSlot[slot];
      if (frequentAt[at] >= 0) alive[kept++] = at;
    }
    alive = alive.subarray(0, kept);
  }
}

/** Maps a level's candidates are split over: one V8 Map holds at most 2^24 entries. */
const CANDIDATE_SHARDS = 16;

/** One level's candidate runs: key (prefix id × steps + last step) → slot, with supports counted once per session. */
class RunCandidates {
  private readonly slotOf: Map<number, number>[] = Array.from({ length: CANDIDATE_SHARDS }, () => new Map<number, number>());
  readonly keys: number[] = [];
  readonly supports: number[] = [];
  private readonly lastSession: number[] = [];

  /** Counts `key` for `session` (sessions come in order) and returns its slot. */
  count(key: number, session: number): number {
    const shard = this.slotOf[key % CANDIDATE_SHARDS];
    const slot = shard.get(key);
    if (slot === undefined) {
      shard.set(key, this.keys.length);
      this.keys.push(key);
      this.supports.push(1);
      this.lastSession.push(session);
      return this.keys.length - 1;
    }
    if (this.lastSession[slot] !== session) {
      this.lastSession[slot] = session;
      this.supports[slot]++;
    }
    return slot;
  }
}

/**
 * The sequences as step ids, one position per step and a -1 after each sequence; `sessionEnds[s]` is the position of
 * sequence s's -1. A step is identified by its items in order (not by its text: the one-item step "a b" and the step
 * {a, b} both read "a b"), and written as its items joined by `itemJoin`.
 */
function encodeSteps(sequences: readonly ItemsetSequence[], itemJoin: string): { steps: Int32Array; stepTexts: string[]; sessionEnds: Int32Array } {
  let positions = 0;
  for (const sequence of sequences) positions += sequence.length + 1;
  const steps = new Int32Array(positions);
  const sessionEnds = new Int32Array(sequences.length);
  const idOfItem = new Map<string, number>();
  const idOfItemset = new Map<string, number>();
  const stepTexts: string[] = [];
  let at = 0;
  sequences.forEach((sequence, index) => {
    for (const step of sequence) {
      const ids = step.length === 1 ? idOfItem : idOfItemset;
      const key = step.length === 1 ? step[0] : JSON.stringify(step);
      let id = ids.get(key);
      if (id === undefined) {
        id = stepTexts.length;
        ids.set(key, id);
        stepTexts.push(step.join(itemJoin));
      }
      steps[at++] = id;
    }
    sessionEnds[index] = at;
    steps[at++] = -1;
  });
  return { steps, stepTexts, sessionEnds };
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
