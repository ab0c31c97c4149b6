// Fuzzy c-means (Bezdek): soft segments, each row's memberships over the clusters sum to 1.
import { createMatrix, type Matrix } from "./matrix.ts";
import { kMeansPlusPlus } from "./kmeans.ts";
import { SeededRandom } from "./random.ts";

export interface FuzzyCMeansOptions {
  k: number;
  seed: number;
  /** Fuzzifier m > 1. Default 2. */
  fuzziness?: number;
  maxIterations?: number;
  /** Stop when no membership moves more than this. Default 1e-6. */
  tolerance?: number;
}

export interface FuzzyCMeansResult {
  centroids: Matrix;
  /** rows × k memberships. */
  memberships: Matrix;
  /** Passes done, each updating the memberships and then the centres. */
  iterations: number;
}

/**
 * Memberships of row `row`: u_c = 1 / Σ_j (d_c / d_j)^(2/(m−1)); a row on a centre belongs to it fully
 * (shared equally when it sits on several).
 */
export function membershipsOf(data: Matrix, row: number, centroids: Matrix, fuzziness: number, out: Float64Array): void {
  const k = centroids.rows;
  const exponent = 2 / (fuzziness - 1);
  let nearest = Infinity;
  let zeros = 0;
  for (let c = 0; c < k; c++) {
    out[c] = distance(data, row, centroids, c);
    nearest = Math.min(nearest, out[c]);
    if (out[c] === 0) zeros++;
  }
  if (zeros > 0) {
    for (let c = 0; c < k; c++) out[c] = out[c] === 0 ? 1 / zeros : 0;
    return;
  }
  // Dividing by the nearest distance first keeps every ratio in (0, 1]: powers can only underflow to 0 (a negligible
  // membership), never overflow, and the nearest centre's term is exactly 1, so the sum is never 0 or Infinity even for
  // m near 1 (exponents in the hundreds) or distances near the ends of the float64 range.
  let total = 0;
  for (let c = 0; c < k; c++) {
    out[c] = Math.pow(nearest / out[c], exponent);
    total += out[c];
  }
  for (let c = 0; c < k; c++) out[c] /= total;
}

/** Euclidean distance, scaled by the largest coordinate difference so that squaring neither overflows nor underflows (as hypot does). */
function distance(a: Matrix, row: number, b: Matrix, other: number): number {
  const offsetA = row * a.columns;
  const offsetB = other * b.columns;
  let scale = 0;
  for (let j = 0; j < a.columns; j++) scale = Math.max(scale, Math.abs(a.values[offsetA + j] - b.values[offsetB + j]));
  if (scale === 0 || scale === Infinity) return scale;
  let sum = 0;
  for (let j = 0; j < a.columns; j++) {
    const d = (a.values[offsetA + j] - b.values[offsetB + j]) / scale;
    sum += d * d;
  }
  return scale * Math.sqrt(sum);
}

export function fuzzyCMeans(data: Matrix, options: FuzzyCMeansOptions): FuzzyCMeansResult {
  const { k } = options;
  if (k < 1 || k > data.rows) throw new RangeError(`k = ${k} needs 1 ≤ k ≤ rows (${data.rows})`);
  const m = options.fuzziness ?? 2;
  if (!(m > 1)) throw new RangeError(`fuzziness m = ${m} must be > 1`);
  const { columns } = data;
  const centroids = kMeansPlusPlus(data, k, new SeededRandom(options.seed));
  const memberships = createMatrix(data.rows, k);
  const row = new Float64Array(k);
  const maxIterations = options.maxIterations ?? 300;
  let iterations = 0;
  while (iterations < maxIterations) {
    let moved = 0;
    for (let i = 0; i < data.rows; i++) {
      membershipsOf(data, i, centroids, m, row);
      for (let c = 0; c < k; c++) {
        moved = Math.max(moved, Math.abs(row[c] - memberships.values[i * k + c]));
        memberships.values[i * k + c] = row[c];
      }
    }
    const sums = new Float64Array(k * columns);
    const weights = new Float64Array(k);
    for (let i = 0; i < data.rows; i++) {
      for (let c = 0; c < k; c++) {
        const w = Math.pow(memberships.values[i * k + c], m);
        weights[c] += w;
        for (let j = 0; j < columns; j++) sums[c * columns + j] += w * data.values[i * columns + j];
      }
    }
    for (let c = 0; c < k; c++) {
      if (weights[c] === 0) continue;
      for (let j = 0; j < columns; j++) centroids.values[c * columns + j] = sums[c * columns + j] / weights[c];
    }
    iterations++;
    if (moved < (options.tolerance ?? 1e-6)) break;
  }
  // Each pass moves the centres after computing the memberships: recompute them once so they are the returned centres'.
  for (let i = 0; i < data.rows; i++) {
    membershipsOf(data, i, centroids, m, row);
    memberships.values.set(row, i * k);
  }
  return { centroids, memberships, iterations };
}
