// partRowCount: FileMetaData.num_rows read from a footer's Thrift compact bytes, checked against DuckDB's count(*) on
// parts written by the sink (parquet-wasm for zstd, the TypeScript writer for snappy) and by DuckDB itself.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeParquet, encoderReady, type ParquetCompression } from "../../src/sinks/parquet-encoder.ts";
import { numRowsOfFileMetaData, partRowCount } from "../../src/sinks/parquet-footer.ts";
import { ParquetReadError } from "../../src/sinks/parquet-read-error.ts";
import type { Row } from "../../src/sinks/table.ts";
import { allTypesRows, allTypesTable, duckDb, lakesRemovedAfterAll, queryJson } from "./lake-fixtures.ts";

const lake = lakesRemovedAfterAll("footer");
let connection: DuckDBConnection;
let root: string;

beforeAll(async () => {
  connection = await duckDb();
  root = await lake();
});

async function duckCount(file: string): Promise<number> {
  const [{ rows }] = await queryJson(connection, `SELECT count(*)::BIGINT AS rows FROM read_parquet('${file}')`);
  return Number(rows);
}

/** allTypesRows (a list<string> column, nulls, non-ASCII text) repeated up to `count` rows, ids made unique. */
function rowsOf(count: number): Row[] {
  return Array.from({ length: count }, (_, i) => ({ ...allTypesRows[i % allTypesRows.length], id: `r${i}` }));
}

describe("partRowCount", () => {
  for (const compression of ["zstd", "snappy", "none"] satisfies ParquetCompression[]) {
    for (const [rows, rowGroupSize] of [
      [0, 100],
      [5, 100],
      [2_500, 1_000],
    ]) {
      it(`reads the rows of a ${compression} part the sink wrote (${rows} rows, row groups of ${rowGroupSize}) as DuckDB counts them`, async () => {
        await encoderReady(compression);
        const file = join(root, `sink-${compression}-${rows}.parquet`);
        await writeFile(file, await encodeParquet(allTypesTable.columns, rowsOf(rows), { compression, rowGroupSize }));
        expect(await duckCount(file)).toBe(rows);
        expect(partRowCount(file)).toBe(rows);
      });
    }
  }

  for (const [name, select, options] of [
    ["zstd, lists, a struct and a map", "SELECT i, [i, i + 1] AS xs, {'a': i, 'b': 'x' || i} AS s, MAP {'k': i} AS m FROM range(12345) t(i)", "COMPRESSION zstd, ROW_GROUP_SIZE 1000"],
    ["snappy, key-value metadata", "SELECT i, 'text ' || i AS t FROM range(300) t(i)", "COMPRESSION snappy, KV_METADATA {author: 'x', note: 'footer'}"],
    ["uncompressed, no rows", "SELECT i, [i] AS xs FROM range(10) t(i) WHERE false", "COMPRESSION uncompressed"],
    ["one row, booleans and doubles", "SELECT true AS b, 1.5::DOUBLE AS d, NULL::VARCHAR AS n", "COMPRESSION zstd"],
  ] as const) {
    it(`reads the rows of a DuckDB-written part (${name}) as DuckDB counts them`, async () => {
      const file = join(root, `duckdb-${name.replace(/[^a-z]+/g, "-")}.parquet`);
      await connection.run(`COPY (${select}) TO '${file}' (FORMAT parquet, ${options})`);
      const [{ metadataRows }] = await queryJson(connection, `SELECT num_rows::BIGINT AS metadataRows FROM parquet_file_metadata('${file}')`);
      expect(partRowCount(file)).toBe(await duckCount(file));
      expect(partRowCount(file)).toBe(Number(metadataRows));
    });
  }

  it("is undefined for a part that is gone, and names the file that is not Parquet", async () => {
    expect(partRowCount(join(root, "gone.parquet"))).toBeUndefined();
    const text = join(root, "text.parquet");
    await writeFile(text, "not a parquet file at all\n");
    expect(() => partRowCount(text)).toThrow(ParquetReadError);
    expect(() => partRowCount(text)).toThrow(`${text}: cannot read it as Parquet (no Parquet footer at its end (no PAR1))`);
    const truncated = join(root, "truncated.parquet");
    const whole = await encodeParquet(allTypesTable.columns, rowsOf(5), { compression: "snappy", rowGroupSize: 100 });
    // The last 8 bytes kept, with the footer's length, the metadata cut short before them.
    await writeFile(truncated, Buffer.concat([Buffer.from("PAR1"), whole.subarray(whole.length - 30)]));
    expect(() => partRowCount(truncated)).toThrow(ParquetReadError);
  });
});

describe("numRowsOfFileMetaData", () => {
  /** Zigzag varint of a (possibly big) integer. */
  function zigzag(value: bigint): number[] {
    let raw = value >= 0n ? value << 1n : ((-value) << 1n) - 1n;
    const bytes: number[] = [];
    do {
      const low = Number(raw & 0x7fn);
      raw >>= 7n;
      bytes.push(raw === 0n ? low : low | 0x80);
    } while (raw !== 0n);
    return bytes;
  }

  it("skips fields of every type before num_rows, nested structs, lists, sets and maps among them", () => {
    // Hand-built by the Thrift compact rules: header = (id delta << 4) | type; 0 delta: the id follows as a zigzag varint.
    const bytes = [
      0x15, ...zigzag(2n), // field 1: i32 2
      0x19, 0x2c, // field 2: a list of 2 structs
      0x11, 0x28, 3, 0x61, 0x62, 0x63, 0x00, // { 1: bool true, 3: binary "abc" }
      0x13, 7, 0x17, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x1a, 0x21, 0x01, 0x02, 0x1c, 0x12, 0x00, 0x00, // { 1: byte, 2: double 1.5, 3: set<bool> [true, false], 4: { 1: bool false } }
      0x0b, ...zigzag(40n), 0x01, 0x81, 0x01, 0x78, 0x01, // field 40 in long form: map<binary, bool> {"x": true}
      0xf9, 0xf5, 20, ...Array.from({ length: 20 }, () => zigzag(-3n)).flat(), // field 55 (40 + 15): a list of 20 i32, its size in a varint
      0x0b, ...zigzag(-1n), 0x00, // field -1: an empty map
      0x06, ...zigzag(3n), ...zigzag(2n ** 40n + 5n), // field 3 in long form: num_rows
      0x19, 0x00, 0x00, // field 4, never read
    ];
    expect(numRowsOfFileMetaData(Uint8Array.from(bytes))).toBe(2 ** 40 + 5);
  });

  it("takes num_rows from FileMetaData itself, never a field 3 i64 of a struct, a list's struct or a map's value before it", () => {
    const bytes = [
      0x15, ...zigzag(2n), // field 1: i32 2
      0x1c, 0x36, ...zigzag(77n), 0x00, // field 2: a struct { 3: i64 77 }
      0x0c, ...zigzag(-5n), 0x19, 0x1c, 0x36, ...zigzag(78n), 0x00, 0x00, // field -5: a struct { 1: list [{ 3: i64 78 }] }
      0x2b, 0x01, 0x8c, 0x01, 0x61, 0x36, ...zigzag(79n), 0x00, // field -3: map<binary, struct> {"a": { 3: i64 79 }}
      0x06, ...zigzag(3n), ...zigzag(12n), // field 3: num_rows 12
    ];
    expect(numRowsOfFileMetaData(Uint8Array.from(bytes))).toBe(12);
  });

  it("refuses metadata without num_rows, cut short, or with a length past its end", () => {
    expect(() => numRowsOfFileMetaData(Uint8Array.from([0x15, 2, 0x00]))).toThrow("the footer's metadata has no num_rows");
    expect(() => numRowsOfFileMetaData(Uint8Array.from([0x15]))).toThrow("the footer's metadata ends early (at byte 1)");
    expect(() => numRowsOfFileMetaData(Uint8Array.from([0x18, 100, 0x61]))).toThrow("a length of 100 past the footer's end (at byte 2)");
    expect(() => numRowsOfFileMetaData(Uint8Array.from([0x16, ...zigzag(-4n)]))).toThrow("the footer's metadata ends early (at byte 2)");
    expect(() => numRowsOfFileMetaData(Uint8Array.from([0x1d, ...new Array<number>(16).fill(7), 0x00]))).toThrow("the footer's metadata has no num_rows"); // a uuid: 16 bytes
    expect(() => numRowsOfFileMetaData(Uint8Array.from([0x1e]))).toThrow("unknown Thrift compact type 14 at byte 0");
  });
});
