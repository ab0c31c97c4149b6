// BG/NBD (Fader, Hardie & Lee 2005): maximum-likelihood fit, P(alive), expected and zero purchases in a horizon.
import { nelderMead } from "./nelder-mead.ts";
import { hypergeometric2F1, logAddExp, logGamma } from "./special-functions.ts";

export interface BgNbdParameters {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

export interface BgNbdFit extends BgNbdParameters {
  loglik: number;
  customers: number;
  /**
   * Parameters the fit pushed to the penalty's edge (e^±12): the likelihood has no maximum on this data (everyone of
   * age 0, nobody repeating, …), so those values are where the search stopped, not estimates. Empty for a real fit.
   */
  atBound: (keyof BgNbdParameters)[];
}

/** Calibration summaries as columns: x = repeat purchases, tx = time of last purchase, T = age, all in one time unit. */
export interface PurchaseSummaries {
  frequency: ArrayLike<number>;
  recency: ArrayLike<number>;
  age: ArrayLike<number>;
}

export class BgNbdInputError extends Error {
  override name = "BgNbdInputError";
}

/** ln L of one customer (FHL 2005, eq. 6), written as lifetimes does: A1 + A2 + ln(e^A3 + δ(x>0) e^A4). */
export function customerLogLikelihood(p: BgNbdParameters, x: number, tx: number, T: number): number {
  const a1 = logGamma(p.r + x) - logGamma(p.r) + p.r * Math.log(p.alpha);
  const a2 = logGamma(p.a + p.b) + logGamma(p.b + x) - logGamma(p.b) - logGamma(p.a + p.b + x);
  const a3 = -(p.r + x) * Math.log(p.alpha + T);
  if (x === 0) return a1 + a2 + a3;
  const a4 = Math.log(p.a) - Math.log(p.b + x - 1) - (p.r + x) * Math.log(p.alpha + tx);
  return a1 + a2 + logAddExp(a3, a4);
}

export function totalLogLikelihood(p: BgNbdParameters, data: PurchaseSummaries): number {
  let sum = 0;
  for (let i = 0; i < data.frequency.length; i++) sum += customerLogLikelihood(p, data.frequency[i], data.recency[i], data.age[i]);
  return sum;
}

/** Checks the summaries the likelihood assumes: integer x ≥ 0, 0 ≤ tx ≤ T, T ≥ 0, tx > 0 when x > 0. */
export function checkSummaries(data: PurchaseSummaries): void {
  const n = data.frequency.length;
  if (n === 0) throw new BgNbdInputError("no customers to fit");
  if (data.recency.length !== n || data.age.length !== n) throw new BgNbdInputError("frequency, recency and T differ in length");
  for (let i = 0; i < n; i++) {
    const x = data.frequency[i];
    const tx = data.recency[i];
    const T = data.age[i];
    const where = `customer ${i + 1}`;
    if (!Number.isInteger(x) || x < 0) throw new BgNbdInputError(`${where}: frequency ${x} is not a whole number ≥ 0`);
    if (!(T >= 0)) throw new BgNbdInputError(`${where}: T ${T} must be ≥ 0`);
    if (!(tx >= 0 && tx <= T + 1e-9)) throw new BgNbdInputError(`${where}: recency ${tx} must lie in [0, T = ${T}]`);
    if (x > 0 && !(tx > 0)) throw new BgNbdInputError(`${where}: recency must be > 0 when frequency is ${x}`);
  }
  // Every T = 0 makes each customer's likelihood (α/(α + 0))^r = 1 for any parameters: the search would stop where it
  // started and print that as a fit, with no bound reached to warn of it.
  let observed = false;
  for (let i = 0; i < n && !observed; i++) observed = data.age[i] > 0;
  if (!observed) {
    throw new BgNbdInputError(
      `all ${n} customers have T = 0 (first purchase at the end of the period), so the likelihood is the same for any parameters: nothing to fit; use a later snapshot or a longer period`,
    );
  }
}

/**
 * Maximum likelihood over ln r, ln α, ln a, ln b (so every parameter stays positive) by Nelder–Mead with restarts.
 * Customers with the same (x, tx, T) are counted once with a weight: the likelihood is the same sum, computed faster.
 */
export function fitBgNbd(data: PurchaseSummaries): BgNbdFit {
  checkSummaries(data);
  const logLikelihood = groupedLogLikelihood(groupSummaries(data));
  // The likelihood has no maximum on some data (e.g. everyone with age 0): a penalty outside e^±LOG_BOUND keeps the
  // parameters finite there, and is zero near any sensible optimum (CDNOW's lies well inside).
  const negative = (logs: number[]) =>
    -logLikelihood({ r: Math.exp(logs[0]), alpha: Math.exp(logs[1]), a: Math.exp(logs[2]), b: Math.exp(logs[3]) }) + boundPenalty(logs);
  // Start α at the mean age so λ = r/α is of the order of purchases per time unit, whatever the unit.
  let meanAge = 0;
  for (let i = 0; i < data.age.length; i++) meanAge += data.age[i] / data.age.length;
  const best = nelderMead(negative, [0, Math.log(meanAge || 1), 0, 0], { step: 0.7, tolerance: 1e-14, restarts: 6 });
  const [r, alpha, a, b] = best.x.map(Math.exp);
  const names = ["r", "alpha", "a", "b"] as const;
  const atBound = names.filter((_, i) => Math.abs(best.x[i]) >= LOG_BOUND - 0.5);
  return { r, alpha, a, b, loglik: -best.value, customers: data.frequency.length, atBound };
}

const LOG_BOUND = 12;

/** The warning a fit at its bounds deserves, or undefined: what `fit bgnbd` and `train` print. */
export function boundWarning(fit: BgNbdFit): string | undefined {
  if (fit.atBound.length === 0) return undefined;
  return `the BG/NBD likelihood has no maximum on these ${fit.customers} customers (${fit.atBound.join(", ")} ran to the search's bound e^±${LOG_BOUND}): those parameters are not estimates; fit on more history (customers with repeat purchases and some age)`;
}

function boundPenalty(logs: number[]): number {
  let penalty = 0;
  for (const value of logs) {
    const excess = Math.abs(value) - LOG_BOUND;
    if (excess > 0) penalty += 1e4 * excess * excess;
  }
  return penalty;
}

/**
 * The total log-likelihood as customerLogLikelihood sums it, with the log-gamma terms (which depend on x only)
 * computed once per distinct x: the optimiser calls this thousands of times.
 */
function groupedLogLikelihood(groups: Groups): (p: BgNbdParameters) => number {
  const distinct = [...new Set(groups.x)].sort((a, b) => a - b);
  const slotOf = new Map(distinct.map((x, i) => [x, i]));
  const slots = Int32Array.from(groups.x, (x) => slotOf.get(x)!);
  const perX = new Float64Array(distinct.length);
  return (p) => {
    const shared = -logGamma(p.r) + p.r * Math.log(p.alpha) + logGamma(p.a + p.b) - logGamma(p.b);
    for (let i = 0; i < distinct.length; i++) {
      const x = distinct[i];
      perX[i] = shared + logGamma(p.r + x) + logGamma(p.b + x) - logGamma(p.a + p.b + x);
    }
    const logA = Math.log(p.a);
    let sum = 0;
    for (let i = 0; i < groups.x.length; i++) {
      const x = groups.x[i];
      const a3 = -(p.r + x) * Math.log(p.alpha + groups.T[i]);
      const tail = x === 0 ? a3 : logAddExp(a3, logA - Math.log(p.b + x - 1) - (p.r + x) * Math.log(p.alpha + groups.tx[i]));
      sum += groups.weight[i] * (perX[slots[i]] + tail);
    }
    return sum;
  };
}

interface Groups {
  x: number[];
  tx: number[];
  T: number[];
  weight: number[];
}

function groupSummaries(data: PurchaseSummaries): Groups {
  const index = new Map<string, number>();
  const groups = { x: [] as number[], tx: [] as number[], T: [] as number[], weight: [] as number[] };
  for (let i = 0; i < data.frequency.length; i++) {
    const key = `${data.frequency[i]}|${data.recency[i]}|${data.age[i]}`;
    const at = index.get(key);
    if (at !== undefined) {
      groups.weight[at] += 1;
      continue;
    }
    index.set(key, groups.x.length);
    groups.x.push(data.frequency[i]);
    groups.tx.push(data.recency[i]);
    groups.T.push(data.age[i]);
    groups.weight.push(1);
  }
  return groups;
}

/** P(alive | x, tx, T) (FHL 2005, eq. 11); 1 for customers without repeat purchases (BG: dropout follows a purchase). */
export function probabilityAlive(p: BgNbdParameters, x: number, tx: number, T: number): number {
  if (x === 0) return 1;
  const logRatio = Math.log(p.a) - Math.log(p.b + x - 1) + (p.r + x) * (Math.log(p.alpha + T) - Math.log(p.alpha + tx));
  return 1 / (1 + Math.exp(logRatio));
}

/** E[purchases in (T, T + t] | x, tx, T] (FHL 2005, eq. 10). */
export function expectedPurchases(p: BgNbdParameters, t: number, x: number, tx: number, T: number): number {
  // z < 1 for α + T > 0; a fit at the edge of its bounds with T = 0 can round it to 1, where the series diverges.
  const z = Math.min(t / (p.alpha + T + t), 1 - 1e-9);
  const hyper = hypergeometric2F1(p.r + x, p.b + x, p.a + p.b + x - 1, z);
  const numerator = ((p.a + p.b + x - 1) / (p.a - 1)) * (1 - Math.pow((p.alpha + T) / (p.alpha + T + t), p.r + x) * hyper);
  const aliveOdds = x > 0 ? (p.a / (p.b + x - 1)) * Math.pow((p.alpha + T) / (p.alpha + tx), p.r + x) : 0;
  return numerator / (1 + aliveOdds);
}

/**
 * P(no purchase in (T, T + t] | x, tx, T): dead, or alive with no Poisson event in t. While alive λ | data is
 * Gamma(r + x, α + T), so E[e^(−λt)] = ((α + T)/(α + T + t))^(r + x); in BG/NBD a customer only drops out after a purchase.
 */
export function probabilityNoPurchase(p: BgNbdParameters, t: number, x: number, tx: number, T: number): number {
  const alive = probabilityAlive(p, x, tx, T);
  const silentWhileAlive = Math.pow((p.alpha + T) / (p.alpha + T + t), p.r + x);
  return 1 - alive * (1 - silentWhileAlive);
}
