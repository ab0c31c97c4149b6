// Parquet files written straight from sealed columnar buffers: no Arrow IPC step, no copy into wasm memory
// (issue 10: parquet-wasm's writer alone stays far under 1M rows per CPU second).
// The schema is the one parquet-wasm (arrow-rs) writes for the same Arrow schema, so readers see no difference.
// One data page (V1) per column chunk: PLAIN values, RLE/bit-packed levels; strings dictionary-encoded when smaller.
import type { EncodeOptions, SealedBatch, SealedColumn } from "./parquet-encoder.ts";
import { snappyCompressInto, snappyMaxLength } from "./snappy.ts";
import type { ColumnSpec } from "./table.ts";

/** Compresses one page body; the result need only stay valid until the next call. */
type PageCompressor = (body: Uint8Array) => Uint8Array;

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
const DICTIONARY_BYTE_LIMIT = 1 << 20;
/** Values between two checks of whether a dictionary still pays (more than half of them distinct: it does not). */
const DICTIONARY_SAMPLE = 1024;
/** String statistics longer than this are left out rather than truncated (truncation needs exactness flags). */
const STATISTICS_MAX_BYTES = 256;

const textEncoder = new TextEncoder();

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

/** The file as a list of byte arrays joined once at the end: no growing buffer copied again and again. */
class FileParts {
  private readonly parts: Uint8Array[] = [];
  length = 0;
  /** Keeps `bytes` as they are: pass a copy of anything that is overwritten later. */
  push(bytes: Uint8Array): void {
    this.parts.push(bytes);
    this.length += bytes.length;
  }
  join(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

/** Buffers reused from column chunk to column chunk of one file. */
class Scratch {
  readonly body = new ByteSink(1 << 16);
  private indexBuffer = new Int32Array(1024);
  indices(count: number): Int32Array {
    if (count > this.indexBuffer.length) this.indexBuffer = new Int32Array(Math.max(count, this.indexBuffer.length * 2));
    return this.indexBuffer;
  }
}

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

/** Values [from, to) bit-packed as one run, the last group padded with zeros (only ever the final run). */
function writeBitPacked(out: ByteSink, values: Uint8Array | Int32Array, from: number, to: number, bitWidth: number): void {
  const groups = (to - from + 7) >> 3;
  out.varint((groups << 1) | 1);
  const bytes = out.reserve(groups * bitWidth);
  let at = out.length;
  let buffer = 0;
  let bits = 0;
  const end = from + groups * 8;
  for (let i = from; i < end; i++) {
    const value = i < to ? values[i] : 0;
    buffer |= value << bits;
    bits += bitWidth;
    while (bits >= 8) {
      bytes[at++] = buffer & 0xff;
      buffer >>>= 8;
      bits -= 8;
    }
  }
  out.length = at;
}

/**
 * RLE/bit-packed hybrid of `count` values of at most 24 bits: runs of 8 or more equal values become RLE runs,
 * the rest bit-packed runs whose length is a multiple of 8 except at the very end.
 */
function writeHybrid(out: ByteSink, values: Uint8Array | Int32Array, count: number, bitWidth: number): void {
  let packedFrom = 0;
  let i = 0;
  while (i < count) {
    const value = values[i];
    let end = i + 1;
    while (end < count && values[end] === value) end++;
    if (end - i >= 8) {
      // Values of the run fill the pending packed run up to a multiple of 8 first.
      const runStart = i + ((8 - ((i - packedFrom) & 7)) & 7);
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

/** Doubles per the Parquet spec: NaN left out, a zero minimum written as -0 and a zero maximum as +0. */
function float64Statistics(values: Float64Array, validity: Uint8Array, hasNulls: boolean, start: number, end: number, nullCount: number): Statistics {
  let min = Infinity;
  let max = -Infinity;
  let seen = false;
  for (let i = start; i < end; i++) {
    if (hasNulls && !bitAt(validity, i)) continue;
    const value = values[i];
    if (value !== value) continue;
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

function dictionaryStatistics(dictionary: StringDictionary, nullCount: number): Statistics {
  const bytes = dictionary.bytes();
  const { entryStart, entryLength } = dictionary;
  let min = 0;
  let max = 0;
  for (let i = 1; i < dictionary.entryCount; i++) {
    const s = entryStart[i] * 4;
    const e = s + entryLength[i];
    if (compareBytes(bytes, s, e, entryStart[min] * 4, entryStart[min] * 4 + entryLength[min]) < 0) min = i;
    if (compareBytes(bytes, s, e, entryStart[max] * 4, entryStart[max] * 4 + entryLength[max]) > 0) max = i;
  }
  const minStart = entryStart[min] * 4;
  const maxStart = entryStart[max] * 4;
  return stringRangeStatistics(bytes, minStart, minStart + entryLength[min], maxStart, maxStart + entryLength[max], nullCount);
}

/** PLAIN BYTE_ARRAY: each value as a 4-byte little-endian length and its bytes. */
function writePlainStrings(body: ByteSink, slots: StringSlots): void {
  const { bytes: source, offsets, validity } = slots;
  const out = body.reserve(4 * slots.count + offsets[slots.last] - offsets[slots.first]);
  // Whole-word copies through DataViews: a quarter of the loop iterations of a byte copy.
  const to = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const from = new DataView(source.buffer, source.byteOffset, source.byteLength);
  let at = body.length;
  for (let i = slots.first; i < slots.last; i++) {
    if (validity && !bitAt(validity, i)) continue;
    const s = offsets[i];
    const length = offsets[i + 1] - s;
    to.setInt32(at, length, true);
    at += 4;
    // A typed-array copy costs a call and a view: only worth it for long values.
    if (length > 64) out.set(source.subarray(s, s + length), at);
    else {
      let k = 0;
      for (; k + 4 <= length; k += 4) to.setInt32(at + k, from.getInt32(s + k, true), true);
      for (; k < length; k++) out[at + k] = source[s + k];
    }
    at += length;
  }
  body.length = at;
}

/**
 * Distinct strings kept as zero-padded little-endian 32-bit words, so that hashing reads each value's bytes once
 * and matching compares words, not bytes (both measured as the writer's hot spot).
 */
const TAIL_MASKS = new Int32Array([0, 0xff, 0xffff, 0xffffff]);

class StringDictionary {
  /** Per hash slot, 4 words: hash, entry index + 1 (0 = empty slot), byte length, first word in `words`. */
  private table = new Int32Array(4 * 1024);
  private mask = 1023;
  private words = new Int32Array(4096);
  private wordCount = 0;
  entryStart = new Int32Array(256);
  entryLength = new Int32Array(256);
  entryCount = 0;
  /** PLAIN size of the entries (4-byte length + bytes each). */
  plainBytes = 0;
  private scratch = new Int32Array(64);
  // Kept apart from scratch.length: once any ArrayBuffer in the thread has been detached (every transfer does),
  // each typed array length read costs a check.
  private scratchWords = 64;

  /** Index of the string bytes[s, e) (`end` = bytes.length), added if new. */
  indexOf(bytes: Uint8Array, view: DataView, end: number, s: number, e: number): number {
    const length = e - s;
    const wordLength = (length + 3) >> 2;
    if (wordLength > this.scratchWords) {
      this.scratchWords = wordLength * 2;
      this.scratch = new Int32Array(this.scratchWords);
    }
    const scratch = this.scratch;
    let hash = Math.imul(length, 0x9e3779b1);
    let k = s;
    let w = 0;
    for (; k + 4 <= e; k += 4) {
      const word = view.getInt32(k, true);
      scratch[w++] = word;
      hash = Math.imul(hash ^ word, 0x85ebca6b);
      hash ^= hash >>> 15;
    }
    const tail = e - k;
    if (tail !== 0) {
      // A whole-word read masked to the tail, where the buffer goes on past the value.
      const word =
        k + 4 <= end
          ? view.getInt32(k, true) & TAIL_MASKS[tail]
          : tail === 1
            ? bytes[k]
            : tail === 2
              ? bytes[k] | (bytes[k + 1] << 8)
              : bytes[k] | (bytes[k + 1] << 8) | (bytes[k + 2] << 16);
      scratch[w] = word;
      hash = Math.imul(hash ^ word, 0x85ebca6b);
    }
    hash = Math.imul(hash ^ (hash >>> 16), 0xc2b2ae35);
    hash ^= hash >>> 13;
    const table = this.table;
    const mask = this.mask;
    let slot = hash & mask;
    for (;;) {
      const at = slot << 2;
      const found = table[at + 1];
      if (found === 0) break;
      if (table[at] === hash && table[at + 2] === length) {
        const words = this.words;
        const start = table[at + 3];
        let j = 0;
        while (j < wordLength && words[start + j] === scratch[j]) j++;
        if (j === wordLength) return found - 1;
      }
      slot = (slot + 1) & mask;
    }
    return this.add(slot, hash, length, wordLength);
  }

  private add(slot: number, hash: number, length: number, wordLength: number): number {
    const index = this.entryCount++;
    if (index === this.entryStart.length) {
      this.entryStart = growInt32(this.entryStart, index * 2);
      this.entryLength = growInt32(this.entryLength, index * 2);
    }
    if (this.wordCount + wordLength > this.words.length) this.words = growInt32(this.words, (this.wordCount + wordLength) * 2);
    this.words.set(this.scratch.subarray(0, wordLength), this.wordCount);
    this.entryStart[index] = this.wordCount;
    this.entryLength[index] = length;
    const at = slot << 2;
    this.table[at] = hash;
    this.table[at + 1] = index + 1;
    this.table[at + 2] = length;
    this.table[at + 3] = this.wordCount;
    this.wordCount += wordLength;
    this.plainBytes += 4 + length;
    if (this.entryCount * 2 > this.mask) this.rehash();
    return index;
  }

  private rehash(): void {
    const old = this.table;
    this.mask = this.mask * 2 + 1;
    const table = new Int32Array(4 * (this.mask + 1));
    for (let from = 0; from < old.length; from += 4) {
      if (old[from + 1] === 0) continue;
      let slot = old[from] & this.mask;
      while (table[(slot << 2) + 1] !== 0) slot = (slot + 1) & this.mask;
      table.set(old.subarray(from, from + 4), slot << 2);
    }
    this.table = table;
  }

  /** The entries' bytes, read through the words' memory (little-endian, as written). */
  bytes(): Uint8Array {
    return new Uint8Array(this.words.buffer, 0, this.wordCount * 4);
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
  const { bytes, offsets, validity } = slots;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let seen = 0;
  // Checked every 1024 values: the sample judgement, and the page limit (overshoot bounded by 1024 values).
  for (let from = slots.first; from < slots.last; from += DICTIONARY_SAMPLE) {
    const to = Math.min(slots.last, from + DICTIONARY_SAMPLE);
    if (validity) {
      for (let i = from; i < to; i++) if (bitAt(validity, i)) indices[seen++] = dictionary.indexOf(bytes, view, end, offsets[i], offsets[i + 1]);
    } else {
      for (let i = from; i < to; i++) indices[seen++] = dictionary.indexOf(bytes, view, end, offsets[i], offsets[i + 1]);
    }
    if (dictionary.plainBytes > DICTIONARY_BYTE_LIMIT) return false;
    if (dictionary.entryCount * 2 > seen && seen >= DICTIONARY_SAMPLE / 2) return false;
  }
  const plainBytes = 4 * slots.count + offsets[slots.last] - offsets[slots.first];
  return dictionary.plainBytes + Math.ceil((slots.count * indexBitWidth(dictionary.entryCount)) / 8) < plainBytes;
}

/** The dictionary page body: PLAIN entries in index order. */
function dictionaryPage(dictionary: StringDictionary): Uint8Array {
  const out = new Uint8Array(dictionary.plainBytes);
  const bytes = dictionary.bytes();
  let at = 0;
  for (let i = 0; i < dictionary.entryCount; i++) {
    const length = dictionary.entryLength[i];
    out[at] = length;
    out[at + 1] = length >>> 8;
    out[at + 2] = length >>> 16;
    out[at + 3] = length >>> 24;
    const s = dictionary.entryStart[i] * 4;
    out.set(bytes.subarray(s, s + length), at + 4);
    at += 4 + length;
  }
  return out;
}

/** String values, dictionary-encoded when that is smaller, else PLAIN. */
function encodeStrings(scratch: Scratch, slots: StringSlots, nullCount: number): Omit<EncodedChunk, "levelCount"> {
  const body = scratch.body;
  if (slots.count > 0) {
    const dictionary = new StringDictionary();
    const indices = scratch.indices(slots.count);
    if (dictionaryEncode(slots, dictionary, indices)) {
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
      const slots: StringSlots = {
        bytes: column.values as Uint8Array,
        offsets: column.offsets!,
        validity: withNulls ? validity : undefined,
        first: start,
        last: end,
        count: rowCount - nullCount,
      };
      return { levelCount, ...encodeStrings(scratch, slots, nullCount) };
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
  const slots: StringSlots = {
    bytes: column.values as Uint8Array,
    offsets: column.itemOffsets!,
    validity: itemValidity,
    first: firstItem,
    last: lastItem,
    count: lastItem - firstItem - itemNulls,
  };
  return { levelCount, ...encodeStrings(scratch, slots, nullCount) };
}

interface ChunkMetadata {
  column: ColumnSpec;
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
  // Compressors hand back their own reused buffer: copied too.
  const stored = compress ? compress(body).slice() : owned ? body : body.slice();
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
  compress: PageCompressor | undefined,
): ChunkMetadata {
  const body = scratch.body;
  body.length = 0;
  const encoded =
    spec.type === "list<string>" ? encodeListChunk(scratch, spec, column, start, end) : encodeFlatChunk(scratch, spec, column, start, end);
  const metadata: ChunkMetadata = {
    column: spec,
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

function writeFileMetadata(file: ByteSink, columns: readonly ColumnSpec[], rowCount: number, rowGroups: RowGroupMetadata[], codec: number): void {
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
          thrift.i32(4, codec);
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

/** A Parquet file of the batch written with the given page compressor ("none" when undefined). */
/** A Parquet file of the batch, each page compressed by `compress` (none when undefined) and marked as `codec`. */
function writeParquetWith(batch: SealedBatch, rowGroupSize: number, codec: number, compress: PageCompressor | undefined): Uint8Array {
  const file = new FileParts();
  const scratch = new Scratch();
  file.push(MAGIC);
  const rowGroups: RowGroupMetadata[] = [];
  for (let start = 0; start < batch.length; start += rowGroupSize) {
    const end = Math.min(batch.length, start + rowGroupSize);
    const chunks = batch.columns.map((spec, i) => writeColumnChunk(file, scratch, spec, batch.data[i], start, end, compress));
    rowGroups.push({ rowCount: end - start, chunks });
  }
  const footer = new ByteSink(4096);
  writeFileMetadata(footer, batch.columns, batch.length, rowGroups, codec);
  footer.int32(footer.length);
  footer.append(MAGIC);
  file.push(footer.view());
  return file.join();
}

/** Snappy into one output buffer reused page after page: each result is read before the next page is compressed. */
function snappyPages(): PageCompressor {
  let output = new Uint8Array(0);
  return (body) => {
    const needed = snappyMaxLength(body.length);
    if (output.length < needed) output = new Uint8Array(Math.max(needed, output.length * 2));
    return output.subarray(0, snappyCompressInto(body, output));
  };
}

/** The codecs written here. zstd is not: Node 20 has none built in (zlib.zstdCompressSync came in 22.15), so zstd files go through parquet-wasm. */
export type TypeScriptWriterCompression = Exclude<EncodeOptions["compression"], "zstd">;

const CODECS: Record<TypeScriptWriterCompression, { codec: number; pages: () => PageCompressor | undefined }> = {
  none: { codec: CODEC_UNCOMPRESSED, pages: () => undefined },
  snappy: { codec: CODEC_SNAPPY, pages: snappyPages },
};

/** Parquet file bytes of a sealed batch, uncompressed or with snappy. */
export function writeParquetFile(batch: SealedBatch, options: { compression: TypeScriptWriterCompression; rowGroupSize: number }): Uint8Array {
  const { codec, pages } = CODECS[options.compression];
  return writeParquetWith(batch, options.rowGroupSize, codec, pages());
}
