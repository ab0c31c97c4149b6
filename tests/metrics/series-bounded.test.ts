// Cardinality: 100k events with random ids, urls, skus and order ids through the real operators add no series to the registry.
import { describe, expect, it } from "vitest";
import { countSeriesAfterRandomTraffic } from "./series-count.ts";

describe("series cardinality", () => {
  it("keeps exactly the clickpipe_* series it had at start, under 2,000 in all, after 100k events with random ids and urls", async () => {
    const counted = await countSeriesAfterRandomTraffic(100_000, 42, true);
    const { samples, run } = counted;

    // The traffic really went through: invalid, duplicate and late events, sessions and Parquet rows were counted.
    expect(run.invalid).toBeGreaterThan(500);
    expect(samples.get("clickpipe_events_processed_total")).toBe(run.events);
    expect(samples.get("clickpipe_events_duplicate_total")).toBeGreaterThan(0);
    expect(samples.get("clickpipe_events_late_total")).toBeGreaterThan(0);
    expect(samples.get('clickpipe_sessions_emitted_total{kind="final"}')).toBeGreaterThan(10_000);
    expect(samples.get('clickpipe_parquet_rows_written_total{table="sessions"}')).toBeGreaterThan(10_000);

    expect(counted.clickpipeAfter).toEqual(counted.clickpipeAtStart);
    expect(counted.total).toBeLessThan(2_000);
    // No id, url, sku or order id of the traffic appears anywhere in the exposition.
    expect(counted.leaked).toEqual([]);
  });
});
