// k-means and fuzzy c-means on a tiny hand-built dataset whose clusters are known.
import { describe, expect, it } from "vitest";
import { fuzzyCMeans, membershipsOf } from "../../src/training/fuzzy-cmeans.ts";
import { kMeans, lloyd } from "../../src/training/kmeans.ts";
import { matrixFromRows } from "../../src/training/matrix.ts";
import { assignSegments, fitSegments, segmentProfiles } from "../../src/training/segmentation.ts";

// Three tight groups far apart: rows 0–2 near (0,0), 3–5 near (10,10), 6–8 near (0,10).
const points = matrixFromRows([
  [0, 0], [0.2, 0.1], [-0.1, 0.2],
  [10, 10], [10.1, 9.9], [9.8, 10.2],
  [0, 10], [0.3, 9.7], [-0.2, 10.1],
]);
const groups = [0, 0, 0, 1, 1, 1, 2, 2, 2];

/** True when two labelings put the same rows together (cluster numbers may differ). */
function samePartition(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a.length; j++) if ((a[i] === a[j]) !== (b[i] === b[j])) return false;
  return true;
}

describe("k-means", () => {
  it("finds the three known groups and their centres", () => {
    const result = kMeans(points, { k: 3, seed: 7 });
    expect(samePartition(result.assignments, groups)).toBe(true);
    const centre = (c: number) => Array.from(result.centroids.values.subarray(c * 2, c * 2 + 2));
    const first = result.assignments[0];
    expect(centre(first)[0]).toBeCloseTo(0.1 / 3, 12);
    expect(centre(first)[1]).toBeCloseTo(0.1, 12);
    // Inertia by hand: squared distances to the group means.
    let inertia = 0;
    for (let i = 0; i < 9; i++) {
      const c = centre(result.assignments[i]);
      inertia += (points.values[i * 2] - c[0]) ** 2 + (points.values[i * 2 + 1] - c[1]) ** 2;
    }
    expect(result.inertia).toBeCloseTo(inertia, 12);
  });

  it("is reproducible by seed", () => {
    expect(kMeans(points, { k: 2, seed: 3 }).assignments).toEqual(kMeans(points, { k: 2, seed: 3 }).assignments);
  });
});

describe("k-means - an emptied cluster takes the row farthest from its centre", () => {
  // Rows 0, 3, 10, 11 from centres 1, 10.5 and 50: the first pass leaves the centre at 50 empty; squared distances
  // to the assigned centres are 1, 4, 0.25, 0.25, so it takes row 1 (3) out of centre 1's pair, which keeps row 0 (0).
  const data = matrixFromRows([[0], [3], [10], [11]]);

  it("one emptied cluster: centres 0, 10.5 and 3, every cluster holds a row, inertia 2 × 0.5² = 0.5", () => {
    const result = lloyd(data, matrixFromRows([[1], [10.5], [50]]), 300);
    expect(Array.from(result.centroids.values)).toEqual([0, 10.5, 3]);
    expect(Array.from(result.assignments)).toEqual([0, 2, 1, 1]);
    expect(result.inertia).toBe(0.5);
    // Pass 1 assigns, relocates (row 1 counts as moved to the emptied cluster) and updates; pass 2 changes no assignment.
    expect(result.iterations).toBe(1);
  });

  it("two emptied clusters take two rows: row 1, then row 2 (the lower of 10 and 11, both 0.5 from 10.5; row 0 is alone now)", () => {
    const result = lloyd(data, matrixFromRows([[1], [10.5], [50], [60]]), 300);
    expect(Array.from(result.centroids.values)).toEqual([0, 11, 3, 10]);
    expect(Array.from(result.assignments)).toEqual([0, 2, 3, 1]);
    expect(result.inertia).toBe(0);
  });
});

describe("fuzzy c-means", () => {
  it("memberships of every row sum to 1 and the highest membership gives the known groups", () => {
    const result = fuzzyCMeans(points, { k: 3, seed: 7 });
    const hard: number[] = [];
    for (let i = 0; i < 9; i++) {
      const row = Array.from(result.memberships.values.subarray(i * 3, i * 3 + 3));
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      hard.push(row.indexOf(Math.max(...row)));
      expect(Math.max(...row)).toBeGreaterThan(0.95);
    }
    expect(samePartition(hard, groups)).toBe(true);
  });

  it("membership with m = 2 at distances 1 and 2 is 1/(1 + 1/4) = 0.8 and 0.2", () => {
    const centres = matrixFromRows([[1, 0], [-2, 0]]);
    const out = new Float64Array(2);
    membershipsOf(matrixFromRows([[0, 0]]), 0, centres, 2, out);
    expect(out[0]).toBeCloseTo(0.8, 12);
    expect(out[1]).toBeCloseTo(0.2, 12);
  });

  it("a row on a centre belongs to it fully", () => {
    const out = new Float64Array(2);
    membershipsOf(matrixFromRows([[1, 0]]), 0, matrixFromRows([[1, 0], [5, 5]]), 2, out);
    expect(Array.from(out)).toEqual([1, 0]);
  });
});

describe("fuzzy c-means - memberships at extreme scales and m near 1", () => {
  // Memberships depend only on distance ratios: with distances 5s and 10s and m = 1.05, u = 1 / (1 + (5/10)^(2/0.05))
  // = 1 / (1 + 2^−40) at any scale s, although d² is 0 (s = 1e-200) or Infinity (s = 1e200) in float64.
  for (const scale of [1e-200, 1, 1e200]) {
    it(`m = 1.05, distances 5 and 10 times ${scale}: 1 / (1 + 2^−40) and 2^−40 / (1 + 2^−40)`, () => {
      const out = new Float64Array(2);
      membershipsOf(matrixFromRows([[0, 0]]), 0, matrixFromRows([[3 * scale, 4 * scale], [-6 * scale, -8 * scale]]), 1.05, out);
      expect(out[0]).toBeCloseTo(1 / (1 + 2 ** -40), 12);
      expect(out[1] / (2 ** -40 / (1 + 2 ** -40))).toBeCloseTo(1, 12);
    });
  }

  it("m = 1.01, distances 1e-3 and 2e-3: 1 / (1 + 2^−200), where (d²)^(−1/(m−1)) = 1e600 overflows", () => {
    const out = new Float64Array(2);
    membershipsOf(matrixFromRows([[0]]), 0, matrixFromRows([[1e-3], [2e-3]]), 1.01, out);
    expect(out[0]).toBe(1 / (1 + 2 ** -200));
    expect(out[1] / 2 ** -200).toBeCloseTo(1, 12);
  });

  it("a row on a centre belongs to it fully even when the other centre is 1e-200 away (d² underflows to 0)", () => {
    const out = new Float64Array(2);
    membershipsOf(matrixFromRows([[1e-200, 1e200]]), 0, matrixFromRows([[2e-200, 1e200], [1e-200, 1e200]]), 1.05, out);
    expect(Array.from(out)).toEqual([0, 1]);
  });
});

describe("fuzzy c-means - the returned memberships are the returned centres'", () => {
  it("k = 1 on -1 and 1: the first pass moves the centre to the mean 0, the second moves nothing, so 2 passes", () => {
    const result = fuzzyCMeans(matrixFromRows([[-1], [1]]), { k: 1, seed: 7 });
    expect(Array.from(result.centroids.values)).toEqual([0]);
    expect(Array.from(result.memberships.values)).toEqual([1, 1]);
    expect(result.iterations).toBe(2);
  });

  // Bezdek's membership equation by hand, m = 2: u_c = 1 / Σ_j (d_c / d_j)², d the distance to the returned centres.
  const data = matrixFromRows([[0], [1], [5], [6], [2]]);
  function textbookMemberships(centres: Float64Array): number[] {
    return Array.from(data.values).flatMap((x) => {
      const d = Array.from(centres, (v) => Math.abs(x - v));
      return d.map((dc) => 1 / d.reduce((sum, dj) => sum + (dc / dj) ** 2, 0));
    });
  }
  for (const [stop, options] of [["maxIterations 1", { maxIterations: 1 }], ["tolerance Infinity", { tolerance: Infinity }]] as const) {
    it(`stopped after one pass by ${stop}: memberships of the moved centres, and 1 pass counted`, () => {
      const result = fuzzyCMeans(data, { k: 2, seed: 7, ...options });
      expect(result.iterations).toBe(1);
      textbookMemberships(result.centroids.values).forEach((u, i) => expect(result.memberships.values[i]).toBeCloseTo(u, 12));
    });
  }
});

describe("fuzzy c-means - against the textbook alternation (NumPy, Bezdek's update equations)", () => {
  // Two groups and a point between them; NumPy iterated u = 1 / Σ_j (d_c/d_j)^(2/(m−1)) and v = Σ u^m x / Σ u^m to a fixed point.
  const data = matrixFromRows([[0, 0], [1, 0], [0, 1], [5, 5], [6, 5], [5, 7], [2, 3]]);
  const cases = [
    { m: 1.5, centres: [[0.70198937, 0.92326728], [5.29775634, 5.63749994]], first: [0.99949503, 0.9996493, 0.99989882, 0.00019898, 0.00040503, 0.00123118, 0.89836688] },
    { m: 3, centres: [[0.47333258, 0.5752397], [5.22045469, 5.47461745]], first: [0.91035159, 0.89861254, 0.91533513, 0.07635955, 0.11419141, 0.16395183, 0.58633705] },
  ];
  for (const { m, centres, first } of cases) {
    it(`m = ${m}: the same centres and memberships`, () => {
      const result = fuzzyCMeans(data, { k: 2, seed: 7, fuzziness: m, tolerance: 1e-12, maxIterations: 1000 });
      const low = result.centroids.values[0] < result.centroids.values[2] ? 0 : 1;
      for (let j = 0; j < 2; j++) {
        expect(result.centroids.values[low * 2 + j]).toBeCloseTo(centres[0][j], 7);
        expect(result.centroids.values[(1 - low) * 2 + j]).toBeCloseTo(centres[1][j], 7);
      }
      first.forEach((u, i) => expect(result.memberships.values[i * 2 + low]).toBeCloseTo(u, 7));
    });
  }
});

describe("segmentation", () => {
  // 12 customers but only two distinct (recency, frequency) rows: at most two segments can hold anyone.
  const size = 12;
  const columns: Record<string, Float64Array> = {
    days_since_last_purchase: Float64Array.from({ length: size }, (_, i) => (i < 8 ? 5 : 90)),
    frequency: Float64Array.from({ length: size }, (_, i) => (i < 8 ? 4 : 0)),
  };

  for (const method of ["kmeans", "fcm"] as const) {
    it(`${method}: k is capped at the distinct customers, so no segment is left empty`, () => {
      const model = fitSegments(columns, size, { method, k: 3, seed: 1 });
      expect(model.k).toBe(2);
      const segments = assignSegments(model, columns, size);
      const profiles = segmentProfiles(model, segments, columns, new Uint8Array(size), ["frequency"]);
      expect(profiles.map((p) => p.size)).toEqual([8, 4]);
    });
  }

  it("is reproducible by seed, fuzzy c-means included", () => {
    const spread: Record<string, Float64Array> = {
      days_since_last_purchase: Float64Array.from({ length: 40 }, (_, i) => (i * 37) % 101),
      frequency: Float64Array.from({ length: 40 }, (_, i) => (i * 13) % 7),
    };
    for (const method of ["kmeans", "fcm"] as const) {
      expect(fitSegments(spread, 40, { method, k: 4, seed: 9 })).toEqual(fitSegments(spread, 40, { method, k: 4, seed: 9 }));
    }
  });
});
