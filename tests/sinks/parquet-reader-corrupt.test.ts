// A Parquet part whose footer is intact but whose data pages are damaged: every read path rejects with a
// ParquetReadError naming the file, after the rows of the intact row groups before it. parquet-wasm 0.8's asynchronous
// reader panicked there instead (an uncaught WebAssembly `unreachable` that killed the process and named no file), so
// the reads run in a child process (parquet-read-script.ts).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { beforeAll, describe, expect, it } from "vitest";
import { rowGroupCountOfParquet } from "../../src/sinks/parquet-footer.ts";
import { readParquetBatches } from "../../src/sinks/parquet-reader.ts";
import { duckDb, lakesRemovedAfterAll, queryJson } from "./lake-fixtures.ts";

const SCRIPT = join(import.meta.dirname, "parquet-read-script.ts");
const ROWS = 10_000;
const ROW_GROUP_SIZE = 2_048;

const lake = lakesRemovedAfterAll("corrupt-read");
let connection: DuckDBConnection;
let root: string;
let intact: string;

interface ReadOutcome {
  rows: number;
  error?: { name: string; message: string; isParquetReadError: boolean; path?: string };
}

function readInChild(how: "table" | "batches", path: string, columns?: string[]): ReadOutcome {
  const child = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, how, path, ...(columns ? [columns.join(",")] : [])], {
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(child.status, `exit ${child.status} ${child.signal ?? ""}: ${child.stderr}`).toBe(0);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!) as ReadOutcome;
}

/** A copy of the intact file in `folder` (a table folder's partition), with `damage` done to row group 1's `name` chunk. */
async function damagedCopy(folder: string, damage: (bytes: Buffer, start: number, size: number) => void): Promise<string> {
  const [chunk] = await queryJson(
    connection,
    `SELECT data_page_offset::BIGINT AS start, total_compressed_size::BIGINT AS size
     FROM parquet_metadata('${intact}') WHERE row_group_id = 1 AND path_in_schema = 'name'`,
  );
  const bytes = readFileSync(intact);
  damage(bytes, Number(chunk.start), Number(chunk.size));
  mkdirSync(join(root, folder, "dt=2024-03-01"), { recursive: true });
  const path = join(root, folder, "dt=2024-03-01", "part-0.parquet");
  writeFileSync(path, bytes);
  return path;
}

beforeAll(async () => {
  connection = await duckDb();
  root = await lake();
  intact = join(root, "intact.parquet");
  // Names that snappy compresses only partly, so a damaged page is still snappy data to decode; 5 row groups.
  await connection.run(`COPY (SELECT i AS id, 'name-' || (i * 7919 % 100003)::VARCHAR AS name, [i, i + 1] AS xs FROM range(${ROWS}) t(i))
    TO '${intact}' (FORMAT parquet, ROW_GROUP_SIZE ${ROW_GROUP_SIZE}, COMPRESSION snappy)`);
});

describe("reading a Parquet part with damaged data pages", () => {
  it("reads the intact file as DuckDB does: its 5 row groups (counted from the footer), the asked-for columns only", async () => {
    const [{ groups }] = await queryJson(connection, `SELECT count(DISTINCT row_group_id)::INTEGER AS groups FROM parquet_metadata('${intact}')`);
    expect(groups).toBe(5);
    expect(rowGroupCountOfParquet(readFileSync(intact))).toBe(groups);
    expect(() => rowGroupCountOfParquet(Buffer.from("not a Parquet file at all"))).toThrow("no Parquet footer at its end (no PAR1)");
    const names: unknown[] = [];
    for await (const batch of readParquetBatches(intact, { columns: ["name", "missing"] })) for (const row of batch) names.push(row);
    const expected = await queryJson(connection, `SELECT name FROM read_parquet('${intact}') ORDER BY id`);
    expect(names).toEqual(expected);
  });

  for (const [variant, damage] of [
    ["zeroed", (bytes: Buffer, start: number, size: number) => bytes.fill(0, start + 20, start + size - 5)],
    [
      "flipped",
      (bytes: Buffer, start: number, size: number) => {
        const middle = start + Math.floor(size / 2);
        for (let i = middle - 32; i < middle + 32; i++) bytes[i] ^= 0xff;
      },
    ],
  ] as const) {
    it(`rejects with a ParquetReadError naming the file, after row group 0's rows, when row group 1's page is ${variant}`, async () => {
      const part = await damagedCopy(`table-${variant}`, damage);
      const folder = join(root, `table-${variant}`);
      const file = join(root, `single-${variant}.parquet`);
      copyFileSync(part, file);
      const outcomes = {
        folder: readInChild("table", folder),
        folderColumns: readInChild("table", folder, ["name", "dt"]),
        file: readInChild("batches", file, ["id", "name"]),
        fileAllColumns: readInChild("table", file),
      };
      for (const [read, outcome] of Object.entries(outcomes)) {
        const path = read.startsWith("folder") ? part : file;
        expect(outcome, read).toEqual({
          rows: ROW_GROUP_SIZE,
          error: { name: "ParquetReadError", message: expect.stringContaining(`${path}: cannot read it as Parquet (`), isParquetReadError: true, path },
        });
        expect(outcome.error?.message, read).toMatch(/snappy: corrupt input/);
      }
    });
  }
});
