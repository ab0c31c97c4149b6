// Customer segments on RFM and behaviour: k-means or fuzzy c-means on standardized features, with segment profiles.
import { fitFeaturePlan, featureMatrix, SEGMENT_FEATURES, type FeaturePlan } from "./features.ts";
import { fuzzyCMeans, membershipsOf } from "./fuzzy-cmeans.ts";
import { kMeans, nearestCentroid } from "./kmeans.ts";
import { createMatrix, matrixFromRows, type Matrix } from "./matrix.ts";
import { SeededRandom } from "./random.ts";

export type SegmentMethod = "kmeans" | "fcm";

/** A fitted segmentation, plain JSON (stored as segments.json beside the model). */
export interface SegmentModel {
  method: SegmentMethod;
  k: number;
  fuzziness: number;
  plan: FeaturePlan;
  /** k rows of standardized centroids; segment s (1-based) is row s − 1. */
  centroids: number[][];
}

export interface SegmentProfile {
  segment: number;
  size: number;
  share: number;
  /** Churn rate of the segment among the examples profiled. */
  churnRate: number;
  /** Mean of each raw feature (nulls left out). */
  means: Record<string, number | null>;
}

/** Fitting sees at most this many customers (a seeded sample); every customer is then assigned. */
const MAX_FIT_ROWS = 50_000;

export function fitSegments(columns: Record<string, Float64Array>, size: number, options: { method: SegmentMethod; k: number; seed: number }): SegmentModel {
  const plan = fitFeaturePlan(columns, size, SEGMENT_FEATURES);
  if (plan.names.length === 0) throw new Error("segmentation: every RFM and behaviour column is constant or null");
  const all = featureMatrix(plan, columns, size, true);
  const data = sampleRows(all, MAX_FIT_ROWS, options.seed);
  // More centres than distinct customers cannot all hold someone: k-means++ repeats a chosen row and its segment stays empty.
  const k = Math.min(options.k, distinctRows(data));
  const fuzziness = 2;
  const centroids =
    options.method === "kmeans"
      ? kMeans(data, { k, seed: options.seed }).centroids
      : fuzzyCMeans(data, { k, seed: options.seed, fuzziness }).centroids;
  const model: SegmentModel = { method: options.method, k, fuzziness, plan, centroids: rowsOf(centroids) };
  return orderBySize(model, all);
}

/** Segment (1-based) of every customer: the nearest centroid, or the highest membership for fuzzy c-means. */
export function assignSegments(model: SegmentModel, columns: Record<string, Float64Array>, size: number): Int32Array {
  const data = featureMatrix(model.plan, columns, size, true);
  const centroids = matrixFromRows(model.centroids);
  const segments = new Int32Array(size);
  const memberships = new Float64Array(model.k);
  for (let i = 0; i < size; i++) {
    if (model.method === "kmeans") {
      segments[i] = nearestCentroid(data, i, centroids).cluster + 1;
      continue;
    }
    membershipsOf(data, i, centroids, model.fuzziness, memberships);
    let best = 0;
    for (let c = 1; c < model.k; c++) if (memberships[c] > memberships[best]) best = c;
    segments[i] = best + 1;
  }
  return segments;
}

export function segmentProfiles(
  model: SegmentModel,
  segments: Int32Array,
  columns: Record<string, Float64Array>,
  labels: Uint8Array,
  profileColumns: readonly string[],
): SegmentProfile[] {
  return Array.from({ length: model.k }, (_, c) => {
    const segment = c + 1;
    let size = 0;
    let churned = 0;
    const sums = profileColumns.map(() => 0);
    const counts = profileColumns.map(() => 0);
    for (let i = 0; i < segments.length; i++) {
      if (segments[i] !== segment) continue;
      size++;
      churned += labels[i];
      profileColumns.forEach((name, j) => {
        const value = columns[name]?.[i];
        if (value === undefined || Number.isNaN(value)) return;
        sums[j] += value;
        counts[j]++;
      });
    }
    const means = Object.fromEntries(profileColumns.map((name, j) => [name, counts[j] > 0 ? sums[j] / counts[j] : null]));
    return { segment, size, share: segments.length > 0 ? size / segments.length : 0, churnRate: size > 0 ? churned / size : 0, means };
  });
}

/** Renumbers segments by size, largest first, so segment numbers do not depend on the order clusters were found in. */
function orderBySize(model: SegmentModel, data: Matrix): SegmentModel {
  const sizes = new Array<number>(model.k).fill(0);
  const centroids = matrixFromRows(model.centroids);
  for (let i = 0; i < data.rows; i++) sizes[nearestCentroid(data, i, centroids).cluster]++;
  const order = sizes.map((_, c) => c).sort((a, b) => sizes[b] - sizes[a] || a - b);
  return { ...model, centroids: order.map((c) => model.centroids[c]) };
}

function sampleRows(data: Matrix, max: number, seed: number): Matrix {
  if (data.rows <= max) return data;
  const order = new SeededRandom(seed).permutation(data.rows).subarray(0, max).sort();
  const sample = createMatrix(max, data.columns);
  order.forEach((row, i) => sample.values.set(data.values.subarray(row * data.columns, (row + 1) * data.columns), i * data.columns));
  return sample;
}

function distinctRows(data: Matrix): number {
  const seen = new Set<string>();
  for (let i = 0; i < data.rows; i++) seen.add(data.values.subarray(i * data.columns, (i + 1) * data.columns).join(","));
  return seen.size;
}

function rowsOf(matrix: Matrix): number[][] {
  return Array.from({ length: matrix.rows }, (_, i) => Array.from(matrix.values.subarray(i * matrix.columns, (i + 1) * matrix.columns)));
}
