import { DuckDBInstance } from "@duckdb/node-api";
import { forEachFrequentSequence } from "/work/main/src/operators/mining/prefixspan.ts";
import { sessionSequence } from "/work/main/src/operators/mining/itemset-sequence.ts";
import { sequenceMinSupportCount } from "/work/main/src/operators/mining/min-support.ts";
const db = await DuckDBInstance.create(":memory:"); const c = await db.connect();
const rows = (await c.runAndReadAll("select (epoch_ms(end_ts) // 3600000) w, page_items from read_parquet('/tmp/cpbench/out10k/sessions/**/*.parquet') order by all")).getRowObjects();
const windows = new Map<number, string[][]>();
for (const r of rows) { const w = Number(r.w); const items = (r.page_items as any).items as string[]; if (!windows.has(w)) windows.set(w, []); windows.get(w)!.push(items); }
const dbs = [...windows.values()].map((s) => s.map((e) => sessionSequence(e)));
for (let rep = 0; rep < 10; rep++) {
  let t = performance.now(); let n = 0;
  for (const d of dbs) forEachFrequentSequence(d, { minSupportCount: sequenceMinSupportCount(0.01, d.length), maxLength: 3 }, () => n++);
  console.log("core", (performance.now() - t).toFixed(0), n);
}
