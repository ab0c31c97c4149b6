// `clickpipe inspect <dir>`: tables, partitions, row counts (from Parquet footers) and schemas of a Parquet output.
import { openAsBlob } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { DataType, tableFromIPC, type Field } from "apache-arrow";
import { ParquetFile } from "parquet-wasm";
import { readingParquet } from "../sinks/parquet-reader.ts";
import { asksForHelp } from "./asks-for-help.ts";
import { parseCommandLine } from "./parse-command-line.ts";

export interface PartitionSummary {
  /** `key=value` folder name; "" for files directly in the table folder. */
  name: string;
  files: number;
  rows: number;
  inProgressFiles: number;
  success: boolean;
}

export interface ColumnSummary {
  name: string;
  type: string;
  nullable: boolean;
}

export interface TableSummary {
  name: string;
  files: number;
  rows: number;
  partitions: PartitionSummary[];
  /** Schema of the table's last part file in name order; empty when it has none. */
  schema: ColumnSummary[];
}

interface Output {
  out(text: string): void;
  err(text: string): void;
}

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const USAGE = "usage: clickpipe inspect <dir> [--json]\n";

/** The clickpipe column type an Arrow type came from, or Arrow's own name for anything else. */
export function columnTypeName(type: DataType): string {
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return "string";
  if (DataType.isInt(type) && type.isSigned && (type.bitWidth === 32 || type.bitWidth === 64)) return `int${type.bitWidth}`;
  if (DataType.isFloat(type) && type.precision === 2) return "float64";
  if (DataType.isBool(type)) return "bool";
  if (DataType.isTimestamp(type) && type.unit === 1) return type.timezone ? `timestamp (${type.timezone})` : "timestamp (local)";
  if (DataType.isDate(type) && type.unit === 0) return "date";
  if (DataType.isList(type) && DataType.isUtf8(type.children[0].type)) return "list<string>";
  return String(type);
}

async function withParquetFile<T>(path: string, use: (file: ParquetFile) => T): Promise<T> {
  const blob = await openAsBlob(path);
  const file = await readingParquet(path, () => ParquetFile.fromFile(blob));
  try {
    return await readingParquet(path, () => use(file));
  } finally {
    file.free();
  }
}

/** Rows of a Parquet file from its footer alone. */
async function rowCountOf(path: string): Promise<number> {
  return withParquetFile(path, (file) => file.metadata().fileMetadata().numRows());
}

async function schemaOf(path: string): Promise<ColumnSummary[]> {
  const fields: Field[] = await withParquetFile(path, (file) => tableFromIPC(file.schema().intoIPCStream()).schema.fields);
  return fields.map((field) => ({ name: field.name, type: columnTypeName(field.type), nullable: field.nullable }));
}

async function summarizePartition(directory: string, name: string, entries: string[]): Promise<PartitionSummary & { last?: string }> {
  const parts = entries.filter((entry) => entry.endsWith(".parquet")).sort();
  let rows = 0;
  for (const part of parts) rows += await rowCountOf(join(directory, part));
  return {
    name,
    files: parts.length,
    rows,
    inProgressFiles: entries.filter((entry) => entry.endsWith(".inprogress")).length,
    success: entries.includes("_SUCCESS"),
    last: parts.length > 0 ? join(directory, parts[parts.length - 1]) : undefined,
  };
}

function visible(name: string): boolean {
  return !name.startsWith("_") && !name.startsWith(".");
}

export async function summarizeTable(directory: string, name: string): Promise<TableSummary> {
  const entries = (await readdir(directory, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const partitions: (PartitionSummary & { last?: string })[] = [];
  const looseFiles = entries.filter((e) => e.isFile()).map((e) => e.name);
  if (looseFiles.some((file) => file.endsWith(".parquet"))) partitions.push(await summarizePartition(directory, "", looseFiles));
  for (const entry of entries) {
    if (!entry.isDirectory() || !visible(entry.name)) continue;
    const path = join(directory, entry.name);
    partitions.push(await summarizePartition(path, entry.name, await readdir(path)));
  }
  const last = partitions.map((p) => p.last).filter((p) => p !== undefined).at(-1);
  return {
    name,
    files: partitions.reduce((sum, p) => sum + p.files, 0),
    rows: partitions.reduce((sum, p) => sum + p.rows, 0),
    partitions: partitions.map(({ last: _last, ...partition }) => partition),
    schema: last ? await schemaOf(last) : [],
  };
}

const HIVE_PARTITION = /^[^=]+=[^=]*$/;

/**
 * Every table folder (hidden `_`/`.` folders such as `_checkpoints` excluded) of a lake that holds Parquet parts; or,
 * when `root` is itself a table (its folders are all `key=value` partitions) or a partition (it holds parts), that one.
 */
export async function summarizeLake(root: string): Promise<TableSummary[]> {
  const all = await readdir(root, { withFileTypes: true });
  const folders = all.filter((e) => e.isDirectory() && visible(e.name));
  const holdsParts = all.some((e) => e.isFile() && e.name.endsWith(".parquet"));
  if (holdsParts || (folders.length > 0 && folders.every((e) => HIVE_PARTITION.test(e.name)))) {
    return [await summarizeTable(root, basename(resolve(root)))];
  }
  const names = folders.map((e) => e.name).sort();
  const tables = await Promise.all(names.map((name) => summarizeTable(join(root, name), name)));
  // A folder without parts is no table (inspect /etc listed its folders as empty tables).
  return tables.filter((table) => table.files > 0 || table.partitions.some((partition) => partition.inProgressFiles > 0));
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

export function formatLake(root: string, tables: TableSummary[]): string {
  const lines = [`${root}: ${plural(tables.length, "table")}`];
  for (const table of tables) {
    lines.push("", `${table.name}: ${plural(table.rows, "row")} in ${plural(table.files, "file")}, ${plural(table.partitions.length, "partition")}`);
    const width = Math.max(0, ...table.partitions.map((p) => (p.name || "(root)").length));
    for (const p of table.partitions) {
      const notes = [p.success ? "_SUCCESS" : "", p.inProgressFiles ? `${plural(p.inProgressFiles, "in-progress file")}` : ""];
      const note = notes.filter(Boolean).join(", ");
      lines.push(`  ${(p.name || "(root)").padEnd(width)}  ${plural(p.rows, "row")}, ${plural(p.files, "file")}${note ? `, ${note}` : ""}`);
    }
    if (table.schema.length > 0) {
      lines.push("  schema:");
      const nameWidth = Math.max(...table.schema.map((c) => c.name.length));
      const typeWidth = Math.max(...table.schema.map((c) => c.type.length));
      for (const column of table.schema) {
        const type = column.nullable ? column.type : `${column.type.padEnd(typeWidth)}  not null`;
        lines.push(`    ${column.name.padEnd(nameWidth)}  ${type}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}

/** Runs `clickpipe inspect`; `argv` is the arguments after `inspect`. Returns the exit code. */
export async function runInspect(argv: string[], output: Output = processOutput): Promise<number> {
  if (asksForHelp(argv)) {
    output.out(USAGE);
    return 0;
  }
  let json: boolean;
  let positionals: string[];
  try {
    ({ values: { json }, positionals } = parseCommandLine({ args: argv, allowPositionals: true, options: { json: { type: "boolean", default: false } } }));
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    output.err(`clickpipe inspect: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (positionals.length !== 1) {
    output.err(`clickpipe inspect: ${positionals.length === 0 ? "name the Parquet output folder (a parquet sink's path, e.g. ./data)" : "name one folder"}\n${USAGE}`);
    return 2;
  }
  const root = positionals[0];
  // A path that is not there is a failure, as a missing file is to run, publish and mine (exit 1), not a usage error.
  const found = await stat(root).catch(() => undefined);
  if (found === undefined || !found.isDirectory()) {
    const what = found === undefined ? "no such directory" : "is a file, not a directory";
    output.err(`clickpipe inspect: ${root}: ${what} (expected a Parquet sink path, e.g. ./data)\n`);
    return 1;
  }
  const tables = await summarizeLake(root);
  if (tables.length === 0) {
    output.err(`clickpipe inspect: no Parquet table under ${root} (a sink path holds <table>/<partition>/part-*.parquet)\n`);
    return 1;
  }
  output.out(json ? JSON.stringify({ path: root, tables }, null, 2) + "\n" : formatLake(root, tables));
  return 0;
}
