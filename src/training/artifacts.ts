// What `clickpipe train` writes under `out`: manifest.json, metrics.json, segments.json, report.html and one folder per model.
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileProblem } from "../config/file-problem.ts";
import type { BgNbdFit } from "./bgnbd.ts";
import type { Evaluation } from "./evaluation.ts";
import type { FeaturePlan } from "./features.ts";
import type { SegmentModel, SegmentProfile } from "./segmentation.ts";

export const MANIFEST_FILE = "manifest.json";
export const METRICS_FILE = "metrics.json";
export const SEGMENTS_FILE = "segments.json";
export const REPORT_FILE = "report.html";

/** metrics.json: every measure of each model and baseline on the validation examples. */
export interface MetricsFile {
  validation: { dates: string[]; examples: number; churnRate: number };
  /** Trained models; `bgnbd` scores BG/NBD's P(no purchase within the horizon). */
  models: Record<string, Evaluation>;
  /** Untrained scores: `recency` (days since the last purchase), `rfm` (minus R+F+M), `p_alive` (1 − BG/NBD P(alive)). */
  baselines: Record<string, Evaluation>;
  /** The model with the highest validation ROC AUC: the one `clickpipe score` uses. */
  best: string;
}

export interface Manifest {
  /** `<model>-<12 hex of a hash over weights, features and parameters>`: the same training gives the same version. */
  modelVersion: string;
  scoringModel: string;
  createdAt: string;
  features: string[];
  scaler: FeaturePlan;
  label: { rule: string; horizonDays: number; positive: "churned" };
  training: { featuresDir: string; dates: string[]; examples: number; churnRate: number };
  validation: { dates: string[]; examples: number; churnRate: number };
  seed: number;
  epochs: number;
  batchSize: number;
  backend: string;
  bgnbd: BgNbdFit & { timeUnit: "day"; fittedOn: string };
  /** Churn rate of training customers without purchases: their score under the bgnbd model. */
  noPurchaseChurnRate: number;
  /** Per model: where it is and how it was trained (tfjs models are folders with model.json + weights.bin). */
  models: Record<string, { path?: string; priorCorrection?: number; epochLosses?: number[] }>;
  segments: { file: string; method: string; k: number; profiles: SegmentProfile[] };
  metrics: Record<string, { auc: number; prAuc: number; logLoss: number }>;
  versions: Record<string, string>;
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, `${JSON.stringify(value, (_key, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`);
  await rename(temporary, path);
}

export class ModelMissingError extends Error {
  override name = "ModelMissingError";
}

export async function readManifest(out: string): Promise<Manifest> {
  const path = join(out, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") throw new ModelMissingError(`cannot read the trained model: ${fileProblem(path, error)}`);
    throw new ModelMissingError(`no trained model under ${out} (no ${MANIFEST_FILE} there): run \`clickpipe train <training.yaml>\` first`);
  }
  try {
    return JSON.parse(text) as Manifest;
  } catch {
    // Node's JSON error ("Unexpected end of JSON input") names neither the file nor what to do.
    throw new ModelMissingError(`${path}: cannot read it as JSON (a manifest cut short?): run \`clickpipe train <training.yaml>\` again`);
  }
}

export async function readSegmentModel(out: string): Promise<SegmentModel> {
  return JSON.parse(await readFile(join(out, SEGMENTS_FILE), "utf8")) as SegmentModel;
}
