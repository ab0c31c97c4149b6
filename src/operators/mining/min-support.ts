// Minimum-support thresholds as SPMF, Spark and arules turn a ratio into a count.

/**
 * Sequential patterns: a value ≥ 1 is a count; a ratio in (0, 1) means ceil(ratio × sequences),
 * the same double arithmetic as SPMF's `Math.ceil(minsup * sequenceCount)` and Spark's PrefixSpan.
 */
export function sequenceMinSupportCount(minSupport: number, sequenceCount: number): number {
  if (minSupport >= 1) return Math.ceil(minSupport);
  return Math.max(1, Math.ceil(minSupport * sequenceCount));
}

/**
 * Itemsets: an itemset qualifies when count / transactions ≥ minSupport (arules' definition);
 * returns the smallest count that does, checked with that exact division so rounding agrees.
 */
export function itemsetMinSupportCount(minSupport: number, transactionCount: number): number {
  if (transactionCount === 0) return 1;
  let count = Math.max(1, Math.ceil(minSupport * transactionCount));
  while (count > 1 && (count - 1) / transactionCount >= minSupport) count -= 1;
  while (count / transactionCount < minSupport) count += 1;
  return count;
}
