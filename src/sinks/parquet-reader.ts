// Reads Parquet back into plain rows (timestamps as epoch ms, int64 as numbers, dates as "YYYY-MM-DD", lists as arrays).
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { DataType, tableFromIPC, type Table as ArrowTable, type Vector } from "apache-arrow";
import { readParquet, readSchema } from "parquet-wasm";
import { loadArrowParquet, parquetRowGroupBatches } from "./parquet-arrow.ts";
import { readingParquet } from "./parquet-read-error.ts";
import { utcDay, type Row } from "./table.ts";

export { ParquetReadError, readingParquet } from "./parquet-read-error.ts";

type Convert = (value: unknown) => unknown;

const identity: Convert = (value) => value;
const int64ToNumber: Convert = (value) => (typeof value === "bigint" ? Number(value) : value);
const dateToText: Convert = (value) => (typeof value === "number" ? utcDay(value) : value);

/** How one Arrow column's values become plain JS values. */
function converterFor(type: DataType): Convert {
  if (DataType.isInt(type) && type.bitWidth === 64) return int64ToNumber;
  if (DataType.isTimestamp(type)) return int64ToNumber;
  if (DataType.isDate(type)) return dateToText;
  if (DataType.isList(type)) {
    const item = converterFor(type.children[0].type);
    return (value) => (value == null ? value : Array.from(value as Vector, (v) => item(v)));
  }
  return identity;
}

/** Plain rows of an Arrow table one at a time, each made when asked for (a caller that keeps few rows holds few). */
export function* arrowTableRows(table: ArrowTable): Generator<Row> {
  const fields = table.schema.fields.map((field) => ({ name: field.name, convert: converterFor(field.type) }));
  for (const batch of table.batches) {
    const vectors = fields.map((_, index) => batch.getChildAt(index)!);
    for (let i = 0; i < batch.numRows; i++) {
      const row: Row = {};
      for (let column = 0; column < fields.length; column++) row[fields[column].name] = fields[column].convert(vectors[column].get(i));
      yield row;
    }
  }
}

/** Plain rows of an Arrow table, column by column. */
export function arrowTableToRows(table: ArrowTable): Row[] {
  const rows: Row[] = Array.from({ length: table.numRows }, () => ({}));
  table.schema.fields.forEach((field, index) => {
    const vector = table.getChildAt(index)!;
    const convert = converterFor(field.type);
    for (let i = 0; i < rows.length; i++) rows[i][field.name] = convert(vector.get(i));
  });
  return rows;
}

/** Every row of one Parquet file. */
export async function readParquetFile(path: string): Promise<Row[]> {
  const bytes = await readFile(path);
  return readingParquet(path, () => arrowTableToRows(tableFromIPC(readParquet(bytes).intoIPCStream())));
}

/** Parquet files of a table folder: `[partition value or undefined, file path]`, in name order, `*.parquet` only. */
export async function listParts(
  directory: string,
  partitions: string[] | undefined,
): Promise<ParquetPart[]> {
  const parts: ParquetPart[] = [];
  const entries = (await readdir(directory, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    if (entry.isFile() && entry.name.endsWith(".parquet") && !partitions) parts.push({ path: join(directory, entry.name) });
    if (!entry.isDirectory() || !entry.name.includes("=")) continue;
    const [key, value] = [entry.name.slice(0, entry.name.indexOf("=")), entry.name.slice(entry.name.indexOf("=") + 1)];
    if (partitions && !partitions.includes(value) && !partitions.includes(entry.name)) continue;
    const files = (await readdir(join(directory, entry.name))).filter((name) => name.endsWith(".parquet")).sort();
    for (const file of files) parts.push({ key, value, path: join(directory, entry.name, file) });
  }
  return parts;
}

interface ParquetPart {
  key?: string;
  value?: string;
  path: string;
}

export interface ParquetReadOptions {
  /** Only these partition values (or `key=value` names) of a table folder. */
  partitions?: string[];
  /**
   * Only these columns (those a file has; the partition column too when named): the others are never decoded. A
   * file with none of them is read by its first column, so its rows still show that they lack them.
   */
  columns?: readonly string[];
}

/** Rows per Arrow batch of a row group: a row group of a million rows is converted a slice at a time. */
const ROWS_PER_BATCH = 16_384;

/**
 * Streams a table folder's rows file by file and row group by row group, adding the Hive partition column
 * (as a string) when the file does not carry it. `partitions` keeps only these values (or `key=value` names).
 */
export async function* readParquetTable(directory: string, options: ParquetReadOptions = {}): AsyncIterable<Row> {
  for await (const rows of readParquetBatches(directory, options)) yield* rows;
}

/**
 * The rows of a Parquet file, or of a table folder's parts (as readParquetTable), as batches of at most
 * ROWS_PER_BATCH rows, each row made only when the batch is iterated: one file, one row group, one batch at a time,
 * so a caller that keeps little of each row holds little more than one batch.
 *
 * Decoded by parquetRowGroupBatches (parquet-arrow.ts: synchronous readParquet, a corrupt page rejects with a
 * ParquetReadError naming the file); a row group is decoded whole and only the wanted columns become rows. The cost is
 * the file's bytes (held here and copied into WebAssembly memory per call) plus one decoded row group.
 */
export async function* readParquetBatches(path: string, options: ParquetReadOptions = {}): AsyncIterable<Iterable<Row>> {
  await loadArrowParquet();
  const parts = (await stat(path)).isFile() ? [{ path }] : await listParts(path, options.partitions);
  for (const part of parts) {
    const bytes = await readFile(part.path);
    const fileColumns = await readingParquet(part.path, () => tableFromIPC(readSchema(bytes).intoIPCStream()).schema.fields.map((field) => field.name));
    const columns = options.columns === undefined ? undefined : projection(fileColumns, options.columns);
    const addPartition = part.key !== undefined && !fileColumns.includes(part.key) && (options.columns?.includes(part.key) ?? true);
    // Also when a caller stops early (the wrong table, refused by its first row), parquetRowGroupBatches frees the row group.
    for await (const batch of parquetRowGroupBatches(part.path, bytes, columns, ROWS_PER_BATCH)) {
      yield addPartition ? withPartition(arrowTableRows(batch), part.key!, part.value!) : arrowTableRows(batch);
    }
  }
}

/** The wanted columns a file has, in the file's order; its first column when it has none of them. */
function projection(fileColumns: readonly string[], wanted: readonly string[]): string[] {
  const kept = fileColumns.filter((name) => wanted.includes(name));
  return kept.length > 0 || fileColumns.length === 0 ? kept : [fileColumns[0]];
}

function* withPartition(rows: Iterable<Row>, key: string, value: string): Iterable<Row> {
  for (const row of rows) {
    row[key] = value;
    yield row;
  }
}
