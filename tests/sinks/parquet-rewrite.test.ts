// removeRowsFromPart copies the kept rows column by column from the Arrow buffers (no row objects): every other row's
// values, and the part's schema, must come out as they were, checked with DuckDB against the original part.
import { copyFile, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DuckDBConnection } from "@duckdb/node-api";
import { encodeParquet, type ParquetCompression } from "../../src/sinks/parquet-encoder.ts";
import { partVersion, readParquetProjection, readPartProjection, removeRowsFromPart } from "../../src/sinks/parquet-rewrite.ts";
import type { ColumnSpec, Row } from "../../src/sinks/table.ts";
import { allTypesRows, allTypesTable, duckDb, queryJson, temporaryDirectory } from "./lake-fixtures.ts";

/** Every column type, plus the person column a forget screens by (not nullable, as some tables declare theirs). */
const columns: ColumnSpec[] = [{ name: "user_id", type: "string", nullable: false }, ...allTypesTable.columns];
const VICTIM = "victim-ü";

/**
 * 2,500 rows over several row groups: the fixture rows (nulls, empty lists, null list items, non-ASCII text, integers
 * past 2^32, NaN) again and again, every seventh row the victim's.
 */
function rowsOfPart(): Row[] {
  return Array.from({ length: 2_500 }, (_, i) => {
    const base = allTypesRows[i % allTypesRows.length];
    const victim = i % 7 === 3;
    return {
      ...base,
      user_id: victim ? VICTIM : `user-${i % 311}`,
      id: `${String(base.id)}-${i}`,
      tags: i % 11 === 0 ? [`tag-${i}`] : base.tags,
      i64: typeof base.i64 === "number" ? base.i64 - i : base.i64,
      f64: i % 13 === 0 ? Number.NaN : base.f64,
    };
  });
}

describe("removeRowsFromPart", () => {
  let directory: string;
  let db: DuckDBConnection;

  beforeAll(async () => {
    directory = await temporaryDirectory("rewrite");
    db = await duckDb();
  });
  afterAll(async () => {
    db?.closeSync();
    await rm(directory, { recursive: true, force: true });
  });

  const asJson = (file: string, where = "true") =>
    queryJson(db, `SELECT to_json(t)::VARCHAR AS j FROM read_parquet('${file}') t WHERE ${where} ORDER BY j`).then((rows) => rows.map((row) => row.j));
  const schemaOf = (file: string) =>
    queryJson(db, `SELECT name, type, repetition_type, converted_type, logical_type FROM parquet_schema('${file}') ORDER BY name`);

  // `likely`: the part is decoded whole at once and the rows picked from that table (forget's second pass, for parts
  // its first pass saw naming the person), instead of from its person columns first.
  it.each<[ParquetCompression, boolean]>([
    ["snappy", false],
    ["snappy", true],
    ["none", false],
    ["zstd", true],
  ])(
    "keeps every other row's values and the part's schema, and no byte of the removed person (%s, decoded whole at once: %s)",
    async (compression, likely) => {
      const part = join(directory, `part-${compression}-${likely}.parquet`);
      const original = join(directory, `original-${compression}-${likely}.parquet`);
      await writeFile(part, await encodeParquet(columns, rowsOfPart(), { compression, rowGroupSize: 700 }));
      await copyFile(part, original);
      expect((await readFile(original)).includes(VICTIM)).toBe(true);

      const remove = (row: Row) => row.user_id === VICTIM;
      const change = await removeRowsFromPart(part, remove, { compression, rowGroupSize: 700 }, ["user_id", "customer_id"], likely);

      const victimRows = (await asJson(original, `user_id = '${VICTIM}'`)).length;
      expect(victimRows).toBe(357);
      expect(change).toEqual({ rowsRemoved: victimRows, deleted: false });
      expect(await asJson(part)).toEqual(await asJson(original, `user_id <> '${VICTIM}'`));
      expect(await schemaOf(part)).toEqual(await schemaOf(original));
      // No byte of the part holds the removed id: not a value, a dictionary entry or a statistic.
      expect((await readFile(part)).includes(VICTIM)).toBe(false);
    },
  );

  it("deletes a part when every row goes, and leaves a part none of whose rows is picked untouched", async () => {
    const part = join(directory, "all-victim.parquet");
    await writeFile(part, await encodeParquet(columns, rowsOfPart().slice(0, 3), { compression: "snappy", rowGroupSize: 700 }));
    expect(await removeRowsFromPart(part, () => true, { compression: "snappy", rowGroupSize: 700 }, ["user_id"])).toEqual({ rowsRemoved: 3, deleted: true });
    await expect(stat(part)).rejects.toMatchObject({ code: "ENOENT" });
    expect(await removeRowsFromPart(part, () => true, { compression: "snappy", rowGroupSize: 700 }, ["user_id"])).toBeUndefined();

    const untouched = join(directory, "untouched.parquet");
    await writeFile(untouched, await encodeParquet(columns, rowsOfPart(), { compression: "snappy", rowGroupSize: 700 }));
    const before = await stat(untouched);
    const change = await removeRowsFromPart(untouched, (row) => row.user_id === "nobody", { compression: "snappy", rowGroupSize: 700 }, ["user_id"]);
    expect(change).toEqual({ rowsRemoved: 0, deleted: false });
    expect((await stat(untouched)).mtimeMs).toBe(before.mtimeMs);
  });
});

describe("partVersion", () => {
  it("is the version the projection was read from until the part is rewritten or deleted", async () => {
    const directory = await temporaryDirectory("version");
    try {
      const part = join(directory, "part.parquet");
      const rows = rowsOfPart().slice(0, 30);
      await writeFile(part, await encodeParquet(columns, rows, { compression: "snappy", rowGroupSize: 700 }));
      const first = await readPartProjection(part, ["user_id"]);
      expect(first.rows).toHaveLength(30);
      expect(await partVersion(part)).toBe(first.version);
      // forget's second pass reads a part again when this differs: a rewrite renames another file over it.
      await removeRowsFromPart(part, (row) => row.user_id === VICTIM, { compression: "snappy", rowGroupSize: 700 }, ["user_id"]);
      const second = await partVersion(part);
      expect(second).not.toBe(first.version);
      expect((await readPartProjection(part, ["user_id"])).version).toBe(second);
      await rm(part);
      expect(await partVersion(part)).toBeUndefined();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe("readParquetProjection", () => {
  it("reads only the wanted columns the part has, nothing from a part that has none, and names a part it cannot read", async () => {
    const directory = await temporaryDirectory("projection");
    try {
      const part = join(directory, "part.parquet");
      const rows = rowsOfPart().slice(0, 20);
      await writeFile(part, await encodeParquet(columns, rows, { compression: "snappy", rowGroupSize: 8 }));
      const projected = await readParquetProjection(part, ["customer_id", "user_id", "tags", "raw"]);
      expect(projected).toEqual(rows.map((row) => ({ user_id: row.user_id, tags: row.tags ?? null })));
      expect(await readParquetProjection(part, ["customer_id", "raw"])).toEqual([]);

      // A footer past the bytes read with the tail (a row group per row), and a part that is not Parquet.
      const manyGroups = join(directory, "many-groups.parquet");
      const more = rowsOfPart().slice(0, 800);
      await writeFile(manyGroups, await encodeParquet(columns, more, { compression: "snappy", rowGroupSize: 1 }));
      const tail = await readFile(manyGroups);
      expect(tail.readUInt32LE(tail.length - 8)).toBeGreaterThan(64 << 10);
      expect(await readParquetProjection(manyGroups, ["user_id"])).toEqual(more.map((row) => ({ user_id: row.user_id })));
      const broken = join(directory, "broken.parquet");
      await writeFile(broken, tail.subarray(0, tail.length - 100));
      await expect(readParquetProjection(broken, ["user_id"])).rejects.toThrow(`${broken}: cannot read it as Parquet`);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
