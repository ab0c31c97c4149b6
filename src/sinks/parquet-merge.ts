// Merging small parts of one partition into one (compaction), and the copy of kept rows from Arrow buffers that a
// merge and a rewrite (parquet-rewrite.ts) share. A merge reads each part, decodes it, concatenates their rows, leaves
// out the rows of forgotten people and copies the rest into the encoder's sealed form, then encodes it: the encoder
// threads run all of it (parquet-encoder-worker.ts), so that a live worker's main thread does none of it (there, a
// merge of 100k rows held the event loop 0.3–2.7 s in all, 37–485 ms at a time, on a shared 2-core VM); a sink without
// encoder threads runs it on its own thread.
//
// apache-arrow and parquet-wasm come from loadArrowParquet (parquet-arrow.ts), never from a static import: the encoder
// threads' bundle would load them at every thread's start (≈ 0.5–0.8 CPU s), whether the sink compacts or not.
import { readFile } from "node:fs/promises";
import type * as Arrow from "apache-arrow";
import { FORGOTTEN_ROW_COLUMNS, isForgottenRow } from "../runtime/tombstones.ts";
import { loadArrowParquet, loadedArrowParquet } from "./parquet-arrow.ts";
import { encodeSealedBatch, encoderReady, type EncodeOptions, type SealedBatch, type SealedColumn } from "./parquet-encoder.ts";
import { readingParquet } from "./parquet-read-error.ts";
import type { ColumnSpec, ColumnType, Row } from "./table.ts";

/** What mergeParts read: the kept rows of the parts it took, as one sealed batch of their columns. */
export interface MergedParts {
  batch: SealedBatch;
  /** The parts merged, in the given order: those that were still there and had the first one's schema. */
  merged: string[];
  rowsRemoved: number;
}

/** A merge encoded: the output's Parquet bytes, the parts it took (in their order) and its rows. */
export interface EncodedMerge {
  bytes: Uint8Array;
  merged: string[];
  rows: number;
  rowsRemoved: number;
}

/**
 * The rows of `files`, each read whole, in the given order, as one sealed batch of their columns (the parts' own
 * types, as a rewrite keeps them), without the rows that name a person of `forgotten` (isForgottenRow). A part that
 * vanished (a forget deleted it), or whose schema differs from the first schema two of them share, is left out.
 * Undefined when fewer than two parts are left. `pause` runs between columns (a caller on a live event loop yields).
 */
export async function mergeParts(
  files: readonly string[],
  forgotten: ReadonlySet<string> | undefined,
  pause: () => Promise<void> = async () => undefined,
): Promise<MergedParts | undefined> {
  await loadArrowParquet();
  const { arrow, wasm } = loadedArrowParquet();
  const read: { file: string; table: Arrow.Table; key: string }[] = [];
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw error;
    }
    const table = await readingParquet(file, () => arrow.tableFromIPC(wasm.readParquet(bytes).intoIPCStream()));
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
  const removed = forgotten === undefined || forgotten.size === 0 ? new Array<boolean>(table.numRows).fill(false) : forgottenRowsOf(table, forgotten);
  const rowsRemoved = removed.reduce((count, gone) => (gone ? count + 1 : count), 0);
  const kept = removed.length - rowsRemoved;
  const columns = table.schema.fields.map((field) => columnSpecOf(field, merged[0]));
  const data: SealedColumn[] = [];
  for (let index = 0; index < columns.length; index++) {
    await pause();
    data.push(keptValuesOf(columns[index], table.getChildAt(index)!.data, removed, kept));
  }
  return { batch: { columns, length: kept, data }, merged, rowsRemoved };
}

/** mergeParts, encoded with `options`; undefined when there is nothing to write (fewer than two parts, or no row kept). */
export async function mergeAndEncode(
  files: readonly string[],
  forgotten: ReadonlySet<string> | undefined,
  options: EncodeOptions,
  pause?: () => Promise<void>,
): Promise<EncodedMerge | undefined> {
  const read = await mergeParts(files, forgotten, pause);
  if (read === undefined || read.batch.length === 0) return undefined;
  await encoderReady(options.compression);
  const rows = read.batch.length;
  return { bytes: encodeSealedBatch(read.batch, options), merged: read.merged, rows, rowsRemoved: read.rowsRemoved };
}

/**
 * Which rows of `table` name a forgotten person: isForgottenRow on each row's FORGOTTEN_ROW_COLUMNS, decoded from the
 * Arrow buffers. Only string columns are read: isForgottenRow looks at string values alone.
 */
function forgottenRowsOf(table: Arrow.Table, forgotten: ReadonlySet<string>): boolean[] {
  const { DataType } = loadedArrowParquet().arrow;
  const rows = Array.from({ length: table.numRows }, (): Row => ({}));
  table.schema.fields.forEach((field, index) => {
    if (!FORGOTTEN_ROW_COLUMNS.includes(field.name) || !DataType.isUtf8(field.type)) return;
    setUtf8Values(rows, field.name, table.getChildAt(index)!.data as Arrow.Data<Arrow.Utf8>[]);
  });
  return rows.map((row) => isForgottenRow(row, forgotten));
}

/** Sets `rows[i][name]` to the i-th value of a Utf8 column (null where absent), decoded straight from its Arrow buffers. */
export function setUtf8Values(rows: Row[], name: string, chunks: readonly Arrow.Data<Arrow.Utf8>[]): void {
  let at = 0;
  for (const data of chunks) {
    const text = Buffer.from(data.values.buffer, data.values.byteOffset, data.values.byteLength);
    const { valueOffsets: offsets, length } = data;
    const nulls = data.nullCount > 0 ? data.nullBitmap! : undefined;
    for (let i = 0; i < length; i++) {
      const bit = data.offset + i;
      const present = nulls === undefined || (nulls[bit >> 3] & (1 << (bit & 7))) !== 0;
      rows[at++][name] = present ? text.toString("utf8", offsets[i], offsets[i + 1]) : null;
    }
  }
}

/**
 * The rows of `table` that `removed` does not mark, as a sealed batch of the part's own columns: fixed-width values,
 * validity bits and string bytes copied from the Arrow buffers. Strings come out in plain form (the writer picks a
 * dictionary where it pays, as for any plain column).
 */
export function keptRowsOf(table: Arrow.Table, removed: readonly boolean[], file: string): SealedBatch {
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
function keptValuesOf(column: ColumnSpec, chunks: readonly Arrow.Data[], removed: readonly boolean[], kept: number): SealedColumn {
  const validity = new Uint8Array((kept + 7) >> 3).fill(0xff);
  if (kept & 7) validity[validity.length - 1] = (1 << (kept & 7)) - 1;
  let nullCount = 0;
  /** Copies the validity bits of a run and returns the chunk's bitmap when it has nulls. */
  const copyValidity = (data: Arrow.Data, from: number, to: number, out: number): Uint8Array | undefined => {
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
        strings.copyRun(data as Arrow.Data<Arrow.Utf8>, from, to);
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
        const child = data.children[0] as Arrow.Data<Arrow.Utf8>;
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
  chunks: readonly Arrow.Data[],
  removed: readonly boolean[],
  run: (data: Arrow.Data, from: number, to: number, out: number) => void,
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
  copyRun(data: Arrow.Data<Arrow.Utf8>, from: number, to: number): void {
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
function columnSpecOf(field: Arrow.Field, file: string): ColumnSpec {
  const type = columnTypeOf(field.type);
  if (type === undefined) throw new Error(`${file}: column ${field.name} has type ${String(field.type)}, which clickpipe does not write`);
  return { name: field.name, type, nullable: field.nullable };
}

function columnTypeOf(type: Arrow.DataType): ColumnType | undefined {
  const { DataType, TimeUnit } = loadedArrowParquet().arrow;
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
