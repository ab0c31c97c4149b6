// Shared by the crash and worker tests: a seeded input, pipeline files, `clickpipe run` processes, and the lake as sorted rows
// (lakeRows) or compared with another inside DuckDB (lakeDifferences).
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { expect } from "vitest";
import { readdir, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { generateLines } from "../../src/ingest/generate.ts";
import { runCli, spawnCli, type CliProcess } from "../helpers/cli.ts";

export interface PipelineFileOptions {
  name: string;
  natsUrl: string;
  stream: string;
  out: string;
  /** Checkpoint interval; short so that crashes land between many checkpoints. */
  interval?: string;
  /** nats.partitions (default 1: one unpartitioned worker). */
  partitions?: number;
  /** checkpoint.store (default directory). */
  checkpointStore?: "directory" | "kv";
  /** The parquet sink's compaction, as YAML (default: the key left out, i.e. the sink's default policy). */
  compaction?: string;
  /** metrics.port, a port or a range ("9464-9465"), served on 127.0.0.1 (default: no metrics section, no metrics server). */
  metricsPort?: number | string;
}

/** Writes `<directory>/<basename of out>.yaml`: every operator, windows small enough that a few days of traffic close many of them. */
export async function writePipelineFile(directory: string, options: PipelineFileOptions): Promise<string> {
  const file = join(directory, `${basename(options.out)}.yaml`);
  await writeFile(
    file,
    [
      `name: ${options.name}`,
      "nats:",
      `  url: ${options.natsUrl}`,
      `  stream: ${options.stream}`,
      ...(options.partitions === undefined ? [] : [`  partitions: ${options.partitions}`]),
      "operators:",
      "  - type: sessionize",
      "    gap: 30m",
      "    maxDuration: 12h",
      "    outOfOrderness: 1m",
      "    allowedLateness: 1h",
      "  - type: sequencePatterns",
      "    window: 6h",
      "    item: page_item",
      "    maxLength: 3",
      "    minSupport: 0.05",
      "  - type: basket",
      "    window: 1d",
      "  - type: churnFeatures",
      "    snapshotEvery: 1d",
      "    outOfOrderness: 1m",
      "    allowedLateness: 1h",
      "sinks:",
      "  - type: parquet",
      `    path: ${options.out}`,
      ...(options.compaction === undefined ? [] : [`    compaction: ${options.compaction}`]),
      "checkpoint:",
      `  interval: ${options.interval ?? "200ms"}`,
      ...(options.checkpointStore === undefined ? [] : [`  store: ${options.checkpointStore}`]),
      ...(options.metricsPort === undefined ? [] : ["metrics:", `  port: ${options.metricsPort}`, "  host: 127.0.0.1"]),
    ].join("\n") + "\n",
  );
  return file;
}

/**
 * Seeded traffic plus what a real stream also carries: garbage lines (publish sends them to the dead letters) and
 * events days older than the watermark at the end (late_events). The same arguments give the same bytes.
 */
export function crashInput(visitors: number, days: number, seed: number): string[] {
  const lines = [...generateLines({ visitors, days, seed })];
  const mixed: string[] = [];
  lines.forEach((line, index) => {
    mixed.push(line);
    if (index % 997 === 500) mixed.push(`not json ${index}`);
    if (index % 1499 === 700) {
      mixed.push(JSON.stringify({ type: "page_view", ts: "2025-12-01T00:00:00Z", anon_id: `late-${index}`, url: "/late" }));
    }
  });
  return mixed;
}

/** The no-fault run: writes `lines` to input.ndjson in `directory`, publishes them with `pipelineFile`, and drains it. */
export async function publishAndDrain(directory: string, pipelineFile: string, lines: string[]): Promise<void> {
  const input = join(directory, "input.ndjson");
  await writeFile(input, lines.join("\n") + "\n");
  const published = await runCli(["publish", input, "--pipeline", pipelineFile]);
  expect(published.code, published.stderr).toBe(0);
  const drained = await runCli(["run", pipelineFile, "--drain"]);
  expect(drained.code, drained.stderr).toBe(0);
}

/** A `clickpipe run` process. */
export type WorkerProcess = CliProcess;

/** Spawns `clickpipe run <file> [args]` as a user would. */
export function spawnWorker(pipelineFile: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): WorkerProcess {
  return spawnCli(["run", pipelineFile, ...args], env);
}

/**
 * A lake's tables: its folders but `_checkpoints` and hidden ones, each read by DuckDB as `**\/*.parquet` with its `dt`
 * partition. `unionByName`: the table's columns are every part's (a column missing in a part reads as NULL there), a
 * column's type the one all its parts' types cast to. Without it DuckDB reads every part by the first one's schema: a
 * later part's extra column is dropped and another type cast to the first's (4.7 read as the INTEGER 5), unseen.
 */
async function lakeTables(out: string, { unionByName = false } = {}): Promise<Map<string, string>> {
  const tables = new Map<string, string>();
  for (const entry of await readdir(out, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith("_") || entry.name.startsWith(".")) continue;
    const union = unionByName ? ", union_by_name = true" : "";
    tables.set(entry.name, `read_parquet('${join(out, entry.name)}/**/*.parquet', hive_partitioning = true${union})`);
  }
  return tables;
}

interface Column {
  name: string;
  type: string;
}

async function columnsOf(db: DuckDBConnection, source: string): Promise<Column[]> {
  return (await db.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)).getRowObjectsJson().map((row) => ({ name: String(row.column_name), type: String(row.column_type) }));
}

/**
 * A 64-bit key of a row for lakeDifferences. DuckDB's hash() of a string (alone or in a list) collides far too often
 * for an oracle: 26,690 of the 1.34 million distinct `patterns` rows of partitioned-drain-nats-restart shared a hash
 * with another ("/c/dresses/p/1200 > /c/dresses/p/1212 > …14" and "…/1210 > …/1212 > …24"). So strings go in as their
 * MD5, nested values as the MD5 of their JSON; numbers, dates, timestamps and booleans as they are (hash() mixes them
 * well, in column order; it equates 0 with -0 and every NaN, as DuckDB's = does).
 */
function rowKey(columns: Column[]): string {
  const parts = columns.map(({ name, type }) => {
    const column = `"${name}"`;
    if (type === "VARCHAR" || type === "BLOB") return `md5_number(${column})`;
    if (type.endsWith("]") || /^(STRUCT|MAP|UNION)\(/.test(type)) return `md5_number(to_json(${column})::VARCHAR)`;
    return column;
  });
  return `hash(${parts.join(", ")})`;
}

/**
 * Every table of a lake as sorted JSON rows, read by DuckDB over `**\/*.parquet` (a partial file would fail the
 * read). `skip` leaves out columns a run cannot reproduce (the worker stamps its own rejects with its clock). Every
 * row becomes a JS object and a string: fine for thousands of rows, about 20 s per million; compare large lakes with
 * lakeDifferences.
 */
export async function lakeRows(out: string, skip: Record<string, string[]> = {}): Promise<Record<string, string[]>> {
  const instance = await DuckDBInstance.create(":memory:");
  const db = await instance.connect();
  try {
    const tables: Record<string, string[]> = {};
    for (const [table, source] of await lakeTables(out)) {
      const skipped = new Set(skip[table] ?? []);
      const selected = (await columnsOf(db, source)).filter(({ name }) => !skipped.has(name)).map(({ name }) => `"${name}"`);
      const rows = (await db.runAndReadAll(`SELECT ${selected.join(", ")} FROM ${source}`)).getRowObjectsJson();
      tables[table] = rows.map((row) => JSON.stringify(row)).sort();
    }
    return tables;
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

export interface LakeComparison {
  /** Rows per table of the expected lake. */
  expectedRowCounts: Record<string, number>;
  /** One line per difference: a table or its columns on one side only, or the rows whose number of copies differs. */
  differences: string[];
}

/**
 * Compares two lakes inside DuckDB as multisets of rows per table (`dt` included) without bringing the rows into JS:
 * each side's rows are grouped by a 64-bit key of all their columns (rowKey) and the (key, copies) pairs must match,
 * as must the tables and their columns' names and types, over every part (a part unlike the others differs). A few
 * differing rows are read back as JSON for the message. A million rows take about a second, where lakeRows takes about
 * 20. `skip` as for lakeRows.
 */
export async function lakeDifferences(expectedOut: string, actualOut: string, skip: Record<string, string[]> = {}): Promise<LakeComparison> {
  const instance = await DuckDBInstance.create(":memory:");
  const db = await instance.connect();
  try {
    // Every part's columns: a part whose columns or types are not the others' is a difference (see lakeTables).
    const expectedTables = await lakeTables(expectedOut, { unionByName: true });
    const actualTables = await lakeTables(actualOut, { unionByName: true });
    const expectedRowCounts: Record<string, number> = {};
    const differences: string[] = [];
    for (const table of actualTables.keys()) if (!expectedTables.has(table)) differences.push(`${table}: only in ${actualOut}`);
    for (const [table, expected] of expectedTables) {
      expectedRowCounts[table] = Number((await db.runAndReadAll(`SELECT count(*) AS n FROM ${expected}`)).getRowObjectsJson()[0]?.n);
      const actual = actualTables.get(table);
      if (actual === undefined) {
        differences.push(`${table}: only in ${expectedOut}`);
        continue;
      }
      const skipped = new Set(skip[table] ?? []);
      const columns = (await columnsOf(db, expected)).filter(({ name }) => !skipped.has(name));
      const actualColumns = (await columnsOf(db, actual)).filter(({ name }) => !skipped.has(name));
      const described = (list: Column[]) => list.map(({ name, type }) => `${name} ${type}`).join(", ");
      if (described(columns) !== described(actualColumns)) {
        differences.push(`${table}: columns ${described(actualColumns)}; expected ${described(columns)}`);
        continue;
      }
      const key = rowKey(columns);
      const selected = columns.map(({ name }) => `"${name}"`).join(", ");
      const copies = (source: string) => `SELECT ${key} AS h, count(*) AS n FROM ${source} GROUP BY h`;
      const differing = (
        await db.runAndReadAll(
          `SELECT h, coalesce(e.n, 0) AS expected, coalesce(a.n, 0) AS actual FROM (${copies(expected)}) e FULL OUTER JOIN (${copies(actual)}) a USING (h)
           WHERE e.n IS DISTINCT FROM a.n ORDER BY h`,
        )
      ).getRowObjectsJson();
      if (differing.length === 0) continue;
      const shown = differing.slice(0, 10);
      const hashes = shown.map((row) => `${String(row.h)}::UBIGINT`).join(", ");
      const rowOf = new Map<string, string>();
      for (const source of [expected, actual]) {
        const rows = (await db.runAndReadAll(`SELECT DISTINCT ON (h) ${key} AS h, ${selected} FROM ${source} WHERE ${key} IN (${hashes})`)).getRowObjectsJson();
        for (const { h, ...row } of rows) rowOf.set(String(h), JSON.stringify(row));
      }
      differences.push(`${table}: ${differing.length} distinct rows with another number of copies than expected`);
      for (const row of shown) differences.push(`${table}: ${String(row.actual)} copies, expected ${String(row.expected)}: ${rowOf.get(String(row.h))}`);
    }
    return { expectedRowCounts, differences };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

/** Paths under `directory` whose names end with one of `suffixes` (in-progress parts, temporary checkpoints). */
export async function filesEndingWith(directory: string, suffixes: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && suffixes.some((suffix) => entry.name.endsWith(suffix))) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

/** Row counts per table, for messages that say how much a comparison covered. */
export function rowCounts(lake: Record<string, string[]>): Record<string, number> {
  return Object.fromEntries(Object.entries(lake).map(([table, rows]) => [table, rows.length]));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The no-fault reference every crash test compares with: publishes seeded traffic into the stream and drains it once
 * into `<directory>/baseline`. Returns the pipeline's input file and the baseline lake's rows.
 */
export async function publishAndDrainBaseline(
  directory: string,
  options: { name: string; natsUrl: string; stream: string; visitors: number; days: number; seed: number },
): Promise<{ input: string; rows: Record<string, string[]> }> {
  const out = join(directory, "baseline");
  const pipelineFile = await writePipelineFile(directory, { name: options.name, natsUrl: options.natsUrl, stream: options.stream, out });
  const input = join(directory, "input.ndjson");
  await writeFile(input, crashInput(options.visitors, options.days, options.seed).join("\n") + "\n");
  const published = await runCli(["publish", input, "--pipeline", pipelineFile]);
  if (published.code !== 0) throw new Error(`baseline publish failed: ${published.stderr}`);
  const drained = await runCli(["run", pipelineFile, "--drain"]);
  if (drained.code !== 0) throw new Error(`baseline drain failed: ${drained.stderr}`);
  return { input, rows: await lakeRows(out) };
}

/**
 * Runs `clickpipe run <file> --drain` again and again until a run exits 0. Before each run may be killed,
 * `killMoment(worker, kills)` waits for the moment and says whether to kill it (-9). Returns how many runs were
 * killed and the sequence each run resumed at.
 */
export async function drainWithKills(
  pipelineFile: string,
  maxRuns: number,
  killMoment: (worker: WorkerProcess, kills: number) => Promise<boolean>,
): Promise<{ kills: number; resumedAt: number[] }> {
  const resumedAt: number[] = [];
  let kills = 0;
  for (let run = 0; run < maxRuns; run++) {
    const worker = spawnWorker(pipelineFile, ["--drain"]);
    await worker.printed(/(starting|resuming) \S+ at \S+ sequence \d+ \(epoch \d+\)/);
    if (await killMoment(worker, kills)) worker.child.kill("SIGKILL");
    const result = await worker.exited;
    resumedAt.push(Number(/ sequence (\d+)/.exec(result.output)?.[1]));
    if (result.code === 0) return { kills, resumedAt };
    if (result.signal !== "SIGKILL") throw new Error(`run ${run} failed without being killed:\n${result.output}`);
    kills++;
  }
  throw new Error(`no run finished in ${maxRuns} runs (resumed at ${resumedAt.join(", ")})`);
}
