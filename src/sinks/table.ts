// Output table declarations: the column names and types every sink writes, and how rows are partitioned.

export type ColumnType =
  | "string"
  | "int32"
  | "int64" // a JS number (exact up to 2^53) or a bigint, within ±2^63, written as Parquet INT64
  | "float64"
  | "bool"
  | "timestamp" // epoch ms (number, bigint or Date; fractions truncated toward 0) → TIMESTAMP(MILLIS, isAdjustedToUTC = true)
  | "date" // "YYYY-MM-DD" string → DATE
  | "list<string>";

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  /** Columns are nullable unless stated. */
  nullable?: boolean;
}

export type Row = Record<string, unknown>;

export interface TableSpec {
  /** Folder name under the sink path, e.g. "sessions". */
  name: string;
  columns: ColumnSpec[];
  /** Hive partition key written as `<key>=<value>/` folders, e.g. "dt" or "snapshot_date". */
  partitionKey: string;
  /** Derives the partition value ("YYYY-MM-DD") of a row. */
  partitionOf(row: Row): string;
}

/** UTC day of an epoch-ms instant, "YYYY-MM-DD". */
export function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}
