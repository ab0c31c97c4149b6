// A Parquet part whose footer is intact but whose data pages are damaged: every read path (readParquetBatches, forget's
// rewrite, score's model version check) rejects with a ParquetReadError naming the file, after the rows of the intact
// row groups before it. parquet-wasm 0.8's asynchronous
// reader panicked there instead (an uncaught WebAssembly `unreachable` that killed the process and named no file), so
// the reads run in a child process (parquet-read-script.ts).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { beforeAll, describe, expect, it } from "vitest";
import { rowGroupCountOfParquet } from "../../src/sinks/parquet-footer.ts";
import { readParquetBatches } from "../../src/sinks/parquet-reader.ts";
import { removeRowsFromPart } from "../../src/sinks/parquet-rewrite.ts";
import type { TrainingConfig } from "../../src/training/config.ts";
import { scoredModelVersion } from "../../src/training/scorer.ts";
import { duckDb, lakesRemovedAfterAll, queryJson } from "./lake-fixtures.ts";

const SCRIPT = join(import.meta.dirname, "parquet-read-script.ts");
const ROWS = 10_000;
const ROW_GROUP_SIZE = 2_048;

const lake = lakesRemovedAfterAll("corrupt-read");
let connection: DuckDBConnection;
let root: string;
let intact: string;
/** A scores part as score writes one, in model_version: names that snappy compresses only partly, as intact's. */
let scores: string;

interface ReadOutcome {
  rows: number;
  version?: string;
  error?: { name: string; message: string; isParquetReadError: boolean; path?: string };
}

function readInChild(how: "table" | "batches" | "rewrite" | "scored", path: string, argument?: string[] | string): ReadOutcome {
  const child = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, how, path, ...(argument ? [[argument].flat().join(",")] : [])], {
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(child.status, `exit ${child.status} ${child.signal ?? ""}: ${child.stderr}`).toBe(0);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!) as ReadOutcome;
}

type Damage = (bytes: Buffer, start: number, size: number) => void;

/**
 * A copy of `source` at `path` with `damage` done to row group `rowGroup`'s `column` chunk (row group 1's `name`: a
 * table folder's partition under `root/folder`).
 */
async function damagedCopy(
  folder: string,
  damage: Damage,
  source = intact,
  column = "name",
  rowGroup = 1,
  path = join(root, folder, "dt=2024-03-01", "part-0.parquet"),
): Promise<string> {
  const [chunk] = await queryJson(
    connection,
    `SELECT data_page_offset::BIGINT AS start, total_compressed_size::BIGINT AS size
     FROM parquet_metadata('${source}') WHERE row_group_id = ${rowGroup} AND path_in_schema = '${column}'`,
  );
  const bytes = readFileSync(source);
  damage(bytes, Number(chunk.start), Number(chunk.size));
  mkdirSync(dirname(path), { recursive: true });
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
  scores = join(root, "scores.parquet");
  await connection.run(`COPY (SELECT i AS customer_id, 'model-' || (i * 7919 % 100003)::VARCHAR AS model_version FROM range(${ROWS}) t(i))
    TO '${scores}' (FORMAT parquet, ROW_GROUP_SIZE ${ROW_GROUP_SIZE}, COMPRESSION snappy)`);
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

  it("rewrites an intact part without id 5, and reads an intact scores part's model version, as DuckDB reads them", async () => {
    const part = join(root, "rewrite-intact", "part-0.parquet");
    mkdirSync(dirname(part), { recursive: true });
    // Without xs: a rewrite writes clickpipe's column types, and a list of int64 is none of them.
    await connection.run(`COPY (SELECT id, name FROM '${intact}') TO '${part}' (FORMAT parquet, ROW_GROUP_SIZE ${ROW_GROUP_SIZE}, COMPRESSION snappy)`);
    expect(await removeRowsFromPart(part, (row) => row.id === 5, { compression: "snappy", rowGroupSize: ROW_GROUP_SIZE }, ["id", "name"])).toEqual({ rowsRemoved: 1, deleted: false });
    const [kept] = await queryJson(connection, `SELECT count(*)::INTEGER AS n, count(*) FILTER (WHERE id = 5)::INTEGER AS five, sum(id)::INTEGER AS ids FROM '${part}'`);
    expect(kept).toEqual({ n: ROWS - 1, five: 0, ids: (ROWS * (ROWS - 1)) / 2 - 5 });

    const scoring = join(root, "scoring-intact");
    const scoresPart = join(scoring, "scores", "snapshot_date=2024-03-01", "part-0.parquet");
    mkdirSync(dirname(scoresPart), { recursive: true });
    copyFileSync(scores, scoresPart);
    const config = { features: join(scoring, "customer_features") } as TrainingConfig;
    expect(await scoredModelVersion(config, "2024-03-01")).toBeUndefined(); // no _SUCCESS yet
    writeFileSync(join(dirname(scoresPart), "_SUCCESS"), "");
    const [{ first }] = await queryJson(connection, `SELECT model_version AS first FROM read_parquet('${scores}') LIMIT 1`);
    expect(first).toBe("model-0");
    expect(await scoredModelVersion(config, "2024-03-01")).toBe(first);
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

    it(`clickpipe forget's rewrite of a part whose row group 1 is ${variant} rejects with a ParquetReadError naming it, leaving it as it was`, async () => {
      const part = await damagedCopy(`rewrite-${variant}`, damage);
      const before = readFileSync(part);
      const outcome = readInChild("rewrite", part, ["id", "name"]);
      expect(outcome).toEqual({
        rows: 0,
        error: { name: "ParquetReadError", message: expect.stringContaining(`${part}: cannot read it as Parquet (`), isParquetReadError: true, path: part },
      });
      expect(outcome.error?.message).toMatch(/snappy: corrupt input/);
      expect(readFileSync(part).equals(before)).toBe(true);
    });

    it(`score --follow's check of a scores part whose row group 0 is ${variant} rejects with a ParquetReadError naming it`, async () => {
      const scoring = join(root, `scoring-${variant}`);
      const part = await damagedCopy(`scoring-${variant}`, damage, scores, "model_version", 0, join(scoring, "scores", "snapshot_date=2024-03-01", "part-0.parquet"));
      writeFileSync(join(dirname(part), "_SUCCESS"), "");
      const outcome = readInChild("scored", scoring, "2024-03-01");
      expect(outcome).toEqual({
        rows: 0,
        error: { name: "ParquetReadError", message: expect.stringContaining(`${part}: cannot read it as Parquet (`), isParquetReadError: true, path: part },
      });
      expect(outcome.error?.message).toMatch(/snappy: corrupt input/);
    });
  }
});
