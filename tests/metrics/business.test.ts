// Business counters and pattern gauges: hand-built sessions, and a real operator run checked against DuckDB SQL over its Parquet.
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateLines } from "../../src/ingest/generate.ts";
import { recordFinalSession, recordPatternWindow, recordPatternWindowPatterns, type BusinessSession } from "../../src/metrics/business.ts";
import { Metrics, removeTaskSeries } from "../../src/metrics/registry.ts";
import { parseExposition, sampleValue } from "./exposition.ts";
import { runMeteredPipeline } from "./metered-run.ts";

const human: BusinessSession = { version: 1, retracted: false, is_bot: false, is_bounce: false, converted: false, revenue: 0 };

async function samplesOf(metrics: Metrics): Promise<Map<string, number>> {
  return parseExposition(await metrics.registry.metrics());
}

describe("recordFinalSession", () => {
  it("counts each person's session once at version 1 and ignores updates, retractions and bots", async () => {
    const metrics = new Metrics();
    const sessions: BusinessSession[] = [
      { ...human, is_bounce: true },
      { ...human, converted: true, revenue: 40.5 },
      { ...human, version: 2, converted: true, revenue: 99 }, // a later version of an already counted session
      { ...human, version: 3, retracted: true, is_bounce: true }, // a retraction
      { ...human, is_bot: true, is_bounce: true, converted: true, revenue: 12 }, // a crawler
      { ...human, converted: false, revenue: -5, refunds: 5 }, // a refund only (sessionize: no conversion): a session, no sales
      { ...human, revenue: 19.25, converted: true },
      { ...human, version: 2, revenue: -7, refunds: 7 }, // a refund added to a counted session: not counted again
      { ...human, is_bot: true, revenue: -3, refunds: 3 }, // a crawler's refund
    ];
    for (const session of sessions) recordFinalSession(metrics, session);
    const samples = await samplesOf(metrics);
    expect(sampleValue(samples, "clickpipe_sessions_final_total")).toBe(4);
    expect(sampleValue(samples, "clickpipe_sessions_bounced_total")).toBe(1);
    expect(sampleValue(samples, "clickpipe_sessions_converted_total")).toBe(2);
    expect(sampleValue(samples, "clickpipe_revenue_total")).toBe(59.75);
    expect(sampleValue(samples, "clickpipe_refunds_total")).toBe(5);
  });

  it("counts a session's sales before its refunds in revenue, and the refunds apart, also when they outweigh its sales", async () => {
    const metrics = new Metrics();
    recordFinalSession(metrics, { ...human, converted: true, revenue: 70, refunds: 30 }); // an order of 100, 30 refunded
    recordFinalSession(metrics, { ...human, converted: true, revenue: -20, refunds: 70 }); // an order of 50, an older order's 70 refunded
    recordFinalSession(metrics, { ...human, converted: true, revenue: 12.5 }); // a session from before refunds were carried: no field
    const samples = await samplesOf(metrics);
    expect(sampleValue(samples, "clickpipe_revenue_total")).toBe(100 + 50 + 12.5);
    expect(sampleValue(samples, "clickpipe_refunds_total")).toBe(30 + 70);
  });
});

describe("revenue and refunds of a real operator run", () => {
  // Sessionize nets each refund into its session's revenue; the counters must give sales and refunds apart, so that
  // revenue − refunds is the net revenue whether a refund shares its order's session or comes in a later one.
  it("count every order in clickpipe_revenue_total and every refund in clickpipe_refunds_total, whichever session holds them", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-refunds-"));
    try {
      const T0 = Date.parse("2026-01-05T10:00:00Z");
      const MINUTE = 60_000;
      const line = (fields: Record<string, unknown>) => JSON.stringify({ site_id: "shop", ...fields });
      const purchase = (id: string, ts: number, anon: string, order: string, revenue: number) =>
        line({ type: "purchase", ts, event_id: id, anon_id: anon, user_id: `u-${anon}`, order_id: order, revenue });
      const lines = [
        // a: an order of 100 and a refund of 30 of it in the same session (net 70).
        line({ type: "page_view", ts: T0, event_id: "a1", anon_id: "a", url: "/" }),
        purchase("a2", T0 + MINUTE, "a", "o-a", 100),
        // b: an order of 80 in one session, refunded whole in a session 2 hours later (net 80, then −80).
        line({ type: "page_view", ts: T0 + 2 * MINUTE, event_id: "b1", anon_id: "b", url: "/" }),
        purchase("a3", T0 + 3 * MINUTE, "a", "o-a", -30),
        purchase("b2", T0 + 4 * MINUTE, "b", "o-b", 80),
        // c: an order of 50 and the refund of an order of 70 from before the data, in one session (net −20).
        purchase("c1", T0 + 5 * MINUTE, "c", "o-c1", 50),
        purchase("c2", T0 + 6 * MINUTE, "c", "o-c0", -70),
        purchase("b3", T0 + 120 * MINUTE, "b", "o-b", -80),
        // Far later: every session above is final before the end of input.
        line({ type: "page_view", ts: T0 + 86_400_000, event_id: "z1", anon_id: "z", url: "/" }),
      ];
      const metrics = new Metrics();
      await runMeteredPipeline(lines, metrics, directory);
      const samples = await samplesOf(metrics);
      // Sessions: a (100, −30), b (80), b (−80), c (50, −70), z.
      expect(sampleValue(samples, "clickpipe_sessions_final_total")).toBe(5);
      expect(sampleValue(samples, "clickpipe_sessions_converted_total")).toBe(3);
      expect(sampleValue(samples, "clickpipe_revenue_total")).toBe(100 + 80 + 50);
      expect(sampleValue(samples, "clickpipe_refunds_total")).toBe(30 + 80 + 70);
      // The sessions table keeps its net revenue per session, which the counters add up to.
      const db = await (await DuckDBInstance.create(":memory:")).connect();
      try {
        const rows = (await db.runAndReadAll(`SELECT sum(revenue)::DOUBLE AS net FROM read_parquet('${directory}/sessions/**/*.parquet') WHERE version = 1 AND NOT retracted`)).getRowObjects();
        expect(rows[0].net).toBe(230 - 180);
      } finally {
        db.closeSync();
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("counts a session's sales as the sum of its orders, not its net revenue plus refunds (which rounds), and writes neither as a column", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-refunds-"));
    try {
      const T0 = Date.parse("2026-01-05T10:00:00Z");
      const line = (fields: Record<string, unknown>) => JSON.stringify({ site_id: "shop", anon_id: "a", user_id: "u-a", ...fields });
      const lines = [
        // An order of 19.99 and the refund of an older order of 1234.56 in one session: in doubles
        // 19.99 − 1234.56 + 1234.56 is 19.99000000000001, the sales are 19.99.
        line({ type: "purchase", ts: T0, event_id: "a1", order_id: "o-new", revenue: 19.99 }),
        line({ type: "purchase", ts: T0 + 60_000, event_id: "a2", order_id: "o-old", revenue: -1234.56 }),
        line({ type: "page_view", ts: T0 + 86_400_000, event_id: "z1", anon_id: "z", url: "/" }),
      ];
      const metrics = new Metrics();
      await runMeteredPipeline(lines, metrics, directory);
      const samples = await samplesOf(metrics);
      expect(sampleValue(samples, "clickpipe_revenue_total")).toBe(19.99);
      expect(sampleValue(samples, "clickpipe_refunds_total")).toBe(1234.56);
      const db = await (await DuckDBInstance.create(":memory:")).connect();
      try {
        const columns = (await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${directory}/sessions/**/*.parquet')`)).getRowObjects().map((row) => row.column_name);
        expect(columns).toContain("revenue");
        expect(columns).not.toContain("sales");
        expect(columns).not.toContain("refunds");
      } finally {
        db.closeSync();
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe("recordPatternWindow", () => {
  it("starts both kinds at 0 and sets them per closed window", async () => {
    const metrics = new Metrics();
    let samples = await samplesOf(metrics);
    expect(sampleValue(samples, 'clickpipe_patterns_frequent{kind="subsequence"}')).toBe(0);
    expect(sampleValue(samples, 'clickpipe_patterns_top_support{kind="contiguous"}')).toBe(0);
    recordPatternWindow(metrics, "contiguous", 7, 31);
    samples = await samplesOf(metrics);
    expect(sampleValue(samples, 'clickpipe_patterns_frequent{kind="contiguous"}')).toBe(7);
    expect(sampleValue(samples, 'clickpipe_patterns_top_support{kind="contiguous"}')).toBe(31);
    expect(sampleValue(samples, 'clickpipe_patterns_frequent{kind="subsequence"}')).toBe(0);
  });

  it("takes a window's rows: counts per kind, the highest support, and 0 for a kind without rows", async () => {
    const metrics = new Metrics();
    recordPatternWindow(metrics, "contiguous", 3, 3); // the previous window
    recordPatternWindowPatterns(metrics, [
      { kind: "subsequence", support: 12 },
      { kind: "subsequence", support: 40 },
      { kind: "subsequence", support: 9 },
    ]);
    const samples = await samplesOf(metrics);
    expect(sampleValue(samples, 'clickpipe_patterns_frequent{kind="subsequence"}')).toBe(3);
    expect(sampleValue(samples, 'clickpipe_patterns_top_support{kind="subsequence"}')).toBe(40);
    expect(sampleValue(samples, 'clickpipe_patterns_frequent{kind="contiguous"}')).toBe(0);
    expect(sampleValue(samples, 'clickpipe_patterns_top_support{kind="contiguous"}')).toBe(0);
  });
});

describe("pattern gauges of a partitioned pipeline's customers task", () => {
  // customers-0 ran here and moved to another worker (a handover when a worker joins). The dashboard shows the max over
  // workers: this worker's last window at 40 outweighed every later window under 40 of the task's new worker.
  it("go back to 0 once the customers task stops on this worker; another task's stop leaves them", async () => {
    const metrics = new Metrics();
    metrics.forTasks();
    recordPatternWindow(metrics, "subsequence", 12, 40);
    await removeTaskSeries(metrics, "events-0", "events");
    await removeTaskSeries(metrics, "dlq", "dlq");
    let samples = await samplesOf(metrics);
    expect(sampleValue(samples, 'clickpipe_patterns_frequent{kind="subsequence"}')).toBe(12);
    expect(sampleValue(samples, 'clickpipe_patterns_top_support{kind="subsequence"}')).toBe(40);
    await removeTaskSeries(metrics, "customers-0", "customers");
    samples = await samplesOf(metrics);
    for (const kind of ["subsequence", "contiguous"]) {
      expect(sampleValue(samples, `clickpipe_patterns_frequent{kind="${kind}"}`)).toBe(0);
      expect(sampleValue(samples, `clickpipe_patterns_top_support{kind="${kind}"}`)).toBe(0);
    }
  });
});

describe("business metrics of a real operator run", () => {
  let directory: string;
  let db: DuckDBConnection;
  let samples: Map<string, number>;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-business-"));
    const metrics = new Metrics();
    await runMeteredPipeline(generateLines({ visitors: 300, days: 2, seed: 5 }), metrics, directory);
    samples = await samplesOf(metrics);
    db = await (await DuckDBInstance.create(":memory:")).connect();
  });

  afterAll(async () => {
    db?.closeSync();
    await rm(directory, { recursive: true, force: true });
  });

  async function one(sql: string): Promise<Record<string, unknown>> {
    return (await db.runAndReadAll(sql)).getRowObjects()[0];
  }

  it("counts sessions, bounces, conversions and revenue exactly as the sessions table's first versions of people", async () => {
    const expected = await one(`
      SELECT count(*)::DOUBLE AS final, count(*) FILTER (WHERE is_bounce)::DOUBLE AS bounced,
             count(*) FILTER (WHERE converted)::DOUBLE AS converted,
             coalesce(sum(revenue), 0)::DOUBLE AS revenue, count(*) FILTER (WHERE revenue < 0)::DOUBLE AS negative
      FROM read_parquet('${directory}/sessions/**/*.parquet')
      WHERE version = 1 AND NOT retracted AND NOT is_bot`);
    // The generator makes no refunds: each session's revenue is its sales (the run above has refunds).
    expect(expected.negative).toBe(0);
    expect(expected.final).toBeGreaterThan(100);
    expect(expected.converted).toBeGreaterThan(0);
    expect(sampleValue(samples, "clickpipe_sessions_final_total")).toBe(expected.final);
    expect(sampleValue(samples, "clickpipe_sessions_bounced_total")).toBe(expected.bounced);
    expect(sampleValue(samples, "clickpipe_sessions_converted_total")).toBe(expected.converted);
    expect(sampleValue(samples, "clickpipe_revenue_total")).toBeCloseTo(Number(expected.revenue), 6);
    expect(sampleValue(samples, "clickpipe_refunds_total")).toBe(0);
  });

  it("observes every final session's duration in the histogram, in the bucket the table's duration_ms falls in", async () => {
    const expected = await one(`
      SELECT count(*)::DOUBLE AS total, count(*) FILTER (WHERE duration_ms <= 60000)::DOUBLE AS upto_minute,
             count(*) FILTER (WHERE duration_ms = 0)::DOUBLE AS zero
      FROM read_parquet('${directory}/sessions/**/*.parquet') WHERE version = 1 AND NOT retracted`);
    expect(sampleValue(samples, 'clickpipe_sessions_emitted_total{kind="final"}')).toBe(expected.total);
    expect(sampleValue(samples, "clickpipe_session_duration_seconds_count")).toBe(expected.total);
    expect(sampleValue(samples, 'clickpipe_session_duration_seconds_bucket{le="60"}')).toBe(expected.upto_minute);
    expect(sampleValue(samples, 'clickpipe_session_duration_seconds_bucket{le="0"}')).toBe(expected.zero);
  });

  it("leaves the pattern gauges at the last window's number of frequent patterns and top support, per kind", async () => {
    const rows = (
      await db.runAndReadAll(`
        WITH p AS (SELECT * FROM read_parquet('${directory}/patterns/**/*.parquet'))
        SELECT kind, count(*)::DOUBLE AS frequent, max(support)::DOUBLE AS top FROM p
        WHERE window_start = (SELECT max(window_start) FROM p) GROUP BY kind`)
    ).getRowObjects();
    expect(rows.length).toBeGreaterThan(0);
    for (const kind of ["subsequence", "contiguous"]) {
      const row = rows.find((r) => r.kind === kind) ?? { frequent: 0, top: 0 };
      expect(sampleValue(samples, `clickpipe_patterns_frequent{kind="${kind}"}`)).toBe(row.frequent);
      expect(sampleValue(samples, `clickpipe_patterns_top_support{kind="${kind}"}`)).toBe(row.top);
    }
  });

  it("counts the Parquet rows and files each table got", async () => {
    const sessions = await one(`SELECT count(*)::DOUBLE AS n, count(DISTINCT filename)::DOUBLE AS files FROM read_parquet('${directory}/sessions/**/*.parquet', filename = true)`);
    expect(sampleValue(samples, 'clickpipe_parquet_rows_written_total{table="sessions"}')).toBe(sessions.n);
    expect(sampleValue(samples, 'clickpipe_parquet_files_written_total{table="sessions"}')).toBe(sessions.files);
  });
});

describe("operator state gauges", () => {
  it("report each operator's state bytes, sessionize's visitors and churnFeatures' customers as held before end of input", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-state-gauges-"));
    try {
      const at = (iso: string) => Date.parse(iso);
      const event = (n: number, ts: number, anon: string, user?: string) =>
        JSON.stringify({ type: "page_view", ts, event_id: `e${n}`, site_id: "shop", anon_id: anon, url: "/", ...(user && { user_id: user }) });
      const lines = [
        // Three customers on 1 January (one of them on two devices): their day is folded into churnFeatures' store once
        // the watermark passes it, and sessionize lets their visitors go (gap 30m + allowedLateness 10m).
        event(1, at("2026-01-01T10:00:00Z"), "a1", "u1"),
        event(2, at("2026-01-01T10:05:00Z"), "a2", "u2"),
        event(3, at("2026-01-01T11:00:00Z"), "a3", "u3"),
        event(4, at("2026-01-01T12:00:00Z"), "a4", "u3"),
        // Two visitors on 3 January, one of them a customer: held by sessionize, not yet folded by churnFeatures.
        event(5, at("2026-01-03T09:00:00Z"), "a5", "u4"),
        event(6, at("2026-01-03T09:01:00Z"), "a6"),
      ];
      const metrics = new Metrics();
      await runMeteredPipeline(lines, metrics, directory);
      const samples = await samplesOf(metrics);
      expect(sampleValue(samples, 'clickpipe_state_keys{operator="sessionize",kind="visitors"}')).toBe(2);
      expect(sampleValue(samples, 'clickpipe_state_keys{operator="churnFeatures",kind="customers"}')).toBe(3);
      expect(sampleValue(samples, 'clickpipe_state_keys{operator="basket",kind="orders"}')).toBe(0);
      for (const operator of ["sessionize", "sequencePatterns", "basket", "churnFeatures"]) {
        expect(sampleValue(samples, `clickpipe_state_bytes{operator="${operator}"}`)).toBeGreaterThanOrEqual(0);
      }
      expect(sampleValue(samples, 'clickpipe_state_bytes{operator="sessionize"}')).toBeGreaterThan(0);
      expect(sampleValue(samples, 'clickpipe_state_bytes{operator="churnFeatures"}')).toBeGreaterThan(0);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe("late and duplicate counters of a real operator run", () => {
  it("count each late_events row once, and a resent purchase once however many operators ignore it", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-late-duplicate-"));
    try {
      const T0 = Date.parse("2026-01-05T10:00:00Z");
      const line = (fields: Record<string, unknown>) => JSON.stringify(fields);
      const purchase = line({ type: "purchase", ts: T0 + 60_000, event_id: "p1", anon_id: "a", user_id: "u1", order_id: "o1", revenue: 20, items: [{ sku: "s1", category: "c", price: 20, qty: 1 }] });
      const lines = [
        line({ type: "page_view", ts: T0, event_id: "v1", anon_id: "a", user_id: "u1", url: "/" }),
        purchase,
        // Sent twice: sessionize (its event_id), basket and churnFeatures (its order_id) each ignore the copy.
        purchase,
        // Two days on: the watermark leaves 5 January's sessions, basket window and churn day behind. (The driver
        // stamps each event's received_at with the previous one's ts, and maxFutureSkew holds the watermark to it: twice.)
        line({ type: "page_view", ts: T0 + 2 * 86_400_000, event_id: "v2", anon_id: "a", url: "/" }),
        line({ type: "page_view", ts: T0 + 2 * 86_400_000, event_id: "v3", anon_id: "a", url: "/" }),
        // Late for sessionize alone: a page view on 5 January.
        line({ type: "page_view", ts: T0, event_id: "v4", anon_id: "z", url: "/" }),
        // Late for sessionize, basket and churnFeatures: a purchase on 5 January, one row from each.
        line({ type: "purchase", ts: T0 + 300_000, event_id: "p2", anon_id: "y", user_id: "u2", order_id: "o2", revenue: 5, items: [{ sku: "s2", category: "c", price: 5, qty: 1 }] }),
      ];
      const metrics = new Metrics();
      await runMeteredPipeline(lines, metrics, directory);
      const samples = await samplesOf(metrics);
      const db = await (await DuckDBInstance.create(":memory:")).connect();
      try {
        const rows = (await db.runAndReadAll(`SELECT reason FROM read_parquet('${directory}/late_events/**/*.parquet')`)).getRowObjects();
        expect(rows).toHaveLength(4);
        // Four rows (one per operator that found it late), two late events: the counter counts events, as the
        // late-event alert divides it by the events processed.
        expect(sampleValue(samples, "clickpipe_events_late_total")).toBe(2);
      } finally {
        db.closeSync();
      }
      expect(sampleValue(samples, "clickpipe_events_duplicate_total")).toBe(1);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
