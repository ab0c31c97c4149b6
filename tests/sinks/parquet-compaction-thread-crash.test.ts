// An encoder thread that dies during a merge (an uncaught error: Node reports 'error', then 'exit' a turn later) fails
// that merge only: the checkpoint's next merge runs on the thread started in its place, and its part is committed.
import { cp, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { DuckDBConnection } from "@duckdb/node-api";
import { beforeAll, describe, expect, it } from "vitest";
import type { CompactionPolicy } from "../../src/sinks/compaction.ts";
import { EncoderPool, ParquetSink, startEncoderWorker } from "../../src/sinks/parquet.ts";
import { allTypesRows, allTypesTable, duckDb, lakesRemovedAfterAll, queryJson, encoderPoolsClosedAfterAll } from "./lake-fixtures.ts";

/** Threads still to start as one that throws on its first request instead of the encoder (set by the test). */
let crashingThreads = 0;

/** The pool's thread starter: the encoder's entry, or a thread that dies at its first request while crashingThreads > 0. */
function startThread(): Worker {
  if (crashingThreads === 0) return startEncoderWorker();
  crashingThreads--;
  const script = `require("node:worker_threads").parentPort.on("message", () => { throw new Error("thread died mid-merge"); });`;
  return new Worker(script, { eval: true });
}

const policy: CompactionPolicy = { minParts: 3, targetRows: 1_000, mergesPerCheckpoint: 2 };
const lake = lakesRemovedAfterAll("compaction-thread-crash");
const pools = encoderPoolsClosedAfterAll();
let connection: DuckDBConnection;

beforeAll(async () => {
  connection = await duckDb();
});

describe("compaction when an encoder thread dies", () => {
  it("fails the merge the dead thread had, and runs and commits the next one on a new thread", async () => {
    const root = await lake();
    // Epochs 1–3 written without threads or compaction: three small parts in each of two day folders.
    const writer = new ParquetSink({ path: root, tables: [allTypesTable], writerId: "w", useWorkerThread: false, compression: "snappy" });
    for (let epoch = 1; epoch <= 3; epoch++) {
      for (const row of allTypesRows) writer.append("all_types", row);
      await writer.commit(await writer.prepare(epoch));
    }
    await writer.close();
    const before = await lake();
    await cp(root, before, { recursive: true });

    const pool = new EncoderPool(1, startThread);
    pools.push(pool);
    const logged: string[] = [];
    const sink = new ParquetSink({
      path: root,
      tables: [allTypesTable],
      writerId: "w",
      compression: "snappy",
      compaction: policy,
      sharedEncoders: pool,
      log: (line) => logged.push(line),
    });
    crashingThreads = 1;
    const pending = await sink.prepare(4);
    // The first day's merge went to the thread that died; the second day's to the one started after it.
    expect(logged).toEqual([expect.stringMatching(/^compaction: all_types\/dt=2024-03-10 not merged this time: .*thread died mid-merge/)]);
    expect(pending.merges?.map((merge) => [merge.output, merge.rows])).toEqual([["all_types/dt=2024-03-11/part-w-0000000004-c0000.parquet", 9]]);
    await sink.commit(pending);
    await sink.close();

    const names = (await readdir(join(root, "all_types"), { recursive: true })).filter((name) => name.endsWith(".parquet")).sort();
    expect(names).toEqual([
      "dt=2024-03-10/part-w-0000000001-0000.parquet",
      "dt=2024-03-10/part-w-0000000002-0000.parquet",
      "dt=2024-03-10/part-w-0000000003-0000.parquet",
      "dt=2024-03-11/part-w-0000000004-c0000.parquet",
    ]);
    // Every row is there exactly as often as before (three copies of each of allTypesRows' five), by DuckDB.
    const select = (at: string) => `
      SELECT id, i32, i64, f64, flag, seen_at, on_day, tags, event_ts
      FROM read_parquet('${at}/all_types/**/*.parquet')`;
    const [{ missing, extra, rows }] = await queryJson(
      connection,
      `SELECT (SELECT count(*) FROM (${select(before)} EXCEPT ALL ${select(root)}))::INTEGER AS missing,
              (SELECT count(*) FROM (${select(root)} EXCEPT ALL ${select(before)}))::INTEGER AS extra,
              (SELECT count(*) FROM (${select(root)}))::INTEGER AS rows`,
    );
    expect({ missing, extra, rows }).toEqual({ missing: 0, extra: 0, rows: 15 });
  });
});
