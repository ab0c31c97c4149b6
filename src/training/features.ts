// Model inputs from snapshot columns: BG/NBD-derived columns, log transforms, null filling and the standardization plan.
import { expectedPurchases, probabilityAlive, probabilityNoPurchase, type BgNbdParameters } from "./bgnbd.ts";
import { createMatrix, type Matrix } from "./matrix.ts";
import { SNAPSHOT_COLUMNS } from "./snapshots.ts";

export type Transform = "log1p" | "identity";

/** Candidate model inputs, in order; columns that are constant (or all null) in training are left out. */
export const MODEL_FEATURES = [
  ...SNAPSHOT_COLUMNS,
  "has_purchases",
  "bgnbd_p_alive",
  "bgnbd_expected_purchases",
] as const;

/** Segmentation inputs: RFM and behaviour. */
export const SEGMENT_FEATURES = [
  "days_since_last_purchase",
  "frequency",
  "monetary_value",
  "revenue_total",
  "sessions_30d",
  "pageviews_30d",
  "cart_adds_30d",
  "days_since_last_session",
] as const;

/** Counts and money are heavy-tailed: log1p makes a linear model and Euclidean distances less dominated by a few customers. */
const LOG_COLUMNS = new Set([
  "frequency",
  "monetary_value",
  "orders_total",
  "revenue_total",
  "sessions_7d",
  "sessions_30d",
  "sessions_90d",
  "pageviews_30d",
  "avg_session_duration_s_30d",
  "cart_adds_30d",
  "bgnbd_expected_purchases",
]);

/** How raw columns become standardized inputs; stored in the manifest (and the standardization also in the model). */
export interface FeaturePlan {
  names: string[];
  transforms: Transform[];
  /** Value of a null after the transform: the training mean. */
  fill: number[];
  mean: number[];
  std: number[];
}

/** BG/NBD inputs in days from a snapshot: x = frequency, tx = recency_days, T = t_days; NaN for customers without purchases. */
export function addBgNbdColumns(columns: Record<string, Float64Array>, size: number, params: BgNbdParameters, horizonDays: number): void {
  const alive = new Float64Array(size);
  const expected = new Float64Array(size);
  const noPurchase = new Float64Array(size);
  const hasPurchases = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const x = columns.frequency[i];
    const tx = columns.recency_days[i];
    const T = columns.t_days[i];
    hasPurchases[i] = columns.orders_total[i] > 0 ? 1 : 0;
    if (Number.isNaN(x) || Number.isNaN(tx) || Number.isNaN(T)) {
      alive[i] = expected[i] = noPurchase[i] = NaN;
      continue;
    }
    alive[i] = probabilityAlive(params, x, tx, T);
    expected[i] = expectedPurchases(params, horizonDays, x, tx, T);
    noPurchase[i] = probabilityNoPurchase(params, horizonDays, x, tx, T);
  }
  columns.bgnbd_p_alive = alive;
  columns.bgnbd_expected_purchases = expected;
  columns.bgnbd_p_no_purchase = noPurchase;
  columns.has_purchases = hasPurchases;
}

function transformValue(transform: Transform, value: number): number {
  return transform === "log1p" ? Math.log1p(Math.max(0, value)) : value;
}

/** Fits fill values, means and standard deviations on training columns; drops constant or all-null candidates. */
export function fitFeaturePlan(columns: Record<string, Float64Array>, size: number, candidates: readonly string[]): FeaturePlan {
  const plan: FeaturePlan = { names: [], transforms: [], fill: [], mean: [], std: [] };
  for (const name of candidates) {
    const column = columns[name];
    if (column === undefined) continue;
    const transform: Transform = LOG_COLUMNS.has(name) ? "log1p" : "identity";
    let count = 0;
    let sum = 0;
    for (let i = 0; i < size; i++) {
      if (Number.isNaN(column[i])) continue;
      count++;
      sum += transformValue(transform, column[i]);
    }
    if (count === 0) continue;
    const fill = sum / count;
    // Nulls take the mean, so the mean is unchanged and the variance counts them as zero deviations.
    let squares = 0;
    for (let i = 0; i < size; i++) {
      const value = Number.isNaN(column[i]) ? fill : transformValue(transform, column[i]);
      squares += (value - fill) ** 2;
    }
    const std = Math.sqrt(squares / size);
    if (!(std > 1e-12)) continue;
    plan.names.push(name);
    plan.transforms.push(transform);
    plan.fill.push(fill);
    plan.mean.push(fill);
    plan.std.push(std);
  }
  return plan;
}

/** size × features values, transformed and filled; standardized too when `standardize` (else the model does it). */
export function featureMatrix(plan: FeaturePlan, columns: Record<string, Float64Array>, size: number, standardize: boolean): Matrix {
  const width = plan.names.length;
  const matrix = createMatrix(size, width);
  plan.names.forEach((name, j) => {
    const column = columns[name];
    if (column === undefined) throw new Error(`feature ${name} is missing from the input columns`);
    const { fill, mean, std } = { fill: plan.fill[j], mean: plan.mean[j], std: plan.std[j] };
    for (let i = 0; i < size; i++) {
      const raw = column[i];
      let value = Number.isNaN(raw) ? fill : transformValue(plan.transforms[j], raw);
      if (standardize) value = (value - mean) / std;
      matrix.values[i * width + j] = value;
    }
  });
  return matrix;
}

/** bgnbd model probabilities: P(no purchase in the horizon); customers without purchases get `fallback`. */
export function bgnbdProbabilities(columns: Record<string, Float64Array>, size: number, fallback: number): Float64Array {
  return Float64Array.from({ length: size }, (_, i) => {
    const p = columns.bgnbd_p_no_purchase[i];
    return Number.isNaN(p) ? fallback : p;
  });
}
