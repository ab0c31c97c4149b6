// k-means (Lloyd's algorithm, k-means++ seeding, several seeded starts): hard segments of customers.
import { createMatrix, squaredDistance, type Matrix } from "./matrix.ts";
import { SeededRandom } from "./random.ts";

export interface KMeansOptions {
  k: number;
  seed: number;
  /** Starts; the one with the lowest inertia wins. Default 5. */
  starts?: number;
  maxIterations?: number;
}

export interface KMeansResult {
  centroids: Matrix;
  /** Cluster of each row, 0-based. */
  assignments: Int32Array;
  /** Sum of squared distances of rows to their centroid. */
  inertia: number;
  iterations: number;
}

/** k-means++: each next centre drawn with probability proportional to its squared distance to the nearest chosen centre. */
export function kMeansPlusPlus(data: Matrix, k: number, random: SeededRandom): Matrix {
  const centroids = createMatrix(k, data.columns);
  const nearest = new Float64Array(data.rows).fill(Infinity);
  let chosen = random.int(data.rows);
  for (let c = 0; c < k; c++) {
    centroids.values.set(data.values.subarray(chosen * data.columns, (chosen + 1) * data.columns), c * data.columns);
    let total = 0;
    for (let i = 0; i < data.rows; i++) {
      nearest[i] = Math.min(nearest[i], squaredDistance(data, i, centroids, c));
      total += nearest[i];
    }
    if (c === k - 1) break;
    let target = random.next() * total;
    chosen = data.rows - 1;
    for (let i = 0; i < data.rows; i++) {
      target -= nearest[i];
      if (target < 0) {
        chosen = i;
        break;
      }
    }
  }
  return centroids;
}

/** Index of the nearest centroid to row `row` (ties: the lower index). */
export function nearestCentroid(data: Matrix, row: number, centroids: Matrix): { cluster: number; distance: number } {
  let cluster = 0;
  let distance = Infinity;
  for (let c = 0; c < centroids.rows; c++) {
    const d = squaredDistance(data, row, centroids, c);
    if (d < distance) {
      distance = d;
      cluster = c;
    }
  }
  return { cluster, distance };
}

/** Lloyd's iterations from the centres `start`. */
export function lloyd(data: Matrix, start: Matrix, maxIterations: number): KMeansResult {
  const { columns } = data;
  const k = start.rows;
  const centroids: Matrix = { ...start, values: Float64Array.from(start.values) };
  const assignments = new Int32Array(data.rows).fill(-1);
  const distances = new Float64Array(data.rows);
  let inertia = 0;
  let iteration = 0;
  for (; iteration < maxIterations; iteration++) {
    let changed = 0;
    inertia = 0;
    for (let i = 0; i < data.rows; i++) {
      const { cluster, distance } = nearestCentroid(data, i, centroids);
      if (assignments[i] !== cluster) changed++;
      assignments[i] = cluster;
      distances[i] = distance;
      inertia += distance;
    }
    if (changed === 0) break;
    const sums = new Float64Array(k * columns);
    const counts = new Float64Array(k);
    for (let i = 0; i < data.rows; i++) {
      const c = assignments[i];
      counts[c]++;
      for (let j = 0; j < columns; j++) sums[c * columns + j] += data.values[i * columns + j];
    }
    relocateEmptied(data, assignments, distances, sums, counts);
    for (let c = 0; c < k; c++) {
      for (let j = 0; j < columns; j++) centroids.values[c * columns + j] = sums[c * columns + j] / counts[c];
    }
  }
  return { centroids, assignments, inertia, iterations: iteration };
}

/**
 * An emptied cluster takes the row farthest from its centre (scikit-learn's rule; ties: the lower row), moved out of its
 * cluster's sums, so no segment stays empty. Only rows whose cluster keeps another row are taken, so none empties in
 * turn; one always exists, as k ≤ rows.
 */
function relocateEmptied(data: Matrix, assignments: Int32Array, distances: Float64Array, sums: Float64Array, counts: Float64Array): void {
  const { columns } = data;
  for (let c = 0; c < counts.length; c++) {
    if (counts[c] !== 0) continue;
    let farthest = -1;
    for (let i = 0; i < data.rows; i++) {
      if (counts[assignments[i]] > 1 && (farthest === -1 || distances[i] > distances[farthest])) farthest = i;
    }
    const from = assignments[farthest];
    counts[from]--;
    counts[c] = 1;
    for (let j = 0; j < columns; j++) {
      const value = data.values[farthest * columns + j];
      sums[from * columns + j] -= value;
      sums[c * columns + j] = value;
    }
    // Taken rows count as at their new centre, so a second emptied cluster takes another row.
    assignments[farthest] = c;
    distances[farthest] = 0;
  }
}

export function kMeans(data: Matrix, options: KMeansOptions): KMeansResult {
  if (options.k < 1 || options.k > data.rows) throw new RangeError(`k = ${options.k} needs 1 ≤ k ≤ rows (${data.rows})`);
  const random = new SeededRandom(options.seed);
  let best: KMeansResult | undefined;
  for (let start = 0; start < (options.starts ?? 5); start++) {
    const result = lloyd(data, kMeansPlusPlus(data, options.k, random), options.maxIterations ?? 300);
    if (best === undefined || result.inertia < best.inertia) best = result;
  }
  return best!;
}
