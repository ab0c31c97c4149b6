// RFM quintile scores within one snapshot: 1 (worst fifth) … 5 (best fifth), ties share a score.

/**
 * Scores the first `count` values: score = 1 + floor(5 × (values strictly below this one) / count), so equal values
 * always get the same score (the one of their lowest rank, as SQL `rank()`), and higher values never score lower.
 */
export function quintileScores(values: Float64Array, count: number): Uint8Array {
  const scores = new Uint8Array(count);
  if (count === 0) return scores;
  const sorted = values.slice(0, count).sort();
  for (let i = 0; i < count; i++) {
    scores[i] = 1 + Math.floor((5 * countBelow(sorted, values[i])) / count);
  }
  return scores;
}

/** Number of entries of ascending `sorted` strictly less than `value` (binary search). */
function countBelow(sorted: Float64Array, value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle;
  }
  return low;
}
