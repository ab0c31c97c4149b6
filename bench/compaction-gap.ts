// The main thread's event loop while a Parquet sink's checkpoint merges small parts (compaction): its longest gap, the
// gaps over 5 ms added up and its CPU, beside the same for an idle second (this machine's noise).
//
//   node --import tsx bench/compaction-gap.ts [checkout] [parts] [rowsPerPart] [runs] [zstd|snappy] [none|old|new]
//
// `checkout` is the folder whose src/ to load (default: this one), so that an older checkout (git archive) is measured
// the same way. "old"/"new": people forgotten, passed as the sink's `forgotten` option took it before and after the
// merge moved to the encoder threads (a predicate and its columns, or the tombstone ids).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";

/** CPU ms the main thread has used (utime + stime of its task, in clock ticks of 10 ms). */
function mainThreadCpuMs(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The longest gap of a 1 ms timer over `ms` of an idle loop: the machine's own noise. */
async function idleGap(ms: number): Promise<number> {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  await new Promise((resolve) => setTimeout(resolve, ms));
  clearInterval(timer);
  return Math.round(gap * 10) / 10;
}

const root = process.argv[2] || fileURLToPath(new URL("..", import.meta.url));
const parts = Number(process.argv[3] ?? 40);
const rowsPerPart = Number(process.argv[4] ?? 2500);
const runs = Number(process.argv[5] ?? 3);
const compression = (process.argv[6] ?? "zstd") as "zstd" | "snappy";
// "old": the sink option before this change ({ rows, columns }); "new": the tombstone ids; "none": no one forgotten.
const forgottenMode = process.argv[7] ?? "none";
const { isForgottenRow, FORGOTTEN_ROW_COLUMNS } = await import(join(root, "src/runtime/tombstones.ts"));
const ids = new Set(Array.from({ length: 50 }, (_, i) => `u-${i * 7}`));
const forgotten =
  forgottenMode === "old" ? { forgotten: { rows: () => (row: Record<string, unknown>) => isForgottenRow(row, ids), columns: FORGOTTEN_ROW_COLUMNS } }
  : forgottenMode === "new" ? { forgotten: () => ids } : {};
const { ParquetSink } = await import(join(root, "src/sinks/parquet.ts"));
const { sessionsTable } = await import(join(root, "src/operators/sessionize-table.ts"));

const DAY = Date.UTC(2026, 0, 5);
function sessionRow(n: number) {
  const pages = Array.from({ length: 1 + (n % 7) }, (_, i) => `/products/${(n * 31 + i) % 5000}/detail`);
  return {
    session_id: `s-${n}-${(n * 2654435761) % 1e9}`, version: 1, retracted: false, site_id: `site-${n % 3}`,
    visitor_id: `v-${n % 20000}`, user_id: n % 4 === 0 ? null : `u-${n % 9000}`, start_ts: DAY + n, end_ts: DAY + n + 60_000,
    duration_ms: 60_000 + (n % 1000), event_count: 3 + (n % 11), pageview_count: pages.length,
    landing_url: `https://shop.example/${pages[0]}?q=${n % 97}`, exit_url: `https://shop.example/${pages.at(-1)}`,
    referrer: n % 5 === 0 ? null : `https://ref${n % 40}.example/`, utm_source: n % 3 === 0 ? "google" : null,
    utm_medium: n % 3 === 0 ? "cpc" : null, utm_campaign: n % 6 === 0 ? `c${n % 17}` : null,
    is_engaged: n % 2 === 0, is_bounce: n % 5 === 1, converted: n % 13 === 0, revenue: (n % 13 === 0 ? n % 500 : 0) / 7,
    is_bot: false, split_reason: "inactivity", page_path: pages, page_items: pages.slice(0, 2).map((p) => `item${p.length}`),
  };
}

const results: object[] = [];
for (let run = 0; run < runs; run++) {
  const path = await mkdtemp(join(tmpdir(), "cgap-"));
  const sink = new ParquetSink({ path, tables: [sessionsTable], compression, writerId: "w", ...forgotten, compaction: { minParts: parts, targetRows: parts * rowsPerPart + 1, mergesPerCheckpoint: 1 } });
  let n = 0;
  for (let epoch = 1; epoch <= parts; epoch++) {
    for (let i = 0; i < rowsPerPart; i++) sink.append("sessions", sessionRow(n++));
    await sink.commit(await sink.prepare(epoch));
  }
  sink.append("sessions", sessionRow(n++));
  // Let the loop settle, then time the checkpoint that merges.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const idleCpuBefore = mainThreadCpuMs();
  const idleGapMs = await idleGap(1000);
  const idleCpuMsPerS = mainThreadCpuMs() - idleCpuBefore;
  const cpuBefore = mainThreadCpuMs();
  let last = performance.now();
  let gap = 0;
  let blocked = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    if (now - last > 5) blocked += now - last;
    last = now;
  }, 1);
  const started = performance.now();
  const pending = await sink.prepare(parts + 1);
  const prepareMs = performance.now() - started;
  const mainCpuMs = mainThreadCpuMs() - cpuBefore;
  clearInterval(timer);
  gap = Math.max(gap, performance.now() - last);
  if (pending.merges?.[0]?.inputs.length !== parts) throw new Error(`expected a merge of ${parts} parts, got ${JSON.stringify(pending.merges)}`);
  await sink.commit(pending);
  await sink.close();
  await rm(path, { recursive: true, force: true });
  results.push({ idleGapMs, idleCpuMsPerS, mainCpuMs, gapMs: Math.round(gap * 10) / 10, blockedMs: Math.round(blocked), prepareMs: Math.round(prepareMs), rows: pending.merges[0].rows });
}
console.log(JSON.stringify({ root, parts, rowsPerPart, compression, forgottenMode, results }));
