// PrefixSpan (Pei et al. 2001) with pseudo-projection: exact frequent sequential patterns of an itemset-sequence database.
import { UNWATCHED, type CountingProgress } from "./counting-progress.ts";
import { containsAll } from "./distinct-subsequences.ts";
import { compareItems, type Itemset, type ItemsetSequence } from "./itemset-sequence.ts";

export interface SequentialPattern {
  pattern: Itemset[];
  /** Sequences containing the pattern (each sequence once). */
  support: number;
}

export interface PrefixSpanOptions {
  /** Absolute support threshold (sequences); see sequenceMinSupportCount for ratios. */
  minSupportCount: number;
  /** Most items in a pattern (SPMF's maxPatternLength); omitted: unbounded. */
  maxLength?: number;
  /** Told the items scanned and the patterns reported (counting-progress.ts); omitted: nobody watches. */
  progress?: CountingProgress;
}

/**
 * Receives one frequent pattern as item ids per step (ids index `items`, which is sorted by compareItems, so ids
 * compare as items do). The arrays are only valid during the call.
 */
export type FrequentSequenceVisitor = (pattern: readonly (readonly number[])[], support: number, items: readonly string[]) => void;

/**
 * Where a prefix sits in each sequence holding it: `sequences[i]` and the leftmost end (step index) of the prefix's
 * last step in it, `ends[i]`. Parallel arrays of small integers (V8 allocates those faster than small typed arrays).
 */
interface Projection {
  length: number;
  sequences: number[];
  ends: number[];
}

/** Frequent extension items of a prefix, with their supports. */
interface Extensions {
  items: number[];
  supports: number[];
}

/**
 * Every pattern with support ≥ minSupportCount and at most maxLength items, sorted by support (desc) then
 * pattern. Support is the number of sequences containing the pattern as SPMF defines it.
 */
export function prefixSpan(database: readonly ItemsetSequence[], options: PrefixSpanOptions): SequentialPattern[] {
  const results: SequentialPattern[] = [];
  forEachFrequentSequence(database, options, (pattern, support, items) => {
    results.push({ pattern: pattern.map((step) => step.map((id) => items[id])), support });
  });
  return sortByPatternOrder(results);
}

/**
 * The PrefixSpan search, reporting each frequent pattern (in no particular order) without building result objects.
 *
 * Performance (bench/RESULTS.md): all s-extension children of a prefix are projected in one pass over its projected
 * suffixes (one pass per child made the root alone cost items × database size); a pattern of maxLength items is
 * reported from its extension count without being projected; databases of one-item steps (web sessions) skip the
 * i-extension scan, which can find nothing there.
 */
export function forEachFrequentSequence(
  database: readonly ItemsetSequence[],
  options: PrefixSpanOptions,
  visit: FrequentSequenceVisitor,
): void {
  const minCount = Math.max(1, options.minSupportCount);
  const maxLength = options.maxLength ?? Number.POSITIVE_INFINITY;
  if (maxLength < 1) return;
  const progress = options.progress ?? UNWATCHED;
  const items = distinctItems(database);
  const idOf = new Map(items.map((item, id) => [item, id] as const));
  const hasMultiItemSteps = database.some((sequence) => sequence.some((step) => step.length > 1));
  // Each sequence flattened to its item ids in step order (a step's ids ascending): one typed array per sequence.
  const flatItems = database.map((sequence) => flatten(sequence, idOf));
  // Only databases with multi-item steps need per-step arrays and position ↔ step maps; one-item steps are positions.
  const encoded = hasMultiItemSteps ? flatItems.map((flat, sequence) => stepViews(flat, database[sequence])) : [];
  const stepAt = hasMultiItemSteps ? database.map((sequence) => stepOfPositions(sequence)) : [];
  const stepStart = hasMultiItemSteps ? database.map((sequence) => stepStarts(sequence)) : [];
  const firstPositionOf = (sequence: number, step: number): number => (hasMultiItemSteps ? stepStart[sequence][step] : step);
  const stepOf = (sequence: number, position: number): number => (hasMultiItemSteps ? stepAt[sequence][position] : position);

  const counts = new Int32Array(items.length);
  const lastCounted = new Int32Array(items.length).fill(-1);
  const childOf = new Int32Array(items.length).fill(-1);
  const seenStamp = new Int32Array(items.length);
  let stamp = 0;
  const touched: number[] = [];

  const countOnce = (item: number, sequence: number): void => {
    if (lastCounted[item] === sequence) return;
    lastCounted[item] = sequence;
    if (counts[item] === 0) touched.push(item);
    counts[item] += 1;
  };
  // Extension order does not matter: every caller orders the patterns it reports.
  const takeFrequent = (): Extensions => {
    const frequent: Extensions = { items: [], supports: [] };
    for (const item of touched) {
      if (counts[item] >= minCount) {
        frequent.items.push(item);
        frequent.supports.push(counts[item]);
      }
      counts[item] = 0;
      lastCounted[item] = -1;
    }
    touched.length = 0;
    return frequent;
  };

  /** Counts, once per sequence, every item in a step after the prefix's leftmost end. */
  const countStepExtensions = (projection: Projection): Extensions => {
    for (let p = 0; p < projection.length; p++) {
      const sequence = projection.sequences[p];
      const flat = flatItems[sequence];
      const from = firstPositionOf(sequence, projection.ends[p] + 1);
      progress.advance(flat.length - from + 1);
      for (let at = from; at < flat.length; at++) countOnce(flat[at], sequence);
    }
    return takeFrequent();
  };

  /** Projections of prefix + {item} for every frequent item at once: the first step after the end holding it. */
  const projectSteps = (projection: Projection, extensions: Extensions): Projection[] => {
    const children = extensions.items.map(emptyProjection);
    extensions.items.forEach((item, child) => (childOf[item] = child));
    for (let p = 0; p < projection.length; p++) {
      const sequence = projection.sequences[p];
      const flat = flatItems[sequence];
      stamp++;
      const from = firstPositionOf(sequence, projection.ends[p] + 1);
      progress.advance(flat.length - from + 1);
      for (let at = from; at < flat.length; at++) {
        const item = flat[at];
        const child = childOf[item];
        if (child < 0 || seenStamp[item] === stamp) continue;
        seenStamp[item] = stamp;
        pushProjection(children[child], sequence, stepOf(sequence, at));
      }
    }
    for (const item of extensions.items) childOf[item] = -1;
    return children;
  };

  /** The prefix whose last step grew to `step`: the first step from the old leftmost end holding all of it. */
  const projectWithin = (projection: Projection, step: readonly number[]): Projection => {
    const next = emptyProjection();
    for (let p = 0; p < projection.length; p++) {
      const sequence = projection.sequences[p];
      const steps = encoded[sequence];
      // At most the steps left: the scan stops at the first step holding all of `step`.
      progress.advance(steps.length - projection.ends[p] + 1);
      for (let at = projection.ends[p]; at < steps.length; at += 1) {
        if (containsAll(steps[at], step)) {
          pushProjection(next, sequence, at);
          break;
        }
      }
    }
    return next;
  };

  /** Reports `pattern` (unless it is the empty root) and grows it; `length` counts its items. */
  const grow = (pattern: number[][], projection: Projection, length: number): void => {
    progress.advance(1);
    if (length > 0) visit(pattern, projection.length, items);
    if (length >= maxLength) return;
    // Extensions of this prefix reach maxLength: their supports are all that is reported, no projection needed.
    const leaves = length + 1 >= maxLength;

    if (hasMultiItemSteps && length > 0) {
      // i-extensions: items above the last step's items, in a step (from the last step's leftmost end on) holding it.
      const last = pattern[pattern.length - 1];
      const maxLast = last[last.length - 1];
      for (let p = 0; p < projection.length; p++) {
        const sequence = projection.sequences[p];
        const steps = encoded[sequence];
        progress.advance(steps.length - projection.ends[p] + 1);
        for (let step = projection.ends[p]; step < steps.length; step += 1) {
          const ids = steps[step];
          if (!containsAll(ids, last)) continue;
          for (let k = 0; k < ids.length; k++) if (ids[k] > maxLast) countOnce(ids[k], sequence);
        }
      }
      const { items: extensions, supports } = takeFrequent();
      for (let e = 0; e < extensions.length; e++) {
        const extended = [...last, extensions[e]];
        const extendedPattern = [...pattern.slice(0, -1), extended];
        if (leaves) {
          progress.advance(1);
          visit(extendedPattern, supports[e], items);
        } else grow(extendedPattern, projectWithin(projection, extended), length + 1);
      }
    }

    const extensions = countStepExtensions(projection);
    if (leaves) {
      const extendedPattern = [...pattern, [0]];
      const added = extendedPattern[extendedPattern.length - 1];
      for (let e = 0; e < extensions.items.length; e++) {
        progress.advance(1);
        added[0] = extensions.items[e];
        visit(extendedPattern, extensions.supports[e], items);
      }
      return;
    }
    const children = projectSteps(projection, extensions);
    for (let e = 0; e < extensions.items.length; e++) {
      grow([...pattern, [extensions.items[e]]], children[e], length + 1);
    }
  };

  const root = emptyProjection();
  for (let sequence = 0; sequence < database.length; sequence++) pushProjection(root, sequence, -1);
  grow([], root, 0);
}

/** Every item of the database once, in compareItems order (ids are indexes into it). */
function distinctItems(database: readonly ItemsetSequence[]): string[] {
  const seen = new Set<string>();
  for (const sequence of database) for (const step of sequence) for (const item of step) seen.add(item);
  return [...seen].sort(compareItems);
}

function flatten(sequence: ItemsetSequence, idOf: ReadonlyMap<string, number>): Int32Array {
  let size = 0;
  for (const step of sequence) size += step.length;
  const flat = new Int32Array(size);
  let at = 0;
  for (const step of sequence) {
    const from = at;
    for (const item of step) flat[at++] = idOf.get(item)!;
    if (at - from > 1) flat.subarray(from, at).sort();
  }
  return flat;
}

function stepViews(flat: Int32Array, sequence: ItemsetSequence): Int32Array[] {
  const views: Int32Array[] = [];
  let at = 0;
  for (const step of sequence) views.push(flat.subarray(at, (at += step.length)));
  return views;
}

function stepOfPositions(sequence: ItemsetSequence): Int32Array {
  const of = new Int32Array(sequence.reduce((sum, step) => sum + step.length, 0));
  let at = 0;
  sequence.forEach((step, index) => of.fill(index, at, (at += step.length)));
  return of;
}

function stepStarts(sequence: ItemsetSequence): Int32Array {
  const starts = new Int32Array(sequence.length + 1);
  for (let index = 0; index < sequence.length; index++) starts[index + 1] = starts[index] + sequence[index].length;
  return starts;
}

function emptyProjection(): Projection {
  return { length: 0, sequences: [], ends: [] };
}

function pushProjection(projection: Projection, sequence: number, end: number): void {
  projection.sequences.push(sequence);
  projection.ends.push(end);
  projection.length++;
}

/** Support (desc), then the pattern's items in order; keys computed once rather than per comparison. */
function sortByPatternOrder(patterns: SequentialPattern[]): SequentialPattern[] {
  const keyed = patterns.map((pattern) => ({ pattern, key: patternKey(pattern.pattern) }));
  keyed.sort((a, b) => b.pattern.support - a.pattern.support || compareItems(a.key, b.key));
  return keyed.map(({ pattern }) => pattern);
}

function patternKey(pattern: Itemset[]): string {
  return pattern.map((step) => step.join("\u0000")).join("\u0001");
}
