// Shared test fixtures for the Parquet sink tests: a table with every column type, hand-built rows, DuckDB access.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { afterAll } from "vitest";
import type { EncoderPool } from "../../src/sinks/parquet.ts";
import { utcDay, type Row, type TableSpec } from "../../src/sinks/table.ts";

export const allTypesTable: TableSpec = {
  name: "all_types",
  columns: [
    { name: "id", type: "string", nullable: false },
    { name: "i32", type: "int32" },
    { name: "i64", type: "int64" },
    { name: "f64", type: "float64" },
    { name: "flag", type: "bool" },
    { name: "seen_at", type: "timestamp" },
    { name: "on_day", type: "date" },
    { name: "tags", type: "list<string>" },
    { name: "event_ts", type: "timestamp", nullable: false },
  ],
  partitionKey: "dt",
  partitionOf: (row) => utcDay(row.event_ts as number),
};

/** Hand-built rows covering nulls, empty lists, null list items, negative and > 2^32 integers, non-ASCII text. */
export const allTypesRows: Row[] = [
  {
    id: "a",
    i32: 7,
    i64: 9_007_199_254_740_991,
    f64: 1.5,
    flag: true,
    seen_at: Date.UTC(2024, 2, 10, 12, 30, 0, 123),
    on_day: "2024-03-10",
    tags: ["/", "/c/shoes"],
    event_ts: Date.UTC(2024, 2, 10, 23, 59, 59, 999),
  },
  {
    id: "b",
    i32: -2_147_483_648,
    i64: -5_000_000_000,
    f64: -0.25,
    flag: false,
    seen_at: -86_400_000,
    on_day: "1969-12-31",
    tags: [],
    event_ts: Date.UTC(2024, 2, 11, 0, 0, 0, 0),
  },
  { id: "c", i32: null, i64: null, f64: null, flag: null, seen_at: null, on_day: null, tags: null, event_ts: Date.UTC(2024, 2, 11, 8) },
  {
    id: "é漢字🙂",
    i32: 0,
    i64: 4_294_967_296,
    f64: 0,
    flag: true,
    seen_at: 0,
    on_day: "2000-02-29",
    tags: ["naïve", null, ""],
    event_ts: Date.UTC(2024, 2, 11, 9),
  },
  // Missing keys are nulls, like explicit nulls.
  { id: "d", event_ts: Date.UTC(2024, 2, 10, 1) },
];

/**
 * What DuckDB returns for allTypesRows (JSON form: BIGINT as strings, timestamps as epoch ms via epoch_ms),
 * written out by hand, ordered by id.
 */
export const allTypesExpectedInDuckDb = [
  { id: "a", i32: 7, i64: "9007199254740991", f64: 1.5, flag: true, at_ms: "1710073800123", on_day: "2024-03-10", tags: ["/", "/c/shoes"], event_ms: "1710115199999", dt: "2024-03-10" },
  { id: "b", i32: -2147483648, i64: "-5000000000", f64: -0.25, flag: false, at_ms: "-86400000", on_day: "1969-12-31", tags: [], event_ms: "1710115200000", dt: "2024-03-11" },
  { id: "c", i32: null, i64: null, f64: null, flag: null, at_ms: null, on_day: null, tags: null, event_ms: "1710144000000", dt: "2024-03-11" },
  { id: "d", i32: null, i64: null, f64: null, flag: null, at_ms: null, on_day: null, tags: null, event_ms: "1710032400000", dt: "2024-03-10" },
  { id: "é漢字🙂", i32: 0, i64: "4294967296", f64: 0, flag: true, at_ms: "0", on_day: "2000-02-29", tags: ["naïve", null, ""], event_ms: "1710147600000", dt: "2024-03-11" },
];

export const allTypesSelect = `
  SELECT id, i32, i64, f64, flag, epoch_ms(seen_at) AS at_ms, strftime(on_day, '%Y-%m-%d') AS on_day, tags,
         epoch_ms(event_ts) AS event_ms, dt
  FROM read_parquet('{glob}', hive_partitioning = true, hive_types_autocast = false)
  ORDER BY id`;

export async function temporaryDirectory(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `clickpipe-${prefix}-`));
}

/** A maker of fresh lake folders (temporaryDirectory), all removed after the file's tests. */
export function lakesRemovedAfterAll(prefix: string): () => Promise<string> {
  const directories: string[] = [];
  afterAll(async () => {
    for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
  });
  return async () => {
    const directory = await temporaryDirectory(prefix);
    directories.push(directory);
    return directory;
  };
}

/** A list to push the file's encoder pools to: each is closed after the file's tests (its thread would keep running). */
export function encoderPoolsClosedAfterAll(): EncoderPool[] {
  const pools: EncoderPool[] = [];
  afterAll(async () => {
    for (const pool of pools.splice(0)) await pool.close();
  });
  return pools;
}

export async function duckDb(): Promise<DuckDBConnection> {
  const instance = await DuckDBInstance.create(":memory:");
  return instance.connect();
}

export async function queryJson(connection: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

/** DuckDB's rows of a lake table through the `**\/*.parquet` glob every reader uses. */
export async function readAllTypes(connection: DuckDBConnection, root: string): Promise<Record<string, unknown>[]> {
  return queryJson(connection, allTypesSelect.replace("{glob}", `${root}/all_types/**/*.parquet`));
}
