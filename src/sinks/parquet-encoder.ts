// Row objects → columnar buffers → Parquet bytes: the pure encoder shared by the worker thread and the in-thread path.
import { encodeWithParquetWasm, loadArrowParquet } from "./parquet-arrow.ts";
import { DICTIONARY_BYTE_LIMIT, DICTIONARY_SAMPLE, writeParquetFile } from "./parquet-writer.ts";
import type { ColumnSpec, Row } from "./table.ts";

export type ParquetCompression = "zstd" | "snappy" | "none";

export interface EncodeOptions {
  compression: ParquetCompression;
  /** Maximum rows per Parquet row group. */
  rowGroupSize: number;
}

/** A value that does not fit its column: a bug in whatever produced the row, named precisely. */
export class ParquetEncodeError extends Error {
  override name = "ParquetEncodeError";
}

/**
 * One column's finished buffers, plain typed arrays so they cross to a worker thread by transfer.
 * `values` holds fixed-width values, or the UTF-8 bytes of strings / list items; `offsets` the string or list offsets;
 * `itemOffsets`/`itemValidity` the strings inside a list.
 *
 * Strings (of a string column, or the items of a list column) come in one of two forms. Plain: `values[offsets[i],
 * offsets[i + 1])` is string i (`itemOffsets` for items). Dictionary: `ids[i]` is the entry of string i, entry e being
 * `values[entryOffsets[e], entryOffsets[e + 1])` (absent strings have id -1); `offsets` is then a list column's item
 * offsets only, and absent for a string column.
 */
export interface SealedColumn {
  nullCount: number;
  validity: Uint8Array;
  values: Uint8Array | Int32Array | Float64Array | BigInt64Array;
  offsets?: Int32Array;
  itemOffsets?: Int32Array;
  itemValidity?: Uint8Array;
  itemNullCount?: number;
  /** Dictionary form: the entry of each string (row of a string column, item of a list column). */
  ids?: Int32Array;
  /** Dictionary form: the entries' byte offsets into `values` (one more than there are entries). */
  entryOffsets?: Int32Array;
}

export interface SealedBatch {
  columns: ColumnSpec[];
  length: number;
  data: SealedColumn[];
}

const MS_PER_DAY = 86_400_000;

function grow<T extends Uint8Array | Int32Array | Float64Array | BigInt64Array>(array: T, needed: number): T {
  if (needed <= array.length) return array;
  const grown = new (array.constructor as new (length: number) => T)(Math.max(needed, array.length * 2));
  grown.set(array as never);
  return grown;
}

/**
 * Growable bitmap whose bits start set: a validity bitmap then only clears the bits of nulls, instead of a call per
 * value (most values are present; ≈ 4M calls per million events, bench/OPTIMIZATIONS.md session 21). Whoever
 * shortens what it describes refills the bits it gave up (`fill`), so that the next values find them set again.
 */
class BitBuilder {
  bits: Uint8Array;
  constructor(capacity = 128) {
    this.bits = new Uint8Array(Math.max(16, (capacity + 7) >> 3)).fill(0xff);
  }
  set(index: number, on: boolean): void {
    if (index >> 3 >= this.bits.length) this.#grow(index);
    if (on) this.bits[index >> 3] |= 1 << (index & 7);
    else this.bits[index >> 3] &= ~(1 << (index & 7));
  }
  clear(index: number): void {
    if (index >> 3 >= this.bits.length) this.#grow(index);
    this.bits[index >> 3] &= ~(1 << (index & 7));
  }
  get(index: number): boolean {
    return index >> 3 >= this.bits.length || (this.bits[index >> 3] & (1 << (index & 7))) !== 0;
  }
  /** Sets the bits [from, to) again. */
  fill(from: number, to: number): void {
    for (let i = from; i < to; i++) this.set(i, true);
  }
  countUnset(from: number, to: number): number {
    let unset = 0;
    for (let i = from; i < to; i++) if (!this.get(i)) unset++;
    return unset;
  }
  seal(length: number): Uint8Array {
    const byteLength = (length + 7) >> 3;
    const bytes = new Uint8Array(byteLength).fill(0xff);
    bytes.set(this.bits.subarray(0, Math.min(byteLength, this.bits.length)));
    if (length & 7) bytes[bytes.length - 1] &= (1 << (length & 7)) - 1;
    return bytes;
  }
  #grow(index: number): void {
    const length = this.bits.length;
    this.bits = grow(this.bits, (index >> 3) + 1);
    this.bits.fill(0xff, length);
  }
}

/** Strings up to this many UTF-16 units take the JS copy path when they are ASCII. */
const SHORT_TEXT = 64;

/**
 * Growable UTF-8 byte store; Buffer.write flattens and encodes longer or non-ASCII strings natively. Its buffers are
 * allocUnsafeSlow's, never a slice of Node's shared pool, so that a sealed store can be transferred without a copy.
 */
class Utf8Store {
  bytes: Buffer;
  length = 0;
  constructor(capacity = 1024) {
    this.bytes = Buffer.allocUnsafeSlow(Math.max(1024, capacity));
  }
  append(text: string): void {
    const count = text.length;
    const needed = this.length + count * 3;
    if (needed > this.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(needed, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    // Short ASCII text (ids, paths, patterns) is copied in JS: cheaper than a call into Buffer.write per value.
    if (count <= SHORT_TEXT) {
      const bytes = this.bytes;
      let at = this.length;
      let i = 0;
      for (; i < count; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) break;
        bytes[at++] = code;
      }
      if (i === count) {
        this.length = at;
        return;
      }
    }
    // Buffer.write encodes the whole text again from the start, overwriting any ASCII prefix copied above.
    this.length += this.bytes.write(text, this.length);
  }
  /** A plain Uint8Array view of the bytes written (no copy); the store is not used after. */
  seal(): Uint8Array {
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset, this.length);
  }
}

function finiteNumber(value: unknown, column: ColumnSpec): number {
  const n = typeof value === "number" ? value : value instanceof Date ? value.getTime() : Number(value);
  if (!Number.isFinite(n)) {
    throw new ParquetEncodeError(`column ${column.name} (${column.type}): ${String(value)} is not a finite number`);
  }
  return n;
}

function stringOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * Days since the epoch of a "YYYY-MM-DD" string (the only date form rows carry). The year is set with setUTCFullYear:
 * Date.UTC reads years 0–99 as 1900–1999. A day the month does not have ("2024-02-30") is rejected, not rolled over.
 */
export function epochDayOf(value: unknown, column: ColumnSpec): number {
  const text = String(value);
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) throw new ParquetEncodeError(`column ${column.name} (date): "${text}" is not YYYY-MM-DD`);
  const [month, day] = [Number(match[2]), Number(match[3])];
  const date = new Date(0);
  date.setUTCFullYear(Number(match[1]), month - 1, day);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    throw new ParquetEncodeError(`column ${column.name} (date): "${text}" is not a day of the calendar`);
  }
  return date.getTime() / MS_PER_DAY;
}

/** Math.trunc of a finite number that fits a signed 32-bit integer: an Int32Array would silently wrap the rest. */
function int32Of(value: unknown, column: ColumnSpec): number {
  const n = Math.trunc(finiteNumber(value, column));
  if (n > 0x7fffffff || n < -0x80000000) throw new ParquetEncodeError(`column ${column.name} (int32): ${String(value)} is out of the int32 range`);
  return n;
}

/**
 * One column's values. Rows are appended by the table's compiled appender (rowAppenderFor), which runs this protocol
 * per column: a present value goes to `appendValue` (its validity bit is set already), an absent one (null or
 * undefined) to `appendNull` with the bit cleared and `nullCount` counted, then `length` is the row index + 1.
 * `truncate` undoes a partly appended row when a later column rejects it, setting its bits again.
 */
abstract class ColumnBuilder {
  readonly validity: BitBuilder;
  nullCount = 0;
  length = 0;
  constructor(
    readonly column: ColumnSpec,
    /** Rows to make room for from the start (the buffers still grow past it). */
    readonly capacity: number,
  ) {
    this.validity = new BitBuilder(capacity);
  }

  /** Also at `length` = this.length: a list builder may hold items of the row that threw. */
  truncate(length: number): void {
    if (length > this.length) return;
    this.nullCount -= this.validity.countUnset(length, this.length);
    this.validity.fill(length, this.length);
    this.truncateValues(length);
    this.length = length;
  }

  abstract appendValue(index: number, value: unknown): void;
  abstract appendNull(index: number): void;
  protected abstract truncateValues(length: number): void;
  abstract seal(): SealedColumn;
}

class FixedWidthBuilder<A extends Int32Array | Float64Array> extends ColumnBuilder {
  private lastText: unknown = undefined;
  private lastDay = 0;
  constructor(
    column: ColumnSpec,
    private values: A,
  ) {
    super(column, values.length);
  }
  appendValue(index: number, value: unknown): void {
    if (index >= this.values.length) this.values = grow(this.values, index + 1);
    this.values[index] = this.convert(value);
  }
  appendNull(index: number): void {
    if (index >= this.values.length) this.values = grow(this.values, index + 1);
  }
  protected truncateValues(): void {}
  private convert(value: unknown): number {
    const column = this.column;
    if (column.type === "float64") return typeof value === "number" ? value : finiteNumber(value, column);
    if (column.type === "int32") return int32Of(value, column);
    // Dates repeat heavily within a partition: parse each distinct text once in a row.
    if (value !== this.lastText) {
      this.lastDay = epochDayOf(value, column);
      this.lastText = value;
    }
    return this.lastDay;
  }
  seal(): SealedColumn {
    return {
      nullCount: this.nullCount,
      validity: this.validity.seal(this.length),
      values: this.values.subarray(0, this.length) as A,
    };
  }
}

const TWO_POW_32 = 4_294_967_296;
const TWO_POW_63 = 9_223_372_036_854_775_808;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** int64 and timestamp columns: written as two int32 halves, since BigInt(n) allocates per value. */
class Int64Builder extends ColumnBuilder {
  private halves = new Int32Array(2 * this.capacity);
  appendValue(index: number, value: unknown): void {
    if (2 * index + 2 > this.halves.length) this.halves = grow(this.halves, 2 * index + 2);
    if (typeof value === "bigint") return this.#appendBigInt(index, value);
    const n = Math.trunc(finiteNumber(value, this.column));
    // 2^63 and past would wrap in the high word (1e30 became 5076964154930102272).
    if (n >= TWO_POW_63 || n < -TWO_POW_63) throw this.#outOfRange(value);
    // Little-endian two's complement: low word is n mod 2^32, high word floor(n / 2^32) (exact for any integral double).
    this.halves[2 * index] = n >>> 0;
    this.halves[2 * index + 1] = Math.floor(n / TWO_POW_32);
  }
  /** A bigint exactly: Number(value) rounded values past 2^53 (9007199254740993n was written as ...992). */
  #appendBigInt(index: number, value: bigint): void {
    if (value < INT64_MIN || value > INT64_MAX) throw this.#outOfRange(value);
    this.halves[2 * index] = Number(BigInt.asIntN(32, value));
    this.halves[2 * index + 1] = Number(BigInt.asIntN(32, value >> 32n));
  }
  #outOfRange(value: unknown): ParquetEncodeError {
    return new ParquetEncodeError(`column ${this.column.name} (${this.column.type}): ${String(value)} is out of the int64 range`);
  }
  appendNull(index: number): void {
    if (2 * index + 2 > this.halves.length) this.halves = grow(this.halves, 2 * index + 2);
    this.halves[2 * index] = 0;
    this.halves[2 * index + 1] = 0;
  }
  protected truncateValues(): void {}
  seal(): SealedColumn {
    const values = new BigInt64Array(this.halves.buffer, this.halves.byteOffset, this.length);
    return { nullCount: this.nullCount, validity: this.validity.seal(this.length), values };
  }
}

class BoolBuilder extends ColumnBuilder {
  private readonly bits = new BitBuilder(this.capacity);
  appendValue(index: number, value: unknown): void {
    this.bits.set(index, Boolean(value));
  }
  appendNull(index: number): void {
    this.bits.set(index, false);
  }
  protected truncateValues(): void {}
  seal(): SealedColumn {
    return { nullCount: this.nullCount, validity: this.validity.seal(this.length), values: this.bits.seal(this.length) };
  }
}

/**
 * The strings of a column's slots (the rows of a string column, the items of a list column), kept as a dictionary while
 * they repeat: each distinct string's UTF-8 bytes once and an entry id per slot. The encoder thread then takes that
 * dictionary as it is instead of hashing every value's bytes again (its largest cost on the `sessions` table's page
 * lists: bench/OPTIMIZATIONS.md, session 27), and this thread copies each distinct string once: a Map lookup of a
 * string whose hash V8 has cached (sessionize hands out one string object per page) costs less than copying it.
 * Where values stop repeating (more than half of a sample distinct, the writer's own rule, or the entries past the
 * writer's dictionary page limit), the slots are rewritten plain, bytes and offsets per slot, and stay so; the writer
 * still dictionary-encodes plain strings where that pays.
 */
class StringSlots {
  text: Utf8Store;
  count = 0;
  /** Dictionary form: string → entry id; undefined once plain. */
  private entries: Map<string, number> | undefined;
  private entryOffsets: Int32Array;
  private ids: Int32Array;
  /** Present values appended in dictionary form, undone rows' included: it only paces the sample rule. */
  private present = 0;
  /** Plain form: the slots' byte offsets (one more than slots). */
  private offsets: Int32Array;
  constructor(slots: number, textBytes: number, plain: boolean) {
    this.text = new Utf8Store(textBytes);
    const room = Math.max(64, slots + 1);
    if (plain) {
      this.offsets = new Int32Array(room);
      this.entryOffsets = this.ids = new Int32Array(0);
    } else {
      this.entries = new Map();
      this.ids = new Int32Array(room);
      this.entryOffsets = new Int32Array(256);
      this.offsets = new Int32Array(0);
    }
  }

  append(value: string): void {
    const entries = this.entries;
    if (entries === undefined) {
      this.text.append(value);
      this.#plainEnd(this.text.length);
      return;
    }
    let id = entries.get(value);
    if (id === undefined) {
      id = entries.size;
      this.text.append(value);
      if (id + 2 > this.entryOffsets.length) this.entryOffsets = grow(this.entryOffsets, id + 2);
      this.entryOffsets[id + 1] = this.text.length;
      entries.set(value, id);
    }
    if (this.count >= this.ids.length) this.ids = grow(this.ids, this.count + 1);
    this.ids[this.count++] = id;
    // The writer's sample rule (parquet-writer.ts), checked every DICTIONARY_SAMPLE values (a power of two).
    if ((++this.present & (DICTIONARY_SAMPLE - 1)) === 0 && (entries.size * 2 > this.present || this.text.length > DICTIONARY_BYTE_LIMIT)) {
      this.#toPlain();
    }
  }

  appendAbsent(): void {
    if (this.entries === undefined) this.#plainEnd(this.text.length);
    else {
      if (this.count >= this.ids.length) this.ids = grow(this.ids, this.count + 1);
      this.ids[this.count++] = -1;
    }
  }

  truncate(count: number): void {
    // Dictionary form: entries of the dropped slots stay; nothing refers to them, and the writer writes used ones only.
    if (this.entries === undefined) this.text.length = this.offsets[count];
    this.count = count;
  }

  seal(): Pick<SealedColumn, "values" | "ids" | "entryOffsets"> & { offsets?: Int32Array } {
    if (this.entries === undefined) return { values: this.text.seal(), offsets: this.offsets.subarray(0, this.count + 1) };
    return { values: this.text.seal(), ids: this.ids.subarray(0, this.count), entryOffsets: this.entryOffsets.subarray(0, this.entries.size + 1) };
  }

  #plainEnd(end: number): void {
    if (this.count + 2 > this.offsets.length) this.offsets = grow(this.offsets, this.count + 2);
    this.offsets[++this.count] = end;
  }

  /** Rewrites the slots plain: each slot's entry bytes in slot order. */
  #toPlain(): void {
    const { ids, entryOffsets, count: slots } = this;
    const old = this.text.bytes;
    let bytes = 0;
    for (let i = 0; i < slots; i++) if (ids[i] >= 0) bytes += entryOffsets[ids[i] + 1] - entryOffsets[ids[i]];
    const text = new Utf8Store(Math.ceil(bytes * 1.5));
    const offsets = new Int32Array(Math.max(64, slots * 2 + 1));
    for (let i = 0; i < slots; i++) {
      const id = ids[i];
      if (id >= 0) {
        const start = entryOffsets[id];
        const end = entryOffsets[id + 1];
        old.copy(text.bytes, text.length, start, end);
        text.length += end - start;
      }
      offsets[i + 1] = text.length;
    }
    this.text = text;
    this.offsets = offsets;
    this.entries = undefined;
    this.ids = this.entryOffsets = new Int32Array(0);
  }
}

class StringBuilder extends ColumnBuilder {
  private readonly strings: StringSlots;
  constructor(column: ColumnSpec, capacity: number, textBytes: number, plain: boolean) {
    super(column, capacity);
    this.strings = new StringSlots(capacity, textBytes, plain);
  }
  appendValue(index: number, value: unknown): void {
    this.strings.append(stringOf(value));
  }
  appendNull(): void {
    this.strings.appendAbsent();
  }
  protected truncateValues(length: number): void {
    this.strings.truncate(length);
  }
  seal(): SealedColumn {
    return { nullCount: this.nullCount, validity: this.validity.seal(this.length), ...this.strings.seal() };
  }
}

class StringListBuilder extends ColumnBuilder {
  private offsets = new Int32Array(this.capacity + 1);
  private readonly itemValidity: BitBuilder;
  private itemNullCount = 0;
  private readonly items: StringSlots;
  constructor(column: ColumnSpec, capacity: number, textBytes: number, items: number, plain: boolean) {
    super(column, capacity);
    this.itemValidity = new BitBuilder(items);
    this.items = new StringSlots(items, textBytes, plain);
  }
  appendValue(index: number, value: unknown): void {
    if (!Array.isArray(value)) {
      throw new ParquetEncodeError(`column ${this.column.name} (list<string>): expected an array, got ${typeof value}`);
    }
    const items = this.items;
    for (const item of value) {
      if (item !== null && item !== undefined) items.append(stringOf(item));
      else {
        this.itemNullCount++;
        this.itemValidity.clear(items.count);
        items.appendAbsent();
      }
    }
    this.appendNull(index);
  }
  appendNull(index: number): void {
    if (index + 2 > this.offsets.length) this.offsets = grow(this.offsets, index + 2);
    this.offsets[index + 1] = this.items.count;
  }
  protected truncateValues(length: number): void {
    const itemCount = this.offsets[length];
    this.itemNullCount -= this.itemValidity.countUnset(itemCount, this.items.count);
    this.itemValidity.fill(itemCount, this.items.count);
    this.items.truncate(itemCount);
  }
  seal(): SealedColumn {
    const itemCount = this.items.count;
    const { values, offsets: itemOffsets, ids, entryOffsets } = this.items.seal();
    return {
      nullCount: this.nullCount,
      validity: this.validity.seal(this.length),
      values,
      offsets: this.offsets.subarray(0, this.length + 1),
      ...(itemOffsets === undefined ? { ids, entryOffsets } : { itemOffsets }),
      itemValidity: this.itemValidity.seal(itemCount),
      itemNullCount: this.itemNullCount,
    };
  }
}

function columnBuilderFor(column: ColumnSpec, capacity: number, textBytes: number, items: number, plain: boolean): ColumnBuilder {
  switch (column.type) {
    case "string":
      return new StringBuilder(column, capacity, textBytes, plain);
    case "int32":
    case "date":
      return new FixedWidthBuilder(column, new Int32Array(capacity));
    case "float64":
      return new FixedWidthBuilder(column, new Float64Array(capacity));
    case "int64":
    case "timestamp":
      return new Int64Builder(column, capacity);
    case "bool":
      return new BoolBuilder(column, capacity);
    case "list<string>":
      return new StringListBuilder(column, capacity, textBytes, items, plain);
  }
}

/**
 * A row appender specialised to one table layout: the column protocol of ColumnBuilder written out once per column,
 * with the column name as a literal. Every property load, builder call and field access in it then sees one shape
 * and one builder class: a loop over the columns, or one shared append method for the five builder classes, makes
 * them megamorphic and keeps V8 from inlining `appendValue` (bench/OPTIMIZATIONS.md, sessions 2 and 9).
 *
 * One function per layout, shared by every batch of that layout (the builders are an argument): a function compiled
 * per batch started cold in each 16,384-row part, ran its first thousands of rows unoptimised and cost TurboFan a
 * compilation per part. Names are embedded as JSON string literals.
 */
type RowAppender = (builders: readonly ColumnBuilder[], row: Row, index: number) => void;
const rowAppenders = new Map<string, RowAppender>();

function rowAppenderFor(builders: readonly ColumnBuilder[]): RowAppender {
  // Name and type fix the statements and each statement's builder class.
  const layout = JSON.stringify(builders.map((builder) => [builder.column.name, builder.column.type]));
  let appender = rowAppenders.get(layout);
  if (appender === undefined) {
    const statements = builders.map(
      (builder, column) => `builder = builders[${column}];
value = row[${JSON.stringify(builder.column.name)}];
if (value === null || value === undefined) {
  if (builder.column.nullable === false) throw notNullable(builder.column);
  builder.appendNull(index);
  builder.validity.clear(index);
  builder.nullCount++;
} else {
  builder.appendValue(index, value);
}
builder.length = index + 1;`,
    );
    const body = `"use strict"; return function appendRow(builders, row, index) {\nlet builder, value;\n${statements.join("\n")}\n};`;
    appender = new Function("notNullable", body)(notNullable) as RowAppender;
    rowAppenders.set(layout, appender);
  }
  return appender;
}

function notNullable(column: ColumnSpec): ParquetEncodeError {
  return new ParquetEncodeError(`column ${column.name} is not nullable but a row has no value`);
}

/**
 * Rows appended straight into columnar buffers: the buffered form of a future Parquet file.
 * Appending columnar keeps no row objects alive and leaves only buffer transfer for the worker hand-off.
 */
export class ColumnBatchBuilder {
  private readonly builders: ColumnBuilder[];
  private readonly appendRow: RowAppender;
  #sealed = false;
  length = 0;
  /**
   * `room`: rows (or a BatchRoom) to make room for from the start. The sink passes roomLike(the part it sealed) for the
   * next part of a table that fills parts: its buffers then skip the doublings from 64 rows and 1 KiB of text (and
   * their copies, and the external memory V8 counts towards its next full collection).
   */
  constructor(
    readonly columns: ColumnSpec[],
    room: number | BatchRoom = 64,
  ) {
    const { rows, textBytes, items, plainStrings }: BatchRoom = typeof room === "number" ? { rows: room } : room;
    this.builders = columns.map((column, i) =>
      columnBuilderFor(column, Math.max(1, rows), textBytes?.[i] ?? 0, items?.[i] ?? 0, plainStrings?.[i] ?? false),
    );
    this.appendRow = rowAppenderFor(this.builders);
    // Written twice so that V8 does not take it for a constant in append(): the first seal would deoptimize every row
    // append of the worker (as churnFeatures' #writtenUntil, bench/OPTIMIZATIONS.md, session 30).
    this.#sealed = true;
    this.#sealed = false;
  }

  /** Appends one row, or throws ParquetEncodeError and leaves the batch as it was. */
  append(row: Row): void {
    if (this.#sealed) throw new Error("ColumnBatchBuilder: append after seal (the sealed batch holds its buffers)");
    try {
      this.appendRow(this.builders, row, this.length);
    } catch (error) {
      // Builders the row did not reach are at this.length already: truncating them to it changes nothing.
      for (const builder of this.builders) builder.truncate(this.length);
      throw error;
    }
    this.length++;
  }

  /**
   * The batch's columns as views of the builders' own buffers (no copy: a part's ≈ 10 MB is not copied again, nor
   * counted twice as the external memory that starts V8's full collections). The builder takes no rows after.
   */
  seal(): SealedBatch {
    this.#sealed = true;
    return { columns: this.columns, length: this.length, data: this.builders.map((b) => b.seal()) };
  }
}

/**
 * Room for a batch: rows, and per column the text bytes and list items (0 or absent: the builders' defaults), and
 * whether its strings start plain instead of as a dictionary (absent: as a dictionary).
 */
export interface BatchRoom {
  rows: number;
  textBytes?: readonly number[];
  items?: readonly number[];
  plainStrings?: readonly boolean[];
}

/**
 * Text and items of each column of a sealed batch, with a quarter more (read before the batch is transferred), and
 * plain strings where the batch's went plain: a column of distinct values (ids, free text) then skips the dictionary
 * it would give up again after the first sample.
 */
export function roomLike(batch: SealedBatch, rows: number): BatchRoom {
  const slack = (n: number) => Math.ceil(n * 1.25);
  const hasText = (column: SealedColumn) => column.offsets !== undefined || column.ids !== undefined;
  return {
    rows,
    textBytes: batch.data.map((column) => (hasText(column) ? slack(column.values.byteLength) : 0)),
    // A list column's items: itemOffsets in plain form, one id each in dictionary form.
    items: batch.data.map((column) =>
      column.itemValidity === undefined ? 0 : slack(column.itemOffsets !== undefined ? column.itemOffsets.length - 1 : column.ids!.length),
    ),
    plainStrings: batch.data.map((column) => column.offsets !== undefined && column.ids === undefined),
  };
}

/** The ArrayBuffers of a sealed batch, to transfer (not copy) it to a worker thread. */
export function transferListOf(batch: SealedBatch): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const column of batch.data) {
    for (const array of [column.validity, column.values, column.offsets, column.itemOffsets, column.itemValidity, column.ids, column.entryOffsets]) {
      if (array) buffers.add(array.buffer as ArrayBuffer);
    }
  }
  return [...buffers];
}

/**
 * Resolves once this thread can encode with `compression`: at once for the TypeScript writer's codecs, after loading
 * apache-arrow and parquet-wasm (src/sinks/parquet-arrow.ts) for zstd.
 */
export function encoderReady(compression: ParquetCompression): Promise<void> {
  return compression === "zstd" ? loadArrowParquet() : Promise.resolve();
}

/**
 * Parquet file bytes of a sealed batch. Pure and synchronous: the worker thread runs exactly this. The TypeScript
 * writer (no Arrow IPC step, several times faster) writes "none" and "snappy"; parquet-wasm writes zstd, once
 * `encoderReady("zstd")` has resolved.
 */
export function encodeSealedBatch(batch: SealedBatch, options: EncodeOptions): Uint8Array {
  if (options.compression !== "zstd") return writeParquetFile(batch, { compression: options.compression, rowGroupSize: options.rowGroupSize });
  return encodeWithParquetWasm(batch, options);
}

/** Parquet file bytes for `rows`, typed by `columns`: the in-thread path. */
export async function encodeParquet(columns: ColumnSpec[], rows: readonly Row[], options: EncodeOptions): Promise<Uint8Array> {
  await encoderReady(options.compression);
  const builder = new ColumnBatchBuilder(columns);
  for (const row of rows) builder.append(row);
  return encodeSealedBatch(builder.seal(), options);
}
