// FP-Growth (Han, Pei, Yin 2000): exact frequent itemsets of a transaction database, support as count / transactions.
import { compareItems } from "./itemset-sequence.ts";
import { itemsetMinSupportCount } from "./min-support.ts";

export interface FrequentItemset {
  /** Distinct items sorted by compareItems. */
  items: string[];
  /** Transactions containing every item. */
  count: number;
}

export interface FpGrowthOptions {
  /** An itemset qualifies when count / transactions ≥ minSupport (arules, Spark). */
  minSupport: number;
  /** Most items in an itemset; omitted: unbounded. */
  maxLength?: number;
}

export interface FpGrowthResult {
  transactionCount: number;
  minCount: number;
  itemsets: FrequentItemset[];
}

/** A weighted path of item ranks, ascending (most frequent item first). */
interface WeightedPath {
  ranks: number[];
  count: number;
}

/** Prefix tree over item ranks with per-item node chains (the FP-tree's header table). */
class FpTree {
  readonly item: number[] = [-1];
  readonly count: number[] = [0];
  readonly parent: number[] = [-1];
  readonly nextSameItem: number[] = [-1];
  readonly headOf = new Map<number, number>();
  readonly itemTotal = new Map<number, number>();
  private readonly childOf = new Map<number, number>();

  /** `itemSpace`: one more than the highest rank, so node × itemSpace + rank keys a child uniquely. */
  private readonly itemSpace: number;

  constructor(itemSpace: number) {
    this.itemSpace = itemSpace;
  }

  insert(ranks: readonly number[], count: number): void {
    let node = 0;
    for (const rank of ranks) {
      const key = node * this.itemSpace + rank;
      let child = this.childOf.get(key);
      if (child === undefined) {
        child = this.item.length;
        this.item.push(rank);
        this.count.push(0);
        this.parent.push(node);
        this.nextSameItem.push(this.headOf.get(rank) ?? -1);
        this.headOf.set(rank, child);
        this.childOf.set(key, child);
      }
      this.count[child] += count;
      this.itemTotal.set(rank, (this.itemTotal.get(rank) ?? 0) + count);
      node = child;
    }
  }

  /** Paths from the root down to (excluding) each node of `rank`, weighted by that node's count. */
  prefixPaths(rank: number): WeightedPath[] {
    const paths: WeightedPath[] = [];
    for (let node = this.headOf.get(rank) ?? -1; node >= 0; node = this.nextSameItem[node]) {
      const ranks: number[] = [];
      for (let up = this.parent[node]; up > 0; up = this.parent[up]) ranks.push(this.item[up]);
      if (ranks.length > 0) paths.push({ ranks: ranks.reverse(), count: this.count[node] });
    }
    return paths;
  }
}

/** Frequent itemsets with at most maxLength items, every one with its exact count. */
export function fpGrowth(transactions: readonly (readonly string[])[], options: FpGrowthOptions): FpGrowthResult {
  const transactionCount = transactions.length;
  const minCount = itemsetMinSupportCount(options.minSupport, transactionCount);
  const maxLength = options.maxLength ?? Number.POSITIVE_INFINITY;
  const itemCounts = new Map<string, number>();
  const distinctPerTransaction = transactions.map((items) => [...new Set(items)]);
  for (const items of distinctPerTransaction) for (const item of items) itemCounts.set(item, (itemCounts.get(item) ?? 0) + 1);
  // Rank 0 is the most frequent item; ties by name so the tree (and output order) is deterministic.
  const ranked = [...itemCounts]
    .filter(([, count]) => count >= minCount)
    .sort((a, b) => b[1] - a[1] || compareItems(a[0], b[0]))
    .map(([item]) => item);
  const rankOf = new Map(ranked.map((item, rank) => [item, rank] as const));
  const tree = new FpTree(ranked.length);
  for (const items of distinctPerTransaction) {
    const ranks = items.flatMap((item) => (rankOf.has(item) ? [rankOf.get(item)!] : [])).sort((a, b) => a - b);
    if (ranks.length > 0) tree.insert(ranks, 1);
  }
  const itemsets: FrequentItemset[] = [];
  if (maxLength >= 1) mine(tree, [], minCount, maxLength, ranked, itemsets);
  return { transactionCount, minCount, itemsets };
}

function mine(tree: FpTree, suffix: readonly number[], minCount: number, maxLength: number, names: readonly string[], out: FrequentItemset[]): void {
  for (const [rank, total] of tree.itemTotal) {
    if (total < minCount) continue;
    const itemset = [rank, ...suffix];
    out.push({ items: itemset.map((r) => names[r]).sort(compareItems), count: total });
    if (itemset.length >= maxLength) continue;
    const conditional = conditionalTree(tree.prefixPaths(rank), minCount, names.length);
    if (conditional.itemTotal.size > 0) mine(conditional, itemset, minCount, maxLength, names, out);
  }
}

/** The FP-tree of a conditional pattern base, keeping only items frequent within it. */
function conditionalTree(paths: readonly WeightedPath[], minCount: number, itemSpace: number): FpTree {
  const totals = new Map<number, number>();
  for (const { ranks, count } of paths) for (const rank of ranks) totals.set(rank, (totals.get(rank) ?? 0) + count);
  const tree = new FpTree(itemSpace);
  for (const { ranks, count } of paths) {
    const kept = ranks.filter((rank) => totals.get(rank)! >= minCount);
    if (kept.length > 0) tree.insert(kept, count);
  }
  return tree;
}
