// Platt scaling: a one-input logistic regression (Newton's method) turning a baseline score into a churn probability.

export interface PlattScaling {
  slope: number;
  intercept: number;
}

/** Fits P(y = 1 | s) = σ(slope·s + intercept); NaN scores are skipped. A tiny ridge keeps separable data finite. */
export function fitPlatt(scores: ArrayLike<number>, labels: ArrayLike<number>): PlattScaling {
  let mean = 0;
  let count = 0;
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) continue;
    mean += scores[i];
    count++;
  }
  mean /= count || 1;
  let spread = 0;
  for (let i = 0; i < scores.length; i++) if (!Number.isNaN(scores[i])) spread += (scores[i] - mean) ** 2;
  const scale = Math.sqrt(spread / (count || 1)) || 1;
  // Newton on the centred, scaled score; converted back at the end.
  let w = 0;
  let c = 0;
  const ridge = 1e-6;
  for (let iteration = 0; iteration < 100; iteration++) {
    let gw = ridge * w;
    let gc = 0;
    let hww = ridge;
    let hwc = 0;
    let hcc = 1e-12;
    for (let i = 0; i < scores.length; i++) {
      if (Number.isNaN(scores[i])) continue;
      const s = (scores[i] - mean) / scale;
      const p = 1 / (1 + Math.exp(-(w * s + c)));
      const g = p - labels[i];
      const h = p * (1 - p);
      gw += g * s;
      gc += g;
      hww += h * s * s;
      hwc += h * s;
      hcc += h;
    }
    const det = hww * hcc - hwc * hwc;
    const dw = (hcc * gw - hwc * gc) / det;
    const dc = (hww * gc - hwc * gw) / det;
    w -= dw;
    c -= dc;
    if (Math.abs(dw) + Math.abs(dc) < 1e-10) break;
  }
  return { slope: w / scale, intercept: c - (w * mean) / scale };
}

/** Probabilities from scores; a NaN score (no purchases yet) is scored as `fallbackScore`. */
export function applyPlatt(platt: PlattScaling, scores: ArrayLike<number>, fallbackScore: number): Float64Array {
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const s = Number.isNaN(scores[i]) ? fallbackScore : scores[i];
    out[i] = 1 / (1 + Math.exp(-(platt.slope * s + platt.intercept)));
  }
  return out;
}
