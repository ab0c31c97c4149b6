import { DuckDBInstance } from "@duckdb/node-api";
import { exactPatternCounts } from "../src/operators/mining/pattern-counting.ts";
import { prefixSpan } from "../src/operators/mining/prefixspan.ts";
import { sessionSequence } from "../src/operators/mining/itemset-sequence.ts";
import { sequenceMinSupportCount } from "../src/operators/mining/min-support.ts";
const db = await DuckDBInstance.create(":memory:"); const c = await db.connect();
const rows = (await c.runAndReadAll("select (epoch_ms(end_ts) // 3600000) w, page_items from read_parquet('/tmp/cpbench/out10k/sessions/**/*.parquet') order by all")).getRowObjects();
const windows = new Map<number, string[][]>();
for (const r of rows) { const w = Number(r.w); const items = (r.page_items as any).items as string[]; if (!windows.has(w)) windows.set(w, []); windows.get(w)!.push(items); }
const dbs = [...windows.values()].map((s) => s.map((e) => sessionSequence(e)));
for (let rep = 0; rep < 3; rep++) {
  let t = performance.now(); let n = 0;
  for (const d of dbs) n += prefixSpan(d, { minSupportCount: sequenceMinSupportCount(0.01, d.length), maxLength: 3 }).length;
  const ps = performance.now() - t; t = performance.now(); let m = 0;
  for (const d of dbs) m += exactPatternCounts(d, 3, " ", sequenceMinSupportCount(0.01, d.length)).length;
  console.log("prefixSpan", ps.toFixed(0), "ms", n, "exactPatternCounts", (performance.now() - t).toFixed(0), "ms", m);
}

import { forEachFrequentSequence } from "../src/operators/mining/prefixspan.ts";
for (let rep = 0; rep < 3; rep++) {
  let t = performance.now(); let n = 0;
  for (const d of dbs) forEachFrequentSequence(d, { minSupportCount: sequenceMinSupportCount(0.01, d.length), maxLength: 3 }, () => n++);
  console.log("core", (performance.now() - t).toFixed(0), n);
}
import { ParquetSink } from "../src/sinks/parquet.ts";
import { patternsTable } from "../src/operators/sequence-patterns.ts";
{
  const all = dbs.map((d) => exactPatternCounts(d, 3, " ", sequenceMinSupportCount(0.01, d.length)));
  for (let rep = 0; rep < 3; rep++) {
    const copies = all.map((f) => f.slice());
    let t = performance.now();
    for (const f of copies) f.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "subsequence" ? -1 : 1) || a.length - b.length || b.support - a.support || (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0));
    const sortMs = performance.now() - t;
    const sink = new ParquetSink({ path: "/nonexistent", tables: [patternsTable], useWorkerThread: false });
    t = performance.now();
    copies.forEach((f, w) => { for (const c of f) sink.append("patterns", { window_start: 1767571200000 + w * 3600000, window_end: 1767571200000 + (w + 1) * 3600000, kind: c.kind, pattern: c.pattern, length: c.length, support: c.support, support_ratio: c.support / 300, error_bound: c.errorBound }); });
    console.log("sort", sortMs.toFixed(0), "append", (performance.now() - t).toFixed(0), sink.bufferedRows());
  }
}
