// The per-session metrics (session versions by kind, final durations, business counters) tallied in plain numbers
// on the hot path and handed to prom-client when its registry is read.
import type { Counter, Histogram } from "prom-client";
import type { SessionKind } from "./labels.ts";

/** The prom-client series a SessionTally feeds; the histogram has no labels. */
export interface SessionSeries {
  emitted: Counter<"kind">;
  duration: Histogram;
  final: Counter;
  bounced: Counter;
  converted: Counter;
  revenue: Counter;
  refunds: Counter;
}

/**
 * prom-client's `inc` and `observe` hash their labels, validate them and allocate per call (≈ 0.1–0.4 µs); a drain
 * emits one session per ≈ 8 events and made 4–6 such calls for each (≈ 1.5% of the main thread,
 * bench/OPTIMIZATIONS.md session 21). Here each call is a few additions; `flush` adds the totals to the series, and
 * every series it feeds calls it from its `collect` hook, so any read of the registry (a scrape, `get()`) sees
 * every session recorded before it.
 */
export class SessionTally {
  #final = 0;
  #updates = 0;
  #retractions = 0;
  /** Final versions' durations per bucket of the histogram (a value counts in the first bound it is ≤, as prom-client). */
  readonly #bounds: readonly number[];
  readonly #bucketCounts: Float64Array;
  #durationSum = 0;
  #durationCount = 0;
  #people = 0;
  #bounced = 0;
  #converted = 0;
  #sales = 0;
  #refunds = 0;

  constructor(
    private readonly series: SessionSeries,
    /** The duration histogram's upper bounds, ascending (as given to its constructor). */
    durationBuckets: readonly number[],
  ) {
    this.#bounds = durationBuckets;
    this.#bucketCounts = new Float64Array(durationBuckets.length);
  }

  /** One session version sessionize emits; a final one (version 1) also counts its duration. */
  version(kind: SessionKind, durationMs: number): void {
    if (kind === "final") {
      this.#final++;
      const seconds = durationMs / 1000;
      if (!Number.isFinite(seconds)) throw new TypeError(`session duration is not a finite number: ${durationMs} ms`);
      const bounds = this.#bounds;
      for (let i = 0; i < bounds.length; i++) {
        if (seconds <= bounds[i]) {
          this.#bucketCounts[i]++;
          break;
        }
      }
      this.#durationSum += seconds;
      this.#durationCount++;
    } else if (kind === "update") this.#updates++;
    else this.#retractions++;
  }

  /**
   * A person's session at its first final version (src/metrics/business.ts decides which sessions count), with its
   * sales and its refunds (both ≥ 0). A counter only takes increments, so sales and refunds are counted apart rather
   * than the session's net revenue: their difference is the net revenue whether a refund shares its order's session or not.
   */
  person(bounced: boolean, converted: boolean, sales: number, refunds = 0): void {
    this.#people++;
    if (bounced) this.#bounced++;
    if (converted) this.#converted++;
    if (sales > 0 && Number.isFinite(sales)) this.#sales += sales;
    if (refunds > 0 && Number.isFinite(refunds)) this.#refunds += refunds;
  }

  /** Adds what was tallied since the last flush to the prom-client series. */
  flush(): void {
    const series = this.series;
    if (this.#final > 0) series.emitted.inc({ kind: "final" }, this.#final);
    if (this.#updates > 0) series.emitted.inc({ kind: "update" }, this.#updates);
    if (this.#retractions > 0) series.emitted.inc({ kind: "retraction" }, this.#retractions);
    this.#final = this.#updates = this.#retractions = 0;
    if (this.#durationCount > 0) this.#flushDurations();
    if (this.#people > 0) series.final.inc(this.#people);
    if (this.#bounced > 0) series.bounced.inc(this.#bounced);
    if (this.#converted > 0) series.converted.inc(this.#converted);
    if (this.#sales > 0) series.revenue.inc(this.#sales);
    if (this.#refunds > 0) series.refunds.inc(this.#refunds);
    this.#people = this.#bounced = this.#converted = this.#sales = this.#refunds = 0;
  }

  /**
   * prom-client has no call that adds several observations at once, so the counts go into the histogram's one series
   * (prom-client 15 keeps it as `{ bucketValues: { [bound]: count }, sum, count }` under the empty labels' hash);
   * tests/metrics/session-tally.test.ts checks the exposition against hand-counted buckets.
   */
  #flushDurations(): void {
    const histogram = this.series.duration as unknown as { hashMap: Record<string, HistogramSeries | undefined>; zero(labels: object): void };
    let values = histogram.hashMap[""];
    if (values === undefined) {
      // After reset(): zero() makes the series again.
      histogram.zero({});
      values = histogram.hashMap[""];
    }
    if (values === undefined || typeof values.count !== "number" || typeof values.sum !== "number" || typeof values.bucketValues !== "object") {
      throw new Error("prom-client's Histogram no longer keeps its series as { bucketValues, sum, count }: update SessionTally for this version");
    }
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      values.bucketValues[bounds[i]] += this.#bucketCounts[i];
      this.#bucketCounts[i] = 0;
    }
    values.sum += this.#durationSum;
    values.count += this.#durationCount;
    this.#durationSum = 0;
    this.#durationCount = 0;
  }
}

interface HistogramSeries {
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}
