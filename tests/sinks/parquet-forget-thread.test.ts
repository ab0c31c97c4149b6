// Erasing forgotten people from committed parts (a worker catching up on tombstones): with encoder threads the parts
// go to a thread as paths (it reads, decodes, rewrites and renames them), without them the sink does it on its own
// thread; either way the lake holds its rows minus the person's, as DuckDB reads them. And a closed pool stays closed.
import { cp, readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import type { Worker } from "node:worker_threads";
import type { DuckDBConnection } from "@duckdb/node-api";
import { beforeAll, describe, expect, it } from "vitest";
import type { EncodeRequest } from "../../src/sinks/parquet-encoder-worker.ts";
import { EncoderPool, EncoderPoolClosedError, ParquetSink, startEncoderWorker } from "../../src/sinks/parquet.ts";
import { parquetFilesUnder } from "../../src/sinks/parquet-rewrite.ts";
import type { Row, TableSpec } from "../../src/sinks/table.ts";
import { allTypesRows, allTypesTable, duckDb, lakesRemovedAfterAll, queryJson, encoderPoolsClosedAfterAll } from "./lake-fixtures.ts";

const VICTIM = "victim-ü";
/** all_types with the person column a forget screens by. */
const peopleTable: TableSpec = { ...allTypesTable, name: "people", columns: [{ name: "user_id", type: "string", nullable: false }, ...allTypesTable.columns] };

/**
 * An epoch's 20 rows: allTypesRows again and again (i % 5 in {0, 3} on 2024-03-10, else 2024-03-11), the victim's at
 * i = 1, 5, 9, 13, 17: two on 2024-03-10 (i = 5, 13), three on 2024-03-11. Epoch 3 adds two victim rows on 2024-03-12.
 */
function rowsOfEpoch(epoch: number): Row[] {
  const rows: Row[] = Array.from({ length: 20 }, (_, i) => {
    const base = allTypesRows[i % allTypesRows.length];
    return { ...base, id: `${String(base.id)}-${epoch}-${i}`, user_id: i % 4 === 1 ? VICTIM : `u-${i % 3}` };
  });
  if (epoch === 3) {
    for (const i of [0, 1]) rows.push({ ...allTypesRows[0], id: `late-${i}`, user_id: VICTIM, event_ts: Date.UTC(2024, 2, 12, 10, i) });
  }
  return rows;
}

const lake = lakesRemovedAfterAll("forget-thread");
const pools = encoderPoolsClosedAfterAll();
let connection: DuckDBConnection;

beforeAll(async () => {
  connection = await duckDb();
});

/** Writes epochs 1–3 (snappy, one part per day and epoch) and returns the lake and a copy of it as written. */
async function writtenLake(): Promise<{ root: string; before: string }> {
  const root = await lake();
  const writer = new ParquetSink({ path: root, tables: [peopleTable], writerId: "w", useWorkerThread: false, compression: "snappy" });
  for (let epoch = 1; epoch <= 3; epoch++) {
    for (const row of rowsOfEpoch(epoch)) writer.append("people", row);
    await writer.commit(await writer.prepare(epoch));
  }
  await writer.close();
  const before = await lake();
  await cp(root, before, { recursive: true });
  return { root, before };
}

/** Per part (relative path): the rows a rewrite removes, by rowsOfEpoch's comment; the 2024-03-12 part is deleted. */
const expectedChanges: Record<string, { rowsRemoved: number; deleted: boolean }> = {};
for (let epoch = 1; epoch <= 3; epoch++) {
  const name = `part-w-${String(epoch).padStart(10, "0")}-0000.parquet`;
  expectedChanges[`people/dt=2024-03-10/${name}`] = { rowsRemoved: 2, deleted: false };
  expectedChanges[`people/dt=2024-03-11/${name}`] = { rowsRemoved: 3, deleted: false };
}
expectedChanges["people/dt=2024-03-12/part-w-0000000003-0000.parquet"] = { rowsRemoved: 2, deleted: true };

/** Checks the lake at `root` against its copy `before`: every row but the victim's, each as often (EXCEPT ALL, both ways). */
async function expectVictimErased(root: string, before: string): Promise<void> {
  const select = (at: string) => `
    SELECT user_id, id, i32, i64, f64, flag, seen_at, on_day, tags, event_ts, dt
    FROM read_parquet('${at}/people/**/*.parquet', hive_partitioning = true)`;
  const kept = (at: string) => `${select(at)} WHERE user_id <> '${VICTIM}'`;
  const count = async (sql: string) => ((await queryJson(connection, `SELECT count(*)::INTEGER AS n FROM (${sql})`))[0].n as number);
  // 3 epochs × (20 − 5) rows.
  expect(await count(select(root))).toBe(45);
  expect(await count(`${kept(before)} EXCEPT ALL ${select(root)}`)).toBe(0);
  expect(await count(`${select(root)} EXCEPT ALL ${kept(before)}`)).toBe(0);
  // No temporary file is left, and no byte of any part holds the victim's id.
  const names = (await readdir(join(root, "people"), { recursive: true })).filter((name) => name.includes("."));
  expect(names.every((name) => name.endsWith(".parquet") || name.endsWith("_SUCCESS"))).toBe(true);
  for (const file of await parquetFilesUnder(root)) expect((await readFile(file)).includes(VICTIM)).toBe(false);
}

/** The requests posted to the pool's threads, by kind: what a thread was asked to do. */
function recordingThreadStarter(posted: string[]): () => Worker {
  return () => {
    const worker = startEncoderWorker();
    const post = worker.postMessage.bind(worker);
    worker.postMessage = (request: EncodeRequest, transfer?: readonly ArrayBuffer[]) => {
      posted.push(request.erase ? `erase ${request.erase.files.length}` : request.merge ? "merge" : request.batch ? "encode" : "ready");
      post(request, transfer as never);
    };
    return worker;
  };
}

describe("erasing forgotten people from committed parts", () => {
  it("hands the parts to an encoder thread, which removes the person's rows and deletes a part left empty", async () => {
    const { root, before } = await writtenLake();
    const posted: string[] = [];
    const pool = new EncoderPool(1, recordingThreadStarter(posted));
    pools.push(pool);
    const sink = new ParquetSink({ path: root, tables: [peopleTable], writerId: "w", compression: "zstd", sharedEncoders: pool });
    const files = [...(await parquetFilesUnder(root)), join(root, "people/dt=2024-03-10/part-w-gone.parquet")];
    const changes = await sink.eraseForgotten(files, new Set([VICTIM]));
    // The thread was asked once, with every file; what changed is its answer (the main thread rewrote nothing).
    expect(posted).toEqual([`erase ${files.length}`]);
    expect(Object.fromEntries(files.slice(0, -1).map((file, i) => [relative(root, file), changes[i]]))).toEqual(expectedChanges);
    expect(changes.at(-1)).toBeUndefined();
    await expectVictimErased(root, before);

    // Again: nothing left to remove, nothing rewritten (kill -9 during the first run leaves a rerun to finish it).
    const again = await sink.eraseForgotten(await parquetFilesUnder(root), new Set([VICTIM]));
    expect(again).toEqual(Array.from({ length: 6 }, () => ({ rowsRemoved: 0, deleted: false })));
    await sink.close();
    await expectVictimErased(root, before);
  });

  it("rewrites the parts on the sink's own thread without encoder threads", async () => {
    const { root, before } = await writtenLake();
    const sink = new ParquetSink({ path: root, tables: [peopleTable], writerId: "w", compression: "snappy", useWorkerThread: false });
    const files = await parquetFilesUnder(root);
    const changes = await sink.eraseForgotten(files, new Set([VICTIM]));
    expect(Object.fromEntries(files.map((file, i) => [relative(root, file), changes[i]]))).toEqual(expectedChanges);
    await sink.close();
    await expectVictimErased(root, before);
  });
});

describe("a closed encoder pool", () => {
  it("refuses every request with EncoderPoolClosedError and starts no thread again", async () => {
    let started = 0;
    const pool = new EncoderPool(1, () => {
      started++;
      return startEncoderWorker();
    });
    pools.push(pool);
    const options = { compression: "snappy", rowGroupSize: 100 } as const;
    await pool.ready(options);
    expect(started).toBe(1);
    await pool.close();

    const batch = { columns: [], length: 0, data: [] };
    await expect(pool.ready(options)).rejects.toThrow(EncoderPoolClosedError);
    await expect(pool.encode(batch, options)).rejects.toThrow("parquet encoder threads are closed");
    await expect(pool.merge(["a.parquet", "b.parquet"], undefined, options, 2)).rejects.toThrow(EncoderPoolClosedError);
    await expect(pool.eraseForgotten(["a.parquet"], new Set(["x"]), options)).rejects.toThrow(EncoderPoolClosedError);
    pool.warm();
    expect(started).toBe(1);
  });
});
