// Ranks and deciles of churn scores: rank 1 = the highest score, deciles of near-equal size (1 = the riskiest tenth).
import { decileOfRank } from "./evaluation.ts";

/** 1-based rank of each customer by score, highest first; ties broken by customer id so ranks are 1..N and stable. */
export function rankByScore(scores: ArrayLike<number>, customerIds: readonly string[]): Uint32Array {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => scores[b] - scores[a] || (customerIds[a] < customerIds[b] ? -1 : customerIds[a] > customerIds[b] ? 1 : 0),
  );
  const ranks = new Uint32Array(scores.length);
  order.forEach((customer, index) => (ranks[customer] = index + 1));
  return ranks;
}

export function decilesOfRanks(ranks: Uint32Array): Uint8Array {
  return Uint8Array.from(ranks, (rank) => decileOfRank(rank, ranks.length));
}
