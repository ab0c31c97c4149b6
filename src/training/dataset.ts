// Training examples from snapshots: features as of snapshot D, label from the snapshot at D + horizon.
import { addDays } from "./dates.ts";
import { isSnapshotComplete, readSnapshot, SNAPSHOT_COLUMNS, type Snapshot, type SnapshotColumn } from "./snapshots.ts";

export type LabelRule = "noPurchase" | "noSession";

/** Examples of one or more snapshots, column-wise; label 1 = churned. */
export interface Examples {
  size: number;
  customerIds: string[];
  /** Snapshot date of each example. */
  dates: string[];
  columns: Record<string, Float64Array>;
  labels: Uint8Array;
}

export class DatasetError extends Error {
  override name = "DatasetError";
}

/**
 * Churn label of customer i of `at` given the snapshot `later` = at + horizon: noPurchase — orders_total did not grow;
 * noSession — no session ended in (D, D + horizon], i.e. days_since_last_session at D + horizon is null or ≥ horizon.
 * Returns −1 for customers missing from `later` (their horizon is not observed).
 */
export function churnLabels(at: Snapshot, later: Snapshot, horizonDays: number, rule: LabelRule): Int8Array {
  const laterIndex = new Map<string, number>();
  later.customerIds.forEach((id, i) => laterIndex.set(id, i));
  const labels = new Int8Array(at.customerIds.length);
  if (rule === "noSession" && later.columns.sessions_90d.every(Number.isNaN)) {
    throw new DatasetError(`label noSession needs session columns, but snapshot ${later.date} has none (run sessionize before churnFeatures)`);
  }
  at.customerIds.forEach((id, i) => {
    const j = laterIndex.get(id);
    if (j === undefined) {
      labels[i] = -1;
      return;
    }
    if (rule === "noPurchase") {
      labels[i] = later.columns.orders_total[j] > at.columns.orders_total[i] ? 0 : 1;
    } else {
      const sinceSession = later.columns.days_since_last_session[j];
      labels[i] = !Number.isNaN(sinceSession) && sinceSession < horizonDays ? 0 : 1;
    }
  });
  return labels;
}

/** Examples of one snapshot date whose D + horizon snapshot is complete. */
export async function snapshotExamples(featuresDir: string, date: string, horizonDays: number, rule: LabelRule): Promise<Examples> {
  const labelDate = addDays(date, horizonDays);
  if (!(await isSnapshotComplete(featuresDir, labelDate))) {
    throw new DatasetError(`snapshot ${date} has no complete label snapshot ${labelDate} (D + horizon): its horizon is not observed yet`);
  }
  const [at, later] = [await readSnapshot(featuresDir, date), await readSnapshot(featuresDir, labelDate)];
  const labels = churnLabels(at, later, horizonDays, rule);
  const keep: number[] = [];
  labels.forEach((label, i) => label >= 0 && keep.push(i));
  const columns: Record<string, Float64Array> = {};
  for (const name of SNAPSHOT_COLUMNS) columns[name] = Float64Array.from(keep, (i) => at.columns[name as SnapshotColumn][i]);
  return {
    size: keep.length,
    customerIds: keep.map((i) => at.customerIds[i]),
    dates: keep.map(() => date),
    columns,
    labels: Uint8Array.from(keep, (i) => labels[i]),
  };
}

/** Concatenates examples of several snapshots (in the order given). */
export function concatExamples(parts: Examples[]): Examples {
  if (parts.length === 1) return parts[0];
  const size = parts.reduce((sum, part) => sum + part.size, 0);
  const columns: Record<string, Float64Array> = {};
  for (const name of Object.keys(parts[0]?.columns ?? {})) {
    const column = new Float64Array(size);
    let offset = 0;
    for (const part of parts) {
      column.set(part.columns[name], offset);
      offset += part.size;
    }
    columns[name] = column;
  }
  const labels = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    labels.set(part.labels, offset);
    offset += part.size;
  }
  return { size, customerIds: parts.flatMap((p) => p.customerIds), dates: parts.flatMap((p) => p.dates), columns, labels };
}

/** The complete snapshot dates in [from, to]. */
export function datesInRange(available: string[], range: { from: string; to: string }): string[] {
  return available.filter((date) => date >= range.from && date <= range.to);
}
