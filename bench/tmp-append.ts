import { ColumnBatchBuilder } from "../src/sinks/parquet-encoder.ts";
import { sessionsTable } from "../src/operators/sessionize-table.ts";
import { customerFeaturesTable } from "../src/operators/churn-features.ts";
const rows = Array.from({ length: 50000 }, (_, i) => ({ session_id: (i * 2654435761 >>> 0).toString(16).padStart(16, "0"), version: 1, retracted: false, site_id: "demo-shop", visitor_id: (i * 977 >>> 0).toString(16), user_id: i % 3 ? null : `u${i}`, start_ts: 1e12 + i * 1000, end_ts: 1e12 + i * 1000 + 5000, duration_ms: 5000, event_count: 6, pageview_count: 5, landing_url: "/c/shoes/p/1003", exit_url: "/cart", referrer: "https://blog.example.org/gift-guide", utm_source: null, utm_medium: null, utm_campaign: null, is_engaged: true, is_bounce: false, converted: false, revenue: 0, is_bot: false, split_reason: "gap", page_path: ["/c/shoes/p/1003", "/c/phones", "/c/phones/p/1132", "/cart", "/checkout"], page_items: ["shoes/product", "/c/phones", "phones/product", "/cart", "/checkout"] }));
const crows = Array.from({ length: 50000 }, (_, i) => ({ customer_id: `user-${i}`, snapshot_date: "2026-01-05", first_purchase_ts: i % 2 ? null : 1e12, last_purchase_ts: i % 2 ? null : 1e12, frequency: i % 2 ? null : 0, recency_days: i % 2 ? null : 0, t_days: i % 2 ? null : 2, monetary_value: i % 2 ? null : 0, orders_total: 1, revenue_total: 12.5, days_since_last_purchase: i % 2 ? null : 1, sessions_7d: 2, sessions_30d: 2, sessions_90d: 2, pageviews_30d: 7, avg_session_duration_s_30d: 33.2, days_since_last_session: 0, cart_adds_30d: 1, cart_abandon_rate_30d: 0.5, rfm_r: i % 2 ? null : 3, rfm_f: i % 2 ? null : 1, rfm_m: i % 2 ? null : 4, rfm_code: i % 2 ? null : "314" }));
for (let r = 0; r < 15; r++) {
  let b = new ColumnBatchBuilder(sessionsTable.columns);
  let t = performance.now();
  for (const row of rows) b.append(row);
  const s = performance.now() - t;
  b = new ColumnBatchBuilder(customerFeaturesTable.columns);
  t = performance.now();
  for (const row of crows) b.append(row);
  console.log("sessions µs/row", (s / rows.length * 1000).toFixed(2), "customer µs/row", ((performance.now() - t) / crows.length * 1000).toFixed(2));
}
