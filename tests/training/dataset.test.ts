// Examples from snapshots: features at D, churn label from the snapshot at D + horizon, only what is needed read.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetError, snapshotExamples } from "../../src/training/dataset.ts";
import { completeSnapshotDates } from "../../src/training/snapshots.ts";
import { featureRow, writeSnapshots } from "./snapshot-fixtures.ts";

const D = "2024-01-01";
const LABEL_DAY = "2024-01-11"; // D + 10 days
const sessions = (days: number | null) => ({ sessions_90d: days === null ? 0 : 1, days_since_last_session: days });

describe("dataset - labels from D + horizon", () => {
  let lake: string;
  let features: string;

  beforeAll(async () => {
    lake = mkdtempSync(join(tmpdir(), "clickpipe-dataset-"));
    features = await writeSnapshots(
      lake,
      [
        featureRow("a", D, { orders_total: 2, ...sessions(1) }),
        featureRow("b", D, { orders_total: 1, ...sessions(1) }),
        featureRow("c", D, { orders_total: 0, ...sessions(null) }),
        featureRow("d", D, { orders_total: 1, ...sessions(1) }),
        featureRow("a", LABEL_DAY, { orders_total: 3, ...sessions(3) }),
        featureRow("b", LABEL_DAY, { orders_total: 1, ...sessions(10) }),
        featureRow("c", LABEL_DAY, { orders_total: 0, ...sessions(null) }),
        featureRow("e", LABEL_DAY, { orders_total: 1, ...sessions(0) }),
        featureRow("z", "2024-01-05", { orders_total: 1 }),
        featureRow("y", "2024-01-20", { orders_total: 1 }),
      ],
      [D, LABEL_DAY, "2024-01-20"],
    );
    // A snapshot the run does not need is never opened: an unreadable part there must not matter.
    mkdirSync(join(features, "snapshot_date=2023-12-01"));
    writeFileSync(join(features, "snapshot_date=2023-12-01", "part-0000000001-0000.parquet"), "not parquet");
    writeFileSync(join(features, "snapshot_date=2023-12-01", "_SUCCESS"), "");
  });

  afterAll(() => {
    if (lake) rmSync(lake, { recursive: true, force: true });
  });

  it("lists only snapshots with _SUCCESS", async () => {
    expect(await completeSnapshotDates(features)).toEqual(["2023-12-01", D, LABEL_DAY, "2024-01-20"]);
  });

  it("noPurchase: churned when orders_total did not grow; customers missing at D + horizon are left out", async () => {
    const examples = await snapshotExamples(features, D, 10, "noPurchase");
    expect(examples.customerIds).toEqual(["a", "b", "c"]);
    expect(Array.from(examples.labels)).toEqual([0, 1, 1]);
    expect(Array.from(examples.columns.orders_total)).toEqual([2, 1, 0]);
    expect(Number.isNaN(examples.columns.frequency[2])).toBe(true);
    expect(examples.dates).toEqual([D, D, D]);
  });

  it("noSession: churned unless a session ended in (D, D + horizon] — a session on day D itself does not count", async () => {
    const examples = await snapshotExamples(features, D, 10, "noSession");
    expect(Array.from(examples.labels)).toEqual([0, 1, 1]);
  });

  it("refuses a snapshot whose horizon is not observed (no complete D + horizon snapshot)", async () => {
    await expect(snapshotExamples(features, D, 4, "noPurchase")).rejects.toThrow(DatasetError);
    await expect(snapshotExamples(features, D, 4, "noPurchase")).rejects.toThrow(/label snapshot 2024-01-05/);
  });
});
