// Runs random traffic through the real operators and reports the registry's series: used by the 100k test and the 1M soak.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metrics } from "../../src/metrics/registry.ts";
import { parseExposition } from "./exposition.ts";
import { runMeteredPipeline, type MeteredRunSummary } from "./metered-run.ts";
import { randomTraffic } from "./random-traffic.ts";

export interface SeriesCount {
  run: MeteredRunSummary;
  samples: Map<string, number>;
  /** clickpipe_* series before any event (the pipeline up, as a worker that starts reading), and after all of them. */
  clickpipeAtStart: string[];
  clickpipeAfter: string[];
  /** Every series of the exposition, prom-client's default metrics included. */
  total: number;
  /** Random tokens of the traffic found in the exposition (only when `checkTokens`). */
  leaked: string[];
}

/** `events` random events (seeded) through sessionize, sequencePatterns, basket, churnFeatures and the Parquet sink. */
export async function countSeriesAfterRandomTraffic(events: number, seed: number, checkTokens: boolean): Promise<SeriesCount> {
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-series-"));
  try {
    const metrics = new Metrics({ defaultMetrics: true });
    let clickpipeAtStart: string[] = [];
    const tokens = checkTokens ? new Set<string>() : undefined;
    const run = await runMeteredPipeline(randomTraffic(events, seed, tokens), metrics, directory, async () => {
      clickpipeAtStart = clickpipeSeries(parseExposition(await metrics.registry.metrics()));
    });
    const exposition = await metrics.registry.metrics();
    const samples = parseExposition(exposition);
    const leaked = tokens === undefined ? [] : tokensIn(exposition, tokens);
    return { run, samples, clickpipeAtStart, clickpipeAfter: clickpipeSeries(samples), total: samples.size, leaked };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** The tokens (8+ characters) that occur in `text`: a token can only occur where its first 8 characters do. */
function tokensIn(text: string, tokens: Set<string>): string[] {
  const windows = new Set<string>();
  for (let index = 0; index + 8 <= text.length; index++) windows.add(text.slice(index, index + 8));
  return [...tokens].filter((token) => windows.has(token.slice(0, 8)) && text.includes(token));
}

function clickpipeSeries(samples: Map<string, number>): string[] {
  return [...samples.keys()].filter((series) => series.startsWith("clickpipe_")).sort();
}
