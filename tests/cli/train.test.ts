// `clickpipe train` on CDNOW snapshots built by churnFeatures: models beside baselines, checked with DuckDB SQL.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTrain } from "../../src/cli/train.ts";
import type { Manifest, MetricsFile } from "../../src/training/artifacts.ts";
import { directoryModelHandler } from "../../src/training/model-io.ts";
import { writeCdnowSnapshots } from "../training/cdnow-snapshots.ts";
import { CapturedIo } from "../training/capture-io.ts";
import { REPO_ROOT } from "../helpers/cli.ts";
import { featureRow, writeSnapshots } from "../training/snapshot-fixtures.ts";

function trainingYaml(features: string, out: string, extra = ""): string {
  return `features: ${features}
train: { from: 1997-06-30, to: 1997-06-30 }
validate: { from: 1997-09-30, to: 1997-09-30 }
horizon: 90d
label: noPurchase
models: [logistic, mlp, bgnbd]
segments: { method: kmeans, k: 5 }
out: ${out}
seed: 42
${extra}`;
}

/**
 * A baseline's AUC on the validation examples by SQL, its score an expression over the 1997-09-30 snapshot `d` (every
 * CDNOW customer has bought, so none is null): labels from the 1997-12-29 snapshot, AUC as ordered pairs, ties ½.
 */
async function duckdbBaselineAuc(features: string, score: string): Promise<{ auc: number; examples: number; churned: number }> {
  const connection = await (await DuckDBInstance.create(":memory:")).connect();
  const reader = (date: string) => `read_parquet('${features}/snapshot_date=${date}/*.parquet')`;
  const rows = await connection.runAndReadAll(`
    WITH examples AS (
      SELECT ${score} AS score, CASE WHEN l.orders_total > d.orders_total THEN 0 ELSE 1 END AS churned
      FROM ${reader("1997-09-30")} d JOIN ${reader("1997-12-29")} l USING (customer_id)),
    pairs AS (
      SELECT sum(CASE WHEN p.score > n.score THEN 1.0 WHEN p.score = n.score THEN 0.5 ELSE 0 END) AS ordered
      FROM examples p, examples n WHERE p.churned = 1 AND n.churned = 0)
    SELECT (SELECT ordered FROM pairs) / ((SELECT count(*) FROM examples WHERE churned = 1) * (SELECT count(*) FROM examples WHERE churned = 0)) AS auc,
           (SELECT count(*) FROM examples) AS examples, (SELECT sum(churned) FROM examples) AS churned`);
  const [auc, examples, churned] = rows.getRows()[0];
  connection.closeSync();
  return { auc: Number(auc), examples: Number(examples), churned: Number(churned) };
}

describe("clickpipe train - CDNOW (train 1997-06-30, validate 1997-09-30, horizon 90d)", () => {
  let lake: string;
  let features: string;
  let out: string;
  let io: CapturedIo;
  let code: number;
  let metrics: MetricsFile;
  let manifest: Manifest;

  beforeAll(async () => {
    lake = mkdtempSync(join(tmpdir(), "clickpipe-train-"));
    features = await writeCdnowSnapshots(lake, ["1997-06-30", "1997-09-28", "1997-09-30", "1997-12-29"]);
    out = join(lake, "models", "churn");
    writeFileSync(join(lake, "training.yaml"), trainingYaml(features, out));
    io = new CapturedIo();
    code = await runTrain([join(lake, "training.yaml")], io);
    metrics = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8")) as MetricsFile;
    manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as Manifest;
  }, 120_000);

  afterAll(() => {
    if (lake) rmSync(lake, { recursive: true, force: true });
  });

  it("exits 0, prints the backend in use and progress with an ETA", () => {
    expect(code).toBe(0);
    expect(io.err).toMatch(/tensorflow\.js backend: (wasm|cpu|tensorflow)/);
    expect(io.err).toMatch(/train mlp: \d+% \(\d+\/\d+\) elapsed \d+s (ETA \d+s|done)/);
  });

  it("evaluates every model beside the recency, RFM and BG/NBD baselines", () => {
    expect(Object.keys(metrics.models).sort()).toEqual(["bgnbd", "logistic", "mlp"]);
    expect(Object.keys(metrics.baselines).sort()).toEqual(["p_alive", "recency", "rfm"]);
    for (const [name, evaluation] of [...Object.entries(metrics.models), ...Object.entries(metrics.baselines)]) {
      // p_alive ranks churners low on CDNOW (its AUC, under ½, is checked against SQL below).
      if (name !== "p_alive") expect(evaluation.auc).toBeGreaterThan(0.5);
      expect(evaluation.prAuc).toBeGreaterThan(0);
      expect(evaluation.logLoss).toBeGreaterThan(0);
      expect(evaluation.lift).toHaveLength(10);
      expect(evaluation.lift[9].cumulativeGain).toBeCloseTo(1, 12);
      expect(evaluation.calibration.reduce((sum, bin) => sum + bin.count, 0)).toBe(2357);
    }
  });

  it("the validation labels and the recency, RFM and P(alive) baselines' AUC equal DuckDB SQL over the same snapshots", async () => {
    const oracle = await duckdbBaselineAuc(features, "d.days_since_last_purchase");
    expect(oracle.examples).toBe(2357);
    expect(metrics.validation.examples).toBe(oracle.examples);
    expect(metrics.validation.churnRate).toBeCloseTo(oracle.churned / oracle.examples, 12);
    expect(metrics.baselines.recency.auc).toBeCloseTo(oracle.auc, 10);
    // RFM: the lower the sum of the three quintile scores, the likelier churn.
    const rfm = await duckdbBaselineAuc(features, "-(d.rfm_r + d.rfm_f + d.rfm_m)");
    expect(metrics.baselines.rfm.auc).toBeCloseTo(rfm.auc, 10);
    // p_alive: 1 − P(alive) by FHL eq. 11 at the manifest's fitted parameters, written out in SQL (1 without repeats).
    // On CDNOW it ranks churners low (AUC < ½): BG/NBD holds one-time buyers alive (P = 1), and they churn most. The
    // baseline reports its own ranking's AUC, not the reversed one an unconstrained Platt fit (negative slope) gave.
    const { r, alpha, a, b } = manifest.bgnbd;
    const pAlive = `CASE WHEN d.frequency = 0 THEN 1 ELSE 1 / (1 + ${a} / (${b} + d.frequency - 1) * pow((${alpha} + d.t_days) / (${alpha} + d.recency_days), ${r} + d.frequency)) END`;
    const dead = await duckdbBaselineAuc(features, `1 - ${pAlive}`);
    expect(dead.auc).toBeLessThan(0.5);
    expect(metrics.baselines.p_alive.auc).toBeCloseTo(dead.auc, 6);
    // Its probabilities: Platt's slope held at 0, so every customer gets one probability (the training churn rate).
    const filled = metrics.baselines.p_alive.calibration.filter((bin) => bin.count > 0);
    expect(filled.map((bin) => bin.count)).toEqual([oracle.examples]);
  });

  it("the best model beats recency-only on AUC, and score uses it", () => {
    const best = Math.max(...Object.values(metrics.models).map((e) => e.auc));
    expect(best).toBeGreaterThan(metrics.baselines.recency.auc);
    expect(metrics.models[metrics.best].auc).toBe(best);
    expect(manifest.scoringModel).toBe(metrics.best);
    expect(manifest.modelVersion).toMatch(new RegExp(`^${metrics.best}-[0-9a-f]{12}$`));
  });

  it("fits BG/NBD on the training snapshot and records features, scaler, windows and versions in the manifest", () => {
    expect(manifest.bgnbd).toMatchObject({ fittedOn: "1997-06-30", timeUnit: "day", customers: 2357 });
    expect(manifest.features).toContain("bgnbd_p_alive");
    expect(manifest.features).not.toContain("sessions_30d"); // CDNOW has no sessions: all null, left out
    expect(manifest.scaler.names).toEqual(manifest.features);
    expect(manifest.training).toMatchObject({ dates: ["1997-06-30"], examples: 2357 });
    expect(manifest.validation.dates).toEqual(["1997-09-30"]);
    expect(manifest.label).toEqual({ rule: "noPurchase", horizonDays: 90, positive: "churned" });
    expect(manifest.versions["tfjs-core"]).toBe(tf.version.tfjs);
  });

  it("saves each network as model.json + weights.bin with the standardization inside the model", async () => {
    for (const name of ["logistic", "mlp"]) {
      expect(existsSync(join(out, name, "model.json"))).toBe(true);
      expect(existsSync(join(out, name, "weights.bin"))).toBe(true);
    }
    const model = await tf.loadLayersModel(directoryModelHandler(join(out, "logistic")));
    const [kernel, bias] = model.getLayer("standardize").getWeights();
    const width = manifest.features.length;
    const diagonal = Array.from(kernel.dataSync()).filter((_, i) => i % (width + 1) === 0);
    diagonal.forEach((value, j) => expect(value).toBeCloseTo(1 / manifest.scaler.std[j], 4));
    Array.from(bias.dataSync()).forEach((value, j) => expect(value).toBeCloseTo(-manifest.scaler.mean[j] / manifest.scaler.std[j], 4));
    model.dispose();
  });

  it("writes a self-contained report.html: each model and baseline, ROC, lift, calibration and segment plots", () => {
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).not.toMatch(/<script|<link|src=/i);
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(6);
    for (const title of ["ROC", "Decile lift", "Cumulative gains", "Calibration", "Segment sizes", "Churn rate by segment"]) expect(html).toContain(`<title>${title}</title>`);
    for (const name of ["logistic", "mlp", "bgnbd", "baseline: recency", "baseline: rfm", "baseline: p_alive"]) expect(html).toContain(`<td>${name}</td>`);
  });

  it("profiles k = 5 segments covering every validation customer", () => {
    expect(manifest.segments.profiles).toHaveLength(5);
    expect(manifest.segments.profiles.reduce((sum, p) => sum + p.size, 0)).toBe(2357);
  });

  it("is reproducible by seed: a second run gives the same model version and metrics", async () => {
    const again = join(lake, "models", "again");
    writeFileSync(join(lake, "again.yaml"), trainingYaml(features, again));
    expect(await runTrain([join(lake, "again.yaml")], new CapturedIo())).toBe(0);
    const second = JSON.parse(readFileSync(join(again, "manifest.json"), "utf8")) as Manifest;
    expect(second.modelVersion).toBe(manifest.modelVersion);
    expect(second.metrics).toEqual(manifest.metrics);
  }, 60_000);

  it("retraining with fewer models removes the dropped model's folder and leaves other folders alone", async () => {
    const again = join(lake, "models", "again");
    expect(existsSync(join(again, "mlp", "model.json"))).toBe(true);
    mkdirSync(join(again, "notes"), { recursive: true });
    writeFileSync(join(lake, "fewer.yaml"), trainingYaml(features, again).replace("models: [logistic, mlp, bgnbd]", "models: [logistic, bgnbd]"));
    expect(await runTrain([join(lake, "fewer.yaml")], new CapturedIo())).toBe(0);
    const fewer = JSON.parse(readFileSync(join(again, "manifest.json"), "utf8")) as Manifest;
    expect(Object.keys(fewer.models).sort()).toEqual(["bgnbd", "logistic"]);
    expect(readdirSync(again).sort()).toEqual(["logistic", "manifest.json", "metrics.json", "notes", "report.html", "segments.json"]);
  }, 60_000);

  it("an invalid training file exits 1 with the key's path and line", async () => {
    writeFileSync(join(lake, "bad.yaml"), trainingYaml(features, out).replace("horizon: 90d", "horizon: 90 days"));
    const bad = new CapturedIo();
    expect(await runTrain([join(lake, "bad.yaml")], bad)).toBe(1);
    expect(bad.err).toMatch(/^horizon \(.*bad\.yaml:4:1\): expected a duration like "30m"/m);
  });

  it("a training range without snapshots exits 1 saying what is missing", async () => {
    writeFileSync(join(lake, "empty.yaml"), trainingYaml(features, out).replace("train: { from: 1997-06-30, to: 1997-06-30 }", "train: { from: 1997-01-01, to: 1997-01-31 }"));
    const empty = new CapturedIo();
    expect(await runTrain([join(lake, "empty.yaml")], empty)).toBe(1);
    expect(empty.err).toMatch(/train: no complete snapshot in 1997-01-01\.\.1997-01-31/);
  });
});

describe("clickpipe train - labels of one class", () => {
  const TRAIN_DAY = "2026-01-10";
  const VALIDATE_DAY = "2026-02-01";
  const plus14 = (date: string) => new Date(Date.parse(date) + 14 * 86_400_000).toISOString().slice(0, 10);

  /** 100 buyers at `date`; at D + 14d those for whom `buysAgain(i)` have one more order (not churned, noPurchase). */
  function rows(date: string, buysAgain: (i: number) => boolean) {
    return Array.from({ length: 100 }, (_, i) => {
      const orders = 1 + (i % 3);
      const purchases = (total: number) => ({ orders_total: total, frequency: total - 1, recency_days: total > 1 ? 5 : 0, days_since_last_purchase: 5 + (i % 17) });
      return [featureRow(`c${i}`, date, purchases(orders)), featureRow(`c${i}`, plus14(date), purchases(orders + (buysAgain(i) ? 1 : 0)))];
    }).flat();
  }

  async function train(name: string, trainBuysAgain: (i: number) => boolean, validateBuysAgain: (i: number) => boolean) {
    const lake = mkdtempSync(join(tmpdir(), `clickpipe-train-${name}-`));
    try {
      const days = [TRAIN_DAY, plus14(TRAIN_DAY), VALIDATE_DAY, plus14(VALIDATE_DAY)];
      const features = await writeSnapshots(lake, [...rows(TRAIN_DAY, trainBuysAgain), ...rows(VALIDATE_DAY, validateBuysAgain)], days);
      writeFileSync(
        join(lake, "training.yaml"),
        `features: ${features}\ntrain: { from: ${TRAIN_DAY}, to: ${TRAIN_DAY} }\nvalidate: { from: ${VALIDATE_DAY}, to: ${VALIDATE_DAY} }\nhorizon: 14d\nmodels: [logistic, bgnbd]\nout: ${join(lake, "models")}\nepochs: 5\n`,
      );
      const io = new CapturedIo();
      const code = await runTrain([join(lake, "training.yaml")], io);
      const wroteModel = existsSync(join(lake, "models", "manifest.json"));
      return { code, io, wroteModel };
    } finally {
      rmSync(lake, { recursive: true, force: true });
    }
  }

  it("refuses training examples that all churned (nothing to learn) instead of writing a model", async () => {
    const { code, io, wroteModel } = await train("all-churned", () => false, (i) => i % 2 === 0);
    expect(code).toBe(1);
    expect(io.err).toContain(
      `clickpipe train: train: every one of the 100 examples of ${TRAIN_DAY} churned (label noPurchase, horizon 14d), so there is nothing to learn`,
    );
    expect(wroteModel).toBe(false);
  });

  it("names empty training snapshots (no customers) rather than a label of one class among 0 examples", async () => {
    const lake = mkdtempSync(join(tmpdir(), "clickpipe-train-empty-snapshots-"));
    try {
      // Train snapshots complete but without rows (nothing bought yet); validation snapshots as usual.
      const days = [TRAIN_DAY, plus14(TRAIN_DAY), VALIDATE_DAY, plus14(VALIDATE_DAY)];
      const features = await writeSnapshots(lake, rows(VALIDATE_DAY, (i) => i % 2 === 0), days);
      writeFileSync(
        join(lake, "training.yaml"),
        `features: ${features}\ntrain: { from: ${TRAIN_DAY}, to: ${TRAIN_DAY} }\nvalidate: { from: ${VALIDATE_DAY}, to: ${VALIDATE_DAY} }\nhorizon: 14d\nmodels: [logistic]\nout: ${join(lake, "models")}\nepochs: 1\n`,
      );
      const io = new CapturedIo();
      expect(await runTrain([join(lake, "training.yaml")], io)).toBe(1);
      expect(io.err).toContain(
        `clickpipe train: train: the snapshots ${TRAIN_DAY} under ${features} hold no customer with a label snapshot 14 days later (0 examples): were there no customers yet? Choose later train dates`,
      );
      expect(io.err).not.toContain("churned");
      expect(existsSync(join(lake, "models", "manifest.json"))).toBe(false);
    } finally {
      rmSync(lake, { recursive: true, force: true });
    }
  });

  it("refuses validation examples none of which churned (AUC undefined: the best model would be picked at random)", async () => {
    const { code, io, wroteModel } = await train("none-churned", (i) => i % 2 === 0, () => true);
    expect(code).toBe(1);
    expect(io.err).toContain(`clickpipe train: validate: none of the 100 examples of ${VALIDATE_DAY} churned (label noPurchase, horizon 14d), so there is nothing to rank`);
    expect(wroteModel).toBe(false);
  });
});

describe("clickpipe train - before the pipeline that writes customer_features has run", () => {
  it("names the missing features folder and the README's commands that make it, and starts nothing", async () => {
    const directory = mkdtempSync(join(tmpdir(), "clickpipe-train-nofeatures-"));
    try {
      const features = join(directory, "shop", "customer_features");
      const out = join(directory, "models");
      writeFileSync(join(directory, "churn.yaml"), trainingYaml(features, out));
      const io = new CapturedIo();
      expect(await runTrain([join(directory, "churn.yaml")], io)).toBe(1);
      expect(io.err).toBe(
        `clickpipe train: no features folder ${features}: a pipeline with a churnFeatures operator writes it (customer_features under ` +
          `its parquet sink's path) when it runs. To make the example's, publish the CDNOW transactions and drain pipelines/shop.yaml ` +
          `(README.md, "Customers: churn features, training and scores"):\n` +
          "  npx clickpipe publish tests/fixtures/cdnow/CDNOW_master.txt --pipeline pipelines/shop.yaml \\\n" +
          "    --format csv --delimiter whitespace --map 'type=purchase,user_id=$1,ts=$2:yyyymmdd,qty=$3,revenue=$4' --sort-by-time\n" +
          "  npx clickpipe run pipelines/shop.yaml --drain\n" +
          "For a pipeline of your own, give its parquet sink's path + /customer_features.\n",
      );
      // The commands are the README's, indented.
      const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
      const commands = io.err.split("\n").slice(1, 4).map((line) => line.replace(/^ {2}/, ""));
      expect(readme).toContain(commands.join("\n"));
      expect(io.out).toBe("");
      // Checked before the backend starts and the out folder is made.
      expect(existsSync(out)).toBe(false);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
