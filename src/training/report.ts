// report.html: one self-contained page (inline SVG, no scripts) with metrics, ROC, lift, gains, calibration and segments.
import type { MetricsFile, Manifest } from "./artifacts.ts";
import type { Evaluation } from "./evaluation.ts";
import { barChart, escapeXml, lineChart, type Series } from "./svg-plots.ts";

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:16px}
.best{font-weight:bold}caption{text-align:left;font-weight:bold;padding:4px 0}`;

type Entry = { name: string; kind: "model" | "baseline"; evaluation: Evaluation };

const number = (value: number | null | undefined, digits = 4) => (value === null || value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits));

function entries(metrics: MetricsFile): Entry[] {
  return [
    ...Object.entries(metrics.models).map(([name, evaluation]) => ({ name, kind: "model" as const, evaluation })),
    ...Object.entries(metrics.baselines).map(([name, evaluation]) => ({ name: `baseline: ${name}`, kind: "baseline" as const, evaluation })),
  ];
}

function metricsTable(metrics: MetricsFile): string {
  const rows = entries(metrics).map(({ name, kind, evaluation: e }) => {
    const best = kind === "model" && name === metrics.best ? ` class="best"` : "";
    return `<tr${best}><td>${escapeXml(name)}</td><td>${number(e.auc)}</td><td>${number(e.prAuc)}</td><td>${number(e.logLoss)}</td><td>${number(e.brier)}</td><td>${number(e.lift[0]?.lift, 2)}</td></tr>`;
  });
  // A customer is one example per validation snapshot, so several snapshots hold more examples than customers.
  const snapshots = metrics.validation.dates.length;
  return `<table><caption>Validation (${metrics.validation.examples} examples of ${snapshots} snapshot${snapshots === 1 ? "" : "s"}, churn rate ${number(metrics.validation.churnRate, 3)})</caption>
<tr><th>model</th><th>ROC AUC</th><th>PR AUC</th><th>log loss</th><th>Brier</th><th>top-decile lift</th></tr>${rows.join("")}</table>`;
}

function plots(metrics: MetricsFile): string {
  const all = entries(metrics);
  const dashed = (entry: Entry) => entry.kind === "baseline";
  const roc: Series[] = all.map((e) => ({ name: e.name, dashed: dashed(e), points: e.evaluation.roc.map((p) => ({ x: p.fpr, y: p.tpr })) }));
  const lift: Series[] = all.map((e) => ({ name: e.name, dashed: dashed(e), points: e.evaluation.lift.map((row) => ({ x: row.decile, y: row.lift })) }));
  const gains: Series[] = all.map((e) => ({
    name: e.name,
    dashed: dashed(e),
    points: [{ x: 0, y: 0 }, ...e.evaluation.lift.map((row) => ({ x: row.decile * 10, y: row.cumulativeGain }))],
  }));
  const calibration: Series[] = all.map((e) => ({
    name: e.name,
    dashed: dashed(e),
    points: e.evaluation.calibration.map((bin) => ({ x: bin.meanPredicted, y: bin.observedRate })),
  }));
  return `<div class="plots">
${lineChart(roc, { title: "ROC", xLabel: "false positive rate", yLabel: "true positive rate", xMax: 1, yMax: 1, diagonal: true })}
${lineChart(lift, { title: "Decile lift", xLabel: "decile (1 = highest scores)", yLabel: "lift", xMax: 10, markers: true })}
${lineChart(gains, { title: "Cumulative gains", xLabel: "% of customers contacted", yLabel: "share of churners found", xMax: 100, yMax: 1, markers: true })}
${lineChart(calibration, { title: "Calibration", xLabel: "mean predicted churn", yLabel: "observed churn rate", xMax: 1, yMax: 1, diagonal: true, markers: true })}
</div>`;
}

function liftTables(metrics: MetricsFile): string {
  return entries(metrics)
    .map(({ name, evaluation }) => {
      const rows = evaluation.lift.map(
        (row) => `<tr><td>${row.decile}</td><td>${row.count}</td><td>${Number.isInteger(row.positives) ? row.positives : number(row.positives, 2)}</td><td>${number(row.rate, 3)}</td><td>${number(row.lift, 2)}</td><td>${number(row.cumulativeGain, 3)}</td></tr>`,
      );
      return `<table><caption>${escapeXml(name)}: deciles</caption><tr><th>decile</th><th>examples</th><th>churned</th><th>rate</th><th>lift</th><th>cumulative gain</th></tr>${rows.join("")}</table>`;
    })
    .join("\n");
}

function calibrationTables(metrics: MetricsFile): string {
  return entries(metrics)
    .map(({ name, evaluation }) => {
      const rows = evaluation.calibration.map(
        (bin) => `<tr><td>${number(bin.lower, 1)}–${number(bin.upper, 1)}</td><td>${bin.count}</td><td>${number(bin.meanPredicted, 3)}</td><td>${number(bin.observedRate, 3)}</td></tr>`,
      );
      return `<table><caption>${escapeXml(name)}: calibration</caption><tr><th>predicted</th><th>examples</th><th>mean predicted</th><th>observed</th></tr>${rows.join("")}</table>`;
    })
    .join("\n");
}

function segmentSection(manifest: Manifest): string {
  const { profiles, method, k } = manifest.segments;
  const columns = Object.keys(profiles[0]?.means ?? {});
  const header = `<tr><th>segment</th><th>examples</th><th>share</th><th>churn rate</th>${columns.map((c) => `<th>${escapeXml(c)}</th>`).join("")}</tr>`;
  const rows = profiles.map(
    (p) =>
      `<tr><td>${p.segment}</td><td>${p.size}</td><td>${number(p.share, 3)}</td><td>${number(p.churnRate, 3)}</td>${columns.map((c) => `<td>${number(p.means[c], 2)}</td>`).join("")}</tr>`,
  );
  const sizes = barChart(profiles.map((p) => ({ label: `segment ${p.segment}`, value: p.size })), { title: "Segment sizes", format: (v) => String(v) });
  const churn = barChart(profiles.map((p) => ({ label: `segment ${p.segment}`, value: p.churnRate })), { title: "Churn rate by segment", format: (v) => `${(v * 100).toFixed(1)}%` });
  return `<h2>Segments (${escapeXml(method)}, k = ${k}, profiled on the validation examples)</h2>
<div class="plots">${sizes}${churn}</div>
<table>${header}${rows.join("")}</table>`;
}

export function renderReport(metrics: MetricsFile, manifest: Manifest): string {
  const { bgnbd } = manifest;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>clickpipe churn model ${escapeXml(manifest.modelVersion)}</title><style>${STYLE}</style></head>
<body>
<h1>Churn model ${escapeXml(manifest.modelVersion)}</h1>
<p>Label: <b>${escapeXml(manifest.label.rule)}</b> within ${manifest.label.horizonDays} days after each snapshot.
Training snapshots ${escapeXml(manifest.training.dates.join(", "))} (${manifest.training.examples} examples, churn rate ${number(manifest.training.churnRate, 3)});
validation snapshots ${escapeXml(manifest.validation.dates.join(", "))}. Backend: ${escapeXml(manifest.backend)}, seed ${manifest.seed}.
Scoring model: <b>${escapeXml(manifest.scoringModel)}</b> (highest validation ROC AUC).</p>
<p>Baselines (dashed) are one-input scores, higher = likelier churn, ranked as they are (ROC, PR AUC, lift; under 0.5
when a score ranks churners low) and turned into probabilities by Platt scaling fitted on the training examples, its
slope at least 0 (log loss, Brier, calibration): recency = days since the last purchase, rfm = −(R + F + M quintiles),
p_alive = 1 − BG/NBD P(alive).
The bgnbd model scores BG/NBD's P(no purchase within the horizon) instead.</p>
${metricsTable(metrics)}
${plots(metrics)}
<h2>BG/NBD (fitted on ${escapeXml(bgnbd.fittedOn)}, time unit: day)</h2>
<p>r = ${number(bgnbd.r)}, α = ${number(bgnbd.alpha)}, a = ${number(bgnbd.a)}, b = ${number(bgnbd.b)}, log-likelihood ${number(bgnbd.loglik, 1)} over ${bgnbd.customers} customers.</p>
${segmentSection(manifest)}
<h2>Lift and cumulative gains</h2>
${liftTables(metrics)}
<h2>Calibration</h2>
${calibrationTables(metrics)}
<h2>Features</h2>
<p>${manifest.features.map(escapeXml).join(", ")}</p>
</body></html>
`;
}
