// The training file (`clickpipe train <training.yaml>`): zod schema with strict keys, loaded with errors located in the file.
import { readFile } from "node:fs/promises";
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { duration } from "../config/duration.ts";
import { emptiedWarnings } from "../config/emptied-warnings.ts";
import { expandDocument, type EmptiedReference, type Environment } from "../config/env.ts";
import { formatConfigError, formatConfigWarning, type ConfigError } from "../config/errors.ts";
import { fileProblem } from "../config/file-problem.ts";
import { issueToErrors, unnamedKeyError } from "../config/issues.ts";
import { takeUnnamedKeys } from "../config/unnamed-keys.ts";
import { linePos, locate } from "../config/yaml-positions.ts";
import { addDays, DAY_MS, parseDay } from "./dates.ts";

const day = z
  .string()
  .refine((text) => parseDay(text) !== undefined, { message: 'expected a date like "1997-06-30" (YYYY-MM-DD)' })
  .describe("A snapshot date, YYYY-MM-DD (UTC day).");

const dateRange = z
  .strictObject({ from: day, to: day })
  .refine((range) => range.from <= range.to, { message: "from must not be after to", path: ["to"] })
  .describe("Snapshot dates from..to, both included; each snapshot in range with `_SUCCESS` gives examples.");

export const MODEL_NAMES = ["logistic", "mlp", "bgnbd"] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export const trainingSchema = z
  .strictObject({
    features: z.string().min(1).describe("The customer_features table folder (holds snapshot_date=YYYY-MM-DD/)."),
    train: dateRange,
    validate: dateRange,
    horizon: duration()
      .refine((ms) => ms > 0 && ms % DAY_MS === 0, 'expected whole days like "90d"')
      .describe("Label window after each snapshot D: churned when nothing happens in (D, D + horizon]."),
    label: z.enum(["noPurchase", "noSession"]).default("noPurchase").describe("noPurchase: orders_total did not grow; noSession: no session."),
    models: z
      .array(z.enum(MODEL_NAMES))
      .min(1)
      .refine((names) => new Set(names).size === names.length, "each model at most once")
      .default(["logistic", "mlp", "bgnbd"])
      .describe("Models to train and compare: logistic, mlp, bgnbd."),
    segments: z
      .strictObject({
        method: z.enum(["kmeans", "fcm"]).default("kmeans").describe("kmeans, or fcm (fuzzy c-means)."),
        k: z.int().min(2).max(50).default(5).describe("Number of segments."),
      })
      .prefault({})
      .describe("Customer segmentation on RFM and behaviour."),
    out: z.string().min(1).describe("Folder for the model, manifest, metrics.json and report.html."),
    scores: z.string().min(1).optional().describe("Root for the scores table (default: the features folder's parent)."),
    seed: z.int().default(42).describe("Seed for initialisation, shuffles and segmentation."),
    epochs: z.int().min(1).max(10_000).default(40).describe("Training epochs of the logistic and MLP models."),
    batchSize: z.int().min(1).default(256).describe("Mini-batch size."),
  })
  .superRefine((config, ctx) => {
    // Refinements do not stop parsing: skip this cross-key check when its inputs are already reported invalid.
    if (parseDay(config.train.to) === undefined || parseDay(config.validate.from) === undefined || config.horizon % DAY_MS !== 0) return;
    const labelsEnd = addDays(config.train.to, config.horizon / DAY_MS);
    if (config.validate.from <= labelsEnd) {
      ctx.addIssue({
        code: "custom",
        path: ["validate", "from"],
        message: `validation snapshots must come after the training label windows, which end ${labelsEnd} (train.to + horizon)`,
        params: { hint: `Move validate.from after ${labelsEnd}, or train.to earlier.` },
      });
    }
  })
  .describe("A churn training run.");

export type TrainingConfig = z.output<typeof trainingSchema>;

export class TrainingConfigError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join("\n"));
    this.name = "TrainingConfigError";
  }
}

/** Where a training file's warnings go, one line each (a key left out because its variable is set but empty). */
export type TrainingConfigWarn = (line: string) => void;

/**
 * Validates training YAML text; `fileName` only names the file in messages. Its warnings go to `warn`, before an
 * error is thrown, as the pipeline loader gives them.
 */
export function parseTrainingText(text: string, fileName: string, env: Environment = process.env, warn: TrainingConfigWarn = () => {}): TrainingConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const fail = (errors: ConfigError[]) => new TrainingConfigError(errors.map((error) => formatConfigError(error, fileName)));
  if (doc.errors.length > 0) {
    throw fail(doc.errors.map((error) => ({ path: "", ...linePos(lineCounter, error.pos[0]), message: `YAML syntax: ${error.message}` })));
  }
  if (!isMap(doc.contents)) throw fail([{ path: "", message: "holds no training mapping", hint: "Start with `features:`, `train:`, `validate:`, `horizon:` and `out:`." }]);
  // A pipeline file (operators:, nats:, and none of a training file's keys): listing its keys as unknown would not say that.
  const keys = new Set(doc.contents.items.map((pair) => (isScalar(pair.key) ? String(pair.key.value) : "")));
  if ((keys.has("operators") || keys.has("nats")) && !["features", "train", "models"].some((key) => keys.has(key))) {
    throw fail([
      {
        path: "",
        message: "this is a pipeline file (clickpipe run/validate read it), not a training file",
        hint: "A training file has features:, train:, validate:, horizon: and out: (pipelines/training/churn.yaml is an example).",
      },
    ]);
  }
  // As the pipeline loader reads them: keys that are no plain name are errors at their line, and a key a set-but-empty
  // variable left out is warned of.
  const unnamed = takeUnnamedKeys(doc, lineCounter, text);
  const emptied: EmptiedReference[] = [];
  const variableErrors = expandDocument(doc, lineCounter, env, { emptied });
  const input: unknown = doc.toJS();
  const parsed = trainingSchema.safeParse(input);
  const context = { schema: trainingSchema, input, locate: (path: readonly PropertyKey[]) => locate(doc, lineCounter, path) };
  const errors = [
    ...unnamed.map((key) => unnamedKeyError(key, context)),
    ...variableErrors,
    ...(parsed.success ? [] : parsed.error.issues.flatMap((issue) => issueToErrors(issue, context))),
  ];
  for (const warning of emptiedWarnings(emptied, trainingSchema, input, errors)) warn(formatConfigWarning(warning, fileName));
  if (errors.length > 0 || !parsed.success) throw fail(errors);
  return parsed.data;
}

export async function loadTrainingConfig(path: string, env: Environment = process.env, warn?: TrainingConfigWarn): Promise<TrainingConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
    throw new TrainingConfigError([`${fileProblem(path, error)}${missing ? ". Check the path (pipelines/training/churn.yaml is an example)." : ""}`]);
  }
  return parseTrainingText(text, path, env, warn);
}
