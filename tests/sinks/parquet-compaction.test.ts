import { existsSync } from "node:fs";
import { readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { beforeAll, describe, expect, it } from "vitest";
import { forgetPerson } from "../../src/cli/forget.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import type { CompactionPolicy } from "../../src/sinks/compaction.ts";
import { ParquetSink, partFileName, type PendingCommit } from "../../src/sinks/parquet.ts";
import { readParquetFile } from "../../src/sinks/parquet-reader.ts";
import { invalidEventsTable } from "../../src/sinks/system-tables.ts";
import type { Row } from "../../src/sinks/table.ts";
import { allTypesRows, allTypesTable, duckDb, queryJson, readAllTypes, lakesRemovedAfterAll } from "./lake-fixtures.ts";

const DAY = Date.UTC(2026, 0, 5);
const FOLDER = "invalid_events/dt=2026-01-05";
const policy: CompactionPolicy = { minParts: 3, targetRows: 100, mergesPerCheckpoint: 1 };

let connection: DuckDBConnection;
const lake = lakesRemovedAfterAll("compaction");

beforeAll(async () => {
  connection = await duckDb();
});

function sinkAt(path: string, options: Partial<ConstructorParameters<typeof ParquetSink>[0]> = {}): ParquetSink {
  return new ParquetSink({ path, tables: [invalidEventsTable], useWorkerThread: false, compression: "snappy", writerId: "w", compaction: policy, ...options });
}

function row(index: number, raw = `line ${index}`): Row {
  return { received_at: DAY + index, reason: "not_json", raw };
}

/** Commits epochs `from`…`to` of `sink`, each with `rows` rows; returns the last pending commit. */
async function commitEpochs(sink: ParquetSink, from: number, to: number, rows = 2): Promise<PendingCommit> {
  let pending: PendingCommit | undefined;
  for (let epoch = from; epoch <= to; epoch++) {
    for (let i = 0; i < rows; i++) sink.append("invalid_events", row(epoch * 100 + i));
    pending = await sink.prepare(epoch);
    await sink.commit(pending);
  }
  return pending!;
}

async function folder(root: string): Promise<string[]> {
  return (await readdir(join(root, FOLDER))).sort();
}

async function duckRows(root: string): Promise<string[]> {
  const rows = await queryJson(connection, `SELECT received_at, reason, raw FROM read_parquet('${root}/invalid_events/**/*.parquet') `);
  return rows.map((r) => JSON.stringify(r)).sort();
}

describe("ParquetSink compaction", () => {
  it("merges minParts committed parts, in name order, into one part of the next epoch, renamed and the inputs deleted on commit", async () => {
    const root = await lake();
    const metrics = new Metrics({ defaultMetrics: false });
    const sink = sinkAt(root, { metrics });
    await commitEpochs(sink, 1, 3);
    const before = await duckRows(root);
    sink.append("invalid_events", row(400));
    const pending = await sink.prepare(4);
    expect(pending.merges).toEqual([
      { table: "invalid_events", output: `${FOLDER}/part-w-0000000004-c0000.parquet`, inputs: [1, 2, 3].map((epoch) => `${FOLDER}/${partFileName(epoch, 0, "w")}`), rows: 6 },
    ]);
    // Written and fsynced in progress with the epoch's part; nothing committed is touched before the checkpoint.
    expect(await folder(root)).toEqual([
      ...[1, 2, 3].map((epoch) => partFileName(epoch, 0, "w")),
      "part-w-0000000004-0000.parquet.inprogress",
      "part-w-0000000004-c0000.parquet.inprogress",
    ]);
    await sink.commit(pending);
    expect(await folder(root)).toEqual(["part-w-0000000004-0000.parquet", "part-w-0000000004-c0000.parquet"]);
    expect(await duckRows(root)).toEqual([...before, JSON.stringify((await queryJson(connection, `SELECT received_at, reason, raw FROM read_parquet('${root}/${FOLDER}/part-w-0000000004-0000.parquet')`))[0])].sort());
    // Rows in their original order: epoch by epoch, each in append order.
    expect((await readParquetFile(join(root, FOLDER, "part-w-0000000004-c0000.parquet"))).map((r) => r.raw)).toEqual(
      ["line 100", "line 101", "line 200", "line 201", "line 300", "line 301"],
    );
    const compacted = (await metrics.partsCompacted.get()).values.find((value) => value.labels.table === "invalid_events");
    expect(compacted?.value).toBe(3);
    await sink.close();
  });

  it("keeps every column type, null and value through a merge (encoder thread), as DuckDB reads them", async () => {
    const root = await lake();
    const sink = new ParquetSink({ path: root, tables: [allTypesTable], compression: "snappy", writerId: "w", compaction: { ...policy, minParts: 2 } });
    for (let epoch = 1; epoch <= 3; epoch++) {
      for (const typed of allTypesRows) sink.append("all_types", { ...typed, id: `${String(typed.id)}-${epoch}` });
      await sink.commit(await sink.prepare(epoch));
    }
    await sink.close();
    const unmerged = await lake();
    const plain = new ParquetSink({ path: unmerged, tables: [allTypesTable], compression: "snappy", writerId: "w", useWorkerThread: false });
    for (let epoch = 1; epoch <= 3; epoch++) {
      for (const typed of allTypesRows) plain.append("all_types", { ...typed, id: `${String(typed.id)}-${epoch}` });
      await plain.commit(await plain.prepare(epoch));
    }
    const listing = async (at: string) => (await readdir(at, { recursive: true })).filter((name) => name.endsWith(".parquet"));
    expect((await listing(root)).some((name) => name.includes("-c0000"))).toBe(true);
    expect((await listing(root)).length).toBeLessThan((await listing(unmerged)).length);
    const sorted = (rows: Record<string, unknown>[]) => rows.map((r) => JSON.stringify(r)).sort();
    expect(sorted(await readAllTypes(connection, root))).toEqual(sorted(await readAllTypes(connection, unmerged)));
  });

  it("merges at most mergesPerCheckpoint times per checkpoint and goes on at the next", async () => {
    const root = await lake();
    const sink = sinkAt(root, { compaction: { ...policy, targetRows: 5 } });
    await commitEpochs(sink, 1, 6);
    // Epoch 4: parts 1+2 (4 rows; a third would pass targetRows 5) → c4. Epoch 5: 3+4 → c5. Epoch 6: c4 (4 rows) + 5
    // (a merge takes two parts at least) → c6 of 6 rows, no longer small. One merge per checkpoint.
    expect(await folder(root)).toEqual(["part-w-0000000005-c0000.parquet", "part-w-0000000006-0000.parquet", "part-w-0000000006-c0000.parquet"]);
    expect((await duckRows(root)).length).toBe(12);
    await sink.close();
  });

  it("never takes another writer's parts or files it did not write", async () => {
    const root = await lake();
    const other = sinkAt(root, { writerId: "other", compaction: undefined });
    await commitEpochs(other, 1, 4);
    await writeFile(join(root, FOLDER, "part-00000-from-spark.parquet"), "not ours");
    const sink = sinkAt(root);
    await commitEpochs(sink, 1, 2);
    const names = await folder(root);
    expect(names.filter((name) => name.startsWith("part-other-"))).toHaveLength(4);
    expect(names).toContain("part-00000-from-spark.parquet");
    expect(names.some((name) => name.startsWith("part-w-") && name.includes("-c"))).toBe(false);
    await other.close();
    await sink.close();
  });

  it("finds parts of earlier runs (row counts from their footers) at its first checkpoint", async () => {
    const root = await lake();
    const first = sinkAt(root, { compaction: undefined });
    await commitEpochs(first, 1, 5);
    await first.close();
    const second = sinkAt(root);
    await commitEpochs(second, 6, 6);
    // All five small (10 rows in all, under targetRows) go into one.
    expect(await folder(root)).toEqual(["part-w-0000000006-0000.parquet", "part-w-0000000006-c0000.parquet"]);
    await second.close();
  });

  it("finds parts of earlier runs written with zstd (parquet-wasm, with a page index), a list column among them", async () => {
    const root = await lake();
    const options = { tables: [allTypesTable], compression: "zstd" as const, compaction: { ...policy, minParts: 2, mergesPerCheckpoint: 2 } };
    const first = sinkAt(root, { ...options, compaction: undefined });
    for (let epoch = 1; epoch <= 2; epoch++) {
      for (const row of allTypesRows) first.append("all_types", row);
      await first.commit(await first.prepare(epoch));
    }
    await first.close();
    const logs: string[] = [];
    const second = sinkAt(root, { ...options, log: (line) => logs.push(line) });
    const pending = await second.prepare(3);
    await second.commit(pending);
    await second.close();
    expect(logs).toEqual([]);
    // allTypesRows: two rows on 2024-03-10, three on 2024-03-11, twice each.
    expect(pending.merges?.map((merge) => [merge.output, merge.rows])).toEqual([
      ["all_types/dt=2024-03-10/part-w-0000000003-c0000.parquet", 4],
      ["all_types/dt=2024-03-11/part-w-0000000003-c0001.parquet", 6],
    ]);
    const [{ rows, ids }] = await queryJson(connection, `SELECT count(*)::INTEGER AS rows, string_agg(id, ',' ORDER BY id) AS ids FROM read_parquet('${root}/all_types/**/*.parquet')`);
    expect({ rows, ids }).toEqual({ rows: 10, ids: "a,a,b,b,c,c,d,d,é漢字🙂,é漢字🙂" });
  });

  it("commits the epoch without the merge when a part cannot be read, and says so", async () => {
    const root = await lake();
    const logs: string[] = [];
    const sink = sinkAt(root, { log: (line) => logs.push(line) });
    await commitEpochs(sink, 1, 2);
    await writeFile(join(root, FOLDER, partFileName(3, 0, "w")), "PAR1 not really PAR1");
    const pending = await commitEpochs(sink, 4, 4);
    expect(pending.merges).toBeUndefined();
    expect(logs.join("\n")).toMatch(/compaction: invalid_events\/dt=2026-01-05 not merged this time: .*part-w-0000000003-0000\.parquet/);
    expect(await folder(root)).toHaveLength(4);
    await sink.close();
  });

  it("leaves out the rows of people forgotten by the time of the merge", async () => {
    const root = await lake();
    let forgotten = new Set<string>();
    const sink = sinkAt(root, { forgotten: () => forgotten });
    sink.append("invalid_events", row(1, '{"user_id":"alice","ts":oops}'));
    await commitEpochs(sink, 1, 3);
    forgotten = new Set(["alice"]);
    const pending = await commitEpochs(sink, 4, 4);
    expect(pending.merges?.[0].rows).toBe(6);
    expect((await duckRows(root)).some((r) => r.includes("alice"))).toBe(false);
    expect(await duckRows(root)).toHaveLength(8);
    await sink.close();
  });
});

describe("ParquetSink.recover with merges", () => {
  /** A lake whose epoch 4 prepared a merge of epochs 1–3; returns the pending commit and the rows before it. */
  async function preparedMerge(): Promise<{ root: string; pending: PendingCommit; previous: PendingCommit; rows: string[] }> {
    const root = await lake();
    const sink = sinkAt(root);
    const previous = await commitEpochs(sink, 1, 3);
    sink.append("invalid_events", row(400));
    const pending = await sink.prepare(4);
    await sink.close();
    expect(pending.merges).toHaveLength(1);
    const committed = await duckRows(root);
    const epochPart = (await readParquetFile(join(root, FOLDER, "part-w-0000000004-0000.parquet.inprogress")).catch(() => [])).length;
    expect(epochPart).toBe(1);
    return { root, pending, previous, rows: committed };
  }

  it("finishes a committed merge whose output is still in progress: renamed, inputs deleted", async () => {
    const { root, pending, rows } = await preparedMerge();
    const summary = await ParquetSink.recover(root, pending, { writerId: "w" });
    expect(summary.merged).toBe(1);
    expect(await folder(root)).toEqual(["part-w-0000000004-0000.parquet", "part-w-0000000004-c0000.parquet"]);
    expect((await duckRows(root)).filter((r) => !r.includes("line 400"))).toEqual(rows);
  });

  it("finishes a committed merge renamed before the crash: the inputs still there are deleted", async () => {
    const { root, pending, rows } = await preparedMerge();
    const output = join(root, pending.merges![0].output);
    await rename(`${output}.inprogress`, output);
    await rm(join(root, pending.merges![0].inputs[0]));
    await ParquetSink.recover(root, pending, { writerId: "w" });
    expect(await folder(root)).toEqual(["part-w-0000000004-0000.parquet", "part-w-0000000004-c0000.parquet"]);
    expect((await duckRows(root)).filter((r) => !r.includes("line 400"))).toEqual(rows);
    // Idempotent: again, nothing changes.
    await ParquetSink.recover(root, pending, { writerId: "w" });
    expect((await duckRows(root)).filter((r) => !r.includes("line 400"))).toEqual(rows);
  });

  it("deletes the in-progress output of an uncommitted epoch and leaves its inputs", async () => {
    const { root, previous, rows } = await preparedMerge();
    await ParquetSink.recover(root, previous, { writerId: "w" });
    expect(await folder(root)).toEqual([1, 2, 3].map((epoch) => partFileName(epoch, 0, "w")));
    expect(await duckRows(root)).toEqual(rows);
  });

  it("leaves the inputs when the committed output is gone (deleted since): no row is lost", async () => {
    const { root, pending, rows } = await preparedMerge();
    await rm(join(root, `${pending.merges![0].output}.inprogress`));
    const summary = await ParquetSink.recover(root, pending, { writerId: "w" });
    expect(summary.missing).toEqual([pending.merges![0].output]);
    expect((await duckRows(root)).filter((r) => !r.includes("line 400"))).toEqual(rows);
    expect(existsSync(join(root, pending.merges![0].inputs[0]))).toBe(true);
  });
});

describe("compaction and a concurrent clickpipe forget", () => {
  it("forget erases the person from a merged part committed after it listed the parts the merge took in", async () => {
    const root = await lake();
    // A merge that read its inputs before the tombstones existed: it knows no one forgotten.
    const sink = sinkAt(root);
    sink.append("invalid_events", row(1, '{"user_id":"alice","ts":oops}'));
    await commitEpochs(sink, 1, 3);
    const summary = await forgetPerson({
      sinkPath: root,
      pipelineName: "p",
      userId: "alice",
      compression: "snappy",
      rowGroupSize: 1_000,
      beforeRewrites: async () => {
        // The worker's checkpoint lands between forget's listing and its rewrites: parts 1–3 merged away.
        const pending = await commitEpochs(sink, 4, 4);
        expect(pending.merges).toHaveLength(1);
      },
    });
    expect(summary.tables.get("invalid_events")?.rowsRemoved).toBe(1);
    expect((await duckRows(root)).some((r) => r.includes("alice"))).toBe(false);
    expect(await duckRows(root)).toHaveLength(8);
    await sink.close();
  });
});
