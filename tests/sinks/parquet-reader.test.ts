import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readParquetFile, readParquetTable } from "../../src/sinks/parquet-reader.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { allTypesRows, allTypesTable, duckDb, queryJson, temporaryDirectory } from "./lake-fixtures.ts";

const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

/** The input rows as the reader returns them: every declared column present, missing keys as null. */
const expectedRows = allTypesRows.map((row) =>
  Object.fromEntries(allTypesTable.columns.map((column) => [column.name, row[column.name] ?? null])),
);

async function writtenLake(rowGroupSize: number): Promise<string> {
  const root = await temporaryDirectory("reader");
  directories.push(root);
  const sink = new ParquetSink({ path: root, tables: [allTypesTable], useWorkerThread: false, rowGroupSize });
  for (const row of allTypesRows) sink.append("all_types", row);
  await sink.commit(await sink.prepare(1));
  return root;
}

async function collect(rows: AsyncIterable<Record<string, unknown>>): Promise<Record<string, unknown>[]> {
  const all = [];
  for await (const row of rows) all.push(row);
  return all;
}

describe("parquet reader", () => {
  it("reads a file back to the written rows: epoch-ms timestamps, int64 numbers, YYYY-MM-DD dates, string arrays", async () => {
    const root = await writtenLake(100);
    const rows = await readParquetFile(join(root, "all_types/dt=2024-03-11/part-0000000001-0000.parquet"));
    expect(rows).toEqual([expectedRows[1], expectedRows[2], expectedRows[3]]);
  });

  it("streams a table folder row group by row group, adding the partition column, in partition order", async () => {
    const root = await writtenLake(1);
    const connection = await duckDb();
    const [{ row_groups }] = await queryJson(
      connection,
      `SELECT count(DISTINCT (file_name, row_group_id))::INTEGER AS row_groups FROM parquet_metadata('${root}/**/*.parquet')`,
    );
    expect(row_groups).toBe(5);
    const rows = await collect(readParquetTable(join(root, "all_types")));
    const expected = [0, 4, 1, 2, 3].map((i) => ({ ...expectedRows[i], dt: i === 0 || i === 4 ? "2024-03-10" : "2024-03-11" }));
    expect(rows).toEqual(expected);
  });

  it("keeps only the requested partitions, given as values or key=value names", async () => {
    const root = await writtenLake(2);
    const byValue = await collect(readParquetTable(join(root, "all_types"), { partitions: ["2024-03-10"] }));
    const byName = await collect(readParquetTable(join(root, "all_types"), { partitions: ["dt=2024-03-10"] }));
    expect(byValue.map((row) => row.id)).toEqual(["a", "d"]);
    expect(byName).toEqual(byValue);
  });

  it("never reads in-progress parts", async () => {
    const root = await temporaryDirectory("reader");
    directories.push(root);
    const sink = new ParquetSink({ path: root, tables: [allTypesTable], useWorkerThread: false });
    for (const row of allTypesRows) sink.append("all_types", row);
    await sink.prepare(1);
    expect(await collect(readParquetTable(join(root, "all_types")))).toEqual([]);
  });
});
