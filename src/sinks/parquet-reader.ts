// Reads Parquet back into plain rows (timestamps as epoch ms, int64 as numbers, dates as "YYYY-MM-DD", lists as arrays).
import { openAsBlob } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { DataType, tableFromIPC, type Table as ArrowTable, type Vector } from "apache-arrow";
import { ParquetFile, readParquet } from "parquet-wasm";
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
async function listParts(
  directory: string,
  partitions: string[] | undefined,
): Promise<{ key?: string; value?: string; path: string }[]> {
  const parts: { key?: string; value?: string; path: string }[] = [];
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

/**
 * Streams a table folder's rows file by file and row group by row group, adding the Hive partition column
 * (as a string) when the file does not carry it. `partitions` keeps only these values (or `key=value` names).
 */
export async function* readParquetTable(directory: string, options: { partitions?: string[] } = {}): AsyncIterable<Row> {
  for (const part of await listParts(directory, options.partitions)) {
    const blob = await openAsBlob(part.path);
    const file = await readingParquet(part.path, () => ParquetFile.fromFile(blob));
    try {
      const rowGroups = file.metadata().numRowGroups();
      for (let rowGroup = 0; rowGroup < rowGroups; rowGroup++) {
        const batch = await readingParquet(part.path, async () => tableFromIPC((await file.read({ rowGroups: [rowGroup] })).intoIPCStream()));
        const rows = arrowTableToRows(batch);
        for (const row of rows) {
          if (part.key !== undefined && !(part.key in row)) row[part.key] = part.value;
          yield row;
        }
      }
    } finally {
      file.free();
    }
  }
}
