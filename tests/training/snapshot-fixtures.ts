// Hand-built customer_features snapshots written with the real ParquetSink (for small, exactly known cases).
import { join } from "node:path";
import { CUSTOMER_FEATURES, customerFeaturesTable } from "../../src/operators/churn-features.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import type { Row } from "../../src/sinks/table.ts";

/** A customer_features row with every column; purchase columns null unless `orders_total` > 0. */
export function featureRow(customer: string, date: string, fields: Partial<Row> = {}): Row {
  const orders = Number(fields.orders_total ?? 0);
  const bought = orders > 0;
  return {
    customer_id: customer,
    snapshot_date: date,
    first_purchase_ts: null,
    last_purchase_ts: null,
    frequency: bought ? orders - 1 : null,
    recency_days: bought ? 0 : null,
    t_days: bought ? 10 : null,
    monetary_value: bought ? 0 : null,
    orders_total: orders,
    revenue_total: bought ? 10 * orders : 0,
    days_since_last_purchase: bought ? 10 : null,
    sessions_7d: null,
    sessions_30d: null,
    sessions_90d: null,
    pageviews_30d: null,
    avg_session_duration_s_30d: null,
    days_since_last_session: null,
    cart_adds_30d: 0,
    cart_abandon_rate_30d: null,
    rfm_r: bought ? 3 : null,
    rfm_f: bought ? 3 : null,
    rfm_m: bought ? 3 : null,
    rfm_code: bought ? "333" : null,
    ...fields,
  };
}

/** Writes rows under `<lake>/customer_features/snapshot_date=…/`; dates in `complete` get `_SUCCESS`. */
export async function writeSnapshots(lake: string, rows: Row[], complete: string[]): Promise<string> {
  const sink = new ParquetSink({ path: lake, tables: [customerFeaturesTable], useWorkerThread: false });
  for (const row of rows) sink.append(CUSTOMER_FEATURES, row);
  for (const date of complete) sink.markSuccess(CUSTOMER_FEATURES, date);
  await sink.commit(await sink.prepare(1));
  await sink.close();
  return join(lake, CUSTOMER_FEATURES);
}
