// Erasing rows from committed Parquet parts in place (`clickpipe forget`, and a worker catching up on new tombstones):
// each part that loses rows is rewritten with its own schema, atomically, or deleted when nothing is left.
//
// apache-arrow and parquet-wasm come from loadArrowParquet (parquet-arrow.ts), never from a static import: a worker
// imports this module for its file listing at start-up, and its main thread loads them only when it rewrites a part
// itself (a sink without encoder threads, `clickpipe forget`). Compaction's row counts come from parquet-footer.ts.
import { closeSync, fstatSync, openSync, readSync, type BigIntStats } from "node:fs";
import { open, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { threadId } from "node:worker_threads";
import type { Data, DataType, Table as ArrowTable, Utf8, Vector } from "apache-arrow";
import type { Schema } from "parquet-wasm";
import { syncDirectory } from "../runtime/checkpoint.ts";
import { FORGOTTEN_ROW_COLUMNS, isForgottenRow } from "../runtime/tombstones.ts";
import { crashIfInjectedInRewrite } from "../runtime/fault-injection.ts";
import { loadArrowParquet, loadedArrowParquet, parquetRowGroupBatches } from "./parquet-arrow.ts";
import { encodeSealedBatch, encoderReady, type ParquetCompression } from "./parquet-encoder.ts";
import { keptRowsOf, setUtf8Values } from "./parquet-merge.ts";
import { temporaryPartName, thisProcessAsWriter, type TemporaryWriter } from "./part-temporaries.ts";
import { readingParquet } from "./parquet-read-error.ts";
import { utcDay, type Row } from "./table.ts";

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

/**
 * The rows of a part with only those of `wanted` columns it has (none: an empty list of rows with no fields). A part
 * whose schema has none of them is not read past its footer (most of a lake's bytes are in tables with no person
 * column); a part that has one is decoded a row group at a time and only those columns become rows.
 * bench/OPTIMIZATIONS.md, session 37.
 */
export async function readParquetProjection(file: string, wanted: readonly string[]): Promise<Row[]> {
  return (await readColumnsOfPart(file, wanted)).rows;
}

/**
 * One version of a part's file: device, inode, size, and modification and change times in nanoseconds. A rewrite
 * renames a new file (inode) over the path; a write in place would change the times.
 */
export type PartVersion = string;

/** readParquetProjection, and the version of the file the rows were read from. */
export async function readPartProjection(file: string, wanted: readonly string[]): Promise<{ rows: Row[]; version: PartVersion }> {
  const { rows, version } = await readColumnsOfPart(file, wanted);
  return { rows, version };
}

/** The version of the file at `path` now; undefined when there is none. */
export async function partVersion(path: string): Promise<PartVersion | undefined> {
  try {
    return versionOf(await stat(path, { bigint: true }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function versionOf(info: BigIntStats): PartVersion {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

const PARQUET_MAGIC = Buffer.from("PAR1", "latin1");

/**
 * `wanted`'s columns of a part, and its bytes when it has one of them. Everything comes through one file descriptor,
 * so from one file even when a rewrite renames another over the path meanwhile. (parquet-wasm reading a Blob of
 * `openAsBlob` instead aborts the process, a WebAssembly `unreachable`, when the file changes under it.) The reads
 * are synchronous: a footer is a few KiB, and a lake's thousand parts cost more in promise round trips than in reading.
 *
 * A part with a wanted column is decoded by parquetRowGroupBatches, a row group at a time and every column of it
 * (readParquet ignores `columns` in 0.8.0): parquet-wasm's ParquetFile, which decoded only the columns, panics on a
 * corrupt data page, an uncaught WebAssembly `unreachable` that kills the process (an encoder thread's too) and names
 * no file, where this rejects with a ParquetReadError naming the part. Strings are decoded straight from the Arrow
 * buffers: Arrow's per-value `get` cost more than the decoding.
 */
async function readColumnsOfPart(
  path: string,
  wanted: readonly string[],
  whole = false,
): Promise<{ rows: Row[]; version: PartVersion; bytes?: Uint8Array; table?: ArrowTable }> {
  await loadArrowParquet();
  const { arrow, wasm } = loadedArrowParquet();
  let bytes: Uint8Array | undefined;
  let columns: string[];
  let version: PartVersion;
  const fd = openSync(path, "r");
  try {
    const info = fstatSync(fd, { bigint: true });
    const size = Number(info.size);
    version = versionOf(info);
    const footer = footerOf(fd, size);
    if (footer === undefined) bytes = readWhole(fd, size, path);
    // A column's name is in the footer's bytes (its schema element and each chunk's path): a part whose footer holds
    // none of the wanted names (most of a lake's parts) is settled without parsing it.
    const named = footer === undefined ? wanted : wanted.filter((name) => footer.includes(name));
    columns = named.length === 0 ? [] : columnsPresent(await readingParquet(path, () => wasm.readSchema(footer ?? bytes!)), named);
    if (columns.length > 0) bytes ??= readWhole(fd, size, path);
  } finally {
    closeSync(fd);
  }
  if (columns.length === 0 || bytes === undefined) return { rows: [], version };
  if (whole) {
    // Decoded whole at once, for a part that is likely to be rewritten: its rows are picked from that table.
    const table = await readingParquet(path, () => arrow.tableFromIPC(wasm.readParquet(bytes).intoIPCStream()));
    return { rows: projectedRows(table.select(columns)), version, bytes, table };
  }
  const rows: Row[] = [];
  for await (const batch of parquetRowGroupBatches(path, bytes, columns, ROWS_PER_BATCH)) for (const row of projectedRows(batch)) rows.push(row);
  return { rows, version, bytes };
}

/** Rows per Arrow batch of a row group read for its columns: each batch's Arrow buffers go once its rows are made. */
const ROWS_PER_BATCH = 16_384;

/** The part's bytes, all `size` of them. */
function readWhole(fd: number, size: number, path: string): Uint8Array {
  const bytes = Buffer.allocUnsafeSlow(size);
  let at = 0;
  while (at < size) {
    const read = readSync(fd, bytes, at, size - at, at);
    if (read === 0) throw new Error(`${path}: read ${at} bytes of ${size}`);
    at += read;
  }
  return bytes;
}

/** Footers up to this size come with the part's last bytes in one read. */
const TAIL_BYTES = 64 << 10;

/**
 * The part's footer as a file of its own ("PAR1", the metadata, its length, "PAR1"): enough for readSchema, which
 * parses the metadata only, without reading the column chunks. Undefined when the tail is not a Parquet footer
 * (the whole file then goes to readSchema, whose error names what is wrong).
 */
function footerOf(fd: number, size: number): Buffer | undefined {
  if (size < 12) return undefined;
  const tailLength = Math.min(size, TAIL_BYTES);
  const tail = Buffer.allocUnsafe(tailLength);
  if (readSync(fd, tail, 0, tailLength, size - tailLength) !== tailLength) return undefined;
  const length = tail.readUInt32LE(tailLength - 8);
  if (!tail.subarray(tailLength - 4).equals(PARQUET_MAGIC) || length + 12 > size) return undefined;
  const footer = Buffer.allocUnsafe(length + 12);
  PARQUET_MAGIC.copy(footer, 0);
  if (length + 8 <= tailLength) tail.copy(footer, 4, tailLength - 8 - length);
  else if (readSync(fd, footer, 4, length + 8, size - 8 - length) !== length + 8) return undefined;
  return footer;
}

/** Those of `wanted` that the schema has, in `wanted`'s order; frees the schema. */
function columnsPresent(schema: Schema, wanted: readonly string[]): string[] {
  try {
    return wanted.filter((name) => {
      try {
        return schema.indexOf(name) >= 0;
      } catch {
        return false; // arrow-rs: "Unable to get field named …"
      }
    });
  } finally {
    schema.free();
  }
}

/** Plain rows of a (projected) Arrow table: strings decoded from its buffers, other types as parquet-reader.ts reads them. */
function projectedRows(table: ArrowTable): Row[] {
  const { DataType } = loadedArrowParquet().arrow;
  const rows = Array.from({ length: table.numRows }, (): Row => ({}));
  table.schema.fields.forEach((field, index) => {
    if (!DataType.isUtf8(field.type)) {
      const vector = table.getChildAt(index)!;
      const plain = plainValueOf(field.type);
      for (let i = 0; i < rows.length; i++) rows[i][field.name] = plain(vector.get(i));
      return;
    }
    setUtf8Values(rows, field.name, table.getChildAt(index)!.data as Data<Utf8>[]);
  });
  return rows;
}

/**
 * How a value of an Arrow type becomes a plain JS value, as arrowTableToRows (parquet-reader.ts) converts it: that
 * module imports apache-arrow statically, which this one must not (see the top).
 */
function plainValueOf(type: DataType): (value: unknown) => unknown {
  const { DataType: Types } = loadedArrowParquet().arrow;
  const int64ToNumber = (value: unknown) => (typeof value === "bigint" ? Number(value) : value);
  if ((Types.isInt(type) && type.bitWidth === 64) || Types.isTimestamp(type)) return int64ToNumber;
  if (Types.isDate(type)) return (value) => (typeof value === "number" ? utcDay(value) : value);
  if (Types.isList(type)) {
    const item = plainValueOf(type.children[0].type);
    return (value) => (value == null ? value : Array.from(value as Vector, (v) => item(v)));
  }
  return (value) => value;
}

/**
 * Removes the rows `remove` picks from one part: rewritten atomically with the rest (its schema kept), deleted when
 * none is left, untouched when none is picked. Undefined for a part that vanished meanwhile (another rewrite).
 * `remove` reads only the columns `reads` names: it runs on those columns alone, and the part is decoded whole only
 * when it picks a row. The kept rows are then copied column by column from the Arrow buffers into the encoder's
 * sealed form (no row objects), and encoded with the part's own column types.
 */
export async function removeRowsFromPart(
  file: string,
  remove: (row: Row) => boolean,
  options: RewriteOptions,
  reads: readonly string[],
  /** The caller expects rows to go (it saw them): the part is decoded whole at once instead of its `reads` first. */
  likely = false,
): Promise<PartChange | undefined> {
  // A part replaced or deleted between the read and the rename (a worker's merge deleting its inputs, another
  // rewrite) is read again: renaming the rewrite over it would bring back a part a merge had taken in.
  for (let attempt = 1; ; attempt++) {
    const change = await removeRowsFromPartOnce(file, remove, options, reads, likely);
    if (change !== "changed") return change;
    if (attempt >= 5) throw new Error(`${file}: changed under every one of ${attempt} rewrites`);
  }
}

async function removeRowsFromPartOnce(
  file: string,
  remove: (row: Row) => boolean,
  options: RewriteOptions,
  reads: readonly string[],
  likely: boolean,
): Promise<PartChange | undefined | "changed"> {
  let read;
  try {
    read = await readColumnsOfPart(file, reads, likely);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const picked = read.rows.map(remove);
  const rowsRemoved = picked.reduce((count, removed) => (removed ? count + 1 : count), 0);
  if (rowsRemoved === 0) return { rowsRemoved, deleted: false };
  if (rowsRemoved === picked.length) {
    await unlink(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
    await syncDirectory(dirname(file));
    return { rowsRemoved, deleted: true };
  }
  // The same bytes the rows were picked from, decoded whole.
  const { arrow, wasm } = loadedArrowParquet();
  const table = read.table ?? (await readingParquet(file, () => arrow.tableFromIPC(wasm.readParquet(read.bytes!).intoIPCStream())));
  if (table.numRows !== picked.length) throw new Error(`${file}: ${table.numRows} rows read whole, ${picked.length} by its person columns`);
  const batch = keptRowsOf(table, picked, file);
  await encoderReady(options.compression);
  const replaced = await replaceFileDurably(file, encodeSealedBatch(batch, { compression: options.compression, rowGroupSize: options.rowGroupSize }), read.version);
  return replaced ? { rowsRemoved, deleted: false } : "changed";
}

/**
 * Removes the rows that name a person of `forgotten` (isForgottenRow on FORGOTTEN_ROW_COLUMNS) from each of `files`
 * in turn, as removeRowsFromPart: a worker catching up on tombstones that changed since its parts were written. It
 * runs on an encoder thread (parquet-encoder-worker.ts), or on the thread of a sink without them.
 */
export async function eraseForgottenFromParts(
  files: readonly string[],
  forgotten: ReadonlySet<string>,
  options: RewriteOptions,
): Promise<(PartChange | undefined)[]> {
  const changes: (PartChange | undefined)[] = [];
  for (const file of files) changes.push(await removeRowsFromPart(file, (row) => isForgottenRow(row, forgotten), options, FORGOTTEN_ROW_COLUMNS));
  return changes;
}

let rewrites = 0;
let writer: TemporaryWriter | undefined;

/**
 * Writes a temporary file beside `file`, fsyncs it, renames it over the file and fsyncs the folder: readers see the
 * old file or the new, never a part. The temporary name is this process's, thread's and call's own, so `forget` and a
 * worker rewriting the same part at once (both remove the same rows: the same bytes), or two tasks of a partitioned
 * worker on two encoder threads (each with a count of its own), never write into one file; it names the host and the
 * process, so that recovery deletes it only once that process is gone (part-temporaries.ts), after a kill -9 here.
 * Returns false, renaming nothing, when the file is no longer the version the rows were read from.
 */
async function replaceFileDurably(file: string, bytes: Uint8Array, expected: PartVersion): Promise<boolean> {
  writer ??= thisProcessAsWriter();
  const temporary = temporaryPartName(file, writer, threadId, ++rewrites);
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
  crashIfInjectedInRewrite();
  // Checked just before the rename (a window of one system call, not closed: see the README on forget and compaction).
  if ((await partVersion(file)) !== expected) {
    await unlink(temporary).catch(() => undefined);
    return false;
  }
  await rename(temporary, file);
  await syncDirectory(dirname(file));
  return true;
}
