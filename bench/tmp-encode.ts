import { tableToIPC } from "apache-arrow";
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet, EnabledStatistics } from "parquet-wasm";
import { ColumnBatchBuilder, sealedBatchToArrow } from "../src/sinks/parquet-encoder.ts";
import { patternsTable } from "../src/operators/sequence-patterns.ts";
import { sessionsTable } from "../src/operators/sessionize-table.ts";
const pb = new ColumnBatchBuilder(patternsTable.columns);
for (let i = 0; i < 150000; i++) pb.append({ window_start: 1e12 + (i >> 11) * 3600000, window_end: 1e12, kind: i % 3 ? "subsequence" : "contiguous", pattern: `/c/shoes/product > /c/phones${i % 97} > /cart${i % 13}`, length: 3, support: i % 50, support_ratio: 0.01 * (i % 7), error_bound: 0 });
const sb = new ColumnBatchBuilder(sessionsTable.columns);
for (let i = 0; i < 25000; i++) sb.append({ session_id: (i * 2654435761 >>> 0).toString(16).padStart(16, "0"), version: 1, retracted: false, site_id: "demo-shop", visitor_id: (i * 977 >>> 0).toString(16), user_id: i % 3 ? null : `u${i}`, start_ts: 1e12 + i * 1000, end_ts: 1e12 + i * 1000 + 5000, duration_ms: 5000, event_count: 6, pageview_count: 5, landing_url: "/c/shoes/p/1003", exit_url: "/cart", referrer: "https://blog.example.org/gift-guide", utm_source: null, utm_medium: null, utm_campaign: null, is_engaged: true, is_bounce: false, converted: false, revenue: 0, is_bot: false, split_reason: "gap", page_path: ["/c/shoes/p/1003", "/c/phones", "/c/phones/p/1132", "/cart", "/checkout"], page_items: ["shoes/product", "/c/phones", "phones/product", "/cart", "/checkout"] });
for (const [name, builder] of [["patterns", pb], ["sessions", sb]] as const) {
  const batch = builder.seal();
  for (const [compression, variant] of [[Compression.ZSTD, 0], [Compression.ZSTD, 1], [Compression.ZSTD, 2], [Compression.ZSTD, 3], [Compression.ZSTD, 0]] as const) {
    let t = performance.now();
    const arrow = sealedBatchToArrow(batch);
    const ipc = tableToIPC(arrow, "stream");
    const t1 = performance.now() - t; t = performance.now();
    const wasm = WasmTable.fromIPCStream(ipc);
    const t2 = performance.now() - t; t = performance.now();
    let b = new WriterPropertiesBuilder().setCompression(compression).setMaxRowGroupSize(100000).setCreatedBy("clickpipe");
    if (variant === 1) b = b.setStatisticsEnabled(EnabledStatistics.Chunk);
    if (variant === 2) b = b.setDictionaryEnabled(false);
    if (variant === 3) b = b.setStatisticsEnabled(EnabledStatistics.Chunk).setWriteBatchSize(8192);
    const props = b.build();
    const bytes = writeParquet(wasm, props);
    const t3 = performance.now() - t;
    console.log(name, compression, variant, batch.length, "rows: toIPC", t1.toFixed(0), "fromIPC", t2.toFixed(0), "write", t3.toFixed(0), "bytes", bytes.length, "rows/s", Math.round(batch.length / ((t1 + t2 + t3) / 1000)));
  }
}
