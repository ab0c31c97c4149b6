// Parquet files written straight from sealed columnar buffers: no Arrow IPC step, no copy into wasm memory
// (issue 10: parquet-wasm's writer alone stays far under 1M rows per CPU second).
// The schema is the one parquet-wasm (arrow-rs) writes for the same Arrow schema, so readers see no difference.
// One data page (V1) per column chunk: PLAIN values, RLE/bit-packed levels; strings dictionary-encoded when smaller.
import type { EncodeOptions, SealedBatch, SealedColumn } from "./parquet-encoder.ts";
import { snappyCompressInto, snappyMaxLength } from "./snappy.ts";
import type { ColumnSpec } from "./table.ts";

/** Compresses one page body into room `file` hands out, and returns the compressed bytes (kept by the file). */
type PageCompressor = (body: Uint8Array, file: FileParts) => Uint8Array;

// parquet.thrift enum values.
const TYPE_BOOLEAN = 0;
const TYPE_INT32 = 1;
const TYPE_INT64 = 2;
const TYPE_DOUBLE = 5;
const TYPE_BYTE_ARRAY = 6;
const CONVERTED_UTF8 = 0;
const CONVERTED_LIST = 3;
const CONVERTED_DATE = 6;
const CONVERTED_TIMESTAMP_MILLIS = 9;
const REQUIRED = 0;
const OPTIONAL = 1;
const REPEATED = 2;
const ENCODING_PLAIN = 0;
const ENCODING_RLE = 3;
const ENCODING_RLE_DICTIONARY = 8;
const PAGE_DATA = 0;
const PAGE_DICTIONARY = 2;
const CODEC_UNCOMPRESSED = 0;
const CODEC_SNAPPY = 1;
// LogicalType union members.
const LOGICAL_STRING = 1;
const LOGICAL_LIST = 3;
const LOGICAL_DATE = 6;
const LOGICAL_TIMESTAMP = 8;

// Thrift compact protocol field types.
const CT_TRUE = 1;
const CT_FALSE = 2;
const CT_I32 = 5;
const CT_I64 = 6;
const CT_BINARY = 8;
const CT_LIST = 9;
const CT_STRUCT = 12;

const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // "PAR1"
/** A string column stops dictionary encoding past this many distinct bytes (arrow-rs's dictionary page limit). */
export const DICTIONARY_BYTE_LIMIT = 1 << 20;
/** Values between two checks of whether a dictionary still pays (more than half of them distinct: it does not). */
export const DICTIONARY_SAMPLE = 1024;
/** String statistics longer than this are left out rather than truncated (truncation needs exactness flags). */
const STATISTICS_MAX_BYTES = 256;

/** Pages below this size are compressed without the sampling test: the test would cost about as much. */
const SAMPLED_PAGE_BYTES = 16 << 10;
const SAMPLE_BYTES = 4 << 10;
const SAMPLES = 4;

const textEncoder = new TextEncoder();

/** How string dictionaries hash: weakened only by tests, so that distinct strings share hashes and slots. */
export interface DictionaryTuning {
  /** Low bits of each string's hash kept (32: all of them). */
  hashBits: number;
  /** Hash table slots to start with, a power of two. */
  initialSlots: number;
  /**
   * Start a column's table at the size its previous dictionary in this thread needed (same column name), so that
   * each part does not grow it again. Off in tests that pick the slots to exercise growth.
   */
  learnsSizes?: boolean;
}

const DEFAULT_DICTIONARY_TUNING: DictionaryTuning = { hashBits: 32, initialSlots: 1024, learnsSizes: true };
/** Largest learned starting table (2 MiB): a column with more distinct values grows as before. */
const MAX_LEARNED_SLOTS = 1 << 16;

/** A growable byte buffer. */
class ByteSink {
  bytes: Uint8Array;
  length = 0;
  constructor(capacity: number) {
    this.bytes = new Uint8Array(Math.max(capacity, 64));
  }
  /** Room for `extra` more bytes; returns the (possibly new) backing array. */
  reserve(extra: number): Uint8Array {
    const needed = this.length + extra;
    if (needed > this.bytes.length) {
      const grown = new Uint8Array(Math.max(needed, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    return this.bytes;
  }
  byte(value: number): void {
    this.reserve(1)[this.length++] = value;
  }
  /** Unsigned LEB128 of a non-negative safe integer. */
  varint(value: number): void {
    const bytes = this.reserve(8);
    let at = this.length;
    while (value >= 0x80) {
      bytes[at++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    bytes[at++] = value;
    this.length = at;
  }
  int32(value: number): void {
    const bytes = this.reserve(4);
    const at = this.length;
    bytes[at] = value;
    bytes[at + 1] = value >>> 8;
    bytes[at + 2] = value >>> 16;
    bytes[at + 3] = value >>> 24;
    this.length = at + 4;
  }
  append(source: Uint8Array): void {
    this.reserve(source.length).set(source, this.length);
    this.length += source.length;
  }
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

/** Smallest chunk FileParts writes pages into. */
const FILE_CHUNK_BYTES = 1 << 20;
/** Chunks kept for the next file, at most this many bytes of them. */
const POOLED_CHUNK_BYTES = 16 << 20;

/**
 * Chunks of earlier files, written over by the next. Fresh memory for every file's pages (tens of MB per file) made
 * V8 run full garbage collections for external memory, which measured as a third of some writes' time.
 */
const chunkPool: Uint8Array<ArrayBuffer>[] = [];

/** The file as a list of byte arrays joined once at the end: no growing buffer copied again and again. */
class FileParts {
  private readonly parts: Uint8Array[] = [];
  private readonly chunks: Uint8Array<ArrayBuffer>[] = [];
  private chunk = new Uint8Array(0);
  private chunkUsed = 0;
  length = 0;
  /** Room for at least `bytes` bytes, at the free end of a chunk; `claim` keeps what was written there. */
  room(bytes: number): Uint8Array {
    if (this.chunk.length - this.chunkUsed < bytes) {
      const pooled = chunkPool.findIndex((chunk) => chunk.length >= bytes);
      this.chunk = pooled >= 0 ? chunkPool.splice(pooled, 1)[0] : new Uint8Array(Math.max(bytes, FILE_CHUNK_BYTES));
      this.chunks.push(this.chunk);
      this.chunkUsed = 0;
    }
    return this.chunk.subarray(this.chunkUsed);
  }
  /** The first `bytes` bytes of the last room handed out, which later rooms will not overlap. */
  claim(bytes: number): Uint8Array {
    const claimed = this.chunk.subarray(this.chunkUsed, this.chunkUsed + bytes);
    this.chunkUsed += bytes;
    return claimed;
  }
  /** A copy of `bytes` in room of the file's own. */
  copy(bytes: Uint8Array): Uint8Array {
    this.room(bytes.length).set(bytes);
    return this.claim(bytes.length);
  }
  /** Keeps `bytes` as they are: pass a copy of anything that is overwritten later. */
  push(bytes: Uint8Array): void {
    this.parts.push(bytes);
    this.length += bytes.length;
  }
  /** The file's bytes; its chunks go back to the pool, so nothing else of this FileParts may be used after. */
  join(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    let pooledBytes = chunkPool.reduce((sum, chunk) => sum + chunk.length, 0);
    for (const chunk of this.chunks) {
      if (pooledBytes + chunk.length > POOLED_CHUNK_BYTES) break;
      chunkPool.push(chunk);
      pooledBytes += chunk.length;
    }
    return out;
  }
}

/** Buffers reused from column chunk to column chunk, and from file to file (see chunkPool). */
class Scratch {
  readonly body = new ByteSink(1 << 16);
  dictionaryTuning = DEFAULT_DICTIONARY_TUNING;
  /** Column name → the slots its last dictionary needed (DictionaryTuning.learnsSizes). */
  readonly dictionarySlots = new Map<string, number>();
  /** Output of compressionPays' trial compressions. */
  readonly sampleOutput = new Uint8Array(snappyMaxLength(SAMPLE_BYTES));
  private indexBuffer = new Int32Array(1024);
  indices(count: number): Int32Array {
    if (count > this.indexBuffer.length) this.indexBuffer = new Int32Array(Math.max(count, this.indexBuffer.length * 2));
    return this.indexBuffer;
  }
  private remapBuffer = new Int32Array(1024);
  /** `count` slots set to -1: a column's entry ids → the chunk's dictionary indices (encodeStringIds). */
  entryRemap(count: number): Int32Array {
    if (count > this.remapBuffer.length) this.remapBuffer = new Int32Array(Math.max(count, this.remapBuffer.length * 2));
    this.remapBuffer.fill(-1, 0, count);
    return this.remapBuffer;
  }
}

/** The one Scratch of this thread: files are written synchronously, one at a time. */
const scratch = new Scratch();

/** Thrift compact protocol, only what PageHeader and FileMetaData need. */
class ThriftWriter {
  private lastField = 0;
  private readonly outer: number[] = [];
  constructor(readonly out: ByteSink) {}

  private field(id: number, type: number): void {
    const delta = id - this.lastField;
    if (delta > 0 && delta <= 15) this.out.byte((delta << 4) | type);
    else {
      this.out.byte(type);
      this.out.varint(zigzag(id));
    }
    this.lastField = id;
  }
  i32(id: number, value: number): void {
    this.field(id, CT_I32);
    this.out.varint(zigzag(value));
  }
  i64(id: number, value: number): void {
    this.field(id, CT_I64);
    this.out.varint(zigzag(value));
  }
  bool(id: number, value: boolean): void {
    this.field(id, value ? CT_TRUE : CT_FALSE);
  }
  binary(id: number, bytes: Uint8Array): void {
    this.field(id, CT_BINARY);
    this.out.varint(bytes.length);
    this.out.append(bytes);
  }
  string(id: number, text: string): void {
    this.binary(id, textEncoder.encode(text));
  }
  /** A struct field: `body` writes its fields. */
  struct(id: number, body: () => void): void {
    this.field(id, CT_STRUCT);
    this.structBody(body);
  }
  /** A struct's fields and its stop byte, as a list element or a top-level message. */
  structBody(body: () => void): void {
    this.outer.push(this.lastField);
    this.lastField = 0;
    body();
    this.out.byte(0);
    this.lastField = this.outer.pop()!;
  }
  list(id: number, elementType: number, size: number): void {
    this.field(id, CT_LIST);
    if (size < 15) this.out.byte((size << 4) | elementType);
    else {
      this.out.byte(0xf0 | elementType);
      this.out.varint(size);
    }
  }
  structList<T>(id: number, items: readonly T[], body: (item: T) => void): void {
    this.list(id, CT_STRUCT, items.length);
    for (const item of items) this.structBody(() => body(item));
  }
  i32List(id: number, values: readonly number[]): void {
    this.list(id, CT_I32, values.length);
    for (const value of values) this.out.varint(zigzag(value));
  }
  stringList(id: number, texts: readonly string[]): void {
    this.list(id, CT_BINARY, texts.length);
    for (const text of texts) {
      const bytes = textEncoder.encode(text);
      this.out.varint(bytes.length);
      this.out.append(bytes);
    }
  }
}

/** Zigzag of a safe integer, as an unsigned number (exact past 32 bits, unlike the bitwise form). */
function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

// ---------------------------------------------------------------------------------------------------------------
// Schema

interface SchemaNode {
  name: string;
  repetition?: number;
  physical?: number;
  children?: number;
  converted?: number;
  logical?: (thrift: ThriftWriter) => void;
}

const emptyStruct = (): void => {};
const stringLogical = (thrift: ThriftWriter) => thrift.struct(LOGICAL_STRING, emptyStruct);

/** SchemaElements of one column, depth first: one leaf, or the 3-level LIST group of optional strings. */
function schemaNodesOf(column: ColumnSpec): SchemaNode[] {
  const repetition = column.nullable !== false ? OPTIONAL : REQUIRED;
  const name = column.name;
  switch (column.type) {
    case "string":
      return [{ name, repetition, physical: TYPE_BYTE_ARRAY, converted: CONVERTED_UTF8, logical: stringLogical }];
    case "int32":
      return [{ name, repetition, physical: TYPE_INT32 }];
    case "int64":
      return [{ name, repetition, physical: TYPE_INT64 }];
    case "float64":
      return [{ name, repetition, physical: TYPE_DOUBLE }];
    case "bool":
      return [{ name, repetition, physical: TYPE_BOOLEAN }];
    case "date":
      return [
        { name, repetition, physical: TYPE_INT32, converted: CONVERTED_DATE, logical: (t) => t.struct(LOGICAL_DATE, emptyStruct) },
      ];
    case "timestamp":
      return [
        {
          name,
          repetition,
          physical: TYPE_INT64,
          converted: CONVERTED_TIMESTAMP_MILLIS,
          logical: (t) =>
            t.struct(LOGICAL_TIMESTAMP, () => {
              t.bool(1, true);
              t.struct(2, () => t.struct(1, emptyStruct)); // unit: MILLIS
            }),
        },
      ];
    case "list<string>":
      return [
        { name, repetition, children: 1, converted: CONVERTED_LIST, logical: (t) => t.struct(LOGICAL_LIST, emptyStruct) },
        { name: "list", repetition: REPEATED, children: 1 },
        { name: "item", repetition: OPTIONAL, physical: TYPE_BYTE_ARRAY, converted: CONVERTED_UTF8, logical: stringLogical },
      ];
  }
}

function pathOf(column: ColumnSpec): string[] {
  return column.type === "list<string>" ? [column.name, "list", "item"] : [column.name];
}

function physicalTypeOf(column: ColumnSpec): number {
  const leaf = schemaNodesOf(column);
  return leaf[leaf.length - 1].physical!;
}

// ---------------------------------------------------------------------------------------------------------------
// Bitmaps and levels

function bitAt(bits: Uint8Array, index: number): boolean {
  return (bits[index >> 3] & (1 << (index & 7))) !== 0;
}

/** Set bits in [start, end). */
function countSet(bits: Uint8Array, start: number, end: number): number {
  let count = 0;
  let i = start;
  for (; i < end && i & 7; i++) if (bitAt(bits, i)) count++;
  for (; i + 8 <= end; i += 8) {
    let byte = bits[i >> 3];
    byte = byte - ((byte >> 1) & 0x55);
    byte = (byte & 0x33) + ((byte >> 2) & 0x33);
    count += (byte + (byte >> 4)) & 0x0f;
  }
  for (; i < end; i++) if (bitAt(bits, i)) count++;
  return count;
}

/** Bits [start, start + count) moved to bit 0; bits past `count` in the last byte are cleared. */
function alignedBits(bits: Uint8Array, start: number, count: number): Uint8Array {
  const byteCount = (count + 7) >> 3;
  const shift = start & 7;
  const base = start >> 3;
  let out: Uint8Array;
  if (shift === 0) out = bits.slice(base, base + byteCount);
  else {
    out = new Uint8Array(byteCount);
    for (let b = 0; b < byteCount; b++) out[b] = ((bits[base + b] >> shift) | ((bits[base + b + 1] ?? 0) << (8 - shift))) & 0xff;
  }
  if (count & 7) out[byteCount - 1] &= (1 << (count & 7)) - 1;
  return out;
}

function writeRleRun(out: ByteSink, value: number, count: number, bitWidth: number): void {
  out.varint(count * 2);
  for (let width = 0; width < bitWidth; width += 8) out.byte((value >>> width) & 0xff);
}

/** RLE/bit-packed hybrid of a 1-bit level bitmap (already aligned): constant bytes become runs, the rest is packed. */
function writeBitmapHybrid(out: ByteSink, bits: Uint8Array, count: number): void {
  const byteCount = (count + 7) >> 3;
  const fullBytes = count >> 3;
  let packedFrom = 0;
  const flushPacked = (to: number) => {
    if (to <= packedFrom) return;
    out.varint(((to - packedFrom) << 1) | 1);
    out.append(bits.subarray(packedFrom, to));
  };
  let b = 0;
  while (b < fullBytes) {
    const byte = bits[b];
    if (byte !== 0 && byte !== 0xff) {
      b++;
      continue;
    }
    let end = b + 1;
    while (end < fullBytes && bits[end] === byte) end++;
    if (end - b >= 2) {
      flushPacked(b);
      writeRleRun(out, byte & 1, (end - b) * 8, 1);
      packedFrom = end;
    }
    b = end;
  }
  flushPacked(byteCount);
}

/**
 * Values [from, to) of at most 24 bits bit-packed as one run, the last group padded with zeros (only ever the final
 * run). Each value stores the low 3 bytes of the bit buffer and moves on by the whole bytes it holds: no loop per
 * value whose exit, varying with the bit position, a CPU mispredicts. The stores run up to 3 bytes past the run,
 * into reserved room that later bytes overwrite.
 */
function writeBitPacked(out: ByteSink, values: Uint8Array | Int32Array, from: number, to: number, bitWidth: number): void {
  const groups = (to - from + 7) >> 3;
  out.varint((groups << 1) | 1);
  const runBytes = groups * bitWidth;
  const bytes = out.reserve(runBytes + 3);
  const runEnd = out.length + runBytes;
  let at = out.length;
  let buffer = 0;
  let bits = 0;
  for (let i = from; i < to; i++) {
    buffer |= values[i] << bits;
    bits += bitWidth;
    bytes[at] = buffer;
    bytes[at + 1] = buffer >>> 8;
    bytes[at + 2] = buffer >>> 16;
    const wholeBytes = bits >> 3;
    at += wholeBytes;
    buffer >>>= wholeBytes << 3;
    bits &= 7;
  }
  // The bits left over, then zeros to the end of the last group. Written without a compare on `at`: compares the
  // warm-up never took deoptimized this function again and again in the encoder threads (bench/OPTIMIZATIONS.md,
  // session 12); the byte at `at` is inside the 3 reserved spare bytes when the run is already complete.
  bytes[at] = buffer;
  bytes.fill(0, at + 1, runEnd);
  out.length = runEnd;
}

/**
 * RLE/bit-packed hybrid of `count` values of at most 24 bits: runs of 8 or more equal values become RLE runs,
 * the rest bit-packed runs whose length is a multiple of 8 except at the very end.
 */
function writeHybrid(out: ByteSink, values: Uint8Array | Int32Array, count: number, bitWidth: number): void {
  let packedFrom = 0;
  let i = 0;
  while (i < count) {
    // A run of 8 or more that starts in [i, i + 8) holds the value at i + 7: only the run through there can be one,
    // so the values before it are passed over 8 at a time, not one by one.
    const probe = Math.min(i + 7, count - 1);
    const value = values[probe];
    let start = probe;
    while (start > i && values[start - 1] === value) start--;
    let end = probe + 1;
    while (end < count && values[end] === value) end++;
    if (end - start >= 8) {
      // Values of the run fill the pending packed run up to a multiple of 8 first.
      const runStart = start + ((8 - ((start - packedFrom) & 7)) & 7);
      if (end - runStart >= 8) {
        if (runStart > packedFrom) writeBitPacked(out, values, packedFrom, runStart, bitWidth);
        writeRleRun(out, value, end - runStart, bitWidth);
        packedFrom = end;
      }
    }
    i = end;
  }
  if (packedFrom < count) writeBitPacked(out, values, packedFrom, count, bitWidth);
}

/** A V1 page's level section: 4-byte length, then the hybrid encoding `write` produces. */
function writeLengthPrefixed(out: ByteSink, write: () => void): void {
  out.reserve(4);
  const lengthAt = out.length;
  out.length += 4;
  write();
  const length = out.length - lengthAt - 4;
  const bytes = out.bytes;
  bytes[lengthAt] = length;
  bytes[lengthAt + 1] = length >>> 8;
  bytes[lengthAt + 2] = length >>> 16;
  bytes[lengthAt + 3] = length >>> 24;
}

// ---------------------------------------------------------------------------------------------------------------
// Values

interface Statistics {
  nullCount: number;
  min?: Uint8Array;
  max?: Uint8Array;
  /** Also write the deprecated min/max fields, as arrow-rs does for numeric columns (signed order is right there). */
  legacy?: boolean;
}

/** What one column chunk's data page holds, before the page framing. */
interface EncodedChunk {
  /** Level entries (rows for flat columns, rows plus extra list items for lists). */
  levelCount: number;
  dictionary?: Uint8Array;
  dictionaryCount?: number;
  statistics: Statistics;
}

function littleEndian(bytes: number, write: (view: DataView) => void): Uint8Array {
  const out = new Uint8Array(bytes);
  write(new DataView(out.buffer));
  return out;
}

/** Non-null fixed-width values of rows [start, end) as little-endian bytes (the platform order of typed arrays). */
function fixedWidthValues(values: Int32Array | Float64Array | BigInt64Array, validity: Uint8Array, hasNulls: boolean, start: number, end: number): Uint8Array {
  const width = values.BYTES_PER_ELEMENT;
  if (!hasNulls) return new Uint8Array(values.buffer, values.byteOffset + start * width, (end - start) * width);
  // Int32 words copy any of the three types exactly (a float64 or int64 is two words).
  const words = new Int32Array(values.buffer, values.byteOffset, values.length * (width / 4));
  const perValue = width / 4;
  const out = new Int32Array(countSet(validity, start, end) * perValue);
  let at = 0;
  for (let i = start; i < end; i++) {
    if (!bitAt(validity, i)) continue;
    for (let w = 0; w < perValue; w++) out[at++] = words[i * perValue + w];
  }
  return new Uint8Array(out.buffer);
}

function int32Statistics(values: Int32Array, validity: Uint8Array, hasNulls: boolean, start: number, end: number, nullCount: number): Statistics {
  let min = 0x7fffffff;
  let max = -0x80000000;
  let seen = false;
  for (let i = start; i < end; i++) {
    if (hasNulls && !bitAt(validity, i)) continue;
    const value = values[i];
    if (value < min) min = value;
    if (value > max) max = value;
    seen = true;
  }
  if (!seen) return { nullCount };
  return {
    nullCount,
    legacy: true,
    min: littleEndian(4, (v) => v.setInt32(0, min, true)),
    max: littleEndian(4, (v) => v.setInt32(0, max, true)),
  };
}

/** int64 min/max compared as (signed high word, unsigned low word): no BigInt per value. */
function int64Statistics(values: BigInt64Array, validity: Uint8Array, hasNulls: boolean, start: number, end: number, nullCount: number): Statistics {
  const words = new Int32Array(values.buffer, values.byteOffset, values.length * 2);
  let minHigh = 0x7fffffff;
  let minLow = 0xffffffff;
  let maxHigh = -0x80000000;
  let maxLow = 0;
  let seen = false;
  for (let i = start; i < end; i++) {
    if (hasNulls && !bitAt(validity, i)) continue;
    const low = words[2 * i] >>> 0;
    const high = words[2 * i + 1];
    if (high < minHigh || (high === minHigh && low < minLow)) {
      minHigh = high;
      minLow = low;
    }
    if (high > maxHigh || (high === maxHigh && low > maxLow)) {
      maxHigh = high;
      maxLow = low;
    }
    seen = true;
  }
  if (!seen) return { nullCount };
  const int64Bytes = (high: number, low: number) =>
    littleEndian(8, (v) => {
      v.setUint32(0, low, true);
      v.setInt32(4, high, true);
    });
  return { nullCount, legacy: true, min: int64Bytes(minHigh, minLow), max: int64Bytes(maxHigh, maxLow) };
}

/**
 * Doubles per the Parquet spec: a zero minimum written as -0 and a zero maximum as +0. A chunk holding a NaN gets no
 * min/max, as DuckDB's own writer does: the spec keeps NaN out of them, but DuckDB orders NaN above +Infinity and
 * prunes by them, so `WHERE x > 10` skipped a row group's NaN rows that a scan of the same rows returns.
 */
function float64Statistics(values: Float64Array, validity: Uint8Array, hasNulls: boolean, start: number, end: number, nullCount: number): Statistics {
  let min = Infinity;
  let max = -Infinity;
  let seen = false;
  for (let i = start; i < end; i++) {
    if (hasNulls && !bitAt(validity, i)) continue;
    const value = values[i];
    if (value !== value) return { nullCount };
    if (value < min) min = value;
    if (value > max) max = value;
    seen = true;
  }
  if (!seen) return { nullCount };
  if (min === 0) min = -0;
  if (max === 0) max = 0;
  return {
    nullCount,
    legacy: true,
    min: littleEndian(8, (v) => v.setFloat64(0, min, true)),
    max: littleEndian(8, (v) => v.setFloat64(0, max, true)),
  };
}

/** PLAIN booleans: the non-null values bit-packed, least significant bit first. */
function encodeBooleans(body: ByteSink, column: SealedColumn, hasNulls: boolean, start: number, end: number, nullCount: number): Statistics {
  const bits = column.values as Uint8Array;
  let packed: Uint8Array;
  let valueCount = end - start;
  if (!hasNulls) packed = alignedBits(bits, start, valueCount);
  else {
    valueCount = end - start - nullCount;
    packed = new Uint8Array((valueCount + 7) >> 3);
    let at = 0;
    for (let i = start; i < end; i++) {
      if (!bitAt(column.validity, i)) continue;
      if (bitAt(bits, i)) packed[at >> 3] |= 1 << (at & 7);
      at++;
    }
  }
  body.append(packed);
  if (valueCount === 0) return { nullCount };
  const trues = countSet(packed, 0, valueCount);
  return { nullCount, min: Uint8Array.of(trues === valueCount ? 1 : 0), max: Uint8Array.of(trues > 0 ? 1 : 0) };
}

/** Byte-wise (unsigned) comparison of two byte ranges, the order Parquet defines for UTF-8 strings. */
function compareBytes(bytes: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): number {
  const length = Math.min(aEnd - a, bEnd - b);
  for (let k = 0; k < length; k++) {
    const difference = bytes[a + k] - bytes[b + k];
    if (difference !== 0) return difference;
  }
  return aEnd - a - (bEnd - b);
}

/** The strings of slots [first, last) of an offsets array, skipping slots whose validity bit is unset. */
interface StringSlots {
  bytes: Uint8Array;
  offsets: Int32Array;
  /** Undefined when every slot holds a value. */
  validity: Uint8Array | undefined;
  first: number;
  last: number;
  /** Slots with a value. */
  count: number;
}

/** Statistics with bytes[minStart, minEnd) and bytes[maxStart, maxEnd) as min and max, left out when long. */
function stringRangeStatistics(bytes: Uint8Array, minStart: number, minEnd: number, maxStart: number, maxEnd: number, nullCount: number): Statistics {
  if (minEnd - minStart > STATISTICS_MAX_BYTES || maxEnd - maxStart > STATISTICS_MAX_BYTES) return { nullCount };
  return { nullCount, min: bytes.slice(minStart, minEnd), max: bytes.slice(maxStart, maxEnd) };
}

function plainStringStatistics(slots: StringSlots, nullCount: number): Statistics {
  const { bytes, offsets, validity } = slots;
  let min = -1;
  let max = -1;
  for (let i = slots.first; i < slots.last; i++) {
    if (validity && !bitAt(validity, i)) continue;
    const s = offsets[i];
    const e = offsets[i + 1];
    if (min < 0 || compareBytes(bytes, s, e, offsets[min], offsets[min + 1]) < 0) min = i;
    if (max < 0 || compareBytes(bytes, s, e, offsets[max], offsets[max + 1]) > 0) max = i;
  }
  if (min < 0) return { nullCount };
  return stringRangeStatistics(bytes, offsets[min], offsets[min + 1], offsets[max], offsets[max + 1], nullCount);
}

/** A dictionary's entries in index order, as places in a column's bytes. */
interface DictionaryEntries {
  readonly bytes: Uint8Array;
  entryStart: Int32Array;
  entryLength: Int32Array;
  entryCount: number;
  /** PLAIN size of the entries (4-byte length + bytes each). */
  plainBytes: number;
}

function dictionaryStatistics(dictionary: DictionaryEntries, nullCount: number): Statistics {
  if (dictionary.entryCount === 0) return { nullCount };
  const { bytes, entryStart, entryLength } = dictionary;
  let min = 0;
  let max = 0;
  for (let i = 1; i < dictionary.entryCount; i++) {
    const s = entryStart[i];
    const e = s + entryLength[i];
    if (compareBytes(bytes, s, e, entryStart[min], entryStart[min] + entryLength[min]) < 0) min = i;
    if (compareBytes(bytes, s, e, entryStart[max], entryStart[max] + entryLength[max]) > 0) max = i;
  }
  const minStart = entryStart[min];
  const maxStart = entryStart[max];
  return stringRangeStatistics(bytes, minStart, minStart + entryLength[min], maxStart, maxStart + entryLength[max], nullCount);
}

/** PLAIN BYTE_ARRAY: each value as a 4-byte little-endian length and its bytes. */
function writePlainStrings(body: ByteSink, slots: StringSlots): void {
  const { bytes: source, offsets, validity } = slots;
  const out = body.reserve(4 * slots.count + offsets[slots.last] - offsets[slots.first]);
  const to = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const from = new DataView(source.buffer, source.byteOffset, source.byteLength);
  let at = body.length;
  for (let i = slots.first; i < slots.last; i++) {
    if (validity && !bitAt(validity, i)) continue;
    at = writePlainValue(out, to, source, from, at, offsets[i], offsets[i + 1] - offsets[i]);
  }
  body.length = at;
}

/**
 * One PLAIN BYTE_ARRAY value at `at` of `out` (`to` its view): the length, then source[start, start + length).
 * Returns where the next value goes. Short values are copied as whole words through the DataViews, a quarter of the
 * loop iterations of a byte copy; a typed-array copy costs a call and a view, worth it only for long values.
 */
function writePlainValue(out: Uint8Array, to: DataView, source: Uint8Array, from: DataView, at: number, start: number, length: number): number {
  to.setInt32(at, length, true);
  at += 4;
  if (length > 64) out.set(source.subarray(start, start + length), at);
  else {
    let k = 0;
    for (; k + 4 <= length; k += 4) to.setInt32(at + k, from.getInt32(start + k, true), true);
    for (; k < length; k++) out[at + k] = source[start + k];
  }
  return at + length;
}

/*
 * String dictionaries read strings as 32-bit little-endian words through a DataView. A string's key is four words
 * covering its last min(length, 16) bytes, overlapping where it is shorter than 16 bytes (one masked word below 4
 * bytes); bytes before those are read as 16-byte blocks. The key's word positions come from the length by
 * arithmetic, not branches: per-value branches on the length mispredict at almost every value, which measured
 * slower than all the hashing. Hash slots keep the key, so strings of up to 16 bytes (most ids, paths, codes) are
 * matched without reading either string again.
 */

/** The low 0–3 bytes of a little-endian word. */
const TAIL_MASKS = new Int32Array([0, 0xff, 0xffff, 0xffffff]);

/** The 0–3 bytes of a string shorter than 4 bytes as a little-endian word: one masked load where the buffer goes on. */
function shortWord(bytes: Uint8Array, view: DataView, start: number, length: number): number {
  if (start + 4 <= bytes.length) return view.getInt32(start, true) & TAIL_MASKS[length];
  let word = 0;
  for (let k = length - 1; k >= 0; k--) word = (word << 8) | bytes[start + k];
  return word;
}

/** One 32-bit word into a running hash. */
function mixWord(hash: number, word: number): number {
  hash = Math.imul(hash ^ word, 0xcc9e2d51);
  return hash ^ (hash >>> 15);
}

/** The 16 bytes at `at` into a running hash. */
function mixBlock(hash: number, view: DataView, at: number): number {
  hash = mixWord(hash, view.getInt32(at, true));
  hash = mixWord(hash, view.getInt32(at + 4, true));
  hash = mixWord(hash, view.getInt32(at + 8, true));
  return mixWord(hash, view.getInt32(at + 12, true));
}

function rotateLeft(word: number, bits: number): number {
  return (word << bits) | (word >>> (32 - bits));
}

/**
 * The hash of a key and the hash of what precedes it (with the length). The four words are multiplied side by side,
 * not one after another: a shorter chain of dependent multiplications, which measured faster per value.
 */
function keyHash(hash: number, key0: number, key1: number, key2: number, key3: number): number {
  const front = Math.imul(key0 ^ hash, 0xcc9e2d51) ^ rotateLeft(Math.imul(key1, 0x1b873593), 11);
  const back = Math.imul(key2, 0x85ebca6b) ^ rotateLeft(Math.imul(key3, 0xc2b2ae35), 21);
  return finalMix(front + back);
}

/** Murmur3's finalizer: spreads every input bit over the low bits a power-of-two table indexes by. */
function finalMix(hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}

/** Whether the `length` bytes at a and at b are equal, 16 bytes at a time: up to 15 bytes past them are read too. */
function sameBlocks(view: DataView, a: number, b: number, length: number): boolean {
  for (let k = 0; k < length; k += 16) {
    const difference =
      (view.getInt32(a + k, true) ^ view.getInt32(b + k, true)) |
      (view.getInt32(a + k + 4, true) ^ view.getInt32(b + k + 4, true)) |
      (view.getInt32(a + k + 8, true) ^ view.getInt32(b + k + 8, true)) |
      (view.getInt32(a + k + 12, true) ^ view.getInt32(b + k + 12, true));
    if (difference !== 0) return false;
  }
  return true;
}

/** Int32 words per hash slot: hash, entry index + 1 (0 = empty slot), byte length, byte offset, the 4 key words. */
const SLOT_WORDS = 8;

/**
 * The distinct strings of one column chunk, each kept as the place in the column's bytes where it first occurs:
 * nothing is copied until the dictionary page is written. Open addressing, linear probing, at most half full.
 */
class StringDictionary implements DictionaryEntries {
  private table: Int32Array;
  private mask: number;
  private readonly view: DataView;
  /** All ones but in tests that force hash collisions. */
  private readonly hashMask: number;
  entryStart = new Int32Array(256);
  entryLength = new Int32Array(256);
  entryCount = 0;
  /** PLAIN size of the entries (4-byte length + bytes each). */
  plainBytes = 0;

  constructor(
    readonly bytes: Uint8Array,
    tuning: DictionaryTuning,
    initialSlots = tuning.initialSlots,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.table = new Int32Array(SLOT_WORDS * initialSlots);
    this.mask = initialSlots - 1;
    this.hashMask = tuning.hashBits >= 32 ? -1 : (1 << tuning.hashBits) - 1;
  }

  /** The fewest slots (a power of two) that hold this many entries without growing: more than twice as many. */
  static slotsFor(entryCount: number): number {
    return 2 ** (32 - Math.clz32(2 * entryCount));
  }

  /** Index of the string bytes[start, end), added if new. */
  indexOf(start: number, end: number): number {
    const view = this.view;
    const length = end - start;
    let hash = Math.imul(length, 0x9e3779b1);
    let key0 = 0;
    let key1 = 0;
    let key2 = 0;
    let key3 = 0;
    if (length < 4) key0 = shortWord(this.bytes, view, start, length);
    else {
      for (let at = start; at < end - 16; at += 16) hash = mixBlock(hash, view, at);
      const over = length - 16;
      const first = end - 16 - (over & (over >> 31)); // max(start, end - 16)
      const step = (((length - 8) >>> 31) ^ 1) << 2; // 4 from 8 bytes on, else 0
      key0 = view.getInt32(first, true);
      key1 = view.getInt32(first + step, true);
      key2 = view.getInt32(end - 4 - step, true);
      key3 = view.getInt32(end - 4, true);
    }
    hash = keyHash(hash, key0, key1, key2, key3) & this.hashMask;
    const table = this.table;
    const mask = this.mask;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const at = slot * SLOT_WORDS;
      const found = table[at + 1];
      if (found === 0) return this.add(slot, hash, start, length, key0, key1, key2, key3);
      const difference =
        (table[at] ^ hash) | (table[at + 2] ^ length) | (table[at + 4] ^ key0) | (table[at + 5] ^ key1) | (table[at + 6] ^ key2) | (table[at + 7] ^ key3);
      if (difference === 0 && (length <= 16 || sameBlocks(view, table[at + 3], start, length - 16))) return found - 1;
    }
  }

  private add(slot: number, hash: number, start: number, length: number, key0: number, key1: number, key2: number, key3: number): number {
    const index = this.entryCount++;
    if (index === this.entryStart.length) {
      this.entryStart = growInt32(this.entryStart, index * 2);
      this.entryLength = growInt32(this.entryLength, index * 2);
    }
    this.entryStart[index] = start;
    this.entryLength[index] = length;
    const table = this.table;
    const at = slot * SLOT_WORDS;
    table[at] = hash;
    table[at + 1] = index + 1;
    table[at + 2] = length;
    table[at + 3] = start;
    table[at + 4] = key0;
    table[at + 5] = key1;
    table[at + 6] = key2;
    table[at + 7] = key3;
    this.plainBytes += 4 + length;
    if (this.entryCount * 2 > this.mask) this.rehash();
    return index;
  }

  private rehash(): void {
    const old = this.table;
    const mask = this.mask * 2 + 1;
    const table = new Int32Array(SLOT_WORDS * (mask + 1));
    for (let from = 0; from < old.length; from += SLOT_WORDS) {
      if (old[from + 1] === 0) continue;
      let slot = old[from] & mask;
      while (table[slot * SLOT_WORDS + 1] !== 0) slot = (slot + 1) & mask;
      table.set(old.subarray(from, from + SLOT_WORDS), slot * SLOT_WORDS);
    }
    this.table = table;
    this.mask = mask;
  }
}

function growInt32(array: Int32Array, length: number): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(length);
  grown.set(array);
  return grown;
}
/** Bits per dictionary index (at least 1). */
function indexBitWidth(entryCount: number): number {
  return Math.max(1, 32 - Math.clz32(entryCount - 1));
}

/**
 * Dictionary indices of the slots' values into `indices`, or false as soon as a dictionary clearly does not pay
 * (more than half the sampled values distinct, or a dictionary page past its limit) or in the end is not smaller.
 */
function dictionaryEncode(slots: StringSlots, dictionary: StringDictionary, indices: Int32Array): boolean {
  const { offsets, validity } = slots;
  let seen = 0;
  // Checked every 1024 values: the sample judgement, and the page limit (overshoot bounded by 1024 values).
  for (let from = slots.first; from < slots.last; from += DICTIONARY_SAMPLE) {
    const to = Math.min(slots.last, from + DICTIONARY_SAMPLE);
    if (validity) {
      for (let i = from; i < to; i++) if (bitAt(validity, i)) indices[seen++] = dictionary.indexOf(offsets[i], offsets[i + 1]);
    } else {
      for (let i = from; i < to; i++) indices[seen++] = dictionary.indexOf(offsets[i], offsets[i + 1]);
    }
    if (dictionary.plainBytes > DICTIONARY_BYTE_LIMIT) return false;
    if (dictionary.entryCount * 2 > seen && seen >= DICTIONARY_SAMPLE / 2) return false;
  }
  const plainBytes = 4 * slots.count + offsets[slots.last] - offsets[slots.first];
  return dictionary.plainBytes + Math.ceil((slots.count * indexBitWidth(dictionary.entryCount)) / 8) < plainBytes;
}

/** The dictionary page body: PLAIN entries in index order. */
function dictionaryPage(dictionary: DictionaryEntries): Uint8Array {
  const out = new Uint8Array(dictionary.plainBytes);
  const { bytes, entryStart, entryLength } = dictionary;
  let at = 0;
  for (let i = 0; i < dictionary.entryCount; i++) {
    const length = entryLength[i];
    out[at] = length;
    out[at + 1] = length >>> 8;
    out[at + 2] = length >>> 16;
    out[at + 3] = length >>> 24;
    const s = entryStart[i];
    out.set(bytes.subarray(s, s + length), at + 4);
    at += 4 + length;
  }
  return out;
}

/**
 * String values, dictionary-encoded when that is smaller, else PLAIN. The dictionary's table starts at the size the
 * column's last one needed: from 1,024 slots, a part of the `sessions` table grew landing_url's table twice and four
 * other columns' once, each growth rehashing every entry (≈ 3% of an encoder thread's time; bench/OPTIMIZATIONS.md,
 * session 23).
 */
function encodeStrings(scratch: Scratch, column: string, slots: StringSlots, nullCount: number): Omit<EncodedChunk, "levelCount"> {
  const body = scratch.body;
  if (slots.count > 0) {
    const tuning = scratch.dictionaryTuning;
    const learned = tuning.learnsSizes === true ? scratch.dictionarySlots.get(column) : undefined;
    const dictionary = new StringDictionary(slots.bytes, tuning, Math.max(tuning.initialSlots, learned ?? 0));
    const indices = scratch.indices(slots.count);
    const encoded = dictionaryEncode(slots, dictionary, indices);
    if (tuning.learnsSizes === true) scratch.dictionarySlots.set(column, Math.min(StringDictionary.slotsFor(dictionary.entryCount), MAX_LEARNED_SLOTS));
    if (encoded) {
      const bitWidth = indexBitWidth(dictionary.entryCount);
      body.byte(bitWidth);
      writeHybrid(body, indices, slots.count, bitWidth);
      return {
        dictionary: dictionaryPage(dictionary),
        dictionaryCount: dictionary.entryCount,
        statistics: dictionaryStatistics(dictionary, nullCount),
      };
    }
  }
  writePlainStrings(body, slots);
  return { statistics: plainStringStatistics(slots, nullCount) };
}

/** The strings of slots [first, last) of a column in dictionary form (SealedColumn's ids), skipping unset validity bits. */
interface IdSlots {
  bytes: Uint8Array;
  entryOffsets: Int32Array;
  ids: Int32Array;
  validity: Uint8Array | undefined;
  first: number;
  last: number;
  /** Slots with a value. */
  count: number;
}

/** A chunk's dictionary taken from a column's: the entries the chunk uses, in the order it first uses them. */
class ChunkEntries implements DictionaryEntries {
  entryStart: Int32Array;
  entryLength: Int32Array;
  entryCount = 0;
  plainBytes = 0;
  constructor(
    readonly bytes: Uint8Array,
    capacity: number,
  ) {
    this.entryStart = new Int32Array(Math.max(1, capacity));
    this.entryLength = new Int32Array(Math.max(1, capacity));
  }
  add(start: number, end: number): number {
    const index = this.entryCount++;
    this.entryStart[index] = start;
    this.entryLength[index] = end - start;
    this.plainBytes += 4 + end - start;
    return index;
  }
}

/**
 * String values of a column in dictionary form, written exactly as encodeStrings writes the same strings in plain form
 * (the same dictionary in the same order, the same choice of dictionary or PLAIN by the same rules, the same
 * statistics), without hashing a value: the column's entry ids are renumbered in order of first use in the chunk.
 */
function encodeStringIds(scratch: Scratch, slots: IdSlots, nullCount: number): Omit<EncodedChunk, "levelCount"> {
  const body = scratch.body;
  if (slots.count === 0) return { statistics: { nullCount } };
  const { ids, entryOffsets, validity } = slots;
  const entryCount = entryOffsets.length - 1;
  const remap = scratch.entryRemap(entryCount);
  const entries = new ChunkEntries(slots.bytes, Math.min(entryCount, slots.count));
  const indices = scratch.indices(slots.count);
  let seen = 0;
  let valueBytes = 0;
  let pays = true;
  for (let from = slots.first; from < slots.last; from += DICTIONARY_SAMPLE) {
    const to = Math.min(slots.last, from + DICTIONARY_SAMPLE);
    for (let i = from; i < to; i++) {
      if (validity && !bitAt(validity, i)) continue;
      const id = ids[i];
      const start = entryOffsets[id];
      const end = entryOffsets[id + 1];
      let index = remap[id];
      if (index < 0) index = remap[id] = entries.add(start, end);
      indices[seen++] = index;
      valueBytes += end - start;
    }
    // dictionaryEncode's checks, at the same points: once failed, the chunk is PLAIN whatever follows.
    if (entries.plainBytes > DICTIONARY_BYTE_LIMIT || (entries.entryCount * 2 > seen && seen >= DICTIONARY_SAMPLE / 2)) pays = false;
  }
  const statistics = dictionaryStatistics(entries, nullCount);
  const bitWidth = indexBitWidth(entries.entryCount);
  if (pays && entries.plainBytes + Math.ceil((seen * bitWidth) / 8) < 4 * seen + valueBytes) {
    body.byte(bitWidth);
    writeHybrid(body, indices, seen, bitWidth);
    return { dictionary: dictionaryPage(entries), dictionaryCount: entries.entryCount, statistics };
  }
  writePlainEntries(body, entries, indices, seen, 4 * seen + valueBytes);
  return { statistics };
}

/** PLAIN BYTE_ARRAY of `count` values given as indices into `entries` (`byteLength` bytes in all). */
function writePlainEntries(body: ByteSink, entries: DictionaryEntries, indices: Int32Array, count: number, byteLength: number): void {
  const out = body.reserve(byteLength);
  const { bytes: source, entryStart, entryLength } = entries;
  const to = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const from = new DataView(source.buffer, source.byteOffset, source.byteLength);
  let at = body.length;
  for (let k = 0; k < count; k++) at = writePlainValue(out, to, source, from, at, entryStart[indices[k]], entryLength[indices[k]]);
  body.length = at;
}

// ---------------------------------------------------------------------------------------------------------------
// Column chunks

/** Levels and values of rows [start, end) of a flat (non-list) column into `body`. */
function encodeFlatChunk(scratch: Scratch, spec: ColumnSpec, column: SealedColumn, start: number, end: number): EncodedChunk {
  const body = scratch.body;
  const rowCount = end - start;
  const nullable = spec.nullable !== false;
  const hasNulls = column.nullCount > 0;
  const nullCount = hasNulls ? rowCount - countSet(column.validity, start, end) : 0;
  if (nullable) {
    writeLengthPrefixed(body, () => {
      if (nullCount === 0) writeRleRun(body, 1, rowCount, 1);
      else if (nullCount === rowCount) writeRleRun(body, 0, rowCount, 1);
      else writeBitmapHybrid(body, alignedBits(column.validity, start, rowCount), rowCount);
    });
  }
  const withNulls = nullCount > 0;
  const validity = column.validity;
  const levelCount = rowCount;
  switch (spec.type) {
    case "int32":
    case "date": {
      const values = column.values as Int32Array;
      body.append(fixedWidthValues(values, validity, withNulls, start, end));
      return { levelCount, statistics: int32Statistics(values, validity, withNulls, start, end, nullCount) };
    }
    case "int64":
    case "timestamp": {
      const values = column.values as BigInt64Array;
      body.append(fixedWidthValues(values, validity, withNulls, start, end));
      return { levelCount, statistics: int64Statistics(values, validity, withNulls, start, end, nullCount) };
    }
    case "float64": {
      const values = column.values as Float64Array;
      body.append(fixedWidthValues(values, validity, withNulls, start, end));
      return { levelCount, statistics: float64Statistics(values, validity, withNulls, start, end, nullCount) };
    }
    case "bool":
      return { levelCount, statistics: encodeBooleans(body, column, withNulls, start, end, nullCount) };
    case "string": {
      if (column.ids !== undefined) {
        const slots: IdSlots = {
          bytes: column.values as Uint8Array,
          entryOffsets: column.entryOffsets!,
          ids: column.ids,
          validity: withNulls ? validity : undefined,
          first: start,
          last: end,
          count: rowCount - nullCount,
        };
        return { levelCount, ...encodeStringIds(scratch, slots, nullCount) };
      }
      const slots: StringSlots = {
        bytes: column.values as Uint8Array,
        offsets: column.offsets!,
        validity: withNulls ? validity : undefined,
        first: start,
        last: end,
        count: rowCount - nullCount,
      };
      return { levelCount, ...encodeStrings(scratch, spec.name, slots, nullCount) };
    }
    case "list<string>":
      throw new Error("list columns are encoded by encodeListChunk");
  }
}

/**
 * Levels and items of rows [start, end) of a list<string> column. Definition levels: null list 0 (nullable only),
 * empty list maxDefinition - 2, null item maxDefinition - 1, item maxDefinition; repetition 0 at each row's first
 * level and 1 after. Both are built from the exceptions only: repetition as a bitmap, definition as a filled array.
 */
function encodeListChunk(scratch: Scratch, spec: ColumnSpec, column: SealedColumn, start: number, end: number): EncodedChunk {
  const body = scratch.body;
  const offsets = column.offsets!;
  const listValidity = column.nullCount > 0 ? column.validity : undefined;
  const itemValidity = column.itemNullCount! > 0 ? column.itemValidity! : undefined;
  const maxDefinition = spec.nullable !== false ? 3 : 2;
  const firstItem = offsets[start];
  const lastItem = offsets[end];
  let emptyRows = 0;
  for (let row = start; row < end; row++) if (offsets[row + 1] === offsets[row]) emptyRows++;
  const levelCount = lastItem - firstItem + emptyRows;
  const repetition = new Uint8Array((levelCount + 7) >> 3).fill(0xff);
  if (levelCount & 7) repetition[repetition.length - 1] = (1 << (levelCount & 7)) - 1;
  const definition = emptyRows > 0 || itemValidity ? new Uint8Array(levelCount).fill(maxDefinition) : undefined;
  let at = 0;
  let nullCount = 0;
  for (let row = start; row < end; row++) {
    const from = offsets[row];
    const to = offsets[row + 1];
    repetition[at >> 3] &= ~(1 << (at & 7));
    if (from === to) {
      definition![at++] = listValidity && !bitAt(listValidity, row) ? 0 : maxDefinition - 2;
      nullCount++;
      continue;
    }
    if (itemValidity) {
      for (let item = from; item < to; item++) {
        if (bitAt(itemValidity, item)) continue;
        definition![at + item - from] = maxDefinition - 1;
        nullCount++;
      }
    }
    at += to - from;
  }
  writeLengthPrefixed(body, () => writeBitmapHybrid(body, repetition, levelCount));
  writeLengthPrefixed(body, () => {
    if (definition) writeHybrid(body, definition, levelCount, 2);
    else writeRleRun(body, maxDefinition, levelCount, 2);
  });
  const itemNulls = itemValidity ? lastItem - firstItem - countSet(itemValidity, firstItem, lastItem) : 0;
  if (column.ids !== undefined) {
    const slots: IdSlots = {
      bytes: column.values as Uint8Array,
      entryOffsets: column.entryOffsets!,
      ids: column.ids,
      validity: itemValidity,
      first: firstItem,
      last: lastItem,
      count: lastItem - firstItem - itemNulls,
    };
    return { levelCount, ...encodeStringIds(scratch, slots, nullCount) };
  }
  const slots: StringSlots = {
    bytes: column.values as Uint8Array,
    offsets: column.itemOffsets!,
    validity: itemValidity,
    first: firstItem,
    last: lastItem,
    count: lastItem - firstItem - itemNulls,
  };
  return { levelCount, ...encodeStrings(scratch, spec.name, slots, nullCount) };
}

interface ChunkMetadata {
  column: ColumnSpec;
  /** The chunk's codec: the file's, or uncompressed where that would not pay (see compressionPays). */
  codec: number;
  encodings: number[];
  valueCount: number;
  uncompressedSize: number;
  compressedSize: number;
  dataPageOffset: number;
  dictionaryPageOffset?: number;
  statistics: Statistics;
}

interface PageHeaderFields {
  type: number;
  valueCount: number;
  encoding: number;
}

/**
 * One page: header then (compressed) body; returns the uncompressed and written sizes, headers included.
 * `owned` says the body is the page's own array, kept as it is; otherwise it is copied.
 */
function writePage(file: FileParts, header: PageHeaderFields, body: Uint8Array, owned: boolean, compress: PageCompressor | undefined): [number, number] {
  const stored = compress ? compress(body, file) : owned ? body : file.copy(body);
  const headerBytes = new ByteSink(64);
  const thrift = new ThriftWriter(headerBytes);
  thrift.structBody(() => {
    thrift.i32(1, header.type);
    thrift.i32(2, body.length);
    thrift.i32(3, stored.length);
    if (header.type === PAGE_DICTIONARY) {
      thrift.struct(7, () => {
        thrift.i32(1, header.valueCount);
        thrift.i32(2, header.encoding);
      });
    } else {
      thrift.struct(5, () => {
        thrift.i32(1, header.valueCount);
        thrift.i32(2, header.encoding);
        thrift.i32(3, ENCODING_RLE);
        thrift.i32(4, ENCODING_RLE);
      });
    }
  });
  file.push(headerBytes.view());
  file.push(stored);
  return [headerBytes.length + body.length, headerBytes.length + stored.length];
}

function writeColumnChunk(
  file: FileParts,
  scratch: Scratch,
  spec: ColumnSpec,
  column: SealedColumn,
  start: number,
  end: number,
  fileCodec: number,
  fileCompress: PageCompressor | undefined,
): ChunkMetadata {
  const body = scratch.body;
  body.length = 0;
  const encoded =
    spec.type === "list<string>" ? encodeListChunk(scratch, spec, column, start, end) : encodeFlatChunk(scratch, spec, column, start, end);
  // A chunk may skip a codec that would not shrink it (the codec is the chunk's, for its dictionary page too).
  const stored = fileCompress !== undefined && !compressionPays(body.view(), encoded.dictionary?.length ?? 0, scratch);
  const compress = stored ? undefined : fileCompress;
  const metadata: ChunkMetadata = {
    column: spec,
    codec: stored ? CODEC_UNCOMPRESSED : fileCodec,
    encodings: [ENCODING_PLAIN, ENCODING_RLE],
    valueCount: encoded.levelCount,
    uncompressedSize: 0,
    compressedSize: 0,
    dataPageOffset: 0,
    statistics: encoded.statistics,
  };
  if (encoded.dictionary) {
    metadata.dictionaryPageOffset = file.length;
    metadata.encodings.push(ENCODING_RLE_DICTIONARY);
    const header = { type: PAGE_DICTIONARY, valueCount: encoded.dictionaryCount!, encoding: ENCODING_PLAIN };
    const [uncompressed, compressed] = writePage(file, header, encoded.dictionary, true, compress);
    metadata.uncompressedSize += uncompressed;
    metadata.compressedSize += compressed;
  }
  metadata.dataPageOffset = file.length;
  const encoding = encoded.dictionary ? ENCODING_RLE_DICTIONARY : ENCODING_PLAIN;
  const [uncompressed, compressed] = writePage(file, { type: PAGE_DATA, valueCount: encoded.levelCount, encoding }, body.view(), false, compress);
  metadata.uncompressedSize += uncompressed;
  metadata.compressedSize += compressed;
  return metadata;
}

// ---------------------------------------------------------------------------------------------------------------
// Footer

interface RowGroupMetadata {
  rowCount: number;
  chunks: ChunkMetadata[];
}

function writeStatistics(thrift: ThriftWriter, statistics: Statistics): void {
  thrift.struct(12, () => {
    if (statistics.legacy && statistics.max && statistics.min) {
      thrift.binary(1, statistics.max);
      thrift.binary(2, statistics.min);
    }
    thrift.i64(3, statistics.nullCount);
    if (statistics.max && statistics.min) {
      thrift.binary(5, statistics.max);
      thrift.binary(6, statistics.min);
    }
  });
}

function writeFileMetadata(file: ByteSink, columns: readonly ColumnSpec[], rowCount: number, rowGroups: RowGroupMetadata[]): void {
  const thrift = new ThriftWriter(file);
  const schema: SchemaNode[] = [{ name: "arrow_schema", children: columns.length }, ...columns.flatMap(schemaNodesOf)];
  thrift.structBody(() => {
    thrift.i32(1, 1);
    thrift.structList(2, schema, (node) => {
      if (node.physical !== undefined) thrift.i32(1, node.physical);
      if (node.repetition !== undefined) thrift.i32(3, node.repetition);
      thrift.string(4, node.name);
      if (node.children !== undefined) thrift.i32(5, node.children);
      if (node.converted !== undefined) thrift.i32(6, node.converted);
      if (node.logical) thrift.struct(10, () => node.logical!(thrift));
    });
    thrift.i64(3, rowCount);
    thrift.structList(4, rowGroups, (group) => {
      thrift.structList(1, group.chunks, (chunk) => {
        thrift.i64(2, 0);
        thrift.struct(3, () => {
          thrift.i32(1, physicalTypeOf(chunk.column));
          thrift.i32List(2, chunk.encodings);
          thrift.stringList(3, pathOf(chunk.column));
          thrift.i32(4, chunk.codec);
          thrift.i64(5, chunk.valueCount);
          thrift.i64(6, chunk.uncompressedSize);
          thrift.i64(7, chunk.compressedSize);
          thrift.i64(9, chunk.dataPageOffset);
          if (chunk.dictionaryPageOffset !== undefined) thrift.i64(11, chunk.dictionaryPageOffset);
          writeStatistics(thrift, chunk.statistics);
        });
      });
      thrift.i64(2, group.chunks.reduce((sum, chunk) => sum + chunk.uncompressedSize, 0));
      thrift.i64(3, group.rowCount);
      const first = group.chunks[0];
      if (first) thrift.i64(5, first.dictionaryPageOffset ?? first.dataPageOffset);
      thrift.i64(6, group.chunks.reduce((sum, chunk) => sum + chunk.compressedSize, 0));
    });
    thrift.string(6, "clickpipe");
    // Type-defined order for every leaf: tells readers min_value/max_value hold the spec's order.
    const leafCount = columns.length;
    thrift.list(7, CT_STRUCT, leafCount);
    for (let i = 0; i < leafCount; i++) thrift.structBody(() => thrift.struct(1, emptyStruct));
  });
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * A Parquet file of the batch, its pages compressed by `compress` (none when undefined) and marked as `codec`, except
 * chunks that compression would not shrink enough (compressionPays), stored uncompressed.
 */
function writeParquetWith(batch: SealedBatch, rowGroupSize: number, codec: number, compress: PageCompressor | undefined, tuning: DictionaryTuning): Uint8Array {
  const file = new FileParts();
  scratch.dictionaryTuning = tuning;
  file.push(MAGIC);
  const rowGroups: RowGroupMetadata[] = [];
  for (let start = 0; start < batch.length; start += rowGroupSize) {
    const end = Math.min(batch.length, start + rowGroupSize);
    const chunks = batch.columns.map((spec, i) => writeColumnChunk(file, scratch, spec, batch.data[i], start, end, codec, compress));
    rowGroups.push({ rowCount: end - start, chunks });
  }
  const footer = new ByteSink(4096);
  writeFileMetadata(footer, batch.columns, batch.length, rowGroups);
  footer.int32(footer.length);
  footer.append(MAGIC);
  file.push(footer.view());
  return file.join();
}

/**
 * Whether snappy saves at least an eighth of a column chunk, judged on four 4 KiB samples spread over its data page.
 * Unique ids (session, visitor: 16 hex digits after a 4-byte length) save about 15% and were the slowest pages to
 * compress, a third of the sessions table's snappy time: many short matches. Dictionary indices of a list column
 * (the `sessions` table's page_items: 28 distinct items, 75 KB of bit-packed indices a part) save under 1%. Such
 * chunks are stored uncompressed instead; Parquet keeps the codec per column chunk, and every reader (DuckDB, Arrow,
 * Spark) reads it there. A dictionary page is not sampled: the chunk keeps the codec unless the data page's saving
 * would stay under an eighth of the whole chunk even with the dictionary page compressed to nothing.
 */
function compressionPays(page: Uint8Array, dictionaryBytes: number, scratch: Scratch): boolean {
  if (page.length < SAMPLED_PAGE_BYTES) return true;
  const output = scratch.sampleOutput;
  const stride = Math.floor((page.length - SAMPLE_BYTES) / (SAMPLES - 1));
  let compressed = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const at = i * stride;
    compressed += snappyCompressInto(page.subarray(at, at + SAMPLE_BYTES), output);
  }
  const pageSaving = page.length * (1 - compressed / (SAMPLES * SAMPLE_BYTES));
  return pageSaving + dictionaryBytes >= (page.length + dictionaryBytes) / 8;
}

/** Snappy straight into the file's room: no copy of the compressed page. */
function snappyPage(body: Uint8Array, file: FileParts): Uint8Array {
  return file.claim(snappyCompressInto(body, file.room(snappyMaxLength(body.length))));
}

/** The codecs written here. zstd is not: Node 20 has none built in (zlib.zstdCompressSync came in 22.15), so zstd files go through parquet-wasm. */
export type TypeScriptWriterCompression = Exclude<EncodeOptions["compression"], "zstd">;

const CODECS: Record<TypeScriptWriterCompression, { codec: number; compress: PageCompressor | undefined }> = {
  none: { codec: CODEC_UNCOMPRESSED, compress: undefined },
  snappy: { codec: CODEC_SNAPPY, compress: snappyPage },
};

/** Parquet file bytes of a sealed batch, uncompressed or with snappy. `dictionaryTuning` is for tests only. */
export function writeParquetFile(
  batch: SealedBatch,
  options: { compression: TypeScriptWriterCompression; rowGroupSize: number; dictionaryTuning?: DictionaryTuning },
): Uint8Array {
  const { codec, compress } = CODECS[options.compression];
  return writeParquetWith(batch, options.rowGroupSize, codec, compress, options.dictionaryTuning ?? DEFAULT_DICTIONARY_TUNING);
}
