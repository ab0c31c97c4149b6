import { existsSync } from "node:fs";
import { readFile, readdir, rename, rm, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { beforeAll, describe, expect, it } from "vitest";
import { Metrics } from "../../src/metrics/registry.ts";
import { ParquetEncodeError } from "../../src/sinks/parquet-encoder.ts";
import { ParquetSink, defaultEncoderThreads, nextEncoder, partFileName, type PendingCommit } from "../../src/sinks/parquet.ts";
import {
  allTypesExpectedInDuckDb,
  allTypesRows,
  allTypesTable,
  duckDb,
  queryJson,
  readAllTypes,
  lakesRemovedAfterAll,
} from "./lake-fixtures.ts";

let connection: DuckDBConnection;
const lake = lakesRemovedAfterAll("parquet");

beforeAll(async () => {
  connection = await duckDb();
});

function sinkWith(path: string, options: Partial<ConstructorParameters<typeof ParquetSink>[0]> = {}): ParquetSink {
  return new ParquetSink({ path, tables: [allTypesTable], useWorkerThread: false, ...options });
}

/** Every file under root, relative, sorted. */
async function listing(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1))
    .sort();
}

describe("ParquetSink - encoding", () => {
  it("writes every column type so DuckDB reads back the hand-built values, nulls and empty lists", async () => {
    const root = await lake();
    const sink = sinkWith(root);
    for (const row of allTypesRows) sink.append("all_types", row);
    await sink.commit(await sink.prepare(1));
    expect(await readAllTypes(connection, root)).toEqual(allTypesExpectedInDuckDb);
  });

  it("declares timestamps as TIMESTAMP(MILLIS, isAdjustedToUTC=true) and every column with its DuckDB type", async () => {
    const root = await lake();
    const sink = sinkWith(root);
    for (const row of allTypesRows) sink.append("all_types", row);
    await sink.commit(await sink.prepare(1));
    const glob = `${root}/all_types/**/*.parquet`;
    const [types] = await queryJson(
      connection,
      `SELECT typeof(id) id, typeof(i32) i32, typeof(i64) i64, typeof(f64) f64, typeof(flag) flag, typeof(seen_at) seen_at,
              typeof(on_day) on_day, typeof(tags) tags, typeof(event_ts) event_ts
       FROM read_parquet('${glob}') LIMIT 1`,
    );
    expect(types).toEqual({
      id: "VARCHAR",
      i32: "INTEGER",
      i64: "BIGINT",
      f64: "DOUBLE",
      flag: "BOOLEAN",
      seen_at: "TIMESTAMP WITH TIME ZONE",
      on_day: "DATE",
      tags: "VARCHAR[]",
      event_ts: "TIMESTAMP WITH TIME ZONE",
    });
    const timestampColumns = await queryJson(
      connection,
      `SELECT DISTINCT name, logical_type FROM parquet_schema('${glob}') WHERE name IN ('seen_at', 'event_ts') ORDER BY name`,
    );
    expect(timestampColumns).toHaveLength(2);
    for (const column of timestampColumns) expect(column.logical_type).toMatch(/isAdjustedToUTC=1.*MILLIS=MilliSeconds\(\)/);
    const required = await queryJson(
      connection,
      `SELECT DISTINCT name, repetition_type FROM parquet_schema('${glob}') WHERE name IN ('id', 'event_ts', 'i32') ORDER BY name`,
    );
    expect(required).toEqual([
      { name: "event_ts", repetition_type: "REQUIRED" },
      { name: "i32", repetition_type: "OPTIONAL" },
      { name: "id", repetition_type: "REQUIRED" },
    ]);
  });

  it("rejects a null in a required column at append and keeps the rows buffered before it intact", async () => {
    const root = await lake();
    const sink = sinkWith(root);
    sink.append("all_types", allTypesRows[0]);
    expect(() => sink.append("all_types", { ...allTypesRows[1], id: null })).toThrow(ParquetEncodeError);
    expect(() => sink.append("all_types", { ...allTypesRows[1], i32: "not a number" })).toThrow(/i32 \(int32\)/);
    expect(sink.bufferedRows()).toBe(1);
    sink.append("all_types", allTypesRows[1]);
    await sink.commit(await sink.prepare(1));
    expect(await readAllTypes(connection, root)).toEqual(allTypesExpectedInDuckDb.slice(0, 2));
  });

  it("produces files DuckDB reads identically whether encoded in the worker thread or in-thread", async () => {
    const [threadRoot, inlineRoot] = [await lake(), await lake()];
    const threaded = sinkWith(threadRoot, { useWorkerThread: true, maxRowsPerFile: 2 });
    const inline = sinkWith(inlineRoot, { useWorkerThread: false, maxRowsPerFile: 2 });
    for (const row of allTypesRows) {
      threaded.append("all_types", row);
      inline.append("all_types", row);
    }
    const [threadPending, inlinePending] = [await threaded.prepare(4), await inline.prepare(4)];
    await threaded.commit(threadPending);
    await inline.commit(inlinePending);
    await threaded.close();
    expect(threadPending).toEqual(inlinePending);
    expect(await listing(threadRoot)).toEqual(await listing(inlineRoot));
    expect(await readAllTypes(connection, threadRoot)).toEqual(allTypesExpectedInDuckDb);
    expect(await readAllTypes(connection, inlineRoot)).toEqual(allTypesExpectedInDuckDb);
  });
});

describe("nextEncoder", () => {
  it("gives a part to the encoder with the fewest rows queued", () => {
    expect(nextEncoder([5_000, 0], 1)).toBe(1);
    expect(nextEncoder([0, 5_000], 0)).toBe(0);
    expect(nextEncoder([300, 200, 100], 2)).toBe(2);
  });

  it("goes round the encoders on ties, so every thread is warm before a checkpoint gives them all a part at once", () => {
    const order: number[] = [];
    let last = -1;
    for (let part = 0; part < 6; part++) order.push((last = nextEncoder([0, 0, 0], last)));
    expect(order).toEqual([0, 1, 2, 0, 1, 2]);
    // A tie among the least loaded starts after the last one used, not at the first index.
    expect(nextEncoder([0, 9, 0], 0)).toBe(2);
    expect(nextEncoder([0], 0)).toBe(0);
  });
});

describe("defaultEncoderThreads", () => {
  it("runs one encoder thread on two cores or fewer, and two on more", () => {
    expect([1, 2, 3, 4, 64].map((cores) => defaultEncoderThreads(cores))).toEqual([1, 1, 2, 2, 2]);
  });
});

describe("ParquetSink.ready", () => {
  it("resolves once its encoder threads run (zstd: with their libraries) and they then encode as before", async () => {
    const root = await lake();
    const sink = sinkWith(root, { useWorkerThread: true, encoderThreads: 2, compression: "zstd" });
    try {
      await sink.ready();
      for (const row of allTypesRows) sink.append("all_types", row);
      await sink.commit(await sink.prepare(1));
      expect(await readAllTypes(connection, root)).toEqual(allTypesExpectedInDuckDb);
    } finally {
      await sink.close();
    }
  });

  it("seals a partition marked complete at once when encoding in threads: the same files, and later rows in a part of their own", async () => {
    const [threadRoot, inlineRoot] = [await lake(), await lake()];
    const threaded = sinkWith(threadRoot, { useWorkerThread: true });
    const inline = sinkWith(inlineRoot, { useWorkerThread: false });
    try {
      for (const sink of [threaded, inline]) {
        for (const row of allTypesRows) sink.append("all_types", row);
        sink.markSuccess("all_types", "2024-03-10");
      }
      // Up to here both write one part per partition, the threaded one's 2024-03-10 part already sealed and encoding.
      const [first, firstInline] = [await threaded.prepare(1), await inline.prepare(1)];
      expect(first).toEqual(firstInline);
      await threaded.commit(first);
      await inline.commit(firstInline);
      expect(await listing(threadRoot)).toEqual(await listing(inlineRoot));
      expect(await readAllTypes(connection, threadRoot)).toEqual(allTypesExpectedInDuckDb);

      // A row after the marker, in the same epoch: the sealed part keeps index 0, the late row takes index 1.
      const [early, late] = allTypesRows.filter((row) => new Date(row.event_ts as number).toISOString().startsWith("2024-03-10"));
      threaded.append("all_types", early);
      threaded.markSuccess("all_types", "2024-03-10");
      threaded.append("all_types", late);
      const second = await threaded.prepare(2);
      expect(second.files).toEqual([
        { path: "all_types/dt=2024-03-10/part-0000000002-0000.parquet", table: "all_types", rows: 1 },
        { path: "all_types/dt=2024-03-10/part-0000000002-0001.parquet", table: "all_types", rows: 1 },
      ]);
      await threaded.commit(second);
      const [counted] = await queryJson(connection, `SELECT count(*)::INTEGER AS rows FROM read_parquet('${threadRoot}/**/*.parquet')`);
      expect(counted).toEqual({ rows: allTypesRows.length + 2 });
    } finally {
      await threaded.close();
    }
  });

  it("resolves at once without encoder threads", async () => {
    await expect(sinkWith(await lake(), { useWorkerThread: false }).ready()).resolves.toBeUndefined();
  });
});

describe("ParquetSink - layout and commit", () => {
  it("names parts part-<epoch:10>-<index:4>.parquet in Hive partition folders and returns them in the pending commit", async () => {
    const root = await lake();
    const sink = sinkWith(root);
    for (const row of allTypesRows) sink.append("all_types", row);
    sink.markSuccess("all_types", "2024-03-10");
    const pending = await sink.prepare(42);
    expect(pending).toEqual({
      epoch: 42,
      files: [
        { path: "all_types/dt=2024-03-10/part-0000000042-0000.parquet", table: "all_types", rows: 2 },
        { path: "all_types/dt=2024-03-11/part-0000000042-0000.parquet", table: "all_types", rows: 3 },
      ],
      markers: ["all_types/dt=2024-03-10/_SUCCESS"],
    } satisfies PendingCommit);
    expect(JSON.parse(JSON.stringify(pending))).toEqual(pending);
    expect(sink.bufferedRows()).toBe(0);
  });

  it("keeps prepared parts invisible to a **/*.parquet glob until commit, then publishes them and the _SUCCESS marker", async () => {
    const root = await lake();
    const sink = sinkWith(root);
    for (const row of allTypesRows) sink.append("all_types", row);
    sink.markSuccess("all_types", "2024-03-11");
    const pending = await sink.prepare(7);
    expect(await listing(root)).toEqual([
      "all_types/dt=2024-03-10/part-0000000007-0000.parquet.inprogress",
      "all_types/dt=2024-03-11/part-0000000007-0000.parquet.inprogress",
    ]);
    await expect(readAllTypes(connection, root)).rejects.toThrow(/No files found/);
    await sink.commit(pending);
    expect(await listing(root)).toEqual([
      "all_types/dt=2024-03-10/part-0000000007-0000.parquet",
      "all_types/dt=2024-03-11/_SUCCESS",
      "all_types/dt=2024-03-11/part-0000000007-0000.parquet",
    ]);
    expect(await readAllTypes(connection, root)).toHaveLength(allTypesRows.length);
  });

  it("splits a partition's buffer into several parts with consecutive indexes when it exceeds maxRowsPerFile", async () => {
    const root = await lake();
    const sink = sinkWith(root, { maxRowsPerFile: 3 });
    const rows = Array.from({ length: 7 }, (_, i) => ({ id: `r${i}`, i32: i, event_ts: Date.UTC(2024, 0, 1, i) }));
    for (const row of rows) sink.append("all_types", row);
    await sink.commit(await sink.prepare(1));
    const perFile = await queryJson(
      connection,
      `SELECT parse_filename(filename) AS file, count(*)::INTEGER AS rows, min(i32) AS first, max(i32) AS last
       FROM read_parquet('${root}/**/*.parquet', filename = true) GROUP BY ALL ORDER BY file`,
    );
    expect(perFile).toEqual([
      { file: "part-0000000001-0000.parquet", rows: 3, first: 0, last: 2 },
      { file: "part-0000000001-0001.parquet", rows: 3, first: 3, last: 5 },
      { file: "part-0000000001-0002.parquet", rows: 1, first: 6, last: 6 },
    ]);
  });

  it("seals a part every encodeEarlyRows rows when encoding in threads, each its own file, named in append order", async () => {
    const root = await lake();
    const sink = sinkWith(root, { useWorkerThread: true, encodeEarlyRows: 2 });
    try {
      const rows = Array.from({ length: 5 }, (_, i) => ({ id: `r${i}`, i32: i, event_ts: Date.UTC(2024, 0, 1, i) }));
      for (const row of rows) sink.append("all_types", row);
      const pending = await sink.prepare(4);
      expect(pending.files.map((f) => [f.path.split("/").pop(), f.rows])).toEqual([
        ["part-0000000004-0000.parquet", 2],
        ["part-0000000004-0001.parquet", 2],
        ["part-0000000004-0002.parquet", 1],
      ]);
      await sink.commit(pending);
      const perFile = await queryJson(
        connection,
        `SELECT parse_filename(filename) AS file, list(id ORDER BY i32) AS ids
         FROM read_parquet('${root}/**/*.parquet', filename = true) GROUP BY ALL ORDER BY file`,
      );
      expect(perFile).toEqual([
        { file: "part-0000000004-0000.parquet", ids: ["r0", "r1"] },
        { file: "part-0000000004-0001.parquet", ids: ["r2", "r3"] },
        { file: "part-0000000004-0002.parquet", ids: ["r4"] },
      ]);
    } finally {
      await sink.close();
    }
  });

  it("gives the same part names and pending commit for the same rows and epoch in a fresh sink", async () => {
    const pendings: PendingCommit[] = [];
    for (const root of [await lake(), await lake()]) {
      const sink = sinkWith(root, { maxRowsPerFile: 2 });
      for (const row of allTypesRows) sink.append("all_types", row);
      pendings.push(await sink.prepare(9));
    }
    expect(pendings[0]).toEqual(pendings[1]);
    expect(pendings[0].files.map((f) => f.path.split("/").pop())).toEqual([
      "part-0000000009-0000.parquet",
      "part-0000000009-0000.parquet",
      "part-0000000009-0001.parquet",
    ]);
    expect(partFileName(12, 3, "w7")).toBe("part-w7-0000000012-0003.parquet");
  });

  it("counts committed rows and files per table in clickpipe_parquet_*_written_total", async () => {
    const root = await lake();
    const metrics = new Metrics();
    const sink = sinkWith(root, { metrics, maxRowsPerFile: 2 });
    for (const row of allTypesRows) sink.append("all_types", row);
    const pending = await sink.prepare(1);
    expect((await metrics.parquetRowsWritten.get()).values.find((v) => v.labels.table === "all_types")).toBeUndefined();
    await sink.commit(pending);
    const rows = (await metrics.parquetRowsWritten.get()).values.find((v) => v.labels.table === "all_types");
    const files = (await metrics.parquetFilesWritten.get()).values.find((v) => v.labels.table === "all_types");
    expect([rows?.value, files?.value]).toEqual([5, 3]);
  });

  it("puts rows appended during a prepare into the next epoch", async () => {
    const root = await lake();
    const sink = sinkWith(root);
    sink.append("all_types", allTypesRows[0]);
    const preparing = sink.prepare(1);
    sink.append("all_types", allTypesRows[1]);
    const first = await preparing;
    const second = await sink.prepare(2);
    expect(first.files.map((f) => f.rows)).toEqual([1]);
    expect(second.files.map((f) => f.path)).toEqual(["all_types/dt=2024-03-11/part-0000000002-0000.parquet"]);
  });
});

describe("ParquetSink.recover", () => {
  async function preparedLake(epoch: number, root?: string): Promise<{ root: string; pending: PendingCommit }> {
    const directory = root ?? (await lake());
    const sink = sinkWith(directory);
    for (const row of allTypesRows) sink.append("all_types", row);
    sink.markSuccess("all_types", "2024-03-10");
    return { root: directory, pending: await sink.prepare(epoch) };
  }

  it("deletes the in-progress parts of a crash after prepare when no checkpoint holds them", async () => {
    const { root } = await preparedLake(3);
    await mkdir(join(root, "_checkpoints/web"), { recursive: true });
    await writeFile(join(root, "_checkpoints/web/state.inprogress"), "checkpoint store's own file");
    const summary = await ParquetSink.recover(root, undefined);
    expect(summary.deletedInProgress).toBe(2);
    expect(await listing(root)).toEqual(["_checkpoints/web/state.inprogress"]);
  });

  it("completes the renames and markers of a committed checkpoint and drops later uncommitted parts", async () => {
    const { root, pending } = await preparedLake(3);
    await preparedLake(4, root); // epoch 4 prepared, crash before its checkpoint committed
    const summary = await ParquetSink.recover(root, pending);
    expect(summary).toEqual({ renamed: 2, alreadyCommitted: 0, missing: [], deletedInProgress: 2, deletedTemporaries: 0, merged: 0 });
    expect(await listing(root)).toEqual([
      "all_types/dt=2024-03-10/_SUCCESS",
      "all_types/dt=2024-03-10/part-0000000003-0000.parquet",
      "all_types/dt=2024-03-11/part-0000000003-0000.parquet",
    ]);
    expect(await readAllTypes(connection, root)).toEqual(allTypesExpectedInDuckDb);
  });

  it("ends in the same state after a partial set of renames, and again when run twice", async () => {
    const { root, pending } = await preparedLake(5);
    const first = join(root, pending.files[0].path);
    await rename(`${first}.inprogress`, first);
    const bytesBefore = await readFile(first);
    const once = await ParquetSink.recover(root, pending);
    const afterOnce = await listing(root);
    const twice = await ParquetSink.recover(root, pending);
    expect(once).toEqual({ renamed: 1, alreadyCommitted: 1, missing: [], deletedInProgress: 0, deletedTemporaries: 0, merged: 0 });
    expect(twice).toEqual({ renamed: 0, alreadyCommitted: 2, missing: [], deletedInProgress: 0, deletedTemporaries: 0, merged: 0 });
    expect(await listing(root)).toEqual(afterOnce);
    expect(await readFile(first)).toEqual(bytesBefore);
    expect(await readAllTypes(connection, root)).toEqual(allTypesExpectedInDuckDb);
  });

  it("reports committed parts that have since disappeared instead of failing, and accepts a missing lake", async () => {
    const { root, pending } = await preparedLake(6);
    await rm(join(root, pending.files[1].path + ".inprogress"));
    const summary = await ParquetSink.recover(root, pending);
    expect(summary.missing).toEqual([pending.files[1].path]);
    const absent = join(root, "nothing-here");
    expect(await ParquetSink.recover(absent, undefined)).toEqual({ renamed: 0, alreadyCommitted: 0, missing: [], deletedInProgress: 0, deletedTemporaries: 0, merged: 0 });
    expect(existsSync(absent)).toBe(false);
  });

  it("deletes only its own in-progress parts when a writerId is given", async () => {
    const root = await lake();
    for (const writerId of ["w1", "w2"]) {
      const sink = sinkWith(root, { writerId });
      sink.append("all_types", allTypesRows[0]);
      await sink.prepare(1);
    }
    const summary = await ParquetSink.recover(root, undefined, { writerId: "w1" });
    expect(summary.deletedInProgress).toBe(1);
    expect(await listing(root)).toEqual(["all_types/dt=2024-03-10/part-w2-0000000001-0000.parquet.inprogress"]);
  });
});
