// `clickpipe train <training.yaml>`: trains churn models on customer_features snapshots and writes model, metrics and report.
import { join } from "node:path";
import { parseCommandLine } from "./parse-command-line.ts";
import { METRICS_FILE, REPORT_FILE } from "../training/artifacts.ts";
import { loadTrainingConfig, TrainingConfigError } from "../training/config.ts";
import { DatasetError } from "../training/dataset.ts";
import { SnapshotMissingError } from "../training/snapshots.ts";
import { runTraining } from "../training/train.ts";
import { asksForHelp } from "./asks-for-help.ts";

export const trainUsage = `usage: clickpipe train <training.yaml>
  Trains the models named in the file on customer_features snapshots, evaluates them beside the baselines on the
  validation snapshots, and writes <out>/manifest.json, metrics.json, report.html and one folder per model.`;

export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const processIo: CommandIo = { stdout: process.stdout, stderr: process.stderr };

/** Exit code 0 on success, 1 for an invalid training file or missing data, 2 for a usage error. */
export async function runTrain(argv: string[], io: CommandIo = processIo): Promise<number> {
  if (asksForHelp(argv)) {
    io.stdout.write(`${trainUsage}\n`);
    return 0;
  }
  let file: string | undefined;
  try {
    const { positionals } = parseCommandLine({ args: argv, options: {}, allowPositionals: true, strict: true });
    if (positionals.length !== 1) throw new Error(positionals.length === 0 ? "name the training file" : "give one training file");
    file = positionals[0];
  } catch (error) {
    io.stderr.write(`clickpipe train: ${(error as Error).message}\n${trainUsage}\n`);
    return 2;
  }
  try {
    const config = await loadTrainingConfig(file, process.env, (line) => io.stderr.write(`${line}\n`));
    const result = await runTraining(config, { log: io.stderr });
    const summary = Object.entries(result.metrics.models).map(([name, e]) => `${name} auc=${e.auc.toFixed(4)}`);
    const baselines = Object.entries(result.metrics.baselines).map(([name, e]) => `${name} auc=${e.auc.toFixed(4)}`);
    io.stdout.write(`models: ${summary.join(", ")}\nbaselines: ${baselines.join(", ")}\n`);
    io.stdout.write(`best: ${result.metrics.best} (model version ${result.manifest.modelVersion})\n`);
    io.stdout.write(`wrote ${join(result.out, METRICS_FILE)} and ${join(result.out, REPORT_FILE)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof TrainingConfigError) {
      for (const line of error.lines) io.stderr.write(`${line}\n`);
      return 1;
    }
    if (error instanceof DatasetError || error instanceof SnapshotMissingError) {
      io.stderr.write(`clickpipe train: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
