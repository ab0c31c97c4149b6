// A training run: examples from snapshots, BG/NBD, logistic + MLP, segments, evaluation beside baselines, artifacts.
import { createHash } from "node:crypto";
import { access, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MANIFEST_FILE, METRICS_FILE, REPORT_FILE, SEGMENTS_FILE, writeJson, type Manifest, type MetricsFile } from "./artifacts.ts";
import { initBackend } from "./backend.ts";
import { baselineScores, BASELINE_NAMES, maxScore } from "./baselines.ts";
import { BgNbdInputError, boundWarning, fitBgNbd } from "./bgnbd.ts";
import { MODEL_NAMES, type TrainingConfig } from "./config.ts";
import { concatExamples, DatasetError, datesInRange, snapshotExamples, type Examples } from "./dataset.ts";
import { DAY_MS, addDays } from "./dates.ts";
import { evaluate, type Evaluation } from "./evaluation.ts";
import { addBgNbdColumns, bgnbdProbabilities, featureMatrix, fitFeaturePlan, MODEL_FEATURES, SEGMENT_FEATURES, type FeaturePlan } from "./features.ts";
import { directoryModelHandler, MODEL_FILE, WEIGHTS_FILE } from "./model-io.ts";
import { buildModel, predict, trainModel, type NeuralModelName } from "./neural-models.ts";
import { applyPlatt, fitPlatt, type PlattScaling } from "./platt.ts";
import { Progress, type ProgressStream } from "./progress.ts";
import { renderReport } from "./report.ts";
import { assignSegments, fitSegments, segmentProfiles } from "./segmentation.ts";
import { completeSnapshotDates } from "./snapshots.ts";
import { libraryVersions } from "./versions.ts";

export interface TrainingIo {
  /** Progress and notes (stderr). */
  log: ProgressStream;
}

export interface TrainingResult {
  metrics: MetricsFile;
  manifest: Manifest;
  out: string;
}

/** Examples of every complete snapshot in range whose label snapshot (D + horizon) is complete too. */
async function examplesFor(config: TrainingConfig, which: "train" | "validate", available: string[], io: TrainingIo): Promise<Examples> {
  const horizonDays = config.horizon / DAY_MS;
  const complete = new Set(available);
  const candidates = datesInRange(available, config[which]);
  const dates = candidates.filter((date) => complete.has(addDays(date, horizonDays)));
  for (const date of candidates) {
    if (!dates.includes(date)) io.log.write(`${which}: skipping snapshot ${date}: its label snapshot ${addDays(date, horizonDays)} is not complete\n`);
  }
  if (dates.length === 0) {
    throw new DatasetError(
      `${which}: no complete snapshot in ${config[which].from}..${config[which].to} with a complete label snapshot ${config.horizon / DAY_MS} days later under ${config.features}`,
    );
  }
  const progress = new Progress(`read ${which} snapshots`, io.log);
  const parts: Examples[] = [];
  for (const date of dates) {
    parts.push(await snapshotExamples(config.features, date, horizonDays, config.label));
    progress.update(parts.length, dates.length);
  }
  const examples = concatExamples(parts);
  // Before the label check, whose "none of the 0 examples churned … change the horizon or label" would mislead here.
  if (examples.size === 0) {
    throw new DatasetError(
      `${which}: the snapshots ${dates.join(", ")} under ${config.features} hold no customer with a label snapshot ${horizonDays} days later (0 examples): were there no customers yet? Choose later ${which} dates`,
    );
  }
  return examples;
}

/** Both labels must occur: one class teaches a model nothing, and validation AUC is undefined without both. */
function checkBothLabels(config: TrainingConfig, which: "train" | "validate", examples: Examples): void {
  const churned = examples.labels.reduce((sum, label) => sum + label, 0);
  if (churned > 0 && churned < examples.size) return;
  const every = churned === 0 ? "none" : "every one";
  throw new DatasetError(
    `${which}: ${every} of the ${examples.size} examples of ${[...new Set(examples.dates)].join(", ")} churned (label ${config.label}, horizon ${config.horizon / DAY_MS}d), so there is nothing to ${which === "train" ? "learn" : "rank"}: widen ${which}'s dates or change the horizon or label`,
  );
}

function churnRate(labels: Uint8Array): number {
  let sum = 0;
  for (const label of labels) sum += label;
  return labels.length > 0 ? sum / labels.length : 0;
}

/** BG/NBD fitted in days on the latest training snapshot's purchasers (x = frequency, tx = recency_days, T = t_days). */
function fitCalibration(examples: Examples): ReturnType<typeof fitBgNbd> & { fittedOn: string } {
  const latest = examples.dates.reduce((a, b) => (a > b ? a : b));
  const frequency: number[] = [];
  const recency: number[] = [];
  const age: number[] = [];
  for (let i = 0; i < examples.size; i++) {
    if (examples.dates[i] !== latest || Number.isNaN(examples.columns.frequency[i])) continue;
    frequency.push(examples.columns.frequency[i]);
    recency.push(examples.columns.recency_days[i]);
    age.push(examples.columns.t_days[i]);
  }
  if (frequency.length === 0) throw new DatasetError(`BG/NBD: no customer with purchases in training snapshot ${latest}`);
  try {
    return { ...fitBgNbd({ frequency, recency, age }), fittedOn: latest };
  } catch (error) {
    if (error instanceof BgNbdInputError) throw new DatasetError(`BG/NBD on training snapshot ${latest}: ${error.message} (train.to)`);
    throw error;
  }
}

/** Churn rate among training customers without purchases (the bgnbd model's score for them). */
function noPurchaseChurnRate(examples: Examples): number {
  let count = 0;
  let churned = 0;
  for (let i = 0; i < examples.size; i++) {
    if (!Number.isNaN(examples.columns.bgnbd_p_no_purchase[i])) continue;
    count++;
    churned += examples.labels[i];
  }
  return count > 0 ? churned / count : 1;
}

/**
 * A baseline is its fixed ranking (baselines.ts: higher = more likely to churn). Its ranking measures (ROC and PR AUC,
 * lift) come from that score; Platt scaling fitted on the training snapshot only turns it into probabilities for log
 * loss, Brier and calibration, with a slope of at least 0: an unconstrained fit may learn a negative slope (on CDNOW,
 * BG/NBD gives one-time buyers P(alive) = 1 and they churn most) and so report the reversed ranking's AUC under the
 * baseline's name. A baseline that ranks worse than chance then shows an AUC under 0.5, as it is.
 */
function baselineEvaluations(train: Examples, validation: Examples): Record<string, Evaluation> {
  const evaluations: Record<string, Evaluation> = {};
  for (const name of BASELINE_NAMES) {
    const trainScores = baselineScores(name, train.columns, train.size);
    const fallback = maxScore(trainScores);
    const scores = baselineScores(name, validation.columns, validation.size).map((score) => (Number.isNaN(score) ? fallback : score));
    const platt = nonDecreasing(fitPlatt(trainScores, train.labels), trainScores, train.labels);
    const calibrated = evaluate(applyPlatt(platt, scores, fallback), validation.labels);
    const { auc, prAuc, roc, lift } = evaluate(scores, validation.labels);
    evaluations[name] = { ...calibrated, auc, prAuc, roc, lift };
  }
  return evaluations;
}

/** The fit itself when its slope is at least 0; else slope 0 and the training churn rate (of scored examples) for all. */
function nonDecreasing(platt: PlattScaling, scores: ArrayLike<number>, labels: ArrayLike<number>): PlattScaling {
  if (platt.slope >= 0) return platt;
  let count = 0;
  let churned = 0;
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) continue;
    count++;
    churned += labels[i];
  }
  const rate = Math.min(Math.max(count > 0 ? churned / count : 0.5, 1e-6), 1 - 1e-6);
  return { slope: 0, intercept: Math.log(rate / (1 - rate)) };
}

async function modelVersionOf(out: string, scoringModel: string, plan: FeaturePlan, bgnbd: object): Promise<string> {
  const hash = createHash("sha256").update(JSON.stringify({ plan, bgnbd, scoringModel }));
  if (scoringModel !== "bgnbd") hash.update(await readFile(join(out, scoringModel, WEIGHTS_FILE)));
  return `${scoringModel}-${hash.digest("hex").slice(0, 12)}`;
}

export async function runTraining(config: TrainingConfig, io: TrainingIo): Promise<TrainingResult> {
  // First: without snapshots there is nothing to start a backend or make the out folder for.
  const available = await completeSnapshotDates(config.features);
  const backend = await initBackend();
  io.log.write(`tensorflow.js backend: ${backend}\n`);
  const horizonDays = config.horizon / DAY_MS;
  const out = resolve(config.out);
  await mkdir(out, { recursive: true });
  const train = await examplesFor(config, "train", available, io);
  const validation = await examplesFor(config, "validate", available, io);
  io.log.write(`examples: train ${train.size} (churn ${churnRate(train.labels).toFixed(3)}), validate ${validation.size} (churn ${churnRate(validation.labels).toFixed(3)})\n`);
  checkBothLabels(config, "train", train);
  checkBothLabels(config, "validate", validation);

  const bgnbd = fitCalibration(train);
  io.log.write(`bgnbd: r=${bgnbd.r.toFixed(4)} alpha=${bgnbd.alpha.toFixed(4)} a=${bgnbd.a.toFixed(4)} b=${bgnbd.b.toFixed(4)} loglik=${bgnbd.loglik.toFixed(1)}\n`);
  const warning = boundWarning(bgnbd);
  if (warning !== undefined) io.log.write(`bgnbd: warning: ${warning} (snapshot ${bgnbd.fittedOn})\n`);
  addBgNbdColumns(train.columns, train.size, bgnbd, horizonDays);
  addBgNbdColumns(validation.columns, validation.size, bgnbd, horizonDays);
  const fallback = noPurchaseChurnRate(train);

  const plan = fitFeaturePlan(train.columns, train.size, MODEL_FEATURES);
  const trainFeatures = Float32Array.from(featureMatrix(plan, train.columns, train.size, false).values);
  const validationFeatures = Float32Array.from(featureMatrix(plan, validation.columns, validation.size, false).values);

  const models: Record<string, Evaluation> = {};
  const modelInfo: Manifest["models"] = {};
  for (const name of config.models) {
    if (name === "bgnbd") {
      models.bgnbd = evaluate(bgnbdProbabilities(validation.columns, validation.size, fallback), validation.labels);
      modelInfo.bgnbd = {};
      continue;
    }
    const neural = name as NeuralModelName;
    const model = buildModel(neural, plan, config.seed);
    const progress = new Progress(`train ${neural}`, io.log);
    const summary = trainModel(model, trainFeatures, train.labels, {
      epochs: config.epochs,
      batchSize: config.batchSize,
      seed: config.seed,
      onBatch: (done, total) => progress.update(done, total),
    });
    const probabilities = predict(model, validationFeatures, validation.size);
    const nan = probabilities.reduce((count, p) => count + (Number.isNaN(p) ? 1 : 0), 0);
    if (nan > 0) {
      model.dispose();
      throw new Error(
        `${neural}: ${nan} of ${validation.size} validation probabilities are NaN, so training diverged (epoch losses ${summary.epochLosses.map((loss) => loss.toPrecision(3)).join(", ")}): try fewer epochs, a larger batchSize or another seed`,
      );
    }
    models[neural] = evaluate(probabilities, validation.labels);
    await model.save(directoryModelHandler(join(out, neural)));
    model.dispose();
    modelInfo[neural] = { path: `${neural}/${MODEL_FILE}`, priorCorrection: summary.priorCorrection, epochLosses: summary.epochLosses };
  }
  const best = Object.entries(models).reduce((a, b) => (b[1].auc > a[1].auc ? b : a))[0];

  const segmentation = fitSegments(train.columns, train.size, { method: config.segments.method, k: config.segments.k, seed: config.seed });
  const validationSegments = assignSegments(segmentation, validation.columns, validation.size);
  const profiles = segmentProfiles(segmentation, validationSegments, validation.columns, validation.labels, SEGMENT_FEATURES);
  await writeJson(join(out, SEGMENTS_FILE), segmentation);

  const validationSummary = { dates: [...new Set(validation.dates)], examples: validation.size, churnRate: churnRate(validation.labels) };
  const metrics: MetricsFile = { validation: validationSummary, models, baselines: baselineEvaluations(train, validation), best };
  const manifest: Manifest = {
    modelVersion: await modelVersionOf(out, best, plan, bgnbd),
    scoringModel: best,
    createdAt: new Date().toISOString(),
    features: plan.names,
    scaler: plan,
    label: { rule: config.label, horizonDays, positive: "churned" },
    training: { featuresDir: resolve(config.features), dates: [...new Set(train.dates)], examples: train.size, churnRate: churnRate(train.labels) },
    validation: validationSummary,
    seed: config.seed,
    epochs: config.epochs,
    batchSize: config.batchSize,
    backend,
    bgnbd: { ...bgnbd, timeUnit: "day" },
    noPurchaseChurnRate: fallback,
    models: modelInfo,
    segments: { file: SEGMENTS_FILE, method: segmentation.method, k: segmentation.k, profiles },
    metrics: Object.fromEntries(Object.entries(models).map(([name, e]) => [name, { auc: e.auc, prAuc: e.prAuc, logLoss: e.logLoss }])),
    versions: libraryVersions(backend),
  };
  await writeJson(join(out, METRICS_FILE), metrics);
  await writeJson(join(out, MANIFEST_FILE), manifest);
  await writeFile(join(out, REPORT_FILE), renderReport(metrics, manifest));
  await removeUntrainedModelFolders(out, config.models);
  return { metrics, manifest, out };
}

/**
 * A retraining with fewer models leaves the others' folders from before, which the new manifest no longer names;
 * they go once the manifest is written. Only folders named after a model and holding its model.json are touched.
 */
async function removeUntrainedModelFolders(out: string, trained: readonly string[]): Promise<void> {
  for (const name of MODEL_NAMES) {
    if (trained.includes(name)) continue;
    const folder = join(out, name);
    const hasModel = await access(join(folder, MODEL_FILE)).then(
      () => true,
      () => false,
    );
    if (hasModel) await rm(folder, { recursive: true, force: true });
  }
}
