// Binary classifier evaluation: ROC and PR AUC, log loss, calibration, decile lift and cumulative gains.

export interface RocPoint {
  fpr: number;
  tpr: number;
}

export interface CalibrationBin {
  bin: number;
  lower: number;
  upper: number;
  count: number;
  meanPredicted: number;
  observedRate: number;
}

export interface LiftRow {
  /** 1 = the 10% with the highest scores. */
  decile: number;
  count: number;
  /** Churners in the decile; fractional when a group of tied scores is shared with the next decile. */
  positives: number;
  rate: number;
  lift: number;
  /** Share of all positives found in deciles 1..this. */
  cumulativeGain: number;
}

export interface Evaluation {
  auc: number;
  prAuc: number;
  logLoss: number;
  brier: number;
  examples: number;
  positives: number;
  roc: RocPoint[];
  calibration: CalibrationBin[];
  lift: LiftRow[];
}

/** Equal scores, NaN equal to NaN (so a tied group of NaN scores ends). */
function sameScore(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** Indexes sorted by score, highest first; ties keep index order (stable). */
function descendingOrder(scores: ArrayLike<number>): Uint32Array {
  const order = new Uint32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => scores[b] - scores[a] || a - b);
}

/**
 * Scores must be numbers: a NaN equals nothing, not even itself, so it can neither be ranked nor end a group of ties
 * (the ROC loop never advanced past one and ran forever).
 */
function checkScores(scores: ArrayLike<number>): void {
  let nan = 0;
  for (let i = 0; i < scores.length; i++) if (Number.isNaN(scores[i])) nan++;
  if (nan > 0) throw new RangeError(`${nan} of ${scores.length} scores are NaN: a model that predicts NaN cannot be ranked or evaluated`);
}

function countPositives(labels: ArrayLike<number>): number {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i];
  return positives;
}

/**
 * ROC curve through the distinct score thresholds (ties step diagonally) and its area by the trapezoid rule:
 * the probability that a random positive scores above a random negative, ties counting one half.
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): { auc: number; points: RocPoint[] } {
  const positives = countPositives(labels);
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return { auc: NaN, points: [] };
  checkScores(scores);
  const order = descendingOrder(scores);
  const points: RocPoint[] = [{ fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  let auc = 0;
  for (let i = 0; i < order.length; ) {
    const threshold = scores[order[i]];
    const [tp0, fp0] = [tp, fp];
    while (i < order.length && scores[order[i]] === threshold) {
      if (labels[order[i]] === 1) tp++;
      else fp++;
      i++;
    }
    auc += ((fp - fp0) / negatives) * ((tp + tp0) / 2 / positives);
    points.push({ fpr: fp / negatives, tpr: tp / positives });
  }
  return { auc, points };
}

/** Area under the precision–recall curve as average precision (scikit-learn's definition; ties form one step). */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const positives = countPositives(labels);
  if (positives === 0) return NaN;
  checkScores(scores);
  const order = descendingOrder(scores);
  let tp = 0;
  let seen = 0;
  let previousRecall = 0;
  let area = 0;
  for (let i = 0; i < order.length; ) {
    const threshold = scores[order[i]];
    while (i < order.length && scores[order[i]] === threshold) {
      tp += labels[order[i]];
      seen++;
      i++;
    }
    const recall = tp / positives;
    area += (recall - previousRecall) * (tp / seen);
    previousRecall = recall;
  }
  return area;
}

/** Mean binary cross-entropy, probabilities clipped to [1e−15, 1 − 1e−15] as scikit-learn does. */
export function logLoss(probabilities: ArrayLike<number>, labels: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(probabilities[i], 1e-15), 1 - 1e-15);
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / labels.length;
}

export function brierScore(probabilities: ArrayLike<number>, labels: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum += (probabilities[i] - labels[i]) ** 2;
  return sum / labels.length;
}

/** Reliability table over `bins` equal-width probability bins; empty bins are left out. */
export function calibrationTable(probabilities: ArrayLike<number>, labels: ArrayLike<number>, bins = 10): CalibrationBin[] {
  const count = new Float64Array(bins);
  const predicted = new Float64Array(bins);
  const observed = new Float64Array(bins);
  for (let i = 0; i < labels.length; i++) {
    const bin = Math.min(bins - 1, Math.max(0, Math.floor(probabilities[i] * bins)));
    count[bin]++;
    predicted[bin] += probabilities[i];
    observed[bin] += labels[i];
  }
  const table: CalibrationBin[] = [];
  for (let bin = 0; bin < bins; bin++) {
    if (count[bin] === 0) continue;
    table.push({
      bin: bin + 1,
      lower: bin / bins,
      upper: (bin + 1) / bins,
      count: count[bin],
      meanPredicted: predicted[bin] / count[bin],
      observedRate: observed[bin] / count[bin],
    });
  }
  return table;
}

/** Decile of each rank (1-based) among n: floor((rank − 1)·10 / n) + 1, so decile sizes differ by at most one. */
export function decileOfRank(rank: number, n: number): number {
  return Math.floor(((rank - 1) * 10) / n) + 1;
}

/**
 * Decile lift and cumulative gains: examples ranked by score (highest first), cut into ten near-equal groups. A group of
 * tied scores that straddles a decile boundary shares its churners between the deciles in proportion to the ranks each
 * holds (the expectation over the orders of the tie, as ROC AUC counts a tie as one half), so `positives` may be
 * fractional and the table does not depend on the order the examples came in.
 */
export function liftTable(scores: ArrayLike<number>, labels: ArrayLike<number>): LiftRow[] {
  const n = labels.length;
  const positives = countPositives(labels);
  const baseRate = positives / n;
  checkScores(scores);
  const order = descendingOrder(scores);
  const rows: LiftRow[] = Array.from({ length: 10 }, (_, i) => ({ decile: i + 1, count: 0, positives: 0, rate: 0, lift: 0, cumulativeGain: 0 }));
  for (let start = 0; start < n; ) {
    let end = start;
    let tiedPositives = 0;
    while (end < n && sameScore(scores[order[end]], scores[order[start]])) tiedPositives += labels[order[end++]];
    // Ranks of the group in each decile; a group wholly inside one decile adds its churners exactly.
    for (let index = start; index < end; ) {
      const decile = decileOfRank(index + 1, n);
      let next = index;
      while (next < end && decileOfRank(next + 1, n) === decile) next++;
      const row = rows[decile - 1];
      row.count += next - index;
      row.positives += next - index === end - start ? tiedPositives : (tiedPositives * (next - index)) / (end - start);
      index = next;
    }
    start = end;
  }
  let found = 0;
  for (const row of rows) {
    found += row.positives;
    row.rate = row.count > 0 ? row.positives / row.count : 0;
    row.lift = baseRate > 0 ? row.rate / baseRate : 0;
    row.cumulativeGain = positives > 0 ? found / positives : 0;
  }
  return rows;
}

/** Every measure at once; `probabilities` must be probabilities of the positive class. */
export function evaluate(probabilities: ArrayLike<number>, labels: ArrayLike<number>): Evaluation {
  checkScores(probabilities);
  const { auc, points } = rocCurve(probabilities, labels);
  return {
    auc,
    prAuc: averagePrecision(probabilities, labels),
    logLoss: logLoss(probabilities, labels),
    brier: brierScore(probabilities, labels),
    examples: labels.length,
    positives: countPositives(labels),
    roc: thinCurve(points, 200),
    calibration: calibrationTable(probabilities, labels),
    lift: liftTable(probabilities, labels),
  };
}

/** At most `max` points of a curve (for plots and JSON), always keeping both ends. */
function thinCurve(points: RocPoint[], max: number): RocPoint[] {
  if (points.length <= max) return points;
  const step = (points.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => points[Math.round(i * step)]);
}
