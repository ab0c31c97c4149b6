// Nelder–Mead simplex minimisation in plain TypeScript (Lagarias et al. 1998 coefficients), restarted until it stops improving.

export interface NelderMeadOptions {
  /** Initial step per coordinate. Default 0.5. */
  step?: number;
  /** Stop when the simplex's function values span less than this. Default 1e-12. */
  tolerance?: number;
  maxIterations?: number;
  /** Restarts from the best point (a collapsed simplex can stall away from the minimum). Default 3. */
  restarts?: number;
}

export interface Minimum {
  x: number[];
  value: number;
  iterations: number;
}

/** Minimises `f` from `start`; non-finite values count as +∞ so the search stays inside the valid region. */
export function nelderMead(f: (x: number[]) => number, start: number[], options: NelderMeadOptions = {}): Minimum {
  const safe = (x: number[]) => {
    const value = f(x);
    return Number.isFinite(value) ? value : Infinity;
  };
  let best: Minimum = { x: [...start], value: safe(start), iterations: 0 };
  for (let round = 0; round <= (options.restarts ?? 3); round++) {
    const result = simplexSearch(safe, best.x, options);
    const improved = result.value < best.value - 1e-12;
    best = { ...result, iterations: best.iterations + result.iterations };
    if (round > 0 && !improved) break;
  }
  return best;
}

function simplexSearch(f: (x: number[]) => number, start: number[], options: NelderMeadOptions): Minimum {
  const n = start.length;
  const step = options.step ?? 0.5;
  const tolerance = options.tolerance ?? 1e-12;
  const maxIterations = options.maxIterations ?? 20_000;
  const points: number[][] = [start];
  for (let i = 0; i < n; i++) {
    const point = [...start];
    point[i] += step;
    points.push(point);
  }
  let values = points.map(f);
  let iteration = 0;
  for (; iteration < maxIterations; iteration++) {
    const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
    const sorted = order.map((i) => points[i]);
    values = order.map((i) => values[i]);
    points.splice(0, points.length, ...sorted);
    if (Math.abs(values[n] - values[0]) <= tolerance * (Math.abs(values[0]) + 1e-300) && spread(points) < 1e-10) break;
    const centroid = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) centroid[j] += points[i][j] / n;
    const along = (t: number) => centroid.map((c, j) => c + t * (points[n][j] - c));
    const reflected = along(-1);
    const reflectedValue = f(reflected);
    if (reflectedValue < values[0]) {
      const expanded = along(-2);
      const expandedValue = f(expanded);
      if (expandedValue < reflectedValue) replaceWorst(points, values, expanded, expandedValue);
      else replaceWorst(points, values, reflected, reflectedValue);
    } else if (reflectedValue < values[n - 1]) {
      replaceWorst(points, values, reflected, reflectedValue);
    } else {
      const outside = reflectedValue < values[n];
      const contracted = along(outside ? -0.5 : 0.5);
      const contractedValue = f(contracted);
      if (contractedValue < (outside ? reflectedValue : values[n])) {
        replaceWorst(points, values, contracted, contractedValue);
      } else {
        for (let i = 1; i <= n; i++) {
          points[i] = points[i].map((v, j) => points[0][j] + 0.5 * (v - points[0][j]));
          values[i] = f(points[i]);
        }
      }
    }
  }
  let bestIndex = 0;
  for (let i = 1; i <= n; i++) if (values[i] < values[bestIndex]) bestIndex = i;
  return { x: points[bestIndex], value: values[bestIndex], iterations: iteration };
}

function replaceWorst(points: number[][], values: number[], point: number[], value: number): void {
  points[points.length - 1] = point;
  values[values.length - 1] = value;
}

/** Largest coordinate distance from the best vertex. */
function spread(points: number[][]): number {
  let max = 0;
  for (let i = 1; i < points.length; i++) for (let j = 0; j < points[0].length; j++) max = Math.max(max, Math.abs(points[i][j] - points[0][j]));
  return max;
}
