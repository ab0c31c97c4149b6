// Hand-computed cases for the small pieces: feature plan, Platt scaling, ranking, progress ETA.
import { describe, expect, it } from "vitest";
import { featureMatrix, fitFeaturePlan } from "../../src/training/features.ts";
import { applyPlatt, fitPlatt } from "../../src/training/platt.ts";
import { progressLine } from "../../src/training/progress.ts";
import { decilesOfRanks, rankByScore } from "../../src/training/ranking.ts";

describe("feature plan", () => {
  const columns = {
    recency_days: Float64Array.from([1, NaN, 3]),
    frequency: Float64Array.from([0, Math.E - 1, Math.E - 1]),
    rfm_r: Float64Array.from([2, 2, 2]),
  };

  it("fills nulls with the training mean, log1p-transforms counts and leaves constant columns out", () => {
    const plan = fitFeaturePlan(columns, 3, ["recency_days", "frequency", "rfm_r", "not_there"]);
    expect(plan.names).toEqual(["recency_days", "frequency"]);
    expect(plan.transforms).toEqual(["identity", "log1p"]);
    expect(plan.fill[0]).toBe(2);
    expect(plan.std[0]).toBeCloseTo(Math.sqrt(2 / 3), 12);
    expect(plan.mean[1]).toBeCloseTo(2 / 3, 12); // log1p values 0, 1, 1
    const standardized = featureMatrix(plan, columns, 3, true);
    expect(standardized.values[2]).toBe(0); // the null, filled with the mean
    expect(standardized.values[0]).toBeCloseTo(-1 / Math.sqrt(2 / 3), 12);
  });
});

describe("Platt scaling", () => {
  it("recovers the empirical log-odds of a two-valued score exactly", () => {
    // s = 0: 1 of 4 churned (odds 1/3); s = 1: 3 of 4 churned (odds 3).
    const scores = [0, 0, 0, 0, 1, 1, 1, 1];
    const labels = [1, 0, 0, 0, 1, 1, 1, 0];
    const platt = fitPlatt(scores, labels);
    expect(platt.intercept).toBeCloseTo(Math.log(1 / 3), 5);
    expect(platt.slope).toBeCloseTo(2 * Math.log(3), 5);
    expect(Array.from(applyPlatt(platt, [0, 1, NaN], 1))).toEqual([expect.closeTo(0.25, 5), expect.closeTo(0.75, 5), expect.closeTo(0.75, 5)]);
  });
});

describe("ranking", () => {
  it("ranks by score, highest first, ties by customer id; deciles near-equal", () => {
    const ranks = rankByScore([0.2, 0.9, 0.5, 0.9], ["d", "c", "b", "a"]);
    expect(Array.from(ranks)).toEqual([4, 2, 3, 1]);
    expect(Array.from(decilesOfRanks(Uint32Array.from({ length: 20 }, (_, i) => i + 1)))).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10]);
  });
});

describe("progress", () => {
  it("estimates the time left from the rate so far", () => {
    expect(progressLine("train mlp", 25, 100, 10_000)).toBe("train mlp: 25% (25/100) elapsed 10s ETA 30s");
    expect(progressLine("score", 100, 100, 90_000)).toBe("score: 100% (100/100) elapsed 1m30s done");
  });
});
