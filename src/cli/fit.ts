// `clickpipe fit bgnbd`: BG/NBD maximum likelihood on a summary CSV or a customer_features snapshot; prints the parameters.
import { parseCommandLine } from "./parse-command-line.ts";
import { BgNbdInputError, boundWarning, fitBgNbd } from "../training/bgnbd.ts";
import { parseDay } from "../training/dates.ts";
import { SnapshotMissingError } from "../training/snapshots.ts";
import { readSummaryCsv, snapshotSummaries, type TimeUnit } from "../training/summary-input.ts";
import { asksForHelp } from "./asks-for-help.ts";

export const fitUsage = `usage:
  clickpipe fit bgnbd --summary <file.csv>
      CSV with a header naming frequency (or x), recency (or t_x) and T, in one time unit (lifetimes' summary format).
  clickpipe fit bgnbd --features <customer_features dir> --snapshot <YYYY-MM-DD> [--time-unit day|week]
      x = frequency, t_x = recency_days, T = t_days of the snapshot's customers with purchases (default unit: day).
  Prints {"r":…,"alpha":…,"a":…,"b":…,"loglik":…} (Fader, Hardie & Lee 2005; maximum likelihood).`;

export interface FitIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

class UsageError extends Error {
  override name = "UsageError";
}

/** Exit code 0 on success, 1 when the input cannot be read or fitted, 2 for a usage error. */
export async function runFit(argv: string[], io: FitIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  if (asksForHelp(argv)) {
    io.stdout.write(`${fitUsage}\n`);
    return 0;
  }
  try {
    const [model, ...rest] = argv;
    if (model !== "bgnbd") throw new UsageError(model === undefined ? "name the model to fit: bgnbd" : `unknown model "${model}" (bgnbd)`);
    const { values } = parseCommandLine({
      args: rest,
      options: { summary: { type: "string" }, features: { type: "string" }, snapshot: { type: "string" }, "time-unit": { type: "string" } },
      strict: true,
      allowPositionals: false,
    });
    const data = await inputOf(values);
    const fit = fitBgNbd(data);
    const warning = boundWarning(fit);
    if (warning !== undefined) io.stderr.write(`clickpipe fit: warning: ${warning}\n`);
    io.stdout.write(`${JSON.stringify({ r: fit.r, alpha: fit.alpha, a: fit.a, b: fit.b, loglik: fit.loglik })}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS")) {
      io.stderr.write(`clickpipe fit: ${(error as Error).message}\n${fitUsage}\n`);
      return 2;
    }
    if (error instanceof BgNbdInputError || error instanceof SnapshotMissingError || (error as NodeJS.ErrnoException).code !== undefined) {
      io.stderr.write(`clickpipe fit: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}

async function inputOf(values: { summary?: string; features?: string; snapshot?: string; "time-unit"?: string }) {
  const unit = values["time-unit"] ?? "day";
  if (unit !== "day" && unit !== "week") throw new UsageError(`--time-unit "${unit}": use day or week`);
  if (values.summary !== undefined) {
    if (values.features !== undefined || values.snapshot !== undefined || values["time-unit"] !== undefined) {
      throw new UsageError("--summary takes no --features, --snapshot or --time-unit (the CSV is already in its time unit)");
    }
    return readSummaryCsv(values.summary);
  }
  if (values.features === undefined || values.snapshot === undefined) throw new UsageError("give --summary <csv>, or --features <dir> with --snapshot <date>");
  if (parseDay(values.snapshot) === undefined) throw new UsageError(`--snapshot "${values.snapshot}": expected a date like 1997-09-30`);
  return snapshotSummaries(values.features, values.snapshot, unit as TimeUnit);
}
