// Test oracle: sequential-pattern supports by exhaustive candidate generation and backtracking containment.
import type { Itemset, ItemsetSequence } from "../../../src/operators/mining/itemset-sequence.ts";

/** Does `sequence` contain `pattern` (each pattern step ⊆ a later sequence step)? Tries every embedding. */
export function contains(sequence: ItemsetSequence, pattern: ItemsetSequence, from = 0): boolean {
  if (pattern.length === 0) return true;
  for (let step = from; step < sequence.length; step += 1) {
    if (pattern[0].every((item) => sequence[step].includes(item)) && contains(sequence, pattern.slice(1), step + 1)) return true;
  }
  return false;
}

/** Every non-empty sorted subset of `alphabet` of at most `size` items. */
function itemsets(alphabet: string[], size: number): string[][] {
  const result: string[][] = [];
  const grow = (start: number, current: string[]): void => {
    if (current.length > 0) result.push([...current]);
    if (current.length === size) return;
    for (let index = start; index < alphabet.length; index += 1) grow(index + 1, [...current, alphabet[index]]);
  };
  grow(0, []);
  return result;
}

/** Every pattern over `alphabet` (sorted) with 1..maxLength items. */
export function allPatterns(alphabet: string[], maxLength: number): Itemset[][] {
  const result: Itemset[][] = [];
  const steps = itemsets([...alphabet].sort(), maxLength);
  const grow = (current: Itemset[], items: number): void => {
    if (items > 0) result.push(current);
    for (const step of steps) if (items + step.length <= maxLength) grow([...current, step], items + step.length);
  };
  grow([], 0);
  return result;
}

/** Pattern text (as formatPattern writes it) → number of sequences containing it, for supports ≥ minCount. */
export function bruteForceSupports(database: readonly ItemsetSequence[], maxLength: number, minCount = 1): Map<string, number> {
  const alphabet = [...new Set(database.flatMap((sequence) => sequence.flat()))];
  const supports = new Map<string, number>();
  for (const pattern of allPatterns(alphabet, maxLength)) {
    const support = database.filter((sequence) => contains(sequence, pattern)).length;
    if (support >= minCount) supports.set(pattern.map((step) => step.join(" ")).join(" > "), support);
  }
  return supports;
}
