// Soak step for issue 9: the metric registry's series after 1M events with random ids stay under 2,000.
import { countSeriesAfterRandomTraffic } from "../tests/metrics/series-count.ts";

const EVENTS = Number(process.env.SOAK_SERIES_EVENTS ?? 1_000_000);
const MAX_SERIES = 2_000;

/** Runs the random traffic through every operator and the Parquet sink; true when the exposition holds < 2,000 series. */
export async function soakSeriesCount(seed = 9): Promise<boolean> {
  const started = performance.now();
  const count = await countSeriesAfterRandomTraffic(EVENTS, seed, false);
  const ok = count.total < MAX_SERIES;
  console.log(
    `${ok ? "ok  " : "FAIL"} metric series after ${EVENTS.toLocaleString("en")} random events: ${count.total} in all ` +
      `(${count.clickpipeAfter.length} clickpipe_*; ${count.clickpipeAtStart.length} at start), limit ${MAX_SERIES} ` +
      `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  return ok;
}
