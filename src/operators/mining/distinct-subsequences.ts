// Enumerates every distinct pattern one sequence contains (subsequence with gaps, or contiguous), each exactly once.
import { compareItems, DEFAULT_ITEM_JOIN, PATTERN_STEP_SEPARATOR, type ItemsetSequence } from "./itemset-sequence.ts";

/** Receives one distinct pattern: its formatted text and its item count. */
export type PatternVisitor = (pattern: string, length: number) => void;

/**
 * Calls `visit` once for every distinct subsequence pattern of `sequence` with at most `maxLength` items,
 * as PrefixSpan/SPMF define containment (steps in order, gaps allowed, each pattern step ⊆ one sequence step).
 *
 * Each pattern is reached from its parent (the pattern minus its last item) through the parent's leftmost
 * embedding: an s-extension by item x goes to the first step after the parent's end holding x, an i-extension
 * (x joins the last step, x above its items) to the first step from the end holding last step ∪ {x}. Leftmost
 * embeddings are unique, so no pattern is produced twice and no per-session de-duplication set is needed.
 * Cost: O(distinct patterns × distinct items) time, O(steps × distinct items) memory for the next-occurrence
 * table; for a 200-step session of distinct items and maxLength 3 that is C(200,3) + C(200,2) + 200 ≈ 1.3M
 * patterns — the size of the answer, which no exact counter can avoid.
 */
export function forEachDistinctSubsequence(
  sequence: ItemsetSequence,
  maxLength: number,
  visit: PatternVisitor,
  itemJoin: string = DEFAULT_ITEM_JOIN,
): void {
  const steps = sequence.length;
  if (steps === 0 || maxLength < 1) return;
  const distinct = [...new Set(sequence.flat())].sort(compareItems);
  const itemCount = distinct.length;
  if (itemCount === 0) return;
  const idOf = new Map<string, number>();
  distinct.forEach((item, id) => idOf.set(item, id));
  const stepIds = sequence.map((itemset) => Int32Array.from(itemset, (item) => idOf.get(item)!));
  const hasMultiItemSteps = stepIds.some((ids) => ids.length > 1);

  // nextStep[(i) * itemCount + x]: the first step ≥ i holding item x, or -1.
  const nextStep = new Int32Array((steps + 1) * itemCount).fill(-1);
  for (let i = steps - 1; i >= 0; i -= 1) {
    nextStep.copyWithin(i * itemCount, (i + 1) * itemCount, (i + 2) * itemCount);
    for (const id of stepIds[i]) nextStep[i * itemCount + id] = i;
  }
  // Scratch for i-extension candidates, one row per depth so recursion does not clobber it.
  const firstStepOf = hasMultiItemSteps ? new Int32Array(maxLength * itemCount).fill(-1) : new Int32Array(0);

  const extend = (prevEnd: number, end: number, last: number[], pattern: string, length: number): void => {
    if (length > 0) visit(pattern, length);
    if (length === maxLength) return;
    if (hasMultiItemSteps) extendWithinStep(prevEnd, end, last, pattern, length);
    const row = (end + 1) * itemCount;
    for (let item = 0; item < itemCount; item += 1) {
      const step = nextStep[row + item];
      if (step < 0) continue;
      const text = length === 0 ? distinct[item] : pattern + PATTERN_STEP_SEPARATOR + distinct[item];
      extend(end, step, [item], text, length + 1);
    }
  };

  const extendWithinStep = (prevEnd: number, end: number, last: number[], pattern: string, length: number): void => {
    if (length === 0) return;
    const base = length * itemCount;
    const maxLast = last[last.length - 1];
    const candidates: number[] = [];
    for (let step = end; step < steps; step += 1) {
      const ids = stepIds[step];
      if (!containsAll(ids, last)) continue;
      for (const id of ids) {
        if (id <= maxLast || firstStepOf[base + id] >= 0) continue;
        firstStepOf[base + id] = step;
        candidates.push(id);
      }
    }
    candidates.sort((a, b) => a - b);
    const found = candidates.map((id) => firstStepOf[base + id]);
    for (const id of candidates) firstStepOf[base + id] = -1;
    for (let index = 0; index < candidates.length; index += 1) {
      const id = candidates[index];
      extend(prevEnd, found[index], [...last, id], pattern + itemJoin + distinct[id], length + 1);
    }
  };

  extend(-1, -1, [], "", 0);
}

/**
 * Calls `visit` once for every distinct run of 1..maxLength consecutive steps (n-grams); a multi-item step is one
 * token written with `itemJoin`, and `length` counts steps.
 */
export function forEachDistinctContiguous(
  sequence: ItemsetSequence,
  maxLength: number,
  visit: PatternVisitor,
  itemJoin: string = DEFAULT_ITEM_JOIN,
): void {
  const tokens = sequence.map((itemset) => itemset.join(itemJoin));
  const seen = new Set<string>();
  for (let start = 0; start < tokens.length; start += 1) {
    let text = "";
    for (let length = 1; length <= maxLength && start + length <= tokens.length; length += 1) {
      text = length === 1 ? tokens[start] : text + PATTERN_STEP_SEPARATOR + tokens[start + length - 1];
      if (seen.has(text)) continue;
      seen.add(text);
      visit(text, length);
    }
  }
}

/** Both sorted ascending: does `superset` hold every id of `subset`? */
export function containsAll(superset: ArrayLike<number>, subset: ArrayLike<number>): boolean {
  let i = 0;
  for (let j = 0; j < subset.length; j += 1) {
    const wanted = subset[j];
    while (i < superset.length && superset[i] < wanted) i += 1;
    if (i === superset.length || superset[i] !== wanted) return false;
    i += 1;
  }
  return true;
}
