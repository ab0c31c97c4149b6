// Churn features benchmark (issue 6), in-process: customers/s and bytes per customer on CDNOW_master and on 1M
// generated customers. Run with `node --expose-gc`; prints JSON.
import { readFileSync } from "node:fs";
import type { ClickEvent } from "../src/events/event.ts";
import { churnFeaturesConfig, createChurnFeatures } from "../src/operators/churn-features.ts";
import { CountingContext, cpuSecondsSince, keepAlive, log, ROOT, settledHeapBytes } from "./bench-kit.ts";

const CDNOW = `${ROOT}tests/fixtures/cdnow/CDNOW_master.txt`;
const GENERATED_CUSTOMERS = Number(process.env.BENCH_CHURN_CUSTOMERS ?? 1_000_000);
const GENERATED_DAYS = 90;
const MINUTE_MS = 60_000;

/** Purchases as parallel arrays in event-time order: event objects are made one at a time, as a stream would. */
interface PurchaseColumns {
  count: number;
  ts: Float64Array;
  customer: Int32Array;
  revenue: Float64Array;
  customers: number;
  /** A customer's id, made anew for each event (as decoding a stream would), so the state's copies count in the heap. */
  idOf(customer: number): string;
}

export interface ChurnRunResult {
  input: string;
  customers: number;
  purchases: number;
  snapshotEvery: string;
  snapshotRows: number;
  seconds: number;
  cpuSeconds: number;
  customersPerSecond: number;
  purchasesPerSecond: number;
  snapshotRowsPerSecond: number;
  stateBytes: number;
  stateBytesPerCustomer: number;
  heapDeltaBytes: number;
  heapBytesPerCustomer: number;
}

/** CDNOW_master.txt: `customer_id yyyymmdd cds dollars`, whitespace separated, a header line; stable-sorted by day. */
function cdnowPurchases(): PurchaseColumns {
  const rows: { customer: number; ts: number; dollars: number }[] = [];
  const idIndex = new Map<string, number>();
  const ids: number[] = [];
  for (const line of readFileSync(CDNOW, "utf8").split(/\r?\n/)) {
    const [id, day, , dollars] = line.trim().split(/\s+/);
    if (!/^\d{8}$/.test(day ?? "")) continue;
    let customer = idIndex.get(id);
    if (customer === undefined) {
      customer = ids.length;
      idIndex.set(id, customer);
      ids.push(Number(id));
    }
    rows.push({ customer, ts: Date.UTC(Number(day.slice(0, 4)), Number(day.slice(4, 6)) - 1, Number(day.slice(6, 8))), dollars: Number(dollars) });
  }
  rows.sort((a, b) => a.ts - b.ts);
  return {
    count: rows.length,
    ts: Float64Array.from(rows, (row) => row.ts),
    customer: Int32Array.from(rows, (row) => row.customer),
    revenue: Float64Array.from(rows, (row) => row.dollars),
    customers: ids.length,
    idOf: (customer) => String(ids[customer]).padStart(5, "0"),
  };
}

/** 1–5 purchases per customer at seeded-random minutes over 90 days, bucketed by minute into time order. */
function generatedPurchases(customers: number): PurchaseColumns {
  let seed = 0x9e3779b9;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const minutes = GENERATED_DAYS * 1440;
  const perCustomer = new Uint8Array(customers);
  let total = 0;
  for (let c = 0; c < customers; c++) total += perCustomer[c] = 1 + Math.floor(random() * 5);
  const minuteOf = new Int32Array(total);
  const customerOf = new Int32Array(total);
  const bucketSize = new Int32Array(minutes + 1);
  for (let c = 0, k = 0; c < customers; c++) {
    for (let j = 0; j < perCustomer[c]; j++, k++) {
      minuteOf[k] = Math.floor(random() * minutes);
      customerOf[k] = c;
      bucketSize[minuteOf[k] + 1]++;
    }
  }
  for (let m = 1; m <= minutes; m++) bucketSize[m] += bucketSize[m - 1];
  const ts = new Float64Array(total);
  const customer = new Int32Array(total);
  const revenue = new Float64Array(total);
  const base = Date.UTC(2026, 0, 5);
  for (let k = 0; k < total; k++) {
    const at = bucketSize[minuteOf[k]]++;
    ts[at] = base + minuteOf[k] * MINUTE_MS;
    customer[at] = customerOf[k];
    revenue[at] = Math.round((5 + random() * 195) * 100) / 100;
  }
  return { count: total, ts, customer, revenue, customers, idOf: (c) => `c${c}` };
}

function purchaseEvent(purchases: PurchaseColumns, k: number): ClickEvent {
  const id = purchases.idOf(purchases.customer[k]);
  return { type: "purchase", ts: purchases.ts[k], event_id: `p${k}`, user_id: id, order_id: `o${k}`, revenue: purchases.revenue[k] };
}

function runChurn(input: string, purchases: PurchaseColumns, snapshotEvery: string): ChurnRunResult {
  const operator = createChurnFeatures(churnFeaturesConfig.parse({ type: "churnFeatures", snapshotEvery }), { pipelineName: "bench" });
  const context = new CountingContext();
  const origin = { partition: 0, sequence: 0 };
  const heapBefore = settledHeapBytes();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let k = 0; k < purchases.count; k++) {
    origin.sequence = k + 1;
    operator.onEvent!(purchaseEvent(purchases, k), origin, context);
  }
  const streamSeconds = (performance.now() - started) / 1000;
  const streamCpu = cpuSecondsSince(cpuBefore);
  // State of every customer, before the end of input writes the last snapshots (it keeps the state).
  const heapDeltaBytes = settledHeapBytes() - heapBefore;
  const stateBytes = operator.stateBytes!();
  const endCpu = process.cpuUsage();
  const endStarted = performance.now();
  operator.onEnd(context);
  const seconds = streamSeconds + (performance.now() - endStarted) / 1000;
  const cpuSeconds = streamCpu + cpuSecondsSince(endCpu);
  keepAlive(purchases, operator);
  const customers = purchases.customers;
  const result = {
    input,
    customers,
    purchases: purchases.count,
    snapshotEvery,
    snapshotRows: context.rows,
    seconds,
    cpuSeconds,
    customersPerSecond: customers / seconds,
    purchasesPerSecond: purchases.count / seconds,
    snapshotRowsPerSecond: context.rows / seconds,
    stateBytes,
    stateBytesPerCustomer: stateBytes / customers,
    heapDeltaBytes,
    heapBytesPerCustomer: heapDeltaBytes / customers,
  };
  log(
    `churn ${input}: ${Math.round(result.customersPerSecond).toLocaleString("en")} customers/s, ${context.rows} snapshot rows in ${seconds.toFixed(1)} s; ` +
      `${result.stateBytesPerCustomer.toFixed(0)} B/customer by stateBytes(), ${result.heapBytesPerCustomer.toFixed(0)} B/customer by heap delta`,
  );
  return result;
}

export function measureChurn(): ChurnRunResult[] {
  const cdnow = cdnowPurchases();
  // Warm-up on a tenth of CDNOW, so the first measured run does not pay for compilation.
  runChurn("warm-up", { ...cdnow, count: Math.floor(cdnow.count / 10) }, "30d");
  const results = [runChurn("CDNOW_master", cdnow, "1d")];
  log(`churn: generating ${GENERATED_CUSTOMERS} customers over ${GENERATED_DAYS} days…`);
  // Weekly snapshots by default: daily ones of 1M customers over 90 days are ~60M rows, minutes of row building.
  results.push(runChurn(`${GENERATED_CUSTOMERS.toLocaleString("en")} generated customers`, generatedPurchases(GENERATED_CUSTOMERS), process.env.BENCH_CHURN_SNAPSHOT ?? "7d"));
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(JSON.stringify(measureChurn()) + "\n");
