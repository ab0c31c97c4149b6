// Baseline churn scores to compare models against: recency only, the RFM score, and BG/NBD P(alive).

/** `p_alive` is BG/NBD's 1 − P(alive); the `bgnbd` model scores P(no purchase within the horizon) instead. */
export const BASELINE_NAMES = ["recency", "rfm", "p_alive"] as const;
export type BaselineName = (typeof BASELINE_NAMES)[number];

/**
 * Raw baseline scores (higher = more likely to churn; NaN when the customer has no purchase):
 * recency — days since the last purchase; rfm — minus the sum of the R, F and M quintiles; p_alive — 1 − P(alive).
 */
export function baselineScores(name: BaselineName, columns: Record<string, Float64Array>, size: number): Float64Array {
  const out = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    if (name === "recency") out[i] = columns.days_since_last_purchase[i];
    else if (name === "rfm") out[i] = -(columns.rfm_r[i] + columns.rfm_f[i] + columns.rfm_m[i]);
    else out[i] = 1 - columns.bgnbd_p_alive[i];
  }
  return out;
}

/** The score a customer without purchases gets: the highest observed (they have shown the least buying). */
export function maxScore(scores: Float64Array): number {
  let max = -Infinity;
  for (const score of scores) if (score > max) max = score;
  return Number.isFinite(max) ? max : 0;
}
