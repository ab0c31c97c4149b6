// Evaluation measures against hand-computed cases.
import { describe, expect, it } from "vitest";
import { averagePrecision, calibrationTable, decileOfRank, evaluate, liftTable, logLoss, rocCurve } from "../../src/training/evaluation.ts";

describe("evaluation", () => {
  const scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
  const labels = [1, 0, 1, 1, 0, 0];

  it("ROC AUC of a known ranking is the share of positive–negative pairs in order: 7 of 9", () => {
    // positives 0.9, 0.7, 0.6 against negatives 0.8, 0.5, 0.4: 3 + 2 + 2 ordered pairs.
    expect(rocCurve(scores, labels).auc).toBeCloseTo(7 / 9, 12);
  });

  it("ROC AUC is 1 for a perfect ranking, 0 for a reversed one and counts ties as one half", () => {
    expect(rocCurve([3, 2, 1, 0], [1, 1, 0, 0]).auc).toBe(1);
    expect(rocCurve([0, 1, 2, 3], [1, 1, 0, 0]).auc).toBe(0);
    expect(rocCurve([1, 1, 1, 1], [1, 0, 1, 0]).auc).toBe(0.5);
    // One tie between a positive and a negative (0.5 each), the other pair ordered: (1 + 0.5) / 2 with 2·1 … by hand: pairs
    // (p=0.7,n=0.7) tie → ½, (p=0.9,n=0.7) → 1: AUC = 1.5 / 2.
    expect(rocCurve([0.9, 0.7, 0.7], [1, 1, 0]).auc).toBeCloseTo(0.75, 12);
  });

  it("the ROC curve runs from (0,0) to (1,1)", () => {
    const { points } = rocCurve(scores, labels);
    expect(points[0]).toEqual({ fpr: 0, tpr: 0 });
    expect(points.at(-1)).toEqual({ fpr: 1, tpr: 1 });
  });

  it("average precision sums precision at each recall step: (1 + 2/3 + 3/4) / 3", () => {
    expect(averagePrecision(scores, labels)).toBeCloseTo((1 + 2 / 3 + 3 / 4) / 3, 12);
  });

  it("log loss is the mean negative log-likelihood", () => {
    expect(logLoss([0.8, 0.4], [1, 0])).toBeCloseTo(-(Math.log(0.8) + Math.log(0.6)) / 2, 12);
  });

  it("calibration bins hold mean prediction and observed rate", () => {
    const table = calibrationTable([0.05, 0.15, 0.12, 0.95], [0, 1, 0, 1]);
    expect(table).toEqual([
      { bin: 1, lower: 0, upper: 0.1, count: 1, meanPredicted: 0.05, observedRate: 0 },
      { bin: 2, lower: 0.1, upper: 0.2, count: 2, meanPredicted: (0.15 + 0.12) / 2, observedRate: 0.5 },
      { bin: 10, lower: 0.9, upper: 1, count: 1, meanPredicted: 0.95, observedRate: 1 },
    ]);
  });

  it("deciles of 1..N ranks differ in size by at most one", () => {
    const sizesOf = (n: number) => {
      const deciles = Array.from({ length: n }, (_, i) => decileOfRank(i + 1, n));
      // Ranks in order fill the deciles in order: 1 holds the best ranks.
      expect(deciles).toEqual(deciles.toSorted((a, b) => a - b));
      return [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((decile) => deciles.filter((d) => d === decile).length);
    };
    expect(sizesOf(10)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    // 23 ranks: decile k starts at rank ⌈2.3·(k − 1)⌉ + 1, i.e. 1, 4, 6, 8, 11, 13, 15, 18, 20, 22 (and 24 ends it).
    expect(sizesOf(23)).toEqual([3, 2, 2, 3, 2, 2, 3, 2, 2, 2]);
    // 101 ranks: only the first decile takes the extra one (ranks 1–11; decile k > 1 starts at ⌈10.1·(k − 1)⌉ + 1).
    expect(sizesOf(101)).toEqual([11, 10, 10, 10, 10, 10, 10, 10, 10, 10]);
  });

  it("evaluate: every scalar measure of the known ranking, by hand", () => {
    const evaluation = evaluate(scores, labels);
    expect(evaluation.examples).toBe(6);
    expect(evaluation.positives).toBe(3);
    expect(evaluation.auc).toBeCloseTo(7 / 9, 12);
    expect(evaluation.prAuc).toBeCloseTo((1 + 2 / 3 + 3 / 4) / 3, 12);
    // Squared errors 0.1², 0.8², 0.3², 0.4², 0.5², 0.4² = 0.01 + 0.64 + 0.09 + 0.16 + 0.25 + 0.16 = 1.31.
    expect(evaluation.brier).toBeCloseTo(1.31 / 6, 12);
    expect(evaluation.logLoss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.2) + Math.log(0.7) + Math.log(0.6) + Math.log(0.5) + Math.log(0.6)) / 6, 12);
    // Six distinct scores: seven ROC points, none thinned out.
    expect(evaluation.roc).toHaveLength(7);
  });

  it("lift table: the top decile of 20 holds both churners, lift 10, gains reach 1", () => {
    const twenty = Array.from({ length: 20 }, (_, i) => 1 - i / 20);
    const churned = twenty.map((_, i) => (i < 2 ? 1 : 0));
    const table = liftTable(twenty, churned);
    expect(table[0]).toMatchObject({ decile: 1, count: 2, positives: 2, rate: 1, lift: 10, cumulativeGain: 1 });
    expect(table[9]).toMatchObject({ decile: 10, count: 2, positives: 0, lift: 0, cumulativeGain: 1 });
  });

  it("lift table: a score that ties everyone has lift 1 in every decile, whatever order the churners come in", () => {
    // One churner among ten, all scored alike: a ranking that cannot tell them apart finds 1/10 of a churner per decile.
    const table = liftTable(new Array(10).fill(0.5), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (const row of table) {
      expect(row.count).toBe(1);
      expect(row.positives).toBeCloseTo(0.1, 12);
      expect(row.lift).toBeCloseTo(1, 12);
    }
    expect(table[0].cumulativeGain).toBeCloseTo(0.1, 12);
  });

  it("lift table: a tied group across a decile boundary shares its churners between the deciles by size", () => {
    // 20 examples: ranks 1–2 score 0.9 (both churned); ranks 3–6 tie at 0.5 with 2 churners (rate ½), the rest 0.1, none
    // churned. Decile 2 (ranks 3–4) and decile 3 (ranks 5–6) each expect 2 · ½ = 1 churner, wherever the churners sit.
    const scores = [0.9, 0.9, 0.5, 0.5, 0.5, 0.5, ...new Array(14).fill(0.1)];
    for (const tied of [[1, 1, 0, 0], [0, 0, 1, 1]]) {
      const labels = [1, 1, ...tied, ...new Array(14).fill(0)];
      const table = liftTable(scores, labels);
      expect(table.slice(0, 3).map((row) => row.positives)).toEqual([2, 1, 1]);
      expect(table[1].lift).toBeCloseTo(2.5, 12);
      expect(table[3].positives).toBe(0);
    }
  });

  it("a NaN score is refused with how many there are, rather than looping forever on a group of ties it cannot end", () => {
    const message = /1 of 3 scores are NaN/;
    expect(() => rocCurve([0.2, NaN, 0.9], [0, 1, 1])).toThrow(message);
    expect(() => averagePrecision([0.2, NaN, 0.9], [0, 1, 1])).toThrow(message);
    expect(() => liftTable([0.2, NaN, 0.9], [0, 1, 1])).toThrow(message);
    expect(() => evaluate([0.2, NaN, 0.9], [0, 1, 1])).toThrow(message);
  });
});
