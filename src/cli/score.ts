// `clickpipe score <training.yaml> --snapshot <date> [--follow]`: writes scores/snapshot_date=D/ with the trained model.
import { parseCommandLine } from "./parse-command-line.ts";
import { ModelMissingError } from "../training/artifacts.ts";
import { loadTrainingConfig, TrainingConfigError } from "../training/config.ts";
import { parseDay } from "../training/dates.ts";
import { followSnapshots, Scorer, type ScoredSnapshot } from "../training/scorer.ts";
import { SnapshotColumnsError, SnapshotMissingError } from "../training/snapshots.ts";
import { asksForHelp } from "./asks-for-help.ts";
import type { CommandIo } from "./train.ts";

export const scoreUsage = `usage: clickpipe score <training.yaml> --snapshot <YYYY-MM-DD> [--follow] [--interval <seconds>]
  Scores the customer_features snapshot of that date with the model under the file's out: and writes
  scores/snapshot_date=<date>/ beside the features folder (or under scores: when set).
  --follow: then scores each later snapshot without this model's scores (none yet, or an older model's), and each new
  one as soon as its _SUCCESS appears (polls every --interval, default 5 s).`;

const processIo: CommandIo = { stdout: process.stdout, stderr: process.stderr };

/** Exit code 0 on success (with --follow: after SIGINT/SIGTERM or `signal`), 1 for bad config or data, 2 for usage. */
export async function runScore(argv: string[], io: CommandIo = processIo, signal?: AbortSignal): Promise<number> {
  if (asksForHelp(argv)) {
    io.stdout.write(`${scoreUsage}\n`);
    return 0;
  }
  let file: string;
  let snapshot: string;
  let follow: boolean;
  let intervalMs: number;
  try {
    const { positionals, values } = parseCommandLine({
      args: argv,
      options: { snapshot: { type: "string" }, follow: { type: "boolean", default: false }, interval: { type: "string", default: "5" } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 1) throw new Error(positionals.length === 0 ? "name the training file" : "give one training file");
    if (values.snapshot === undefined) throw new Error("--snapshot <YYYY-MM-DD> is required");
    if (parseDay(values.snapshot) === undefined) throw new Error(`--snapshot "${values.snapshot}": expected a calendar date like 1997-09-30`);
    intervalMs = Number(values.interval) * 1000;
    if (!(intervalMs > 0)) throw new Error(`--interval "${values.interval}": expected seconds > 0`);
    [file, snapshot, follow] = [positionals[0], values.snapshot, values.follow];
  } catch (error) {
    io.stderr.write(`clickpipe score: ${(error as Error).message}\n${scoreUsage}\n`);
    return 2;
  }
  const report = (scored: ScoredSnapshot) =>
    io.stdout.write(`scored ${scored.date}: ${scored.rows} customers → ${scored.directory} (model ${scored.modelVersion})\n`);
  let scorer: Scorer | undefined;
  try {
    const config = await loadTrainingConfig(file, process.env, (line) => io.stderr.write(`${line}\n`));
    scorer = await Scorer.open(config, io.stderr);
    if (!follow) {
      report(await scorer.scoreSnapshot(snapshot));
      return 0;
    }
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    signal?.addEventListener("abort", onSignal, { once: true });
    try {
      io.stderr.write(`following ${config.features} from ${snapshot} (Ctrl-C stops)\n`);
      await followSnapshots(scorer, snapshot, { intervalMs, signal: stop.signal, onScored: report });
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    return 0;
  } catch (error) {
    if (error instanceof TrainingConfigError) {
      for (const line of error.lines) io.stderr.write(`${line}\n`);
      return 1;
    }
    if (error instanceof SnapshotMissingError || error instanceof SnapshotColumnsError || error instanceof ModelMissingError) {
      io.stderr.write(`clickpipe score: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  } finally {
    scorer?.dispose();
  }
}
