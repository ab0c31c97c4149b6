// The column builders' strings, past what lake-fixtures' all-types rows hold: thousands of them (the builders' buffers
// grow many times), ASCII and not, short and past the builders' 64-character copy loop, lone surrogates, null items
// and holes, non-string list items, and a row rejected after its strings went in. DuckDB reads the file back as the
// oracle; the expectation is the JavaScript values written out by hand (a lone surrogate is U+FFFD in UTF-8, a hole in
// a list a null item).
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type BatchRoom, ColumnBatchBuilder, encodeSealedBatch, encoderReady, ParquetEncodeError, roomLike, type SealedBatch } from "../../src/sinks/parquet-encoder.ts";
import type { ColumnSpec, Row } from "../../src/sinks/table.ts";
import { duckDb, queryJson, temporaryDirectory } from "./lake-fixtures.ts";

const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

const COLUMNS: ColumnSpec[] = [
  { name: "id", type: "string", nullable: false },
  { name: "tags", type: "list<string>" },
  { name: "note", type: "string" },
  { name: "n", type: "int32" },
];

async function readBack(batch: SealedBatch, compression: "snappy" | "zstd"): Promise<Record<string, unknown>[]> {
  const directory = await temporaryDirectory("encoder");
  directories.push(directory);
  const file = join(directory, "part.parquet");
  await encoderReady(compression);
  await writeFile(file, encodeSealedBatch(batch, { compression, rowGroupSize: 1000 }));
  const connection = await duckDb();
  return queryJson(connection, `SELECT id, tags, note, n FROM read_parquet('${file}')`);
}

describe("ColumnBatchBuilder strings", () => {
  // Buffers sized for 64 rows (the default), for 1 and for 4,096 rows, and with room for text and list items as the sink
  // sizes the part after a sealed one (roomLike): a little, so that they grow past it, and a lot.
  const rooms: [string, number | BatchRoom | undefined][] = [
    ["default", undefined],
    ["1 row", 1],
    ["4,096 rows", 4_096],
    ["little text", { rows: 10, textBytes: [1, 1, 1, 0], items: [0, 1, 0, 0] }],
    ["a part's text", { rows: 5_000, textBytes: [40_000, 60_000, 200_000, 0], items: [0, 7_000, 0, 0] }],
  ];
  for (const compression of ["snappy", "zstd"] as const) for (const [label, room] of rooms) {
    it(`writes ASCII and non-ASCII strings, lone surrogates, null items and holes, and drops a rejected row's strings (${compression}, room: ${label})`, async () => {
      const builder = new ColumnBatchBuilder(COLUMNS, room);
      const expected: Record<string, unknown>[] = [];
      const append = (row: Row, read: Record<string, unknown>) => {
        builder.append(row);
        expected.push(read);
      };
      for (let i = 0; i < 3_000; i++) {
        const id = i >= 1_500 && i < 2_000 ? `r${i}-ü` : `r${i}`;
        const second = i % 7 === 0 ? null : `u${i}`;
        append({ id, tags: [`t${i}`, second], note: i % 5 === 0 ? null : "", n: i }, { id, tags: [`t${i}`, second], note: i % 5 === 0 ? null : "", n: i });
        if (i === 1_000) {
          // Fails at its last column, after its id, tags and note went into their builders: all of it is undone, and
          // the validity bits its null item and null note cleared are set again for the next row's present values.
          expect(() => builder.append({ id: "rejected", tags: ["x", "y", null], note: null, n: "not a number" })).toThrow(ParquetEncodeError);
        }
      }
      // eslint-disable-next-line no-sparse-arrays
      const withHole = ["\uDFFF", , "x"];
      append({ id: "lone\uD800", tags: withHole, note: "a\uD83D\uDE42b", n: null }, { id: "lone\uFFFD", tags: ["\uFFFD", null, "x"], note: "a🙂b", n: null });
      append({ id: "numbers", tags: [1, 2.5, true], note: "漢字", n: -1 }, { id: "numbers", tags: ["1", "2.5", "true"], note: "漢字", n: -1 });
      append({ id: "empty", tags: [], note: "x".repeat(70_000), n: 0 }, { id: "empty", tags: [], note: "x".repeat(70_000), n: 0 });
      const batch = builder.seal();
      expect(batch.length).toBe(expected.length);
      expect(await readBack(batch, compression)).toEqual(expected);
    });
  }
});

describe("roomLike", () => {
  it("gives each text and list column a quarter more than the sealed batch held, the other columns nothing, and keeps plain what went plain", () => {
    const builder = new ColumnBatchBuilder(COLUMNS);
    builder.append({ id: "abcd", tags: ["x", null, "yz"], note: null, n: 1 });
    builder.append({ id: "ü", tags: [], note: "12345678", n: 2 });
    for (let i = 0; i < 1_024; i++) builder.append({ id: `row-${i}`, tags: [], note: "12345678", n: i });
    const room = roomLike(builder.seal(), 100);
    // id: distinct values, plain after the first 1,024: 4 + 2 bytes (ü is two in UTF-8) + 10 × 5 + 90 × 6 + 900 × 7 +
    // 24 × 8 = 7,088 → 8,860; tags (a
    // dictionary): "x" and "yz" once, 3 bytes in 3 items → 4 bytes, 4 items; note (a dictionary): "12345678" once → 10.
    const idBytes = 6 + Array.from({ length: 1_024 }, (_, i) => `row-${i}`.length).reduce((a, b) => a + b, 0);
    expect(idBytes).toBe(7_088);
    expect(room).toEqual({ rows: 100, textBytes: [8_860, 4, 10, 0], items: [0, 4, 0, 0], plainStrings: [true, false, false, false] });
  });
});

describe("ColumnBatchBuilder.seal", () => {
  it("hands out the rows written, without the buffers' spare room, and takes no row after", () => {
    const builder = new ColumnBatchBuilder(COLUMNS, 1_000);
    builder.append({ id: "a", tags: ["x"], note: "hello", n: 7 });
    const batch = builder.seal();
    expect(batch.data.map((column) => column.values.length)).toEqual([1, 1, 5, 1]);
    expect(batch.data[0].ids).toEqual(new Int32Array([0]));
    expect(batch.data[0].entryOffsets).toEqual(new Int32Array([0, 1]));
    expect(batch.data[1].offsets).toEqual(new Int32Array([0, 1]));
    expect(batch.data[1].ids).toEqual(new Int32Array([0]));
    expect(() => builder.append({ id: "b", tags: [], note: null, n: 1 })).toThrow(/after seal/);
  });
});

describe("ColumnBatchBuilder strings as a dictionary", () => {
  const text = (bytes: Uint8Array | Int32Array | Float64Array | BigInt64Array) => Buffer.from(bytes as Uint8Array).toString("utf8");

  it("keeps each distinct string's bytes once and an entry per value, -1 for a null row or item", () => {
    const builder = new ColumnBatchBuilder(COLUMNS);
    builder.append({ id: "b", tags: ["/home", "/cart", "/home"], note: null, n: 1 });
    builder.append({ id: "ü", tags: [null, "/cart"], note: "b", n: 2 });
    builder.append({ id: "b", tags: [], note: "b", n: 3 });
    const [id, tags, note] = builder.seal().data;
    expect(text(id.values)).toBe("bü");
    expect(id.entryOffsets).toEqual(new Int32Array([0, 1, 3]));
    expect(id.ids).toEqual(new Int32Array([0, 1, 0]));
    expect(text(tags.values)).toBe("/home/cart");
    expect(tags.entryOffsets).toEqual(new Int32Array([0, 5, 10]));
    expect(tags.ids).toEqual(new Int32Array([0, 1, 0, -1, 1]));
    expect(tags.offsets).toEqual(new Int32Array([0, 3, 5, 5]));
    expect(tags.itemOffsets).toBeUndefined();
    expect(note.ids).toEqual(new Int32Array([-1, 0, 0]));
  });

  it("rewrites a column plain once a sample of its values is mostly distinct, the values before it included, and stays plain", () => {
    const builder = new ColumnBatchBuilder(COLUMNS);
    const ids: string[] = [];
    for (let i = 0; i < 3_000; i++) {
      // Repeats at first (one value in three new), then distinct: plain from the second sample on.
      const id = i < 600 ? `v${i % 200}` : `id-${i}`;
      ids.push(id);
      builder.append({ id, tags: i % 2 === 0 ? ["a", null] : ["b"], note: i === 2_999 ? "last" : null, n: i });
    }
    const [id, tags, note] = builder.seal().data;
    expect(id.ids).toBeUndefined();
    expect(text(id.values)).toBe(ids.join(""));
    let at = 0;
    expect(id.offsets).toEqual(new Int32Array([0, ...ids.map((value) => (at += value.length))]));
    expect(tags.ids?.length).toBe(4_500);
    expect(note.ids).toEqual(new Int32Array(3_000).fill(-1).fill(0, 2_999));
  });

  it("starts plain where roomLike says so, repeating values too", () => {
    const builder = new ColumnBatchBuilder(COLUMNS, { rows: 10, plainStrings: [true, true, false, false] });
    builder.append({ id: "same", tags: ["x", null], note: "same", n: 1 });
    builder.append({ id: "same", tags: ["x"], note: "same", n: 2 });
    const [id, tags, note] = builder.seal().data;
    expect([text(id.values), id.offsets, id.ids]).toEqual(["samesame", new Int32Array([0, 4, 8]), undefined]);
    expect([text(tags.values), tags.itemOffsets, tags.ids]).toEqual(["xx", new Int32Array([0, 1, 1, 2]), undefined]);
    expect([text(note.values), note.ids]).toEqual(["same", new Int32Array([0, 0])]);
  });
});

describe("ColumnBatchBuilder numbers and dates", () => {
  const NUMBERS: ColumnSpec[] = [
    { name: "i", type: "int32", nullable: false },
    { name: "big", type: "int64" },
    { name: "at", type: "timestamp" },
    { name: "n", type: "int32" },
    { name: "day", type: "date" },
  ];

  async function readNumbers(batch: SealedBatch, compression: "snappy" | "zstd"): Promise<Record<string, unknown>[]> {
    const directory = await temporaryDirectory("encoder-numbers");
    directories.push(directory);
    const file = join(directory, "part.parquet");
    await encoderReady(compression);
    await writeFile(file, encodeSealedBatch(batch, { compression, rowGroupSize: 2 }));
    const connection = await duckDb();
    return queryJson(connection, `SELECT big::VARCHAR AS big, epoch_ms("at")::VARCHAR AS "at", n, day::VARCHAR AS day FROM read_parquet('${file}') ORDER BY i`);
  }

  for (const compression of ["snappy", "zstd"] as const) {
    it(`writes int64 bigints exactly past 2^53, numbers up to ±2^63, int32 bounds and dates of years 0–99 (${compression})`, async () => {
      const builder = new ColumnBatchBuilder(NUMBERS);
      // Timestamps stay within DuckDB's microsecond range (±2^63 µs): 2^53 + 1 ms is past a double's exact integers.
      builder.append({ i: 0, big: 9_007_199_254_740_993n, at: 9_007_199_254_740_993n, n: 2_147_483_647, day: "0050-01-01" });
      builder.append({ i: 1, big: 2n ** 63n - 1n, at: -9_007_199_254_740_993n, n: -2_147_483_648, day: "0001-03-01" });
      builder.append({ i: 2, big: -(2n ** 63n), at: -86_400_000, n: 0, day: "1969-12-31" });
      builder.append({ i: 3, big: 2 ** 63 - 2 ** 10, at: null, n: null, day: "2024-02-29" });
      builder.append({ i: 4, big: -(2 ** 63), at: 2 ** 52 + 0.5, n: 3.9, day: "0099-12-31" });
      expect(await readNumbers(builder.seal(), compression)).toEqual([
        { big: "9007199254740993", at: "9007199254740993", n: 2_147_483_647, day: "0050-01-01" },
        { big: "9223372036854775807", at: "-9007199254740993", n: -2_147_483_648, day: "0001-03-01" },
        { big: "-9223372036854775808", at: "-86400000", n: 0, day: "1969-12-31" },
        { big: "9223372036854774784", at: null, n: null, day: "2024-02-29" },
        { big: "-9223372036854775808", at: "4503599627370496", n: 3, day: "0099-12-31" },
      ]);
    });
  }

  it("rejects int64 values past the int64 range, int32 values past the int32 range and days the calendar lacks, keeping the rows before", async () => {
    const builder = new ColumnBatchBuilder(NUMBERS);
    builder.append({ i: 0, big: 1n, at: 0, n: 1, day: "2024-01-31" });
    const rejected: Row[] = [
      { big: 2n ** 63n },
      { big: -(2n ** 63n) - 1n },
      { big: 1e30 },
      { at: 2 ** 63 },
      { at: -(2 ** 64) },
      { n: 2_147_483_648 },
      { n: 3e9 },
      { n: -2_147_483_649 },
      { day: "2023-02-29" },
      { day: "2024-04-31" },
      { day: "2024-13-01" },
      { day: "2024-00-10" },
    ];
    for (const values of rejected) {
      expect(() => builder.append({ i: 1, big: null, at: null, n: null, day: null, ...values }), JSON.stringify(values, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))).toThrow(ParquetEncodeError);
    }
    expect(await readNumbers(builder.seal(), "snappy")).toEqual([{ big: "1", at: "0", n: 1, day: "2024-01-31" }]);
  });
});
