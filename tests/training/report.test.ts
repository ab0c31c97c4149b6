// report.html from hand-made metrics: its numbers and words say what metrics.json holds.
import { describe, expect, it } from "vitest";
import type { Manifest, MetricsFile } from "../../src/training/artifacts.ts";
import { evaluate } from "../../src/training/evaluation.ts";
import { renderReport } from "../../src/training/report.ts";

describe("report - numbers and words as in metrics.json", () => {
  // Ten customers on each of two validation snapshots: 20 examples, not 20 customers. All tied: lift 1, 0.3 churners a decile.
  const labels = [1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0];
  const evaluation = evaluate(new Array(20).fill(0.3), labels);
  const validation = { dates: ["1997-09-28", "1997-09-30"], examples: 20, churnRate: 0.3 };
  const metrics: MetricsFile = { validation, models: { logistic: evaluation }, baselines: {}, best: "logistic" };
  const manifest = {
    modelVersion: "logistic-000000000000",
    scoringModel: "logistic",
    label: { rule: "noPurchase", horizonDays: 90, positive: "churned" },
    training: { featuresDir: "/f", dates: ["1997-06-30"], examples: 10, churnRate: 0.3 },
    validation,
    backend: "wasm",
    seed: 42,
    bgnbd: { r: 1, alpha: 1, a: 1, b: 1, loglik: -1, customers: 10, fittedOn: "1997-06-30", timeUnit: "day" },
    segments: { file: "segments.json", method: "kmeans", k: 1, profiles: [{ segment: 1, size: 20, share: 1, churnRate: 0.3, means: {} }] },
    features: ["frequency"],
  } as unknown as Manifest;
  const html = renderReport(metrics, manifest);

  it("counts validation examples as examples over their snapshots, not as customers", () => {
    expect(html).toContain("Validation (20 examples of 2 snapshots, churn rate 0.300)");
    expect(html).not.toMatch(/20 customers/);
    expect(html).toContain("<th>examples</th>");
  });

  it("shows a decile's expected churners of a shared tie to two decimals, and its lift", () => {
    expect(html).toContain("<tr><td>1</td><td>2</td><td>0.60</td><td>0.300</td><td>1.00</td><td>0.100</td></tr>");
  });
});
