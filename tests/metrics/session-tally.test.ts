// SessionTally: what a scrape shows after tallied sessions, against hand-counted figures and against prom-client's own
// observe() and inc() fed the same sessions.
import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/metrics/registry.ts";
import type { SessionKind } from "../../src/metrics/labels.ts";
import { parseExposition, sampleValue } from "./exposition.ts";

const DURATION = "clickpipe_session_duration_seconds";

async function samplesOf(metrics: Metrics): Promise<Map<string, number>> {
  return parseExposition(await metrics.registry.metrics());
}

describe("SessionTally", () => {
  it("shows hand-counted versions, duration buckets, sum and count at the next scrape", async () => {
    const metrics = new Metrics();
    // Durations in ms: 0 s (bucket le=0), exactly 10 s (le=10: a bound is inclusive), 10.001 s (le=30), 45 s (le=60),
    // 2 h (le=7200) and 13 h (past the last bound: only +Inf).
    const finals = [0, 10_000, 10_001, 45_000, 7_200_000, 46_800_000];
    for (const ms of finals) metrics.sessionTally.version("final", ms);
    metrics.sessionTally.version("update", 99_999_999); // not a final version: no duration
    metrics.sessionTally.version("retraction", 5);
    metrics.sessionTally.version("update", 1);

    const samples = await samplesOf(metrics);
    expect(sampleValue(samples, 'clickpipe_sessions_emitted_total{kind="final"}')).toBe(6);
    expect(sampleValue(samples, 'clickpipe_sessions_emitted_total{kind="update"}')).toBe(2);
    expect(sampleValue(samples, 'clickpipe_sessions_emitted_total{kind="retraction"}')).toBe(1);
    const cumulative: [string, number][] = [
      ["0", 1],
      ["10", 2],
      ["30", 3],
      ["60", 4],
      ["120", 4],
      ["3600", 4],
      ["7200", 5],
      ["43200", 5],
      ["+Inf", 6],
    ];
    for (const [le, count] of cumulative) expect(sampleValue(samples, `${DURATION}_bucket{le="${le}"}`), `le=${le}`).toBe(count);
    expect(sampleValue(samples, `${DURATION}_sum`)).toBeCloseTo(0 + 10 + 10.001 + 45 + 7200 + 46_800, 9);
    expect(sampleValue(samples, `${DURATION}_count`)).toBe(6);
  });

  it("adds what comes after a scrape to what the scrape showed, and survives a reset of the histogram", async () => {
    const metrics = new Metrics();
    metrics.sessionTally.version("final", 20_000);
    metrics.sessionTally.person(false, true, 12.5);
    let samples = await samplesOf(metrics);
    expect(sampleValue(samples, `${DURATION}_bucket{le="30"}`)).toBe(1);
    expect(sampleValue(samples, "clickpipe_revenue_total")).toBe(12.5);

    metrics.sessionTally.version("final", 25_000);
    metrics.sessionTally.person(true, false, 0);
    // get() of a single series flushes as well (the bench reads series this way).
    const count = (await metrics.sessionDuration.get()).values.find((value) => value.metricName === `${DURATION}_count`);
    expect(count?.value).toBe(2);
    samples = await samplesOf(metrics);
    expect(sampleValue(samples, `${DURATION}_bucket{le="30"}`)).toBe(2);
    expect(sampleValue(samples, `${DURATION}_sum`)).toBe(45);
    expect(sampleValue(samples, "clickpipe_sessions_final_total")).toBe(2);
    expect(sampleValue(samples, "clickpipe_sessions_bounced_total")).toBe(1);
    expect(sampleValue(samples, "clickpipe_sessions_converted_total")).toBe(1);

    metrics.sessionDuration.reset();
    metrics.sessionTally.version("final", 700_000);
    samples = await samplesOf(metrics);
    expect(sampleValue(samples, `${DURATION}_bucket{le="600"}`)).toBe(0);
    expect(sampleValue(samples, `${DURATION}_bucket{le="1800"}`)).toBe(1);
    expect(sampleValue(samples, `${DURATION}_count`)).toBe(1);
  });

  it("counts sales in clickpipe_revenue_total and refunds apart, so that their difference is the net revenue across scrapes", async () => {
    const metrics = new Metrics();
    // An order of 40 and a refund of 15 of it in one session (net 25); an order of 60 alone.
    metrics.sessionTally.person(false, true, 40, 15);
    metrics.sessionTally.person(false, true, 60);
    let samples = await samplesOf(metrics);
    expect(sampleValue(samples, "clickpipe_revenue_total")).toBe(100);
    expect(sampleValue(samples, "clickpipe_refunds_total")).toBe(15);
    // After the scrape: the order of 60 refunded whole in a later session (net −60, no sale), and a session whose
    // refund of 30 outweighs its order of 10 (net −20): neither lowers revenue, both raise refunds.
    metrics.sessionTally.person(false, false, 0, 60);
    metrics.sessionTally.person(false, true, 10, 30);
    samples = await samplesOf(metrics);
    expect(sampleValue(samples, "clickpipe_revenue_total")).toBe(110);
    expect(sampleValue(samples, "clickpipe_refunds_total")).toBe(105);
    expect(sampleValue(samples, "clickpipe_revenue_total") - sampleValue(samples, "clickpipe_refunds_total")).toBe(25 + 60 - 60 - 20);
  });

  it("exposes what prom-client's own observe() and inc() expose for the same random sessions", async () => {
    const metrics = new Metrics();
    const registry = new Registry();
    const buckets = [0, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200];
    const duration = new Histogram({ name: DURATION, help: "h", buckets, registers: [registry] });
    const emitted = new Counter({ name: "clickpipe_sessions_emitted_total", help: "h", labelNames: ["kind"], registers: [registry] });
    const revenue = new Counter({ name: "clickpipe_revenue_total", help: "h", registers: [registry] });
    const refunds = new Counter({ name: "clickpipe_refunds_total", help: "h", registers: [registry] });
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
    const kinds: SessionKind[] = ["final", "final", "final", "update", "retraction"];
    for (let i = 0; i < 5_000; i++) {
      const kind = kinds[Math.floor(random() * kinds.length)];
      // Whole seconds half of the time, so that many values sit exactly on a bound.
      const ms = random() < 0.5 ? Math.floor(random() * 100) * 1000 : Math.floor(random() * 50_000_000);
      metrics.sessionTally.version(kind, ms);
      emitted.inc({ kind });
      if (kind === "final") duration.observe(ms / 1000);
      const amount = Math.round(random() * 10_000) / 100;
      // A refund in one session of four, whole cents as a shop's.
      const refunded = random() < 0.25 ? Math.round(random() * 5_000) / 100 : 0;
      if (kind === "final") {
        metrics.sessionTally.person(false, amount > 0, amount, refunded);
        if (amount > 0) revenue.inc(amount);
        if (refunded > 0) refunds.inc(refunded);
      }
      if (i % 997 === 0) await samplesOf(metrics); // flushes in between
    }
    const ours = await samplesOf(metrics);
    const theirs = parseExposition(await registry.metrics());
    for (const [series, value] of theirs) {
      if (series.endsWith("_sum") || series === "clickpipe_revenue_total" || series === "clickpipe_refunds_total") expect(sampleValue(ours, series), series).toBeCloseTo(value, 6);
      else expect(sampleValue(ours, series), series).toBe(value);
    }
  });
});
