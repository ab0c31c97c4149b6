// `clickpipe generate`: synthetic traffic as NDJSON to a file or stdout, optionally with its ground truth.
import { constants } from "node:fs";
import { access, open, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseCommandLine } from "./parse-command-line.ts";
import { createTraffic, toNdjsonLine, type GeneratedEvent, type GenerateOptions, type GroundTruth, type TrafficCounts } from "../ingest/generate.ts";
import { parseEventTime } from "../events/time.ts";
import { publishTraffic } from "../ingest/traffic-publisher.ts";
import { loadPipelineOrThrow } from "./load-config.ts";

/** Where text goes: process.stdout, or anything with the same write/drain contract. */
export interface TextOutput {
  write(chunk: string): boolean;
  once?(event: "drain", listener: () => void): unknown;
}

export interface GenerateIo {
  stdout?: TextOutput;
  stderr?: TextOutput;
}

export const GENERATE_USAGE = `usage: clickpipe generate --visitors N --days D [--seed S] [--start YYYY-MM-DD|ISO] [--out file.ndjson] [--truth truth.json]
  --visitors   distinct visitors (people and crawlers), a positive integer
  --days       length of the period in whole days; every event lies in [start, start + days)
  --seed       integer; the same seed gives byte-identical output (default 1)
  --start      first instant: a UTC date (2026-01-05), ISO 8601 with offset, or epoch ms (default 2026-01-05)
  --out        NDJSON file to write (default: stdout)
  --truth      JSON file for the ground truth: customers, their devices, churners and crawlers
  --pipeline p.yaml --rate R   publish into the pipeline's stream at R events/s (default: as fast as acknowledged)`;

/** About 1 MB per write: few syscalls, bounded memory. */
const CHUNK_BYTES = 1 << 20;

class UsageError extends Error {}

export async function runGenerate(argv: string[], io: GenerateIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let parsed: ParsedGenerateArgs;
  try {
    parsed = parseGenerateArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError)) throw error;
    stderr.write(`clickpipe generate: ${error.message}\n${GENERATE_USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    stdout.write(`${GENERATE_USAGE}\n`);
    return 0;
  }
  // Checked before generating: a folder or a missing one failed only at the end, with Node's "EISDIR: …, rename" and
  // the whole output left behind as <out>.tmp.
  for (const [flag, path] of [["out", parsed.out], ["truth", parsed.truth]] as const) {
    const problem = path === undefined ? undefined : await outputProblem(flag, path);
    if (problem === undefined) continue;
    stderr.write(`clickpipe generate: ${problem}\n`);
    return 1;
  }
  if (parsed.pipeline !== undefined) {
    const config = await loadPipelineOrThrow(parsed.pipeline);
    const controller = new AbortController();
    process.once("SIGINT", () => controller.abort());
    const counts = await publishTraffic({ config, traffic: parsed.options, rate: parsed.rate, signal: controller.signal });
    stderr.write(
      `published ${counts.published} generated events (${counts.rejected} rejected, ${counts.filtered} filtered) to ${config.nats.stream}\n`,
    );
    return 0;
  }
  const traffic = createTraffic(parsed.options);
  if (parsed.out === undefined) {
    await writeLines(traffic.events(), stdout);
  } else {
    await writeLinesToFile(traffic.events(), parsed.out);
  }
  if (parsed.truth !== undefined) {
    await writeFile(parsed.truth, `${JSON.stringify(truthAsJson(traffic.truth, traffic.counts), null, 2)}\n`);
  }
  const { events, sessions, purchases } = traffic.counts;
  stderr.write(
    `generated ${events} events (${sessions} sessions, ${purchases} purchases) for ${parsed.options.visitors} visitors over ${parsed.options.days} day${parsed.options.days === 1 ? "" : "s"}${parsed.out === undefined ? "" : ` to ${parsed.out}`}\n`,
  );
  return 0;
}

interface ParsedGenerateArgs {
  help: boolean;
  options: GenerateOptions;
  out?: string;
  truth?: string;
  pipeline?: string;
  /** Events per second for --pipeline; Infinity (default) sends as fast as JetStream acknowledges. */
  rate: number;
}

export function parseGenerateArgs(argv: string[]): ParsedGenerateArgs {
  const { values, positionals } = parseCommandLine({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      visitors: { type: "string" },
      days: { type: "string" },
      seed: { type: "string" },
      start: { type: "string" },
      out: { type: "string" },
      truth: { type: "string" },
      pipeline: { type: "string" },
      rate: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return { help: true, options: { visitors: 1, days: 1 }, rate: Number.POSITIVE_INFINITY };
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (values.rate !== undefined && values.pipeline === undefined) throw new UsageError("--rate needs --pipeline");
  if (values.pipeline !== undefined && values.out !== undefined) throw new UsageError("--out and --pipeline exclude each other");
  const options: GenerateOptions = {
    visitors: positiveInteger("visitors", values.visitors),
    days: positiveInteger("days", values.days),
  };
  if (values.seed !== undefined) {
    if (!/^-?\d+$/.test(values.seed)) throw new UsageError(`--seed: expected an integer, got ${JSON.stringify(values.seed)}`);
    options.seed = Number(values.seed);
  }
  if (values.start !== undefined) options.start = parseStart(values.start);
  let rate = Number.POSITIVE_INFINITY;
  if (values.rate !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(values.rate) || Number(values.rate) <= 0) {
      throw new UsageError(`--rate: expected events per second > 0, got ${JSON.stringify(values.rate)}`);
    }
    rate = Number(values.rate);
  }
  return { help: false, options, out: values.out, truth: values.truth, pipeline: values.pipeline, rate };
}

function positiveInteger(name: string, text: string | undefined): number {
  if (text === undefined) throw new UsageError(`--${name} is required`);
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--${name}: expected a positive integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** A bare date means UTC midnight; otherwise the event-time rules apply (an offset is required). */
function parseStart(text: string): number {
  const epochMs = /^\d{4}-\d{2}-\d{2}$/.test(text) ? parseEventTime(`${text}T00:00:00Z`) : parseEventTime(text);
  if (epochMs === undefined) {
    throw new UsageError(`--start: expected a date like 2026-01-05, ISO 8601 with an offset, or epoch ms, got ${JSON.stringify(text)}`);
  }
  return epochMs;
}

/** Why `--<flag> <path>` cannot be written as a file, as a sentence with what to do; undefined when it can. */
async function outputProblem(flag: string, path: string): Promise<string | undefined> {
  const named = `--${flag} ${path}`;
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory() === true) {
    return `${named}: is a directory: name a file in it, e.g. ${join(path, flag === "out" ? "events.ndjson" : "truth.json")}`;
  }
  // --truth is written in place (not renamed over, as --out is): an existing file it may write (/dev/stdout, a file in
  // a folder it may not write) is enough.
  if (flag === "truth" && existing !== undefined) {
    return (await access(path, constants.W_OK).then(() => true, () => false)) ? undefined : `${named}: this user may not write it (ls -l shows its owner and mode)`;
  }
  const folder = dirname(path);
  const folderStat = await stat(folder).catch(() => undefined);
  if (folderStat === undefined) return `${named}: no folder ${folder}: create it first (mkdir -p ${folder})`;
  if (!folderStat.isDirectory()) return `${named}: ${folder} is a file, not a folder`;
  try {
    await access(folder, constants.W_OK);
  } catch {
    return `${named}: this user may not write in ${folder} (ls -ld shows its owner and mode)`;
  }
  return undefined;
}

async function writeLines(events: Iterable<GeneratedEvent>, output: TextOutput): Promise<void> {
  let chunk = "";
  for (const event of events) {
    chunk += toNdjsonLine(event) + "\n";
    if (chunk.length < CHUNK_BYTES) continue;
    if (!output.write(chunk) && output.once !== undefined) await new Promise<void>((resolve) => output.once?.("drain", resolve));
    chunk = "";
  }
  if (chunk.length > 0) output.write(chunk);
}

/**
 * Encodes lines straight into a reused buffer (no 1 MB string to flatten), writes it to `<file>.tmp` and renames,
 * so a reader never sees half a file under the final name.
 */
async function writeLinesToFile(events: Iterable<GeneratedEvent>, file: string): Promise<void> {
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, "w");
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let used = 0;
  try {
    for (const event of events) {
      const line = toNdjsonLine(event);
      if (used + line.length * 3 + 1 > CHUNK_BYTES) {
        await handle.write(buffer, 0, used);
        used = 0;
      }
      if (line.length * 3 + 1 > CHUNK_BYTES) {
        await handle.write(`${line}\n`);
        continue;
      }
      used += buffer.write(line, used);
      buffer[used++] = 0x0a;
    }
    if (used > 0) await handle.write(buffer, 0, used);
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
}

/** The ground truth as plain JSON: instants as ISO strings, maps as objects. */
export function truthAsJson(truth: GroundTruth, counts: TrafficCounts): Record<string, unknown> {
  const iso = (epochMs: number) => new Date(epochMs).toISOString();
  return {
    start: iso(truth.start),
    end: iso(truth.end),
    counts,
    customers: Object.fromEntries(
      [...truth.customers].map(([userId, customer]) => [
        userId,
        customer.churnedAt === undefined ? { anon_ids: customer.anonIds } : { anon_ids: customer.anonIds, churned_at: iso(customer.churnedAt) },
      ]),
    ),
    churned_customers: Object.fromEntries([...truth.churnedCustomers].map(([userId, churnedAt]) => [userId, iso(churnedAt)])),
    bots: [...truth.bots],
  };
}
