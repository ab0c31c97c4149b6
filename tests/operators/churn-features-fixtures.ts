// Builders for churnFeatures tests: configs, events, sessions, and an OperatorHarness that keeps only what a test asks for.
import { readFileSync } from "node:fs";
import type { ClickEvent } from "../../src/events/event.ts";
import type { SessionRecord } from "../../src/runtime/operator.ts";
import type { Row } from "../../src/sinks/table.ts";
import { churnFeaturesConfig, createChurnFeatures, type ChurnFeaturesConfig } from "../../src/operators/churn-features.ts";
import type { OperatorEnvironment } from "../../src/operators/environment.ts";
import { OperatorHarness } from "../helpers/operator-harness.ts";

export const DAY = 86_400_000;
export const MINUTE = 60_000;

export function at(iso: string): number {
  return Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : iso);
}

export function churnConfig(overrides: Record<string, unknown> = {}): ChurnFeaturesConfig {
  return churnFeaturesConfig.parse({ type: "churnFeatures", ...overrides });
}

export function churnOperator(overrides: Record<string, unknown> = {}, environment: Partial<OperatorEnvironment> = {}) {
  return createChurnFeatures(churnConfig(overrides), { pipelineName: "test", ...environment });
}

let eventCounter = 0;

export function purchase(user: string | undefined, ts: number, revenue: number, orderId: string, extra: Partial<ClickEvent> = {}): ClickEvent {
  return { type: "purchase", ts, event_id: `ev-${orderId}-${++eventCounter}`, user_id: user, order_id: orderId, revenue, ...extra };
}

export function pageView(ts: number, ids: { user?: string; anon?: string }): ClickEvent {
  return { type: "page_view", ts, event_id: `pv-${++eventCounter}`, user_id: ids.user, anon_id: ids.anon, url: "https://shop.example/" };
}

export function identify(ts: number, anon: string, user: string): ClickEvent {
  return { type: "identify", ts, event_id: `id-${++eventCounter}`, anon_id: anon, user_id: user };
}

export function cartAdd(ts: number, user: string): ClickEvent {
  return { type: "add_to_cart", ts, event_id: `cart-${++eventCounter}`, user_id: user, sku: "sku-1" };
}

export function session(id: string, fields: Partial<SessionRecord> & { end_ts: number }): SessionRecord {
  const start = fields.start_ts ?? fields.end_ts - (fields.duration_ms ?? 0);
  return {
    session_id: id,
    version: 1,
    retracted: false,
    site_id: null,
    visitor_id: "device-" + id,
    user_id: null,
    start_ts: start,
    duration_ms: fields.end_ts - start,
    event_count: 1,
    pageview_count: 1,
    landing_url: null,
    exit_url: null,
    referrer: null,
    utm_source: null,
    utm_medium: null,
    utm_campaign: null,
    is_engaged: false,
    is_bounce: false,
    converted: false,
    revenue: 0,
    is_bot: false,
    split_reason: "gap",
    page_path: [],
    page_items: [],
    cart_adds: 0,
    ...fields,
  };
}

/** customer_features rows grouped by snapshot_date, plus the dates that got a `_SUCCESS` marker, in order. */
export function snapshotsOf(harness: OperatorHarness): { rows: Map<string, Row[]>; successes: string[] } {
  const rows = new Map<string, Row[]>();
  for (const row of harness.rowsOf("customer_features")) {
    const date = String(row.snapshot_date);
    if (!rows.has(date)) rows.set(date, []);
    rows.get(date)!.push(row);
  }
  const successes = harness.rowsOf("_SUCCESS").map((marker) => {
    if (marker.table !== "customer_features") throw new Error(`unexpected marker ${JSON.stringify(marker)}`);
    return String(marker.partition).replace("snapshot_date=", "");
  });
  return { rows, successes };
}

export function rowOf(rows: Row[] | undefined, customer: string): Row | undefined {
  return rows?.find((row) => row.customer_id === customer);
}

/** One CDNOW_sample.txt line: master id, sample id (the summary's ID), day, CDs, dollars. */
export interface CdnowPurchase {
  line: number;
  sampleId: string;
  ts: number;
  dollars: number;
}

const CDNOW_DIR = new URL("../fixtures/cdnow/", import.meta.url);

export function readCdnowSample(): CdnowPurchase[] {
  const text = readFileSync(new URL("CDNOW_sample.txt", CDNOW_DIR), "utf8");
  return text
    .split("\r\n")
    .filter((line) => line.trim() !== "")
    .map((line, index) => {
      const [, sampleId, yyyymmdd, , dollars] = line.trim().split(/\s+/);
      const ts = Date.UTC(Number(yyyymmdd.slice(0, 4)), Number(yyyymmdd.slice(4, 6)) - 1, Number(yyyymmdd.slice(6, 8)));
      // The summary CSVs name customers by the unpadded sample id ("1", not "0001").
      return { line: index + 1, sampleId: String(Number(sampleId)), ts, dollars: Number(dollars) };
    });
}

export function cdnowEvent(row: CdnowPurchase): ClickEvent {
  return { type: "purchase", ts: row.ts, event_id: `cdnow-${row.line}`, user_id: row.sampleId, order_id: `cdnow-${row.line}`, revenue: row.dollars };
}

/** A CSV with a header line into records of strings. */
export function readCsv(name: string): Record<string, string>[] {
  const [header, ...lines] = readFileSync(new URL(name, CDNOW_DIR), "utf8").trim().split(/\r?\n/);
  const columns = header.split(",");
  return lines.map((line) => Object.fromEntries(line.split(",").map((value, i) => [columns[i], value])));
}

export const CDNOW_SAMPLE_PATH = new URL("CDNOW_sample.txt", CDNOW_DIR).pathname;
