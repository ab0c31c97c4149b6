// Reading a customer_features snapshot for training and scoring: it must be one, not any table with a date partition.
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { SCORES, scoresTable } from "../../src/training/scores-table.ts";
import { readSnapshot, SnapshotColumnsError } from "../../src/training/snapshots.ts";
import { featureRow, writeSnapshots } from "./snapshot-fixtures.ts";

describe("readSnapshot", () => {
  let lake: string;

  beforeAll(async () => {
    lake = await mkdtemp(join(tmpdir(), "clickpipe-snapshots-"));
  });

  afterAll(async () => {
    await rm(lake, { recursive: true, force: true });
  });

  it("reads every customer of a customer_features snapshot, nulls as NaN", async () => {
    const features = await writeSnapshots(join(lake, "good"), [featureRow("a", "2026-01-05", { orders_total: 2 }), featureRow("b", "2026-01-05")], ["2026-01-05"]);
    const snapshot = await readSnapshot(features, "2026-01-05");
    expect(snapshot.customerIds.sort()).toEqual(["a", "b"]);
    expect([...snapshot.columns.orders_total].sort()).toEqual([0, 2]);
    expect(snapshot.columns.sessions_30d.every(Number.isNaN)).toBe(true);
  });

  it("refuses another table under the features path, naming the columns it lacks, instead of scoring NaN for everyone", async () => {
    // A scores partition where customer_features belongs: same partition key, other columns.
    const sink = new ParquetSink({ path: join(lake, "wrong"), tables: [scoresTable], useWorkerThread: false });
    sink.append(SCORES, { customer_id: "a", snapshot_date: "2026-01-05", score: 0.5, rank: 1, decile: 1, segment: 2, model_version: "m" });
    sink.markSuccess(SCORES, "2026-01-05");
    await sink.commit(await sink.prepare(1));
    await sink.close();
    await rename(join(lake, "wrong", SCORES), join(lake, "wrong", "customer_features"));
    const reading = readSnapshot(join(lake, "wrong", "customer_features"), "2026-01-05");
    await expect(reading).rejects.toThrow(SnapshotColumnsError);
    await expect(readSnapshot(join(lake, "wrong", "customer_features"), "2026-01-05")).rejects.toThrow(
      /^snapshot 2026-01-05 under .*wrong\/customer_features has no column .*orders_total.*: is it a customer_features table\?$/,
    );
  });
});
