// sessionize against DuckDB SQL (LAG over (site_id, anon_id) by ts, new session when ts - prev > gap, cumulative sum),
// on random traffic and on the real YOOCHOOSE clicks (session id as anon_id).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ClickEvent } from "../../src/events/event.ts";
import { OperatorHarness, currentView } from "../helpers/operator-harness.ts";
import { HOUR, MINUTE, T0, sessionize } from "./sessionize-fixtures.ts";

const YOOCHOOSE = fileURLToPath(new URL("../fixtures/yoochoose/yoochoose-clicks-100k_train_full.txt", import.meta.url));
const GAP_MS = 30 * MINUTE;

interface Span {
  site: string | null;
  visitor: string;
  start: number;
  end: number;
  count: number;
}

function spanKey(span: Span): string {
  return `${span.site}|${span.visitor}|${span.start}`;
}

function sortSpans(spans: Span[]): Span[] {
  return spans.sort((a, b) => spanKey(a).localeCompare(spanKey(b)));
}

function sessionizeSpans(events: ClickEvent[], overrides: Record<string, unknown>): { spans: Span[]; late: number } {
  const operator = sessionize(overrides);
  const harness = new OperatorHarness();
  harness.feed(operator, events);
  operator.onEnd(harness);
  const spans = currentView(harness.rowsOf("sessions")).map((row) => ({
    site: row.site_id as string | null,
    visitor: row.visitor_id as string,
    start: row.start_ts as number,
    end: row.end_ts as number,
    count: row.event_count as number,
  }));
  return { spans: sortSpans(spans), late: harness.lateEvents.length };
}

/** The SQL oracle over a table `clicks(site_id, anon_id, ts BIGINT)`. */
const SESSIONS_SQL = `
  WITH marked AS (
    SELECT site_id, anon_id, ts,
      CASE WHEN ts - LAG(ts) OVER (PARTITION BY site_id, anon_id ORDER BY ts) <= ${GAP_MS} THEN 0 ELSE 1 END AS is_new
    FROM clicks
  ), numbered AS (
    SELECT *, SUM(is_new) OVER (PARTITION BY site_id, anon_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS session_no
    FROM marked
  )
  SELECT site_id, anon_id, MIN(ts)::DOUBLE AS start_ts, MAX(ts)::DOUBLE AS end_ts, COUNT(*)::INTEGER AS event_count
  FROM numbered GROUP BY site_id, anon_id, session_no`;

async function duckdbSpans(load: string): Promise<Span[]> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    await connection.run(load);
    const rows = (await connection.runAndReadAll(SESSIONS_SQL)).getRowObjects();
    return sortSpans(
      rows.map((row) => ({
        site: row.site_id as string | null,
        visitor: String(row.anon_id),
        start: row.start_ts as number,
        end: row.end_ts as number,
        count: row.event_count as number,
      })),
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe("sessionize - DuckDB oracle", () => {
  it("matches window-function sessions over a few thousand random events arriving in time order", async () => {
    const specs = fc.sample(
      fc.record({
        visitor: fc.integer({ min: 0, max: 79 }),
        site: fc.constantFrom("shop", "blog"),
        // Minutes from T0 over two days, with half-minute resolution so gaps near 30 min occur often.
        offset: fc.integer({ min: 0, max: 48 * 120 }),
        jitter: fc.constantFrom(0, 0, 1, -1),
      }),
      { numRuns: 4000, seed: 42 },
    );
    const events: ClickEvent[] = specs.map((spec, index) => ({
      type: "click",
      ts: T0 + spec.offset * 30_000 + spec.jitter,
      event_id: `r${index}`,
      anon_id: `v${spec.visitor}`,
      site_id: spec.site,
    }));
    events.sort((a, b) => a.ts - b.ts);
    const values = events.map((e) => `('${e.site_id}', '${e.anon_id}', ${e.ts})`).join(",");
    const expected = await duckdbSpans(`CREATE TABLE clicks AS SELECT * FROM (VALUES ${values}) AS t(site_id, anon_id, ts)`);
    // maxDuration is raised so only the gap rule applies, as in the SQL.
    const actual = sessionizeSpans(events, { maxDuration: "30d" });
    expect(actual.late).toBe(0);
    expect(actual.spans.length).toBeGreaterThan(500);
    expect(actual.spans).toEqual(expected);
  });

  describe("on YOOCHOOSE clicks (RecSys 2015, 70,278 clicks)", () => {
    const lines = readFileSync(YOOCHOOSE, "utf8").trim().split("\n").slice(1);
    const fileOrder: ClickEvent[] = lines.map((line, index) => {
      const [sessionId, itemId, time] = line.split("\t");
      return {
        type: "page_view",
        ts: Math.round(Number(time) * 1000),
        event_id: `y${index}`,
        anon_id: sessionId,
        url: `/item/${itemId}`,
      };
    });
    const load = `CREATE TABLE clicks AS
      SELECT NULL::VARCHAR AS site_id, CAST(SessionId AS VARCHAR) AS anon_id, CAST(round(Time * 1000) AS BIGINT) AS ts
      FROM read_csv('${YOOCHOOSE}', delim = '\t', header = true, columns = {'SessionId': 'BIGINT', 'ItemId': 'BIGINT', 'Time': 'DOUBLE'})`;

    it("gives DuckDB's 30-minute-gap sessions when the clicks arrive in time order", async () => {
      const expected = await duckdbSpans(load);
      expect(expected.reduce((sum, span) => sum + span.count, 0)).toBe(70_278);
      // No YOOCHOOSE session lasts 12 h, so the default maxDuration changes nothing and the SQL needs no such rule.
      expect(Math.max(...expected.map((span) => span.end - span.start))).toBeLessThan(12 * HOUR);
      const sorted = [...fileOrder].sort((a, b) => a.ts - b.ts);
      const actual = sessionizeSpans(sorted, {});
      expect(actual.late).toBe(0);
      // More sessions than the 17,794 session ids: some YOOCHOOSE sessions have gaps over 30 min (SOURCE.md).
      expect(actual.spans.length).toBe(expected.length);
      expect(actual.spans.length).toBeGreaterThan(17_794);
      expect(actual.spans).toEqual(expected);
    });

    it("gives the same sessions in file order (grouped by session, days out of order) with a 7 d allowedLateness", async () => {
      const expected = await duckdbSpans(load);
      const actual = sessionizeSpans(fileOrder, { allowedLateness: "7d" });
      expect(actual.late).toBe(0);
      expect(actual.spans).toEqual(expected);
    });
  });
});
