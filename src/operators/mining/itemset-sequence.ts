// Sequences of itemsets (SPMF's model of a sequence database) and how patterns over them are written.

/** Items of one step, distinct and sorted by `compareItems`. */
export type Itemset = readonly string[];
/** A sequence of itemsets; a web session is a sequence of one-item itemsets. */
export type ItemsetSequence = readonly Itemset[];

/** Steps of a pattern are joined by this, as the `patterns` table writes them. */
export const PATTERN_STEP_SEPARATOR = " > ";
/** Items of one multi-item step are joined by this unless a session says otherwise (SPMF writes "1 2"). */
export const DEFAULT_ITEM_JOIN = " ";

/** The single total order of items used for canonical itemsets and extension order (UTF-16 code units). */
export function compareItems(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Two item lists in a fixed order, item by item (patterns or antecedents whose joined texts are equal). */
export function compareItemLists(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const order = compareItems(a[i], b[i]);
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

/** Distinct items, sorted: the canonical form of an itemset. */
export function normalizeItemset(items: readonly string[]): string[] {
  return [...new Set(items)].sort(compareItems);
}

/**
 * The itemset sequence of a session's items. Without a separator every item is a one-item step (web sessions);
 * with one, an element "1 2 3" is the itemset {1, 2, 3} (how SPMF sequences travel through sessions).
 */
export function sessionSequence(elements: readonly string[], itemsetSeparator?: string): Itemset[] {
  if (itemsetSeparator === undefined || itemsetSeparator === "") return elements.map((item) => [item]);
  return elements.map((element) => normalizeItemset(element.split(itemsetSeparator).filter((item) => item !== "")));
}

/** "a > b c > d": steps joined by " > ", items of a step by `itemJoin`. */
export function formatPattern(pattern: ItemsetSequence, itemJoin: string = DEFAULT_ITEM_JOIN): string {
  return patternSteps(pattern, itemJoin).join(PATTERN_STEP_SEPARATOR);
}

/**
 * The `patterns` table's `items`: one element per step, a multi-item step's items joined by `itemJoin` (how such a
 * step arrived as one page item). Unlike the joined text, it tells "a > b" then "c" from "a" then "b > c".
 */
export function patternSteps(pattern: ItemsetSequence, itemJoin: string = DEFAULT_ITEM_JOIN): string[] {
  return pattern.map((itemset) => itemset.join(itemJoin));
}

/** Items in a pattern, as SPMF and the `length` column count them. */
export function patternItemCount(pattern: ItemsetSequence): number {
  let count = 0;
  for (const itemset of pattern) count += itemset.length;
  return count;
}
