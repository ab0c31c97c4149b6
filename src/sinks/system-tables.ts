// Tables the runtime itself writes: dead letters (invalid_events), events too late for any state (late_events), bots.
import type { ClickEvent } from "../events/event.ts";
import { decodedEventOf } from "../events/event-shape.ts";
import { utcDay, type ColumnSpec, type Row, type TableSpec } from "./table.ts";

export const invalidEventsTable: TableSpec = {
  name: "invalid_events",
  columns: [
    { name: "received_at", type: "timestamp", nullable: false },
    { name: "reason", type: "string", nullable: false },
    { name: "raw", type: "string", nullable: false },
  ],
  partitionKey: "dt",
  partitionOf: (row) => utcDay(row.received_at as number),
};

/** The event's identifying fields, then the whole event as JSON so nothing is lost. */
const eventColumns: ColumnSpec[] = [
  { name: "event_id", type: "string", nullable: false },
  { name: "type", type: "string", nullable: false },
  { name: "ts", type: "timestamp", nullable: false },
  { name: "anon_id", type: "string" },
  { name: "user_id", type: "string" },
  { name: "site_id", type: "string" },
  { name: "received_at", type: "timestamp" },
];

export const lateEventsTable: TableSpec = {
  name: "late_events",
  columns: [
    ...eventColumns,
    { name: "watermark_at_arrival", type: "timestamp", nullable: false },
    { name: "reason", type: "string", nullable: false },
    { name: "operator", type: "string", nullable: false },
    { name: "event", type: "string", nullable: false },
  ],
  partitionKey: "dt",
  partitionOf: (row) => utcDay(row.ts as number),
};

export const botsTable: TableSpec = {
  name: "bots",
  columns: [...eventColumns, { name: "reason", type: "string" }, { name: "event", type: "string", nullable: false }],
  partitionKey: "dt",
  partitionOf: (row) => utcDay(row.ts as number),
};

export const systemTables: TableSpec[] = [invalidEventsTable, lateEventsTable, botsTable];

export function invalidEventRow(receivedAt: number, reason: string, raw: string): Row {
  return { received_at: receivedAt, reason, raw };
}

function eventFields(event: ClickEvent): Row {
  return {
    event_id: event.event_id,
    type: event.type,
    ts: event.ts,
    anon_id: event.anon_id ?? null,
    user_id: event.user_id ?? null,
    site_id: event.site_id ?? null,
    received_at: event.received_at ?? null,
  };
}

export function lateEventRow(event: ClickEvent, watermarkAtArrival: number, reason: string, operator: string): Row {
  const row = eventFields(event);
  row.watermark_at_arrival = watermarkAtArrival;
  row.reason = reason;
  row.operator = operator;
  row.event = JSON.stringify(decodedEventOf(event));
  return row;
}

export function botEventRow(event: ClickEvent, reason: string | null): Row {
  const row = eventFields(event);
  row.reason = reason;
  row.event = JSON.stringify(decodedEventOf(event));
  return row;
}
