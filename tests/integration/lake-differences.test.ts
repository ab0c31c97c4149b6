// lakeDifferences, the crash harness's in-DuckDB lake comparison: it must see every kind of difference lakeRows sees
// (a row missing, duplicated, changed, in another partition; a table or column on one side) and nothing else.
import { DuckDBInstance } from "@duckdb/node-api";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lakeDifferences, lakeRows } from "./crash-harness.ts";

type Row = [id: number, name: string | null, score: number, dt: string];

const baseRows: Row[] = [
  [1, "a", 0.5, "2026-02-01"],
  [2, "b", 1.5, "2026-02-01"],
  [2, "b", 1.5, "2026-02-01"],
  [3, null, -2, "2026-02-02"],
  [4, "d", 4.25, "2026-02-02"],
];

describe("lakeDifferences", () => {
  let directory: string;
  let lakes = 0;
  const instance = DuckDBInstance.create(":memory:");

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-lake-differences-"));
  });
  afterAll(async () => {
    (await instance).closeSync();
    await rm(directory, { recursive: true, force: true });
  });

  /** A lake written by DuckDB as the sink lays one out: `<table>/dt=<dt>/part-<n>.parquet`, a part per row (a SELECT of it). */
  async function lakeOf(tables: Record<string, { dt: string; select: string }[]>): Promise<string> {
    const out = join(directory, `lake-${lakes++}`);
    const db = await (await instance).connect();
    try {
      for (const [table, rows] of Object.entries(tables)) {
        for (const [index, { dt, select }] of rows.entries()) {
          const folder = join(out, table, `dt=${dt}`);
          await mkdir(folder, { recursive: true });
          await db.run(`COPY (${select}) TO '${join(folder, `part-${index}.parquet`)}' (FORMAT parquet)`);
        }
      }
    } finally {
      db.closeSync();
    }
    return out;
  }

  /** A lake of `tables` of rows (id, name, score[, extraColumn = 0]) with their days. */
  function lake(tables: Record<string, Row[]>, extraColumn?: string): Promise<string> {
    const extra = extraColumn === undefined ? "" : `, 0 AS ${extraColumn}`;
    return lakeOf(
      Object.fromEntries(
        Object.entries(tables).map(([table, rows]) => [
          table,
          rows.map(([id, name, score, dt]) => ({ dt, select: `SELECT ${id} AS id, ${name === null ? "NULL::VARCHAR" : `'${name}'`} AS name, ${score}::DOUBLE AS score${extra}` })),
        ]),
      ),
    );
  }

  it("finds none between lakes of the same rows however they are split into parts, and counts the expected rows", async () => {
    const expected = await lake({ first: baseRows, second: baseRows.slice(0, 2) });
    const actual = await lake({ first: [...baseRows].reverse(), second: baseRows.slice(0, 2) });
    expect(await lakeRows(actual)).toEqual(await lakeRows(expected));
    expect(await lakeDifferences(expected, actual)).toEqual({ expectedRowCounts: { first: 5, second: 2 }, differences: [] });
  });

  it("names a missing row, an extra copy, a changed value and a row in another partition, with the row", async () => {
    const expected = await lake({ first: baseRows });
    const changed: Row[] = [
      [2, "b", 1.5, "2026-02-01"], // one copy of two
      [3, null, -2, "2026-02-02"],
      [3, null, -2, "2026-02-02"], // an extra copy
      [4, "d", 4.5, "2026-02-02"], // another score
      [1, "a", 0.5, "2026-02-02"], // another day
    ];
    const actual = await lake({ first: changed });
    const { expectedRowCounts, differences } = await lakeDifferences(expected, actual);
    expect(expectedRowCounts).toEqual({ first: 5 });
    expect(differences[0]).toBe("first: 6 distinct rows with another number of copies than expected");
    expect(differences.slice(1).sort()).toEqual(
      [
        'first: 0 copies, expected 1: {"id":1,"name":"a","score":0.5,"dt":"2026-02-01"}',
        'first: 1 copies, expected 0: {"id":1,"name":"a","score":0.5,"dt":"2026-02-02"}',
        'first: 1 copies, expected 2: {"id":2,"name":"b","score":1.5,"dt":"2026-02-01"}',
        'first: 2 copies, expected 1: {"id":3,"name":null,"score":-2,"dt":"2026-02-02"}',
        'first: 0 copies, expected 1: {"id":4,"name":"d","score":4.25,"dt":"2026-02-02"}',
        'first: 1 copies, expected 0: {"id":4,"name":"d","score":4.5,"dt":"2026-02-02"}',
      ].sort(),
    );
  });

  it("names a table on one side only and a table whose columns differ, and leaves out skipped columns", async () => {
    const expected = await lake({ first: baseRows, second: baseRows });
    const actual = await lake({ first: baseRows, third: baseRows });
    expect((await lakeDifferences(expected, actual)).differences).toEqual([`third: only in ${actual}`, `second: only in ${expected}`]);

    const wider = await lake({ first: baseRows }, "stamp");
    const narrow = await lake({ first: baseRows });
    expect((await lakeDifferences(narrow, wider)).differences).toEqual([
      "first: columns id INTEGER, name VARCHAR, score DOUBLE, stamp INTEGER, dt DATE; expected id INTEGER, name VARCHAR, score DOUBLE, dt DATE",
    ]);
    expect(await lakeDifferences(narrow, wider, { first: ["stamp"] })).toEqual({ expectedRowCounts: { first: 5 }, differences: [] });

    const otherName = await lake({ first: baseRows.map(([id, name, score, dt]): Row => [id, name === "b" ? "B" : name, score, dt]) });
    expect((await lakeDifferences(narrow, otherName, { first: ["name"] })).differences).toEqual([]);
    expect((await lakeDifferences(narrow, otherName)).differences).toHaveLength(3);
  });

  it("names a part whose columns are not its table's first part's: another type, or one more column", async () => {
    // DuckDB reads a glob by the first file's schema: a later file's extra column was dropped and another type cast to
    // the first's (4.7 read as the INTEGER 5), so a lake with such a part compared equal to one without.
    const day = "2026-02-02";
    const parts = (...selects: string[]) => ({ first: selects.map((select) => ({ dt: day, select })) });
    const expected = await lakeOf(parts("SELECT 1 AS id, 5 AS n", "SELECT 2 AS id, 5 AS n"));
    const otherType = await lakeOf(parts("SELECT 1 AS id, 5 AS n", "SELECT 2 AS id, 4.7::DOUBLE AS n"));
    expect((await lakeDifferences(expected, otherType)).differences).toEqual([
      "first: columns id INTEGER, n DOUBLE, dt DATE; expected id INTEGER, n INTEGER, dt DATE",
    ]);
    const oneMore = await lakeOf(parts("SELECT 1 AS id, 5 AS n", "SELECT 2 AS id, 5 AS n, 'x' AS extra"));
    expect((await lakeDifferences(expected, oneMore)).differences).toEqual([
      "first: columns id INTEGER, n INTEGER, extra VARCHAR, dt DATE; expected id INTEGER, n INTEGER, dt DATE",
    ]);
    // A part lacking a column of the first: its rows have NULL there, unlike the expected ones.
    const oneLess = await lakeOf(parts("SELECT 1 AS id, 5 AS n", "SELECT 2 AS id"));
    const { differences } = await lakeDifferences(expected, oneLess);
    expect(differences[0]).toBe("first: 2 distinct rows with another number of copies than expected");
    expect(differences.slice(1).sort()).toEqual([
      `first: 0 copies, expected 1: {"id":2,"n":5,"dt":"${day}"}`,
      `first: 1 copies, expected 0: {"id":2,"n":null,"dt":"${day}"}`,
    ]);
  });

  it("tells apart strings, and lists of them, that DuckDB's hash() gives the same hash", async () => {
    // Two patterns of the partitioned-drain-nats-restart lake whose hash() is the same.
    const first = "/c/dresses/p/1200 > /c/dresses/p/1212 > /c/dresses/p/1214";
    const second = "/c/dresses/p/1210 > /c/dresses/p/1212 > /c/dresses/p/1224";
    const hashes = async (value: (text: string) => string) => {
      const db = await (await instance).connect();
      try {
        return (await db.runAndReadAll(`SELECT hash(${value(first)}) = hash(${value(second)}) AS same`)).getRowObjectsJson()[0]?.same;
      } finally {
        db.closeSync();
      }
    };
    expect(await hashes((text) => `'${text}'`)).toBe(true);
    expect(await hashes((text) => `['${text}']`)).toBe(true);

    const day = "2026-02-02";
    const pattern = (text: string) => ({ dt: day, select: `SELECT '${text}' AS pattern, ['/', '${text}'] AS path` });
    const expected = await lakeOf({ patterns: [pattern(first)] });
    const actual = await lakeOf({ patterns: [pattern(second)] });
    const { differences } = await lakeDifferences(expected, actual);
    expect(differences[0]).toBe("patterns: 2 distinct rows with another number of copies than expected");
    expect(differences.slice(1).sort()).toEqual([
      `patterns: 0 copies, expected 1: {"pattern":"${first}","path":["/","${first}"],"dt":"${day}"}`,
      `patterns: 1 copies, expected 0: {"pattern":"${second}","path":["/","${second}"],"dt":"${day}"}`,
    ]);
    expect((await lakeDifferences(expected, actual, { patterns: ["pattern"] })).differences).toHaveLength(3);
    expect((await lakeDifferences(expected, actual, { patterns: ["path"] })).differences).toHaveLength(3);
  });
});
