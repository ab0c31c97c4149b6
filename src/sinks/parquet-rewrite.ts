// Erasing rows from committed Parquet parts in place (`clickpipe forget`, and a worker catching up on new tombstones):
// each part that loses rows is rewritten with its own schema, atomically, or deleted when nothing is left.
import { closeSync, fstatSync, openSync, readSync, type BigIntStats } from "node:fs";
import { open, readFile, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DataType, TimeUnit, tableFromIPC, type Data, type Field, type Table as ArrowTable, type Utf8 } from "apache-arrow";
import { ParquetFile, readParquet, readSchema, type Schema } from "parquet-wasm";
import { syncDirectory } from "../runtime/checkpoint.ts";
import { encodeSealedBatch, encoderReady, type ParquetCompression, type SealedBatch, type SealedColumn } from "./parquet-encoder.ts";
import { arrowTableToRows, ParquetReadError, readingParquet } from "./parquet-reader.ts";
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

/**
 * The rows of a part with only those of `wanted` columns it has (none: an empty list of rows with no fields). A part
 * whose schema has none of them is not read past its footer (most of a lake's bytes are in tables with no person
 * column), and only those columns are decoded. bench/OPTIMIZATIONS.md, session 37.
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
 * Read through parquet-wasm's ParquetFile: its synchronous readParquet ignores `columns` and decodes every column
 * (0.8.0), which made the "projection" a whole read of every part, twice per forget. Strings are decoded straight from
 * the Arrow buffers: Arrow's per-value `get` cost more than the decoding.
 */
async function readColumnsOfPart(
  path: string,
  wanted: readonly string[],
  whole = false,
): Promise<{ rows: Row[]; version: PartVersion; bytes?: Uint8Array; table?: ArrowTable }> {
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
    columns = named.length === 0 ? [] : columnsPresent(await readingParquet(path, () => readSchema(footer ?? bytes!)), named);
    if (columns.length > 0) bytes ??= readWhole(fd, size, path);
  } finally {
    closeSync(fd);
  }
  if (columns.length === 0 || bytes === undefined) return { rows: [], version };
  if (whole) {
    // Decoded whole at once, for a part that is likely to be rewritten: its rows are picked from that table.
    const table = await readingParquet(path, () => tableFromIPC(readParquet(bytes).intoIPCStream()));
    return { rows: projectedRows(table.select(columns)), version, bytes, table };
  }
  const read = bytes;
  const file = await readingParquet(path, () => ParquetFile.fromFile(new Blob([read])));
  try {
    const table = await readingParquet(path, async () => tableFromIPC((await file.read({ columns })).intoIPCStream()));
    return { rows: projectedRows(table), version, bytes };
  } finally {
    file.free();
  }
}

/** A part's row count, from its footer alone (the compaction policy's screen); undefined when the part is gone. */
export async function partRowCount(path: string): Promise<number | undefined> {
  let footer: Buffer | undefined;
  try {
    const fd = openSync(path, "r");
    try {
      footer = footerOf(fd, Number(fstatSync(fd).size));
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  if (footer === undefined) throw new ParquetReadError(path, new Error("no Parquet footer at its end"));
  const read = footer;
  const file = await readingParquet(path, () => ParquetFile.fromFile(new Blob([read])));
  try {
    return file.metadata().fileMetadata().numRows();
  } finally {
    file.free();
  }
}

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

/** Plain rows of a (projected) Arrow table: strings decoded from its buffers, other types as arrowTableToRows. */
function projectedRows(table: ArrowTable): Row[] {
  const others = table.schema.fields.filter((field) => !DataType.isUtf8(field.type)).map((field) => field.name);
  const rows = others.length > 0 ? arrowTableToRows(table.select(others)) : Array.from({ length: table.numRows }, (): Row => ({}));
  table.schema.fields.forEach((field, index) => {
    if (!DataType.isUtf8(field.type)) return;
    let at = 0;
    for (const data of table.getChildAt(index)!.data as Data<Utf8>[]) {
      const text = bufferOf(data.values);
      const { valueOffsets: offsets, length } = data;
      const nulls = data.nullCount > 0 ? data.nullBitmap! : undefined;
      for (let i = 0; i < length; i++) {
        const bit = data.offset + i;
        const present = nulls === undefined || (nulls[bit >> 3] & (1 << (bit & 7))) !== 0;
        rows[at++][field.name] = present ? text.toString("utf8", offsets[i], offsets[i + 1]) : null;
      }
    }
  });
  return rows;
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** What mergeParts read: the kept rows of the parts it took, as one sealed batch of their columns. */
export interface MergedParts {
  batch: SealedBatch;
  /** The parts merged, in the given order: those that were still there and had the first one's schema. */
  merged: string[];
  rowsRemoved: number;
}

/**
 * The rows of `files`, each read whole, in the given order, as one sealed batch of their columns (the parts' own
 * types, as a rewrite keeps them), without the rows `remove` picks (it sees the `reads` columns a part has). A part
 * that vanished (a forget deleted it), or whose schema differs from the first schema two of them share, is left out.
 * Undefined when fewer than two parts are left.
 */
export async function mergeParts(
  files: readonly string[],
  remove: ((row: Row) => boolean) | undefined,
  reads: readonly string[],
): Promise<MergedParts | undefined> {
  const read: { file: string; table: ArrowTable; key: string }[] = [];
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw error;
    }
    const table = await readingParquet(file, () => tableFromIPC(readParquet(bytes).intoIPCStream()));
    read.push({ file, table, key: table.schema.fields.map((field) => `${field.name}:${String(field.type)}:${field.nullable}`).join(",") });
  }
  // The first schema that two of the parts share (a table whose columns changed between versions merges each
  // version's parts apart), so one odd part never stops a folder's merges.
  const schemaKey = read.find((part) => read.filter((other) => other.key === part.key).length >= 2)?.key;
  const same = read.filter((part) => part.key === schemaKey);
  if (same.length < 2) return undefined;
  const tables = same.map((part) => part.table);
  const merged = same.map((part) => part.file);
  const table = tables[0].concat(...tables.slice(1));
  let removed: boolean[] = new Array<boolean>(table.numRows).fill(false);
  if (remove !== undefined) {
    const columns = reads.filter((name) => table.schema.fields.some((field) => field.name === name));
    if (columns.length > 0) removed = projectedRows(table.select(columns)).map(remove);
  }
  const rowsRemoved = removed.reduce((count, gone) => (gone ? count + 1 : count), 0);
  // Column by column, letting the event loop run between them: a merge of 100k rows of `sessions` copied at once held a
  // live worker's loop for a few hundred ms; one column at a time, a few tens at most.
  const kept = removed.length - rowsRemoved;
  const columns = table.schema.fields.map((field) => columnSpecOf(field, merged[0]));
  const data: SealedColumn[] = [];
  for (let index = 0; index < columns.length; index++) {
    await new Promise((resolve) => setImmediate(resolve));
    data.push(keptValuesOf(columns[index], table.getChildAt(index)!.data, removed, kept));
  }
  return { batch: { columns, length: kept, data }, merged, rowsRemoved };
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
  const table = read.table ?? (await readingParquet(file, () => tableFromIPC(readParquet(read.bytes!).intoIPCStream())));
  if (table.numRows !== picked.length) throw new Error(`${file}: ${table.numRows} rows read whole, ${picked.length} by its person columns`);
  const batch = keptRowsOf(table, picked, file);
  await encoderReady(options.compression);
  const replaced = await replaceFileDurably(file, encodeSealedBatch(batch, { compression: options.compression, rowGroupSize: options.rowGroupSize }), read.version);
  return replaced ? { rowsRemoved, deleted: false } : "changed";
}

/**
 * The rows of `table` that `removed` does not mark, as a sealed batch of the part's own columns: fixed-width values,
 * validity bits and string bytes copied from the Arrow buffers. Strings come out in plain form (the writer picks a
 * dictionary where it pays, as for any plain column).
 */
export function keptRowsOf(table: ArrowTable, removed: readonly boolean[], file: string): SealedBatch {
  const kept = removed.reduce((count, gone) => (gone ? count : count + 1), 0);
  const columns = table.schema.fields.map((field) => columnSpecOf(field, file));
  const data = columns.map((column, index) => keptValuesOf(column, table.getChildAt(index)!.data, removed, kept));
  return { columns, length: kept, data };
}

/**
 * One column's kept slots; `chunks` are its Arrow data in row order (one per record batch). Kept rows come in long
 * runs (a forget removes a few rows of a part): values and string bytes are copied a run at a time, validity bits
 * one by one only where the chunk has nulls.
 */
function keptValuesOf(column: ColumnSpec, chunks: readonly Data[], removed: readonly boolean[], kept: number): SealedColumn {
  const validity = new Uint8Array((kept + 7) >> 3).fill(0xff);
  if (kept & 7) validity[validity.length - 1] = (1 << (kept & 7)) - 1;
  let nullCount = 0;
  /** Copies the validity bits of a run and returns the chunk's bitmap when it has nulls. */
  const copyValidity = (data: Data, from: number, to: number, out: number): Uint8Array | undefined => {
    if (data.nullCount === 0) return undefined;
    const bits = data.nullBitmap!;
    for (let i = from; i < to; i++, out++) {
      const bit = data.offset + i;
      if ((bits[bit >> 3] & (1 << (bit & 7))) !== 0) continue;
      validity[out >> 3] &= ~(1 << (out & 7));
      nullCount++;
    }
    return bits;
  };
  switch (column.type) {
    case "int32":
    case "date":
    case "float64":
    case "int64":
    case "timestamp": {
      const wide = column.type === "int64" || column.type === "timestamp";
      const values = column.type === "float64" ? new Float64Array(kept) : wide ? new BigInt64Array(kept) : new Int32Array(kept);
      forEachKeptRun(chunks, removed, (data, from, to, out) => {
        const source = data.values as Int32Array | Float64Array | BigInt64Array;
        if (wide !== (source instanceof BigInt64Array)) throw new Error(`column ${column.name} (${column.type}): unexpected Arrow buffer ${source.constructor.name}`);
        // Null slots' values come along: the writer reads only present ones.
        values.set(source.subarray(from, to) as never, out);
        copyValidity(data, from, to, out);
      });
      return { nullCount, validity, values };
    }
    case "bool": {
      const values = new Uint8Array((kept + 7) >> 3);
      forEachKeptRun(chunks, removed, (data, from, to, out) => {
        const bits = data.values as Uint8Array;
        const nulls = copyValidity(data, from, to, out);
        for (let i = from; i < to; i++, out++) {
          const bit = data.offset + i;
          if (nulls !== undefined && (nulls[bit >> 3] & (1 << (bit & 7))) === 0) continue;
          if ((bits[bit >> 3] & (1 << (bit & 7))) !== 0) values[out >> 3] |= 1 << (out & 7);
        }
      });
      return { nullCount, validity, values };
    }
    case "string": {
      const strings = new StringCopier(chunks.reduce((bytes, data) => bytes + data.values.byteLength, 0), kept);
      forEachKeptRun(chunks, removed, (data, from, to, out) => {
        copyValidity(data, from, to, out);
        strings.copyRun(data as Data<Utf8>, from, to);
      });
      return { nullCount, validity, ...strings.seal() };
    }
    case "list<string>": {
      const offsets = new Int32Array(kept + 1);
      const items = new StringCopier(
        chunks.reduce((bytes, data) => bytes + data.children[0].values.byteLength, 0),
        chunks.reduce((count, data) => count + data.children[0].length, 0),
      );
      const itemValidity = new Uint8Array((items.capacity + 7) >> 3).fill(0xff);
      let itemNullCount = 0;
      forEachKeptRun(chunks, removed, (data, from, to, out) => {
        const lists = data.valueOffsets as Int32Array;
        const child = data.children[0] as Data<Utf8>;
        const nulls = copyValidity(data, from, to, out);
        const itemNulls = child.nullCount > 0 ? child.nullBitmap! : undefined;
        for (let i = from; i < to; i++) {
          const bit = data.offset + i;
          // A null list has no items here (the writer takes a row with items for a present list).
          if (nulls === undefined || (nulls[bit >> 3] & (1 << (bit & 7))) !== 0) {
            if (itemNulls !== undefined) {
              for (let item = lists[i]; item < lists[i + 1]; item++) {
                const itemBit = child.offset + item;
                if ((itemNulls[itemBit >> 3] & (1 << (itemBit & 7))) !== 0) continue;
                const slot = items.count + item - lists[i];
                itemValidity[slot >> 3] &= ~(1 << (slot & 7));
                itemNullCount++;
              }
            }
            items.copyRun(child, lists[i], lists[i + 1]);
          }
          offsets[++out] = items.count;
        }
      });
      const { values, offsets: itemOffsets } = items.seal();
      return {
        nullCount,
        validity,
        values,
        offsets,
        itemOffsets,
        itemValidity: itemValidity.subarray(0, (items.count + 7) >> 3),
        itemNullCount,
      };
    }
  }
}

/** Calls `run(data, from, to, out)` for each run [from, to) of kept rows of each chunk, `out` the run's first slot. */
function forEachKeptRun(
  chunks: readonly Data[],
  removed: readonly boolean[],
  run: (data: Data, from: number, to: number, out: number) => void,
): void {
  let row = 0;
  let out = 0;
  for (const data of chunks) {
    let i = 0;
    while (i < data.length) {
      while (i < data.length && removed[row + i]) i++;
      const from = i;
      while (i < data.length && !removed[row + i]) i++;
      if (i > from) run(data, from, i, out);
      out += i - from;
    }
    row += data.length;
  }
}

/** Kept strings in plain form: their UTF-8 bytes one after another and an offset per slot (one more than slots). */
class StringCopier {
  private readonly bytes: Uint8Array;
  private readonly offsets: Int32Array;
  private length = 0;
  count = 0;
  constructor(
    byteCapacity: number,
    readonly capacity: number,
  ) {
    this.bytes = new Uint8Array(byteCapacity);
    this.offsets = new Int32Array(capacity + 1);
  }
  /** Appends the strings [from, to) of an Arrow string array (a null's segment is empty, as arrow-rs reads them). */
  copyRun(data: Data<Utf8>, from: number, to: number): void {
    const source = data.valueOffsets;
    const start = source[from];
    this.bytes.set(data.values.subarray(start, source[to]), this.length);
    const shift = this.length - start;
    for (let i = from; i < to; i++) this.offsets[++this.count] = source[i + 1] + shift;
    this.length += source[to] - start;
  }
  seal(): { values: Uint8Array; offsets: Int32Array } {
    return { values: this.bytes.subarray(0, this.length), offsets: this.offsets.subarray(0, this.count + 1) };
  }
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
 * Returns false, renaming nothing, when the file is no longer the version the rows were read from.
 */
async function replaceFileDurably(file: string, bytes: Uint8Array, expected: PartVersion): Promise<boolean> {
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
  // Checked just before the rename (a window of one system call, not closed: see the README on forget and compaction).
  if ((await partVersion(file)) !== expected) {
    await unlink(temporary).catch(() => undefined);
    return false;
  }
  await rename(temporary, file);
  await syncDirectory(dirname(file));
  return true;
}
