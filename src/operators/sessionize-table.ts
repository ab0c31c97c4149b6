// The `sessions` output table: columns in ARCHITECTURE.md order, partitioned by the UTC day of start_ts.
import { formatUtcDay } from "../events/time.ts";
import type { Row, TableSpec } from "../sinks/table.ts";

export const sessionsTable: TableSpec = {
  name: "sessions",
  partitionKey: "dt",
  partitionOf: (row: Row) => formatUtcDay(row.start_ts as number),
  columns: [
    { name: "session_id", type: "string", nullable: false },
    { name: "version", type: "int32", nullable: false },
    { name: "retracted", type: "bool", nullable: false },
    { name: "site_id", type: "string" },
    { name: "visitor_id", type: "string", nullable: false },
    { name: "user_id", type: "string" },
    { name: "start_ts", type: "timestamp", nullable: false },
    { name: "end_ts", type: "timestamp", nullable: false },
    { name: "duration_ms", type: "int64", nullable: false },
    { name: "event_count", type: "int32", nullable: false },
    { name: "pageview_count", type: "int32", nullable: false },
    { name: "landing_url", type: "string" },
    { name: "exit_url", type: "string" },
    { name: "referrer", type: "string" },
    { name: "utm_source", type: "string" },
    { name: "utm_medium", type: "string" },
    { name: "utm_campaign", type: "string" },
    { name: "is_engaged", type: "bool", nullable: false },
    { name: "is_bounce", type: "bool", nullable: false },
    { name: "converted", type: "bool", nullable: false },
    { name: "revenue", type: "float64", nullable: false },
    { name: "is_bot", type: "bool", nullable: false },
    { name: "split_reason", type: "string", nullable: false },
    { name: "page_path", type: "list<string>", nullable: false },
    { name: "page_items", type: "list<string>", nullable: false },
  ],
};
