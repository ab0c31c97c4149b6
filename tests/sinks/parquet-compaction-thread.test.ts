// Compaction with encoder threads: the main thread hands a merge's parts to a thread as files (the thread reads,
// decodes, merges and encodes them), and the merged part holds the inputs' rows, as DuckDB reads them.
import { cp, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { beforeAll, describe, expect, it } from "vitest";
import { sessionsTable } from "../../src/operators/sessionize-table.ts";
import type { CompactionPolicy } from "../../src/sinks/compaction.ts";
import type { EncodeOptions, SealedBatch } from "../../src/sinks/parquet-encoder.ts";
import { EncoderPool, ParquetSink } from "../../src/sinks/parquet.ts";
import type { Row } from "../../src/sinks/table.ts";
import { allTypesRows, allTypesTable, duckDb, lakesRemovedAfterAll, queryJson, encoderPoolsClosedAfterAll } from "./lake-fixtures.ts";

/** Encoder threads that record what the sink hands them: the rows of each batch, the files of each merge. */
class RecordingPool extends EncoderPool {
  readonly encodedRows: number[] = [];
  readonly mergedFiles: string[][] = [];
  override encode(batch: SealedBatch, options: EncodeOptions): Promise<Uint8Array> {
    this.encodedRows.push(batch.length);
    return super.encode(batch, options);
  }
  override merge(files: string[], forgotten: ReadonlySet<string> | undefined, options: EncodeOptions, rows: number) {
    this.mergedFiles.push([...files]);
    return super.merge(files, forgotten, options, rows);
  }
}

const policy: CompactionPolicy = { minParts: 3, targetRows: 1_000, mergesPerCheckpoint: 2 };
const lake = lakesRemovedAfterAll("compaction-thread");
const pools = encoderPoolsClosedAfterAll();
let connection: DuckDBConnection;

beforeAll(async () => {
  connection = await duckDb();
});

function recordingPool(): RecordingPool {
  const pool = new RecordingPool(1);
  pools.push(pool);
  return pool;
}

/** Commits epochs 1–3 of `rowsOf(epoch)` and returns a copy of the lake as they left it. */
async function commitThreeEpochs(sink: ParquetSink, table: string, rowsOf: (epoch: number) => Row[], root: string): Promise<string> {
  for (let epoch = 1; epoch <= 3; epoch++) {
    for (const row of rowsOf(epoch)) sink.append(table, row);
    await sink.commit(await sink.prepare(epoch));
  }
  const before = await lake();
  await cp(root, before, { recursive: true });
  return before;
}

/** Rows of `a` that `b` lacks, counted as a multiset (EXCEPT ALL), by DuckDB. */
async function rowsMissing(select: (root: string) => string, a: string, b: string): Promise<number> {
  const [{ missing }] = await queryJson(connection, `SELECT count(*)::INTEGER AS missing FROM (${select(a)} EXCEPT ALL ${select(b)})`);
  return missing as number;
}

async function parquetNames(root: string, table: string): Promise<string[]> {
  return (await readdir(join(root, table), { recursive: true })).filter((name) => name.endsWith(".parquet")).sort();
}

describe("compaction on encoder threads", () => {
  it("hands the parts to a thread as files, and the merged parts hold the inputs' rows, duplicates included", async () => {
    const root = await lake();
    const pool = recordingPool();
    const sink = new ParquetSink({ path: root, tables: [allTypesTable], writerId: "w", compaction: policy, sharedEncoders: pool });
    // The same five rows in every epoch: each of them three times in all, so a lost or doubled copy shows.
    const before = await commitThreeEpochs(sink, "all_types", () => allTypesRows, root);
    const pending = await sink.prepare(4);
    const days = ["dt=2024-03-10", "dt=2024-03-11"];
    const inputs = days.map((day) => [1, 2, 3].map((epoch) => `all_types/${day}/part-w-${String(epoch).padStart(10, "0")}-0000.parquet`));
    expect(pending.merges?.map((merge) => merge.inputs)).toEqual(inputs);
    // allTypesRows: two rows on 2024-03-10 (a, d), three on 2024-03-11; three copies of each.
    expect(pending.merges?.map((merge) => merge.rows)).toEqual([6, 9]);
    // The merges went to the thread as their inputs' paths; every batch this thread encoded was an epoch's own part.
    expect(pool.mergedFiles).toEqual(inputs.map((files) => files.map((file) => join(root, file))));
    expect(pool.encodedRows.sort((a, b) => a - b)).toEqual([2, 2, 2, 3, 3, 3]);
    await sink.commit(pending);
    await sink.close();
    expect(await parquetNames(root, "all_types")).toEqual([`${days[0]}/part-w-0000000004-c0000.parquet`, `${days[1]}/part-w-0000000004-c0001.parquet`]);
    const select = (at: string) => `
      SELECT id, i32, i64, f64, flag, seen_at, on_day, tags, event_ts, dt
      FROM read_parquet('${at}/all_types/**/*.parquet', hive_partitioning = true)`;
    expect(await rowsMissing(select, before, root)).toBe(0);
    expect(await rowsMissing(select, root, before)).toBe(0);
    const [{ rows }] = await queryJson(connection, `SELECT count(*)::INTEGER AS rows FROM (${select(root)})`);
    expect(rows).toBe(15);
  });

  it("leaves out on the thread the rows of people forgotten by the time of the merge, and keeps every other", async () => {
    const root = await lake();
    const pool = recordingPool();
    let forgotten = new Set<string>();
    const sink = new ParquetSink({ path: root, tables: [sessionsTable], writerId: "w", compression: "snappy", compaction: policy, sharedEncoders: pool, forgotten: () => forgotten });
    const day = Date.UTC(2026, 0, 5);
    const session = (epoch: number, i: number): Row => ({
      session_id: `s-${epoch}-${i}`,
      version: 1,
      retracted: false,
      site_id: i % 3 === 0 ? null : "shop",
      visitor_id: `v-${i % 9}`,
      user_id: i % 4 === 0 ? null : `u-${i % 5}`,
      start_ts: day + epoch * 1_000 + i,
      end_ts: day + epoch * 1_000 + i + 60_000,
      duration_ms: 60_000 + i,
      event_count: 1 + i,
      pageview_count: i % 3,
      landing_url: `https://shop.example/p/${i}`,
      exit_url: null,
      referrer: i % 2 === 0 ? "https://é.example/" : null,
      utm_source: null,
      utm_medium: null,
      utm_campaign: null,
      is_engaged: i % 2 === 0,
      is_bounce: i % 2 === 1,
      converted: i % 7 === 0,
      revenue: i % 7 === 0 ? i * 1.25 : 0,
      is_bot: false,
      split_reason: "inactivity",
      page_path: Array.from({ length: i % 3 }, (_, n) => `/p/${n}`),
      page_items: i % 5 === 0 ? ["sku-1", "sku-2"] : [],
    });
    const before = await commitThreeEpochs(sink, "sessions", (epoch) => Array.from({ length: 30 }, (_, i) => session(epoch, i)), root);
    forgotten = new Set(["u-3", "v-7"]);
    const pending = await sink.prepare(4);
    await sink.commit(pending);
    await sink.close();
    expect(pool.mergedFiles).toHaveLength(1);
    const columns = sessionsTable.columns.map((column) => column.name).join(", ");
    const select = (at: string) => `SELECT ${columns} FROM read_parquet('${at}/sessions/**/*.parquet')`;
    const kept = (at: string) => `${select(at)} WHERE user_id IS DISTINCT FROM 'u-3' AND visitor_id <> 'v-7'`;
    const [{ expected }] = await queryJson(connection, `SELECT count(*)::INTEGER AS expected FROM (${kept(before)})`);
    // Per epoch (i in 0…29): u-3 at i = 3, 13, 18, 23 (8 and 28 have no user), v-7 at i = 7, 16, 25: 30 − 7 = 23 kept.
    expect(expected).toBe(69);
    expect(pending.merges?.[0].rows).toBe(69);
    expect(await rowsMissing(kept, before, root)).toBe(0);
    expect(await rowsMissing(select, root, before)).toBe(0);
    const [{ named }] = await queryJson(connection, `SELECT count(*)::INTEGER AS named FROM (${select(root)}) WHERE user_id = 'u-3' OR visitor_id = 'v-7'`);
    expect(named).toBe(0);
  });
});
