// The TypeScript Parquet writer, checked against independent readers: DuckDB (values, schema, statistics) and the
// project's parquet-wasm reader, with expected values derived from the input rows by hand, never from the writer.
import { writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { tableToIPC } from "apache-arrow";
import fc from "fast-check";
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadArrowParquet, sealedBatchToArrow } from "../../src/sinks/parquet-arrow.ts";
import { ColumnBatchBuilder, encodeParquet, ParquetEncodeError } from "../../src/sinks/parquet-encoder.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { readParquetFile } from "../../src/sinks/parquet-reader.ts";
import { writeParquetFile, type DictionaryTuning, type TypeScriptWriterCompression } from "../../src/sinks/parquet-writer.ts";
import type { ColumnSpec, Row } from "../../src/sinks/table.ts";
import { SeededRandom } from "../../src/training/random.ts";
import { allTypesExpectedInDuckDb, allTypesRows, allTypesTable, duckDb, queryJson, readAllTypes, temporaryDirectory } from "./lake-fixtures.ts";

let connection: DuckDBConnection;
let directory: string;
let fileCount = 0;

beforeAll(async () => {
  await loadArrowParquet();
  connection = await duckDb();
  directory = await temporaryDirectory("parquet-writer");
});

afterAll(async () => {
  connection.closeSync();
  await rm(directory, { recursive: true, force: true });
});

const codecs: TypeScriptWriterCompression[] = ["none", "snappy"];

/** Every column type, nullable and required. */
const allColumns: ColumnSpec[] = [
  { name: "i", type: "int32", nullable: false },
  { name: "label", type: "string" },
  { name: "token", type: "string", nullable: false },
  { name: "i32", type: "int32" },
  { name: "i64", type: "int64" },
  { name: "f64", type: "float64" },
  { name: "flag", type: "bool" },
  { name: "at", type: "timestamp" },
  { name: "day", type: "date" },
  { name: "tags", type: "list<string>" },
  { name: "path", type: "list<string>", nullable: false },
  { name: "req_flag", type: "bool", nullable: false },
  { name: "req_f64", type: "float64", nullable: false },
  { name: "req_i64", type: "int64", nullable: false },
  { name: "req_at", type: "timestamp", nullable: false },
  { name: "req_day", type: "date", nullable: false },
];

/** Hand-built rows: nulls (explicit and missing), empty and non-ASCII strings, null/empty lists, null items. */
const handRows: Row[] = [
  {
    i: 0,
    label: "a",
    token: "t-0",
    i32: 7,
    i64: 9_007_199_254_740_991,
    f64: 1.5,
    flag: true,
    at: Date.UTC(2024, 2, 10, 12, 30, 0, 123),
    day: "2024-03-10",
    tags: ["/", "/c/shoes"],
    path: ["x"],
    req_flag: true,
    req_f64: 2.25,
    req_i64: -1,
    req_at: 0,
    req_day: "1970-01-01",
  },
  {
    i: 1,
    label: "",
    token: "",
    i32: -2_147_483_648,
    i64: -5_000_000_000,
    f64: -0.25,
    flag: false,
    at: -86_400_000,
    day: "1969-12-31",
    tags: [],
    path: [],
    req_flag: false,
    req_f64: -3,
    req_i64: 4_294_967_296,
    req_at: Date.UTC(2030, 0, 1),
    req_day: "2000-02-29",
  },
  {
    i: 2,
    label: null,
    token: "é漢字🙂",
    i32: null,
    i64: null,
    f64: null,
    flag: null,
    at: null,
    day: null,
    tags: null,
    path: [null, ""],
    req_flag: true,
    req_f64: 0.5,
    req_i64: 0,
    req_at: 1,
    req_day: "2024-12-31",
  },
  {
    i: 3,
    label: "naïve",
    token: "t-3",
    i32: 2_147_483_647,
    i64: 4_294_967_296,
    f64: 1e300,
    flag: true,
    at: Date.UTC(2024, 2, 11, 9),
    day: "2000-02-29",
    tags: ["naïve", null, ""],
    path: ["a", "b", "c"],
    req_flag: false,
    req_f64: 1e-300,
    req_i64: -9_007_199_254_740_991,
    req_at: Date.UTC(1999, 11, 31, 23, 59, 59, 999),
    req_day: "1999-12-31",
  },
  // Missing keys are nulls, like explicit nulls.
  { i: 4, token: "t-4", path: ["🙂"], req_flag: true, req_f64: 0, req_i64: 5, req_at: 5, req_day: "2024-01-01" },
];

/** DuckDB's JSON form of the input rows (BIGINT as strings, timestamps as epoch ms strings), written out by hand. */
const handRowsInDuckDb = [
  {
    i: 0,
    label: "a",
    token: "t-0",
    i32: 7,
    i64: "9007199254740991",
    f64: 1.5,
    flag: true,
    at: "1710073800123",
    day: "2024-03-10",
    tags: ["/", "/c/shoes"],
    path: ["x"],
    req_flag: true,
    req_f64: 2.25,
    req_i64: "-1",
    req_at: "0",
    req_day: "1970-01-01",
  },
  {
    i: 1,
    label: "",
    token: "",
    i32: -2147483648,
    i64: "-5000000000",
    f64: -0.25,
    flag: false,
    at: "-86400000",
    day: "1969-12-31",
    tags: [],
    path: [],
    req_flag: false,
    req_f64: -3,
    req_i64: "4294967296",
    req_at: "1893456000000",
    req_day: "2000-02-29",
  },
  {
    i: 2,
    label: null,
    token: "é漢字🙂",
    i32: null,
    i64: null,
    f64: null,
    flag: null,
    at: null,
    day: null,
    tags: null,
    path: [null, ""],
    req_flag: true,
    req_f64: 0.5,
    req_i64: "0",
    req_at: "1",
    req_day: "2024-12-31",
  },
  {
    i: 3,
    label: "naïve",
    token: "t-3",
    i32: 2147483647,
    i64: "4294967296",
    f64: 1e300,
    flag: true,
    at: "1710147600000",
    day: "2000-02-29",
    tags: ["naïve", null, ""],
    path: ["a", "b", "c"],
    req_flag: false,
    req_f64: 1e-300,
    req_i64: "-9007199254740991",
    req_at: "946684799999",
    req_day: "1999-12-31",
  },
  {
    i: 4,
    label: null,
    token: "t-4",
    i32: null,
    i64: null,
    f64: null,
    flag: null,
    at: null,
    day: null,
    tags: null,
    path: ["🙂"],
    req_flag: true,
    req_f64: 0,
    req_i64: "5",
    req_at: "5",
    req_day: "2024-01-01",
  },
];

/**
 * The rows as the column builder seals them, strings in plain form (the writer hashes them into its own dictionaries:
 * the path these tests exercise) or in the builder's dictionary form while values repeat (the sink's default).
 */
function sealed(columns: ColumnSpec[], rows: readonly Row[], strings: "plain" | "dictionary" = "plain") {
  const builder = new ColumnBatchBuilder(columns, { rows: 64, plainStrings: columns.map(() => strings === "plain") });
  for (const row of rows) builder.append(row);
  return builder.seal();
}

function writeFile(
  columns: ColumnSpec[],
  rows: readonly Row[],
  compression: TypeScriptWriterCompression,
  rowGroupSize: number,
  dictionaryTuning?: DictionaryTuning,
): string {
  const path = join(directory, `file-${fileCount++}.parquet`);
  writeFileSync(path, writeParquetFile(sealed(columns, rows), { compression, rowGroupSize, dictionaryTuning }));
  return path;
}

/** The same batch written by parquet-wasm, the writer this one must be indistinguishable from. */
function writeWasmFile(columns: ColumnSpec[], rows: readonly Row[]): string {
  const path = join(directory, `wasm-${fileCount++}.parquet`);
  const table = WasmTable.fromIPCStream(tableToIPC(sealedBatchToArrow(sealed(columns, rows)), "stream"));
  writeFileSync(path, writeParquet(table, new WriterPropertiesBuilder().setCompression(Compression.SNAPPY).build()));
  return path;
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Every column, timestamps as epoch ms and dates as text, in input order. */
function selectAll(columns: ColumnSpec[], path: string): string {
  const list = columns.map((column) => {
    const name = quote(column.name);
    if (column.type === "timestamp") return `epoch_ms(${name}) AS ${name}`;
    if (column.type === "date") return `strftime(${name}, '%Y-%m-%d') AS ${name}`;
    return name;
  });
  return `SELECT ${list.join(", ")} FROM read_parquet('${path}') ORDER BY "i"`;
}

/** What DuckDB's JSON rows hold for an input row: BIGINT and epoch_ms as decimal strings, missing keys as null. */
function inDuckDb(columns: ColumnSpec[], row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column of columns) {
    const value = row[column.name] ?? null;
    out[column.name] = value !== null && (column.type === "int64" || column.type === "timestamp") ? String(value) : value;
  }
  return out;
}

/** What the project's reader returns for an input row: the row itself, missing keys as null. */
function inReader(columns: ColumnSpec[], row: Row): Row {
  return Object.fromEntries(columns.map((column) => [column.name, row[column.name] ?? null]));
}

interface ChunkStatistics {
  nullCount: number;
  min: unknown;
  max: unknown;
}

const utf8 = (text: string) => Buffer.from(text, "utf8");

/** Order of two non-null values as Parquet defines it for the column type (strings: unsigned bytes of UTF-8). */
function compareValues(column: ColumnSpec, a: unknown, b: unknown): number {
  switch (column.type) {
    case "string":
    case "list<string>":
      return Buffer.compare(utf8(a as string), utf8(b as string));
    case "int64":
    case "timestamp":
      return BigInt(a as number) < BigInt(b as number) ? -1 : BigInt(a as number) > BigInt(b as number) ? 1 : 0;
    case "bool":
      return Number(a) - Number(b);
    case "date":
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    default:
      return (a as number) - (b as number);
  }
}

/** Statistics of one column over some rows, computed from the rows: list nulls count null lists, empty lists, null items. */
function expectedStatistics(column: ColumnSpec, rows: readonly Row[]): ChunkStatistics {
  const values: unknown[] = [];
  let nullCount = 0;
  for (const row of rows) {
    const value = row[column.name] ?? null;
    if (column.type !== "list<string>") {
      if (value === null) nullCount++;
      else values.push(value);
      continue;
    }
    const items = value as (string | null)[] | null;
    if (items === null || items.length === 0) {
      nullCount++;
      continue;
    }
    for (const item of items) {
      if (item === null) nullCount++;
      else values.push(item);
    }
  }
  if (values.length === 0) return { nullCount, min: null, max: null };
  const sorted = [...values].sort((a, b) => compareValues(column, a, b));
  let [min, max] = [sorted[0], sorted[sorted.length - 1]];
  // Strings past 256 bytes are left out rather than truncated.
  if ((column.type === "string" || column.type === "list<string>") && (utf8(min as string).length > 256 || utf8(max as string).length > 256)) {
    [min, max] = [null, null];
  }
  // The Parquet spec's rule for zeros: a zero minimum is written as -0, a zero maximum as +0.
  if (column.type === "float64") {
    if (min === 0) min = -0;
    if (max === 0) max = 0;
  }
  return { nullCount, min, max };
}

/** A stats_min_value / stats_max_value text of DuckDB as the row value it stands for. */
function statisticValue(column: ColumnSpec, text: string | null): unknown {
  if (text === null) return null;
  switch (column.type) {
    case "int32":
    case "float64":
      return Number(text);
    case "int64":
      return Number(BigInt(text));
    case "timestamp":
      // DuckDB prints TIMESTAMPTZ statistics as "2024-03-10 12:30:00.123+00".
      return Date.parse(text.replace(" ", "T").replace(/\+00$/, "Z"));
    case "bool":
      return text === "true";
    default:
      return text;
  }
}

async function expectStatistics(path: string, columns: ColumnSpec[], rows: readonly Row[], rowGroupSize: number): Promise<void> {
  const metadata = await queryJson(
    connection,
    `SELECT row_group_id, column_id, stats_min_value, stats_max_value, stats_null_count FROM parquet_metadata('${path}') ORDER BY row_group_id, column_id`,
  );
  expect(metadata.length).toBe(Math.ceil(rows.length / rowGroupSize) * columns.length);
  for (const entry of metadata) {
    const group = Number(entry.row_group_id);
    const column = columns[Number(entry.column_id)];
    const expected = expectedStatistics(column, rows.slice(group * rowGroupSize, (group + 1) * rowGroupSize));
    const actual = {
      nullCount: Number(entry.stats_null_count),
      min: statisticValue(column, entry.stats_min_value as string | null),
      max: statisticValue(column, entry.stats_max_value as string | null),
    };
    expect(actual, `row group ${group}, column ${column.name}`).toEqual(expected);
    if (column.type === "float64" && expected.min === 0) expect(Object.is(actual.min, -0), `${column.name} min is -0`).toBe(true);
  }
}

async function schemaOf(path: string): Promise<Record<string, unknown>[]> {
  return queryJson(connection, `SELECT * EXCLUDE (file_name) FROM parquet_schema('${path}')`);
}

async function encodingsOf(path: string): Promise<Record<string, string>> {
  const rows = await queryJson(connection, `SELECT path_in_schema, encodings, compression FROM parquet_metadata('${path}') WHERE row_group_id = 0`);
  return Object.fromEntries(rows.map((row) => [String(row.path_in_schema).split(",")[0], `${row.compression}: ${row.encodings}`]));
}

describe("writeParquetFile", () => {
  for (const compression of codecs) {
    it(`writes every column type so DuckDB and the parquet-wasm reader read back the hand-built rows (${compression})`, async () => {
      const path = writeFile(allColumns, handRows, compression, 2);
      expect(await queryJson(connection, selectAll(allColumns, path))).toEqual(handRowsInDuckDb);
      expect(await readParquetFile(path)).toEqual(handRows.map((row) => inReader(allColumns, row)));
      const [file] = await queryJson(connection, `SELECT num_rows, num_row_groups, created_by FROM parquet_file_metadata('${path}')`);
      expect(file).toEqual({ num_rows: "5", num_row_groups: "3", created_by: "clickpipe" });
    });

    it(`writes statistics DuckDB reads as the min, max and null count of each row group's values (${compression})`, async () => {
      const path = writeFile(allColumns, handRows, compression, 2);
      await expectStatistics(path, allColumns, handRows, 2);
    });
  }

  it("writes the schema parquet-wasm writes for the same columns", async () => {
    expect(await schemaOf(writeFile(allColumns, handRows, "none", 100))).toEqual(await schemaOf(writeWasmFile(allColumns, handRows)));
    // The structure itself, spelled out for the list and timestamp columns.
    const schema = await schemaOf(writeFile(allColumns, handRows, "snappy", 100));
    const byName = (name: string) => schema.filter((node) => node.name === name);
    expect(byName("tags")[0]).toMatchObject({ repetition_type: "OPTIONAL", converted_type: "LIST", num_children: "1" });
    expect(byName("path")[0]).toMatchObject({ repetition_type: "REQUIRED", converted_type: "LIST", num_children: "1" });
    expect(byName("list")).toEqual([expect.objectContaining({ repetition_type: "REPEATED" }), expect.objectContaining({ repetition_type: "REPEATED" })]);
    expect(byName("item")[0]).toMatchObject({ type: "BYTE_ARRAY", repetition_type: "OPTIONAL", converted_type: "UTF8" });
    expect(byName("at")[0]).toMatchObject({ type: "INT64", converted_type: "TIMESTAMP_MILLIS", duckdb_type: "TIMESTAMP WITH TIME ZONE" });
    expect(byName("day")[0]).toMatchObject({ type: "INT32", converted_type: "DATE", duckdb_type: "DATE" });
  });

  it("writes a file of no rows that both readers read as no rows, with the same schema", async () => {
    for (const compression of codecs) {
      const path = writeFile(allColumns, [], compression, 10);
      expect(await queryJson(connection, `SELECT count(*) AS n FROM read_parquet('${path}')`)).toEqual([{ n: "0" }]);
      expect(await readParquetFile(path)).toEqual([]);
      expect(await schemaOf(path)).toEqual(await schemaOf(writeWasmFile(allColumns, [])));
    }
  });

  it("dictionary-encodes a string column of few values and writes one of distinct values PLAIN, both read back", async () => {
    const columns: ColumnSpec[] = [
      { name: "i", type: "int32", nullable: false },
      { name: "few", type: "string" },
      { name: "distinct", type: "string", nullable: false },
      { name: "items", type: "list<string>", nullable: false },
    ];
    const colours = ["red", "green", "blue", "ünïcödé"];
    const rows: Row[] = Array.from({ length: 3000 }, (_, i) => ({
      i,
      few: i % 7 === 0 ? null : colours[i % colours.length],
      distinct: `value-${i * 7919}`,
      items: Array.from({ length: i % 5 }, (_, k) => colours[(i + k) % colours.length]),
    }));
    for (const compression of codecs) {
      const path = writeFile(columns, rows, compression, 1000);
      const codec = compression === "none" ? "UNCOMPRESSED" : "SNAPPY";
      expect(await encodingsOf(path)).toEqual({
        i: `${codec}: PLAIN, RLE`,
        few: `${codec}: PLAIN, RLE, RLE_DICTIONARY`,
        distinct: `${codec}: PLAIN, RLE`,
        items: `${codec}: PLAIN, RLE, RLE_DICTIONARY`,
      });
      expect(await queryJson(connection, selectAll(columns, path))).toEqual(rows.map((row) => inDuckDb(columns, row)));
      expect(await readParquetFile(path)).toEqual(rows.map((row) => inReader(columns, row)));
      await expectStatistics(path, columns, rows, 1000);
    }
  });

  it("writes PLAIN a column whose distinct values outgrow a dictionary page, with no min/max for values past 256 bytes", async () => {
    const columns: ColumnSpec[] = [
      { name: "i", type: "int32", nullable: false },
      { name: "wide", type: "string", nullable: false },
    ];
    // 1,100 distinct values of 1,004 bytes, each three times: few enough distinct, but 1.1 MB of them.
    const rows: Row[] = Array.from({ length: 3300 }, (_, i) => ({ i, wide: `${String(Math.floor(i / 3)).padStart(4, "0")}${"x".repeat(1000)}` }));
    const path = writeFile(columns, rows, "snappy", 4000);
    expect(await encodingsOf(path)).toEqual({ i: "SNAPPY: PLAIN, RLE", wide: "SNAPPY: PLAIN, RLE" });
    expect(await readParquetFile(path)).toEqual(rows);
    await expectStatistics(path, columns, rows, 4000);
    const [wide] = await queryJson(connection, `SELECT stats_min_value, stats_max_value FROM parquet_metadata('${path}') WHERE column_id = 1`);
    expect(wide).toEqual({ stats_min_value: null, stats_max_value: null });
  });

  it("writes row groups that start mid-byte of the null bitmaps, long null runs and long lists, read back by both readers", async () => {
    const rows: Row[] = Array.from({ length: 203 }, (_, i) => ({
      i,
      // Runs of nulls and values longer than 16 (RLE runs) between mixed stretches (bit-packed).
      label: i % 40 < 20 ? null : i % 3 === 0 ? null : `l${i % 4}`,
      token: `t${i}`,
      i32: i % 5 === 0 ? null : i * 1000 - 50_000,
      i64: i % 2 === 0 ? null : (i - 100) * 1e12,
      f64: i % 9 === 0 ? null : (i - 100) / 8,
      flag: i % 4 === 0 ? null : i % 3 === 0,
      at: i % 6 === 0 ? null : Date.UTC(2024, 0, 1) + i * 3_600_000,
      day: i % 8 === 0 ? null : `2024-01-${String((i % 28) + 1).padStart(2, "0")}`,
      tags: i % 11 === 0 ? null : Array.from({ length: i % 30 }, (_, k) => (k % 13 === 0 ? null : `tag${(i * k) % 17}`)),
      path: Array.from({ length: i % 3 }, (_, k) => `/p/${k}`),
      req_flag: i % 2 === 0,
      req_f64: i / 3,
      req_i64: i * 7 - 700,
      req_at: i,
      req_day: "2024-02-29",
    }));
    for (const rowGroupSize of [7, 13, 64]) {
      const path = writeFile(allColumns, rows, "snappy", rowGroupSize);
      expect(await queryJson(connection, selectAll(allColumns, path))).toEqual(rows.map((row) => inDuckDb(allColumns, row)));
      expect(await readParquetFile(path)).toEqual(rows.map((row) => inReader(allColumns, row)));
      await expectStatistics(path, allColumns, rows, rowGroupSize);
    }
  });

  it("compresses snappy pages: a repetitive file is far smaller with snappy than without, and reads the same", async () => {
    const columns: ColumnSpec[] = [
      { name: "i", type: "int32", nullable: false },
      { name: "text", type: "string", nullable: false },
    ];
    const rows: Row[] = Array.from({ length: 5000 }, (_, i) => ({ i, text: `row ${i} of a long and repetitive sentence ${i % 3}` }));
    const plain = writeFile(columns, rows, "none", 5000);
    const snappy = writeFile(columns, rows, "snappy", 5000);
    const [sizes] = await queryJson(
      connection,
      `SELECT (SELECT sum(total_compressed_size) FROM parquet_metadata('${snappy}')) AS snappy, (SELECT sum(total_compressed_size) FROM parquet_metadata('${plain}')) AS plain`,
    );
    expect(Number(sizes.snappy)).toBeLessThan(Number(sizes.plain) / 3);
    expect(await queryJson(connection, selectAll(columns, snappy))).toEqual(rows.map((row) => inDuckDb(columns, row)));
  });

  it("stores uncompressed a snappy file's PLAIN chunk that snappy would not shrink by an eighth (random hex ids), the rest snappy", async () => {
    const columns: ColumnSpec[] = [
      { name: "i", type: "int64", nullable: false },
      { name: "id", type: "string", nullable: false },
      { name: "text", type: "string", nullable: false },
    ];
    // 32 random hex digits per id: 4 bits of entropy per byte, nothing snappy can find but the 4-byte lengths; 40,000
    // distinct ids outgrow a dictionary page (1 MiB), so the chunk is PLAIN.
    let state = 12345;
    const hex = () => {
      let id = "";
      for (let k = 0; k < 32; k++) {
        state = (state * 1103515245 + 12345) % 2 ** 31;
        id += (state >>> 16).toString(16).slice(-1);
      }
      return id;
    };
    const rows: Row[] = Array.from({ length: 40_000 }, (_, i) => ({ i, id: hex(), text: `row ${i} of a long and repetitive sentence` }));
    const path = writeFile(columns, rows, "snappy", 40_000);
    const chunks = await queryJson(connection, `SELECT path_in_schema AS name, compression, total_compressed_size AS stored, total_uncompressed_size AS raw FROM parquet_metadata('${path}') ORDER BY column_id`);
    expect(chunks.map((chunk) => [chunk.name, chunk.compression])).toEqual([
      ["i", "SNAPPY"],
      ["id", "UNCOMPRESSED"],
      ["text", "SNAPPY"],
    ]);
    expect(chunks[1].stored).toBe(chunks[1].raw);
    expect(Number(chunks[2].stored)).toBeLessThan(Number(chunks[2].raw) / 2);
    expect(await queryJson(connection, selectAll(columns, path))).toEqual(rows.map((row) => inDuckDb(columns, row)));
    expect(await readParquetFile(path)).toEqual(rows.map((row) => inReader(columns, row)));
  });

  it("stores uncompressed a dictionary chunk of random indices into a small dictionary, keeps snappy where the dictionary page pays", async () => {
    const columns: ColumnSpec[] = [
      { name: "i", type: "int64", nullable: false },
      { name: "items", type: "list<string>" },
      { name: "url", type: "string" },
    ];
    // xoshiro128** (SeededRandom): a linear congruential generator's low bits repeat too soon, and snappy would find the repeats.
    const seeded = new SeededRandom(777);
    const random = (n: number) => seeded.int(n);
    // items: 1 to 4 of 28 short items picked at random a row: ≈ 50,000 indices of 5 bits (and the lists' lengths) that
    // snappy cannot shrink, and a dictionary page of a few hundred bytes. url: one of 200 long urls sharing a prefix,
    // picked at random: 8-bit indices (20 KB) that do not shrink either, but a 13 KB dictionary page that snappy
    // shrinks well, so that chunk keeps snappy.
    const items = Array.from({ length: 28 }, (_, k) => `category-${k}/product`);
    const urls = Array.from({ length: 200 }, (_, k) => `https://shop.example.com/catalogue/category/products/item-${k}`);
    const rows: Row[] = Array.from({ length: 20_000 }, (_, i) => ({
      i,
      items: Array.from({ length: 1 + random(4) }, () => items[random(28)]),
      url: urls[random(200)],
    }));
    const path = writeFile(columns, rows, "snappy", 20_000);
    expect(await encodingsOf(path)).toEqual({
      i: "SNAPPY: PLAIN, RLE",
      items: "UNCOMPRESSED: PLAIN, RLE, RLE_DICTIONARY",
      url: "SNAPPY: PLAIN, RLE, RLE_DICTIONARY",
    });
    const [url] = await queryJson(connection, `SELECT total_compressed_size AS stored, total_uncompressed_size AS raw FROM parquet_metadata('${path}') WHERE path_in_schema = 'url'`);
    expect(Number(url.stored)).toBeLessThan(Number(url.raw) * 0.85);
    expect(await queryJson(connection, selectAll(columns, path))).toEqual(rows.map((row) => inDuckDb(columns, row)));
    expect(await readParquetFile(path)).toEqual(rows.map((row) => inReader(columns, row)));
  });

  it("reads back a column whose dictionaries shrink and grow from file to file (each table starts at the size the last one needed)", async () => {
    const columns: ColumnSpec[] = [
      { name: "i", type: "int64", nullable: false },
      { name: "sized", type: "string" },
      { name: "sized_items", type: "list<string>" },
    ];
    for (const distinct of [3000, 3, 700, 1, 5000]) {
      const rows: Row[] = Array.from({ length: 6000 }, (_, i) => ({ i, sized: `value ${(i * 7) % distinct}`, sized_items: [`item ${i % distinct}`] }));
      const path = writeFile(columns, rows, "snappy", 6000);
      expect(await queryJson(connection, selectAll(columns, path))).toEqual(rows.map((row) => inDuckDb(columns, row)));
      await expectStatistics(path, columns, rows, 6000);
    }
  });
});

describe("float64 statistics and DuckDB's row group pruning", () => {
  // DuckDB orders NaN above +Infinity and prunes row groups by their min/max: a chunk's NaN must not hide behind a
  // finite max. The oracle is DuckDB's own answer over the same values in memory, which no statistics can prune.
  const columns: ColumnSpec[] = [
    { name: "i", type: "int32", nullable: false },
    { name: "f", type: "float64" },
  ];
  const values = [1, NaN, 5, -0, null, Infinity, -Infinity, NaN, 0, 2.5, NaN, NaN];
  const rows: Row[] = values.map((f, i) => ({ i, f }));
  const inMemory = `(SELECT * FROM (VALUES ${values.map((f, i) => `(${i}, ${f === null ? "NULL" : `'${Object.is(f, -0) ? "-0.0" : f}'::DOUBLE`})`).join(", ")}) t(i, f))`;
  const filters = ["f > 10", "f >= 5", "f < 0", "f = 'NaN'::DOUBLE", "f <> 1", "f IS NULL", "isnan(f)", "f BETWEEN 1 AND 'NaN'::DOUBLE"];

  for (const compression of codecs) {
    it(`answers filter queries over NaN, ±Infinity and -0 as DuckDB does over the same values in memory (${compression})`, async () => {
      for (const rowGroupSize of [1, 2, 3, 4, 12]) {
        const path = writeFile(columns, rows, compression, rowGroupSize);
        for (const filter of filters) {
          const query = (from: string) => queryJson(connection, `SELECT i, f::VARCHAR AS f FROM ${from} WHERE ${filter} ORDER BY i`);
          expect(await query(`read_parquet('${path}')`), `${filter}, row groups of ${rowGroupSize}`).toEqual(await query(inMemory));
        }
      }
    });
  }

  it("answers them so for zstd files too, written by parquet-wasm", async () => {
    for (const rowGroupSize of [2, 3, 12]) {
      const path = join(directory, `zstd-nan-${fileCount++}.parquet`);
      writeFileSync(path, await encodeParquet(columns, rows, { compression: "zstd", rowGroupSize }));
      for (const filter of filters) {
        const query = (from: string) => queryJson(connection, `SELECT i, f::VARCHAR AS f FROM ${from} WHERE ${filter} ORDER BY i`);
        expect(await query(`read_parquet('${path}')`), `${filter}, row groups of ${rowGroupSize}`).toEqual(await query(inMemory));
      }
    }
  });

  it("writes no min/max for a chunk holding a NaN, as DuckDB's writer does, and keeps them (zeros signed) for the others", async () => {
    const path = writeFile(columns, rows, "snappy", 4);
    const statistics = await queryJson(
      connection,
      `SELECT stats_min_value AS min, stats_max_value AS max, stats_null_count AS nulls FROM parquet_metadata('${path}') WHERE column_id = 1 ORDER BY row_group_id`,
    );
    // Row groups: [1, NaN, 5, -0], [null, Infinity, -Infinity, NaN], [0, 2.5, NaN, NaN].
    expect(statistics).toEqual([
      { min: null, max: null, nulls: "0" },
      { min: null, max: null, nulls: "1" },
      { min: null, max: null, nulls: "0" },
    ]);
    const clean = writeFile(columns, [0, 2.5, -0, 7].map((f, i) => ({ i, f })), "snappy", 4);
    const [cleanStatistics] = await queryJson(connection, `SELECT stats_min_value AS min, stats_max_value AS max FROM parquet_metadata('${clean}') WHERE column_id = 1`);
    expect(cleanStatistics).toEqual({ min: "-0.0", max: "7.0" });
  });
});

describe("a row the column builder rejects leaves no trace", () => {
  it("forgets the values of a row that a later column rejects, also list items before the item that threw", async () => {
    const columns: ColumnSpec[] = [
      { name: "i", type: "int32", nullable: false },
      { name: "label", type: "string" },
      { name: "items", type: "list<string>" },
      { name: "required", type: "string", nullable: false },
    ];
    const builder = new ColumnBatchBuilder(columns);
    const accepted: Row[] = [];
    const append = (row: Row) => {
      builder.append(row);
      accepted.push(row);
    };
    append({ i: 0, label: "kept", items: ["k"], required: "r" });
    // The required column is missing: the row's label and items must go.
    expect(() => builder.append({ i: 1, label: "rejected", items: ["rejected-item"], required: null })).toThrow(ParquetEncodeError);
    // An item that cannot be turned into text, after a new item of the same list.
    expect(() => builder.append({ i: 2, label: "kept", items: ["half-written", { big: 1n }], required: "r" })).toThrow(TypeError);
    append({ i: 3, label: "later", items: ["k", null, "later-item"], required: "r" });
    append({ i: 4, label: "kept", items: [], required: "r" });
    const path = join(directory, `file-${fileCount++}.parquet`);
    writeFileSync(path, writeParquetFile(builder.seal(), { compression: "none", rowGroupSize: 10 }));
    expect(await queryJson(connection, selectAll(columns, path))).toEqual(accepted.map((row) => inDuckDb(columns, row)));
    expect(await readParquetFile(path)).toEqual(accepted.map((row) => inReader(columns, row)));
  });
});

describe("batches of one table layout", () => {
  it("share one compiled appender but never each other's values, also when their appends interleave", async () => {
    const columns: ColumnSpec[] = [
      { name: "i", type: "int64", nullable: false },
      { name: "name", type: "string" },
      { name: "tags", type: "list<string>" },
      { name: "ok", type: "bool" },
    ];
    const first = new ColumnBatchBuilder(columns);
    const second = new ColumnBatchBuilder(columns);
    const firstRows: Row[] = [];
    const secondRows: Row[] = [];
    for (let i = 0; i < 300; i++) {
      const row: Row = { i, name: i % 7 === 0 ? null : `name-${i}`, tags: i % 5 === 0 ? null : [`t${i % 3}`], ok: i % 2 === 0 };
      if (i % 3 === 0) {
        second.append(row);
        secondRows.push(row);
      } else {
        first.append(row);
        firstRows.push(row);
      }
    }
    for (const [builder, rows] of [
      [first, firstRows],
      [second, secondRows],
    ] as const) {
      const path = join(directory, `file-${fileCount++}.parquet`);
      writeFileSync(path, writeParquetFile(builder.seal(), { compression: "none", rowGroupSize: 1000 }));
      expect(await queryJson(connection, selectAll(columns, path))).toEqual(rows.map((row) => inDuckDb(columns, row)));
    }
  });
});

describe("ParquetSink with the TypeScript writer", () => {
  for (const compression of codecs) {
    it(`writes ${compression} files in the encoder worker thread that DuckDB reads as the input rows`, async () => {
      const root = join(directory, `sink-${compression}`);
      const sink = new ParquetSink({ path: root, tables: [allTypesTable], useWorkerThread: true, compression });
      for (const row of allTypesRows) sink.append("all_types", row);
      await sink.commit(await sink.prepare(1));
      await sink.close();
      expect(await readAllTypes(connection, root)).toEqual(allTypesExpectedInDuckDb);
      const written = await queryJson(connection, `SELECT DISTINCT compression FROM parquet_metadata('${root}/all_types/**/*.parquet')`);
      expect(written).toEqual([{ compression: compression === "none" ? "UNCOMPRESSED" : "SNAPPY" }]);
    });
  }
});

describe("writeParquetFile on random batches", () => {
  const text = fc.oneof(fc.constantFrom("", "a", "b", "é", "漢字", "🙂", "same-value"), fc.string({ unit: "grapheme", maxLength: 12 }));
  const date = fc
    .date({ min: new Date(Date.UTC(1900, 0, 1)), max: new Date(Date.UTC(2199, 11, 31)), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10));
  const nullable = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null, freq: 4 });
  const double = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }).map((x) => (x === 0 ? 0 : x));
  const row = fc.record({
    label: nullable(text),
    token: text,
    i32: nullable(fc.integer({ min: -2_147_483_648, max: 2_147_483_647 })),
    i64: nullable(fc.maxSafeInteger()),
    f64: nullable(double),
    flag: nullable(fc.boolean()),
    at: nullable(fc.integer({ min: -1e13, max: 1e13 })),
    day: nullable(date),
    tags: nullable(fc.array(nullable(text), { maxLength: 12 })),
    path: fc.array(nullable(text), { maxLength: 4 }),
    req_flag: fc.boolean(),
    req_f64: double,
    req_i64: fc.maxSafeInteger(),
    req_at: fc.integer({ min: -1e13, max: 1e13 }),
    req_day: date,
  });

  it("round-trips through DuckDB with the rows' values and statistics", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { maxLength: 120 }),
        fc.integer({ min: 1, max: 50 }),
        fc.constantFrom<TypeScriptWriterCompression>("none", "snappy"),
        async (generated, rowGroupSize, compression) => {
          const rows: Row[] = generated.map((values, i) => ({ i, ...values }));
          const path = writeFile(allColumns, rows, compression, rowGroupSize);
          expect(await queryJson(connection, selectAll(allColumns, path))).toEqual(rows.map((r) => inDuckDb(allColumns, r)));
          await expectStatistics(path, allColumns, rows, rowGroupSize);
          // The builder's dictionary form is written byte for byte as the plain form the readers just checked.
          const options = { compression, rowGroupSize };
          expectSameBytes(writeParquetFile(sealed(allColumns, rows, "dictionary"), options), writeParquetFile(sealed(allColumns, rows), options));
        },
      ),
      { numRuns: 100 },
    );
  });
});

/** Equal bytes, else the first offset they differ at (a deep equality over megabytes of elements takes minutes). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  let differsAt = -1;
  if (!a.equals(b)) for (differsAt = 0; differsAt < Math.min(a.length, b.length) && a[differsAt] === b[differsAt]; ) differsAt++;
  expect({ lengths: [a.length, b.length], differsAt }).toEqual({ lengths: [b.length, b.length], differsAt: -1 });
}

describe("strings in the column builder's dictionary form", () => {
  // The builder keeps repeating strings as entries and ids, and rewrites a column plain once a sample of its values is
  // mostly distinct; the writer renumbers the entries per chunk. The oracle is the plain form of the same rows, which
  // the tests above check against DuckDB and parquet-wasm: every file must be the same bytes.
  const columns: ColumnSpec[] = [
    { name: "i", type: "int32", nullable: false },
    { name: "few", type: "string" },
    { name: "unique", type: "string" },
    { name: "late", type: "string" },
    { name: "huge", type: "string" },
    { name: "pages", type: "list<string>" },
    { name: "ids", type: "list<string>", nullable: false },
  ];
  const rows: Row[] = Array.from({ length: 5_000 }, (_, i) => ({
    i,
    few: i % 11 === 0 ? null : ["home", "cart", "é", "🙂"][i % 4],
    unique: `visitor-${i * 7919}`,
    // Repeats for the first 2,500 rows, then distinct: the dictionary stops paying in the second half's row groups.
    late: i < 2_500 ? `v${i % 3}` : `late-${i}`,
    // 300 distinct values of 4 KiB in the first 1,000 rows: more than a dictionary page may hold (1 MiB), though they
    // repeat, and too few values for the builder's own sample check, so the writer finds it out.
    huge: i < 1_000 ? `${i % 300}`.padEnd(4_096, "x") : null,
    pages: i % 13 === 0 ? null : Array.from({ length: i % 6 }, (_, k) => (k === 2 && i % 5 === 0 ? null : `/p/${(i + k) % 40}`)),
    ids: [`${i}`, `${i + 1}`],
  }));

  for (const rowGroupSize of [5_000, 1_000, 777]) {
    it(`writes the same bytes as the plain form: few values, distinct values, values that stop repeating, past the page limit (row groups of ${rowGroupSize})`, () => {
      const dictionary = sealed(columns, rows, "dictionary");
      // Which columns the builder kept as a dictionary: the repeating ones, and the one whose repeats come first.
      expect(dictionary.data.map((column) => column.ids !== undefined)).toEqual([false, true, false, true, true, true, false]);
      for (const compression of codecs) {
        const options = { compression, rowGroupSize };
        expectSameBytes(writeParquetFile(dictionary, options), writeParquetFile(sealed(columns, rows), options));
      }
    });
  }

  it("reads back in DuckDB as the rows written, a rejected row's new entries left out of the dictionary page", async () => {
    const builder = new ColumnBatchBuilder(columns);
    const accepted: Row[] = [];
    for (const row of rows.slice(0, 300)) {
      builder.append(row);
      accepted.push(row);
      if (row.i === 100) expect(() => builder.append({ ...row, few: "rejected", pages: ["/rejected"], ids: null })).toThrow(ParquetEncodeError);
    }
    const batch = builder.seal();
    const path = join(directory, `file-${fileCount++}.parquet`);
    writeFileSync(path, writeParquetFile(batch, { compression: "none", rowGroupSize: 1000 }));
    expect(await queryJson(connection, selectAll(columns, path))).toEqual(accepted.map((row) => inDuckDb(columns, row)));
    const dictionaryPages = await queryJson(connection, `SELECT path_in_schema, encodings FROM parquet_metadata('${path}') WHERE path_in_schema = 'few' OR path_in_schema LIKE 'pages%'`);
    expect(dictionaryPages.map((row) => row.encodings)).toEqual(["PLAIN, RLE, RLE_DICTIONARY", "PLAIN, RLE, RLE_DICTIONARY"]);
    // The rejected row's strings went into the builder's entries; the files of both forms match only if they are not written.
    const options = { compression: "none", rowGroupSize: 1000 } as const;
    expectSameBytes(writeParquetFile(batch, options), writeParquetFile(sealed(columns, accepted), options));
  });
});

describe("snappy pages", () => {
  // Page bytes built from pseudo-random letters (literals of every length class) and repeats at short, 2-byte-offset
  // and long distances (copies of every length and offset size, overlapping ones too), across several 64 KiB snappy
  // blocks; DuckDB and parquet-wasm each decompress with their own snappy.
  const literal = fc.record({
    seed: fc.nat(),
    length: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 61, max: 300 }), fc.integer({ min: 301, max: 70_000 })),
  });
  const repeat = fc.record({
    distance: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 2047 }), fc.integer({ min: 2048, max: 4095 }), fc.integer({ min: 4096, max: 70_000 })),
    length: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 13, max: 80 }), fc.integer({ min: 81, max: 5000 })),
  });
  const pieces = fc.array(fc.oneof(literal, repeat), { minLength: 1, maxLength: 60 });
  const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

  function textOf(parts: ({ seed: number; length: number } | { distance: number; length: number })[]): string {
    const chars: string[] = [];
    for (const part of parts) {
      if ("seed" in part) {
        let state = part.seed;
        for (let k = 0; k < part.length; k++) {
          state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
          chars.push(LETTERS[(state >>> 16) % LETTERS.length]);
        }
      } else if (chars.length > 0) {
        // One character at a time, so a repeat closer than its length overlaps itself (a run).
        const from = chars.length - Math.min(part.distance, chars.length);
        for (let k = 0; k < part.length; k++) chars.push(chars[from + k]);
      }
    }
    return chars.join("");
  }

  it("are read back by DuckDB and parquet-wasm as written, whatever the mix of literals and copies", async () => {
    const columns: ColumnSpec[] = [
      { name: "i", type: "int32", nullable: false },
      { name: "text", type: "string", nullable: false },
    ];
    await fc.assert(
      fc.asyncProperty(fc.array(pieces, { minLength: 1, maxLength: 4 }), async (rowPieces) => {
        const rows: Row[] = rowPieces.map((parts, i) => ({ i, text: textOf(parts) }));
        const path = writeFile(columns, rows, "snappy", 1000);
        expect(await queryJson(connection, selectAll(columns, path))).toEqual(rows);
        expect(await readParquetFile(path)).toEqual(rows);
      }),
      { numRuns: 40 },
    );
  });
});

describe("string dictionaries whose hashes collide", () => {
  // Weakened hashes (a few bits, or none) and tiny starting tables: distinct strings share hashes and slots, so every
  // lookup has to tell them apart by length and bytes. Strings of every length class the dictionary reads differently
  // (under 4 bytes, 4–7, 8–16, over 16 in 16-byte blocks), sharing prefixes and suffixes, ASCII and multi-byte.
  const columns: ColumnSpec[] = [
    { name: "i", type: "int32", nullable: false },
    { name: "text", type: "string" },
    { name: "items", type: "list<string>", nullable: false },
  ];
  const affix = fc.constantFrom("", "/c/shoes/p/", "aaaaaaaaaaaaaaaa", "é", "漢字🙂", "https://shop.example.com/checkout?step=");
  const stem = fc.string({ unit: fc.constantFrom("a", "b", "é"), maxLength: 20 });
  const distinctText = fc.tuple(affix, stem, affix).map(([before, middle, after]) => `${before}${middle}${after}`);
  const tuning = fc.record({ hashBits: fc.constantFrom(0, 1, 3, 32), initialSlots: fc.constantFrom(1, 2, 8, 1024) });

  it("reads back in DuckDB as the rows written, with the rows' statistics, whatever collides", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(distinctText, { minLength: 1, maxLength: 60 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat({ max: 4 })), { minLength: 1, maxLength: 300 }),
        tuning,
        fc.integer({ min: 50, max: 400 }),
        async (pool, picks, dictionaryTuning, rowGroupSize) => {
          const rows: Row[] = picks.map(([text, item, itemCount], i) => ({
            i,
            text: text % 7 === 0 ? null : pool[text % pool.length],
            items: Array.from({ length: itemCount }, (_, k) => pool[(item + k) % pool.length]),
          }));
          const path = writeFile(columns, rows, "snappy", rowGroupSize, dictionaryTuning);
          expect(await queryJson(connection, selectAll(columns, path))).toEqual(rows.map((row) => inDuckDb(columns, row)));
          await expectStatistics(path, columns, rows, rowGroupSize);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("dictionary-encodes many values that all share one hash, short ones ending the column's bytes included", async () => {
    // Every string has the same hash: one probe chain through all of them, which only the bytes tell apart. The last
    // values are 1–3 bytes at the very end of the column's byte buffer, where the dictionary cannot read a whole word.
    // Equal lengths and equal last 16 bytes (what a hash slot keeps of a string), differing only further ahead.
    const sharedEnd = (k: number) => `${String(k).padStart(3, "0")}/checkout?step=${"z".repeat(k % 3)}shipping-details`;
    const pool = Array.from({ length: 300 }, (_, k) =>
      k % 4 === 0 ? `/c/shoes/p/${k}` : k % 4 === 1 ? `${k}`.padStart(16, "x") : k % 4 === 2 ? sharedEnd(k) : `${"y".repeat(k % 40)}${k}`,
    );
    const rows: Row[] = Array.from({ length: 1200 }, (_, i) => ({ i, text: pool[(i * 7) % pool.length], items: [pool[i % pool.length]] }));
    rows.push({ i: 1200, text: "ab", items: ["é"] }, { i: 1201, text: "a", items: ["a"] }, { i: 1202, text: "é", items: ["ab"] });
    for (const hashBits of [0, 32]) {
      const path = writeFile(columns, rows, "snappy", 5000, { hashBits, initialSlots: 2 });
      expect(await encodingsOf(path)).toEqual({
        i: "SNAPPY: PLAIN, RLE",
        text: "SNAPPY: PLAIN, RLE, RLE_DICTIONARY",
        items: "SNAPPY: PLAIN, RLE, RLE_DICTIONARY",
      });
      expect(await queryJson(connection, selectAll(columns, path))).toEqual(rows.map((row) => inDuckDb(columns, row)));
      expect(await readParquetFile(path)).toEqual(rows.map((row) => inReader(columns, row)));
      await expectStatistics(path, columns, rows, 5000);
    }
  });

  it("writes dictionary indices of 13 to 15 bits, bit-packed runs ending mid-group, that both readers read back", async () => {
    // Each text value twice in a row: 19,999 and 10,001 entries (15 and 14 bits) in row groups of 39,998 rows and the
    // rest (neither a multiple of 8); each item value 4 times in a row, 5,000 of them (13 bits).
    const rows: Row[] = Array.from({ length: 60_000 }, (_, i) => ({ i, text: `v${Math.floor(i / 2) * 7919}`, items: [`w${Math.floor(i / 4) % 5000}`] }));
    const path = writeFile(columns, rows, "none", 39_998);
    const encodings = await queryJson(connection, `SELECT DISTINCT path_in_schema, encodings FROM parquet_metadata('${path}') WHERE path_in_schema <> 'i'`);
    expect(encodings.map((row) => row.encodings)).toEqual(["PLAIN, RLE, RLE_DICTIONARY", "PLAIN, RLE, RLE_DICTIONARY"]);
    expect(await queryJson(connection, selectAll(columns, path))).toEqual(rows.map((row) => inDuckDb(columns, row)));
    expect(await readParquetFile(path)).toEqual(rows.map((row) => inReader(columns, row)));
    await expectStatistics(path, columns, rows, 39_998);
  });
});
