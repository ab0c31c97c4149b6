// Erasing rows from committed Parquet parts in place (`clickpipe forget`, and a worker catching up on new tombstones):
// each part that loses rows is rewritten with its own schema, atomically, or deleted when nothing is left.
import { open, readFile, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DataType, TimeUnit, tableFromIPC, type Field } from "apache-arrow";
import { readParquet, readSchema } from "parquet-wasm";
import { syncDirectory } from "../runtime/checkpoint.ts";
import { encodeParquet, type ParquetCompression } from "./parquet-encoder.ts";
import { arrowTableToRows } from "./parquet-reader.ts";
import type { ColumnSpec, ColumnType, Row } from "./table.ts";

export interface RewriteOptions {
  compression: ParquetCompression;
  rowGroupSize: number;
}

export type PartChange = { rowsRemoved: number; deleted: boolean };

/** Complete data files only: `.inprogress` parts and `_`/`.` folders (checkpoints) are not tables, as for Hive readers. */
export async function parquetFilesUnder(directory: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith("_") || entry.name.startsWith(".")) continue;
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await parquetFilesUnder(path)));
    else if (entry.isFile() && entry.name.endsWith(".parquet")) files.push(path);
  }
  return files;
}

/**
 * The data files under `directory` whose inode changed at or after `sinceMs` (a commit renames a part into place,
 * which sets its ctime, even when its bytes were written long before).
 */
export async function parquetFilesChangedSince(directory: string, sinceMs: number): Promise<string[]> {
  const changed: string[] = [];
  for (const file of await parquetFilesUnder(directory)) {
    const info = await stat(file).catch(() => undefined);
    if (info !== undefined && info.ctimeMs >= sinceMs) changed.push(file);
  }
  return changed;
}

export async function readParquetWithColumns(file: string, bytes?: Uint8Array): Promise<{ columns: ColumnSpec[]; rows: Row[] }> {
  const table = tableFromIPC(readParquet(bytes ?? (await readFile(file))).intoIPCStream());
  return { columns: table.schema.fields.map((field) => columnSpecOf(field, file)), rows: arrowTableToRows(table) };
}

/**
 * The rows of a part with only those of `wanted` columns it has (none: an empty list of rows with no fields). Reading a
 * few id columns of a part costs a fraction of reading it whole, and most parts hold no row a forget picks.
 */
export function readParquetProjection(bytes: Uint8Array, wanted: readonly string[]): Row[] {
  const present = new Set(tableFromIPC(readSchema(bytes).intoIPCStream()).schema.fields.map((field) => field.name));
  const columns = wanted.filter((name) => present.has(name));
  if (columns.length === 0) return [];
  return arrowTableToRows(tableFromIPC(readParquet(bytes, { columns }).intoIPCStream()));
}

/**
 * Removes the rows `remove` picks from one part: rewritten atomically with the rest (its schema kept), deleted when
 * none is left, untouched when none is picked. Undefined for a part that vanished meanwhile (another rewrite).
 * `remove` reads only the columns `reads` names: the part is read whole only when a row of those columns is picked.
 */
export async function removeRowsFromPart(
  file: string,
  remove: (row: Row) => boolean,
  options: RewriteOptions,
  reads: readonly string[],
): Promise<PartChange | undefined> {
  let read;
  try {
    const bytes = await readFile(file);
    if (!readParquetProjection(bytes, reads).some(remove)) return { rowsRemoved: 0, deleted: false };
    read = await readParquetWithColumns(file, bytes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const kept = read.rows.filter((row) => !remove(row));
  const rowsRemoved = read.rows.length - kept.length;
  if (rowsRemoved === 0) return { rowsRemoved, deleted: false };
  if (kept.length === 0) {
    await unlink(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
    await syncDirectory(dirname(file));
    return { rowsRemoved, deleted: true };
  }
  await replaceFileDurably(file, await encodeParquet(read.columns, kept, { compression: options.compression, rowGroupSize: options.rowGroupSize }));
  return { rowsRemoved, deleted: false };
}

/** The sink's column type an Arrow field was written from, so a rewritten file keeps its schema. */
function columnSpecOf(field: Field, file: string): ColumnSpec {
  const type = columnTypeOf(field.type);
  if (type === undefined) throw new Error(`${file}: column ${field.name} has type ${String(field.type)}, which clickpipe does not write`);
  return { name: field.name, type, nullable: field.nullable };
}

function columnTypeOf(type: DataType): ColumnType | undefined {
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return "string";
  if (DataType.isInt(type)) return type.bitWidth === 64 ? "int64" : type.bitWidth === 32 ? "int32" : undefined;
  if (DataType.isFloat(type)) return "float64";
  if (DataType.isBool(type)) return "bool";
  if (DataType.isTimestamp(type)) return type.unit === TimeUnit.MILLISECOND ? "timestamp" : undefined;
  if (DataType.isDate(type)) return "date";
  if (DataType.isList(type)) {
    const item = type.children[0].type;
    return DataType.isUtf8(item) || DataType.isLargeUtf8(item) ? "list<string>" : undefined;
  }
  return undefined;
}

let rewrites = 0;

/**
 * Writes a temporary file beside `file`, fsyncs it, renames it over the file and fsyncs the folder: readers see the
 * old file or the new, never a part. The temporary name is this process's and this call's own, so `forget` and a
 * worker rewriting the same part at once (both remove the same rows: the same bytes) never write into one file.
 */
async function replaceFileDurably(file: string, bytes: Uint8Array): Promise<void> {
  const temporary = `${file}.${process.pid}-${++rewrites}.tmp`;
  const handle = await open(temporary, "w");
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(temporary, file);
  await syncDirectory(dirname(file));
}
