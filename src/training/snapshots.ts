// customer_features snapshots on disk: which dates are complete (`_SUCCESS`), and one snapshot read as numeric columns.
import { access, readdir } from "node:fs/promises";
import { join } from "node:path";
import { readParquetTable } from "../sinks/parquet-reader.ts";

/** Numeric columns the training reads from customer_features (null → NaN). */
export const SNAPSHOT_COLUMNS = [
  "frequency",
  "recency_days",
  "t_days",
  "monetary_value",
  "orders_total",
  "revenue_total",
  "days_since_last_purchase",
  "sessions_7d",
  "sessions_30d",
  "sessions_90d",
  "pageviews_30d",
  "avg_session_duration_s_30d",
  "days_since_last_session",
  "cart_adds_30d",
  "cart_abandon_rate_30d",
  "rfm_r",
  "rfm_f",
  "rfm_m",
] as const;

export type SnapshotColumn = (typeof SNAPSHOT_COLUMNS)[number];

/** One snapshot, column-wise: customer i has customerIds[i] and columns[name][i]. */
export interface Snapshot {
  date: string;
  customerIds: string[];
  columns: Record<SnapshotColumn, Float64Array>;
}

export class SnapshotMissingError extends Error {
  override name = "SnapshotMissingError";
}

const PARTITION_PREFIX = "snapshot_date=";

/**
 * No customer_features folder at all: the pipeline that writes it has not run (or writes elsewhere). Says how the
 * README's example makes it, since that is where a new user comes from.
 */
export function featuresFolderMissing(featuresDir: string): SnapshotMissingError {
  return new SnapshotMissingError(
    `no features folder ${featuresDir}: a pipeline with a churnFeatures operator writes it (customer_features under its ` +
      "parquet sink's path) when it runs. To make the example's, publish the CDNOW transactions and drain " +
      'pipelines/shop.yaml (README.md, "Customers: churn features, training and scores"):\n' +
      "  npx clickpipe publish tests/fixtures/cdnow/CDNOW_master.txt --pipeline pipelines/shop.yaml \\\n" +
      "    --format csv --delimiter whitespace --map 'type=purchase,user_id=$1,ts=$2:yyyymmdd,qty=$3,revenue=$4' --sort-by-time\n" +
      "  npx clickpipe run pipelines/shop.yaml --drain\n" +
      "For a pipeline of your own, give its parquet sink's path + /customer_features.",
  );
}

/** Snapshot dates whose folder holds `_SUCCESS` (complete), ascending. */
export async function completeSnapshotDates(featuresDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(featuresDir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw featuresFolderMissing(featuresDir);
    throw new SnapshotMissingError(`cannot list the features folder ${featuresDir}: ${(error as Error).message}`);
  }
  const dates: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(PARTITION_PREFIX)) continue;
    if (await exists(join(featuresDir, entry.name, "_SUCCESS"))) dates.push(entry.name.slice(PARTITION_PREFIX.length));
  }
  return dates.sort();
}

export async function isSnapshotComplete(featuresDir: string, date: string): Promise<boolean> {
  return exists(join(featuresDir, `${PARTITION_PREFIX}${date}`, "_SUCCESS"));
}

/** Reads one complete snapshot, streaming its row groups; only this date's files are opened. */
export async function readSnapshot(featuresDir: string, date: string): Promise<Snapshot> {
  if (!(await isSnapshotComplete(featuresDir, date))) {
    if (!(await exists(featuresDir))) throw featuresFolderMissing(featuresDir);
    throw new SnapshotMissingError(`snapshot ${date} is missing or incomplete (no _SUCCESS) under ${featuresDir}`);
  }
  const customerIds: string[] = [];
  const chunks: Record<string, number[]> = Object.fromEntries(SNAPSHOT_COLUMNS.map((name) => [name, []]));
  let checked = false;
  for await (const row of readParquetTable(featuresDir, { partitions: [`${PARTITION_PREFIX}${date}`] })) {
    if (!checked) {
      // A column the files lack would read as NaN everywhere and be filled: every customer would get one score.
      const missing = ["customer_id", ...SNAPSHOT_COLUMNS].filter((name) => !(name in row));
      if (missing.length > 0) {
        throw new SnapshotColumnsError(`snapshot ${date} under ${featuresDir} has no column ${missing.join(", ")}: is it a customer_features table?`);
      }
      checked = true;
    }
    customerIds.push(String(row.customer_id));
    for (const name of SNAPSHOT_COLUMNS) {
      const value = row[name];
      chunks[name].push(value === null || value === undefined ? NaN : Number(value));
    }
  }
  const columns = Object.fromEntries(SNAPSHOT_COLUMNS.map((name) => [name, Float64Array.from(chunks[name])])) as Record<SnapshotColumn, Float64Array>;
  return { date, customerIds, columns };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export class SnapshotColumnsError extends Error {
  override name = "SnapshotColumnsError";
}
