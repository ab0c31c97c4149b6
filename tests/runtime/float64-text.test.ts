// Number columns as checkpoint text: base64 of little-endian float64 bytes, exact for every double.
import { describe, expect, it } from "vitest";
import {
  base64ToFloat64,
  CHUNK_VALUES,
  float64Column,
  float64ColumnOf,
  float64Columns,
  float64ColumnsOf,
  float64ColumnsShared,
  float64ToBase64,
  type Float64Chunk,
  type Float64Columns,
} from "../../src/runtime/float64-text.ts";
import { WRITE_JSON } from "../../src/runtime/json-slices.ts";
import { SeededRandom } from "../../src/training/random.ts";

describe("float64 columns as text", () => {
  it("writes the IEEE 754 little-endian bytes of each number, in base64", () => {
    // 1 = 0x3FF0000000000000, -2 = 0xC000000000000000: bytes low to high.
    expect(float64ToBase64([1])).toBe(Buffer.from([0, 0, 0, 0, 0, 0, 0xf0, 0x3f]).toString("base64"));
    expect(float64ToBase64([1])).toBe("AAAAAAAA8D8=");
    expect(float64ToBase64([1, -2])).toBe(Buffer.from([0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xc0]).toString("base64"));
    expect(float64ToBase64([])).toBe("");
  });

  it("reads back exactly what it wrote: integers up to 2^53, fractions, negative zero, every column size", () => {
    const seeded = new SeededRandom(25);
    const special = [0, -0, 1, -1, 0.1, 2 ** 53 - 1, -(2 ** 53), 2 ** 52 + 0.5, Number.MIN_VALUE, Number.MAX_VALUE, Infinity, -Infinity];
    expect(Object.is(base64ToFloat64(float64ToBase64(special))[1], -0)).toBe(true);
    expect(base64ToFloat64(float64ToBase64(special))).toEqual(special);
    // Up to past the reused 1 MiB buffer (131,072 numbers), so both of its paths are read back.
    for (const length of [0, 1, 5, 131_072, 131_073, 300_000]) {
      const values = Array.from({ length }, () => seeded.int(2 ** 20) * 2 ** 32 + seeded.int(2 ** 32) - 2 ** 51);
      expect(base64ToFloat64(float64ToBase64(values))).toEqual(values);
    }
  });

  it("rejects text that is not base64 of a whole number of 8-byte values", () => {
    expect(() => base64ToFloat64(Buffer.from([1, 2, 3]).toString("base64"))).toThrow(/not a whole number of 8-byte values/);
    // 12 characters claim 9 bytes minus padding; with characters outside base64 fewer are decoded.
    expect(() => base64ToFloat64("AAAA*AAA8D8=")).toThrow(/not base64/);
  });

  it("keeps short columns as numbers and long ones as text, and reads both back", () => {
    const short = Array.from({ length: 29 }, (_, i) => i * 1.5);
    const long = Array.from({ length: 30 }, (_, i) => i * 2 ** 40 + 1);
    expect(float64Column(short)).toEqual(short);
    expect(float64Column(short)).not.toBe(short);
    expect(float64Column(long)).toBe(float64ToBase64(long));
    expect(float64ColumnOf(JSON.parse(JSON.stringify(float64Column(short))) as number[])).toEqual(short);
    expect(float64ColumnOf(JSON.parse(JSON.stringify(float64Column(long))) as string)).toEqual(long);
  });
});

describe("many float64 columns as one", () => {
  it("writes every column's numbers back to back as base64 chunks of CHUNK_VALUES numbers, and each column's length", () => {
    const columns = [[1, -2], [], [0.5]];
    // The numbers are copied at once and written as text when serialized.
    const saved = float64Columns(columns);
    columns[0][0] = 99;
    expect(JSON.parse(JSON.stringify(saved))).toEqual({ lengths: [2, 0, 1], chunks: [float64ToBase64([1, -2, 0.5])] });
    expect(float64ColumnsOf(saved)).toEqual([[1, -2], [], [0.5]]);
    expect(JSON.parse(JSON.stringify(float64Columns([[], []])))).toEqual({ lengths: [0, 0], chunks: [] });
  });

  it("reads back exactly the columns, across chunk boundaries, with empty columns anywhere", () => {
    const seeded = new SeededRandom(28);
    const value = () => seeded.int(2 ** 20) * 2 ** 32 + seeded.int(2 ** 32) - 2 ** 51;
    // Lengths chosen so that columns start, end and span the boundaries of three chunks.
    const lengths = [0, 3, CHUNK_VALUES - 3, 0, 1, CHUNK_VALUES + 7, 0, 200_000, 5, 0];
    const columns = lengths.map((length) => Array.from({ length }, value));
    columns[1][1] = -0;
    columns[4][0] = Infinity;
    const saved = JSON.parse(JSON.stringify(float64Columns(columns))) as Float64Columns;
    const total = lengths.reduce((sum, length) => sum + length, 0);
    const full = Math.floor(total / CHUNK_VALUES);
    expect(full).toBeGreaterThanOrEqual(3);
    expect(saved.chunks.map((chunk) => Buffer.byteLength(chunk as string, "base64") / 8)).toEqual([...Array<number>(full).fill(CHUNK_VALUES), total - full * CHUNK_VALUES]);
    const read = float64ColumnsOf(saved);
    expect(read.map((column) => column.length)).toEqual(lengths);
    expect(Object.is(read[1][1], -0)).toBe(true);
    for (let index = 0; index < columns.length; index++) expect(read[index]).toEqual(columns[index]);
  });

  it("keeps each snapshot's numbers and text when later snapshots are taken and serialized", () => {
    const columnsOf = (base: number) => [Array.from({ length: 2 * CHUNK_VALUES + 5 }, (_, i) => base + i), [base - 1]];
    const first = float64Columns(columnsOf(1_000));
    const firstText = JSON.stringify(first);
    const second = float64Columns(columnsOf(5_000_000));
    JSON.stringify(second);
    expect(JSON.stringify(first)).toBe(firstText);
    expect(float64ColumnsOf(first)).toEqual(columnsOf(1_000));
    expect(float64ColumnsOf(second)).toEqual(columnsOf(5_000_000));
    expect(float64ColumnsOf(JSON.parse(JSON.stringify(second)) as Float64Columns)).toEqual(columnsOf(5_000_000));
  });

  it("float64ColumnsShared: the same text as float64Columns, read when serialized, appends after the snapshot left out", () => {
    const seeded = new SeededRandom(29);
    const lengths = [0, 0, 3, CHUNK_VALUES - 3, 0, 1, CHUNK_VALUES + 7, 0, 20_000, 5, 0, 0];
    const columns = lengths.map((length) => Array.from({ length }, () => seeded.int(2 ** 40) / 8));
    const expected = JSON.stringify(float64Columns(columns));
    const shared = float64ColumnsShared(columns);
    // Appending after the snapshot, as a visitor's new events do, is not part of it.
    for (const column of columns) column.push(1, 2, 3);
    expect(JSON.stringify(shared)).toBe(expected);
    expect(float64ColumnsOf(float64ColumnsShared([[], [7], []]))).toEqual([[], [7], []]);
    // Read in memory (a restore without JSON) before and after the text is made.
    const again = float64ColumnsShared(columns.map((column) => column.slice(0, column.length - 3)));
    expect(float64ColumnsOf(again)).toEqual(columns.map((column) => column.slice(0, column.length - 3)));
    JSON.stringify(again);
    expect(float64ColumnsOf(again)).toEqual(columns.map((column) => column.slice(0, column.length - 3)));
    expect(JSON.stringify(float64ColumnsShared([]))).toBe(JSON.stringify(float64Columns([])));
  });

  it("a chunk writes as JSON (WRITE_JSON, for json-slices) exactly JSON.stringify's text of it, copied or shared", () => {
    const columns = [Array.from({ length: CHUNK_VALUES + 9 }, (_, i) => i * 1.5 - 7), [Infinity, -0, NaN]];
    for (const saved of [float64Columns(columns), float64ColumnsShared(columns)]) {
      for (const chunk of saved.chunks as Float64Chunk[]) {
        const pieces: string[] = [];
        chunk[WRITE_JSON]({ push: (text) => pieces.push(text) });
        expect(pieces.join("")).toBe(JSON.stringify(chunk));
      }
    }
  });

  it("float64ColumnsShared: once serialized, a snapshot no longer reads its columns, and serializes to the same text again", () => {
    const columns = [Array.from({ length: CHUNK_VALUES + 9 }, (_, i) => i / 4), [1, 2, 3]];
    const shared = float64ColumnsShared(columns);
    const text = JSON.stringify(shared);
    // Changed in place after the first serialization: a shared chunk that still read its column would write these.
    columns[0].fill(-1);
    columns[1].splice(0, 3, 7, 8, 9);
    expect(JSON.stringify(shared)).toBe(text);
    expect(float64ColumnsOf(shared)[1]).toEqual([1, 2, 3]);
  });

  it("rejects chunks that hold more or fewer numbers than the lengths, and lengths that are not counts", () => {
    const saved = float64Columns([[1, 2], [3]]);
    expect(() => float64ColumnsOf({ ...saved, lengths: [2, 2] })).toThrow(/fewer numbers than the lengths hold/);
    expect(() => float64ColumnsOf({ ...saved, lengths: [2] })).toThrow(/more numbers than the lengths hold/);
    expect(() => float64ColumnsOf({ ...saved, lengths: [1.5, 1.5] })).toThrow(/1.5 is not a column length/);
  });
});
