// The `scores` table written by `clickpipe score`: one row per customer and snapshot date.
import type { Row, TableSpec } from "../sinks/table.ts";

export const SCORES = "scores";

export const scoresTable: TableSpec = {
  name: SCORES,
  partitionKey: "snapshot_date",
  partitionOf: (row: Row) => String(row.snapshot_date),
  columns: [
    { name: "customer_id", type: "string", nullable: false },
    { name: "snapshot_date", type: "date", nullable: false },
    { name: "score", type: "float64", nullable: false },
    { name: "rank", type: "int64", nullable: false },
    { name: "decile", type: "int32", nullable: false },
    { name: "segment", type: "int32", nullable: false },
    { name: "model_version", type: "string", nullable: false },
  ],
};
