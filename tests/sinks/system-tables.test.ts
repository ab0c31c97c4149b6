import { rm } from "node:fs/promises";
import { afterAll, describe, expect, it } from "vitest";
import type { ClickEvent } from "../../src/events/event.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import {
  botEventRow,
  botsTable,
  invalidEventRow,
  invalidEventsTable,
  lateEventRow,
  lateEventsTable,
  systemTables,
} from "../../src/sinks/system-tables.ts";
import { duckDb, queryJson, temporaryDirectory } from "./lake-fixtures.ts";

let root: string;
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const lateEvent: ClickEvent = {
  type: "page_view",
  ts: Date.UTC(2024, 4, 31, 23, 59, 59, 999),
  event_id: "ev-1",
  anon_id: "anon-1",
  site_id: "shop",
  received_at: Date.UTC(2024, 5, 1, 2),
  url: "https://shop.example/",
  custom: { kept: true },
};

describe("system tables", () => {
  it("write invalid_events, late_events and bots with the contract columns, partitioned by UTC day", async () => {
    root = await temporaryDirectory("system");
    const sink = new ParquetSink({ path: root, tables: systemTables, useWorkerThread: false });
    sink.append(invalidEventsTable.name, invalidEventRow(Date.UTC(2024, 5, 1, 0, 0, 0, 1), "not_json", "{oops"));
    sink.append(lateEventsTable.name, lateEventRow(lateEvent, Date.UTC(2024, 5, 1, 3), "after_allowed_lateness", "sessionize"));
    sink.append(botsTable.name, botEventRow({ ...lateEvent, ua: "Googlebot/2.1" }, "user_agent"));
    await sink.commit(await sink.prepare(1));
    const connection = await duckDb();
    const read = (table: string, columns: string) =>
      queryJson(connection, `SELECT ${columns} FROM read_parquet('${root}/${table}/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)`);

    expect(await read("invalid_events", "epoch_ms(received_at) AS received_ms, reason, raw, dt")).toEqual([
      { received_ms: "1717200000001", reason: "not_json", raw: "{oops", dt: "2024-06-01" },
    ]);
    const [late] = await read(
      "late_events",
      "event_id, type, epoch_ms(ts) ts, anon_id, user_id, site_id, epoch_ms(received_at) received_at, epoch_ms(watermark_at_arrival) watermark, reason, operator, event, dt",
    );
    expect(late).toEqual({
      event_id: "ev-1",
      type: "page_view",
      ts: "1717199999999",
      anon_id: "anon-1",
      user_id: null,
      site_id: "shop",
      received_at: "1717207200000",
      watermark: "1717210800000",
      reason: "after_allowed_lateness",
      operator: "sessionize",
      event: JSON.stringify(lateEvent),
      dt: "2024-05-31",
    });
    const [bot] = await read("bots", "event_id, reason, json_extract_string(event, '$.ua') AS ua, dt");
    expect(bot).toEqual({ event_id: "ev-1", reason: "user_agent", ua: "Googlebot/2.1", dt: "2024-05-31" });
    const [types] = await queryJson(
      connection,
      `SELECT typeof(ts) ts, typeof(watermark_at_arrival) wm FROM read_parquet('${root}/late_events/**/*.parquet')`,
    );
    expect(types).toEqual({ ts: "TIMESTAMP WITH TIME ZONE", wm: "TIMESTAMP WITH TIME ZONE" });
  });
});
