// Where one drain's main thread spends its time by source line, or what it allocates that outlives the young
// generation: the two views issue 10's sessions kept rebuilding by hand (bench/OPTIMIZATIONS.md, sessions 18–22).
//
// Under tsx every module is transformed onto one line, so V8's line ticks name nothing. This bundles
// bench/drain-child.ts with esbuild (unminified; import.meta.url replaced by each source file's own URL, as the CLI's
// bundle does, so worker entries and relative files still resolve) into node_modules/.cache/clickpipe/profile/, runs
// it once against the bench's filled stream, and prints the hottest lines of the main thread with their source text.
//
//   node --import tsx bench/line-profile.ts                          # CPU by line, top 50
//   node --import tsx bench/line-profile.ts --top 80 --functions '^#accept$|appendRow'
//   node --import tsx bench/line-profile.ts --heap                   # bytes allocated that survived a scavenge, by call site
//   node --import tsx bench/line-profile.ts --allocations            # every byte allocated, scavenged ones included
//   node --import tsx bench/line-profile.ts --flags=--max-semi-space-size=32 --env CP_SOMETHING=1
//
// Writes no results file: `npm run bench` stays the one source of bench/RESULTS.md.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { importMetaUrlPlugin } from "../bin/cli-bundle.js";
import { ROOT } from "./bench-kit.ts";
import type { DrainResult } from "./drain-result.ts";
import { ensureFilledStream } from "./filled-stream.ts";
import { benchPipeline } from "./pipeline.ts";

const { values: options } = parseArgs({
  options: {
    top: { type: "string", default: "50" },
    functions: { type: "string" },
    heap: { type: "boolean", default: false },
    allocations: { type: "boolean", default: false },
    flags: { type: "string", default: "" },
    env: { type: "string", multiple: true, default: [] },
  },
  strict: true,
});

const url = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const stream = process.env.CP_STREAM ?? "CPBENCH_ISSUE10";
const directory = join(ROOT, "node_modules", ".cache", "clickpipe", "profile");
const bundle = join(directory, "drain-child.mjs");

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
  positionTicks?: { line: number; ticks: number }[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}
interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/** What runs in the child before the bundle: the inspector's sampling heap profiler, written out at exit. */
const heapSampler = (includeScavenged: boolean): string => `import { Session } from "node:inspector";
import { writeFileSync } from "node:fs";
const session = new Session();
session.connect();
session.post("HeapProfiler.enable");
// Without includeScavenged, objects a scavenge frees are left out: what is left is what the young generation copied
// and promoted. With it, every allocation: the rate that sets how often the scavenger runs.
session.post("HeapProfiler.startSampling", { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: ${includeScavenged} });
let written = false;
const write = () => {
  if (written) return;
  written = true;
  session.post("HeapProfiler.stopSampling", (error, result) => {
    if (!error) writeFileSync(process.env.CP_HEAP_PROFILE, JSON.stringify(result.profile));
  });
};
process.on("exit", write);
const exit = process.exit.bind(process);
process.exit = (code) => { write(); exit(code); };
`;

async function bundleDrainChild(): Promise<void> {
  mkdirSync(directory, { recursive: true });
  await build({
    entryPoints: [join(ROOT, "bench", "drain-child.ts")],
    bundle: true,
    packages: "external",
    format: "esm",
    platform: "node",
    target: "node20",
    outfile: bundle,
    logLevel: "warning",
    plugins: [importMetaUrlPlugin],
  });
}

function runChild(nodeFlags: string[], env: Record<string, string>): Promise<DrainResult> {
  const out = mkdtempSync(join(tmpdir(), "clickpipe-line-profile-"));
  return new Promise<DrainResult>((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, bundle, benchPipeline(url, stream, out)], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...env },
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      rmSync(out, { recursive: true, force: true });
      if (code !== 0) return reject(new Error(`the drain child exited with ${code}`));
      resolve(JSON.parse(output.trim().split("\n").pop()!) as DrainResult);
    });
  });
}

const sources = new Map<string, string[]>();
function sourceLine(fileUrl: string, line: number): string {
  if (!fileUrl.startsWith("file:")) return "";
  let lines = sources.get(fileUrl);
  if (lines === undefined) {
    try {
      lines = readFileSync(new URL(fileUrl), "utf8").split("\n");
    } catch {
      lines = [];
    }
    sources.set(fileUrl, lines);
  }
  return (lines[line - 1] ?? "").trim().slice(0, 110);
}

function shortUrl(fileUrl: string): string {
  // ROOT ends with a slash.
  return fileUrl.replace(pathToFileURL(ROOT).href, "").replace(/^node_modules\/\.cache\/clickpipe\/profile\//, "");
}

/** Milliseconds per source line of the main thread's profile (V8's line ticks), the hottest first. */
function printLines(profile: CpuProfile, top: number, functions: RegExp | undefined): void {
  const msPerSample = (profile.endTime - profile.startTime) / 1000 / profile.samples.length;
  const byLine = new Map<string, { ms: number; fn: string; url: string; line: number }>();
  let total = 0;
  for (const node of profile.nodes) {
    total += node.hitCount * msPerSample;
    if (functions !== undefined && !functions.test(node.callFrame.functionName)) continue;
    for (const tick of node.positionTicks ?? []) {
      const key = `${node.callFrame.url}:${tick.line}:${node.callFrame.functionName}`;
      const entry = byLine.get(key) ?? { ms: 0, fn: node.callFrame.functionName || "(anonymous)", url: node.callFrame.url, line: tick.line };
      entry.ms += tick.ticks * msPerSample;
      byLine.set(key, entry);
    }
  }
  console.log(`main thread: ${total.toFixed(0)} ms sampled (idle and the collector included)`);
  for (const entry of [...byLine.values()].sort((a, b) => b.ms - a.ms).slice(0, top)) {
    console.log(`${entry.ms.toFixed(0).padStart(6)} ms  ${entry.fn.slice(0, 24).padEnd(24)} ${shortUrl(entry.url)}:${entry.line}  ${sourceLine(entry.url, entry.line)}`);
  }
}

/** Sampled bytes (that survived the young generation, or all of them), by their innermost three frames, the largest first. */
function printHeap(head: HeapNode, top: number, what: string): void {
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode, stack: HeapNode["callFrame"][]): void => {
    const frames = [...stack, node.callFrame];
    if (node.selfSize > 0) {
      total += node.selfSize;
      const site = frames
        .slice(-3)
        .reverse()
        .map((frame) => `${frame.functionName || "(anonymous)"}:${frame.lineNumber + 1}`)
        .join(" < ");
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, frames);
  };
  walk(head, []);
  console.log(`sampled ${(total / 1e6).toFixed(0)} MB ${what} (lines of ${shortUrl(pathToFileURL(bundle).href)})`);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(bytes / 1e6).toFixed(1).padStart(7)} MB  ${site}`);
}

await ensureFilledStream(url, stream, { visitors: Number(process.env.BENCH_VISITORS ?? 50_000) });
await bundleDrainChild();
const work = mkdtempSync(join(tmpdir(), "clickpipe-profiles-"));
try {
  const env = Object.fromEntries(options.env.map((pair) => pair.split("=", 2) as [string, string]));
  const flags = options.flags.split(" ").filter((flag) => flag !== "");
  const top = Number(options.top);
  if (options.heap || options.allocations) {
    const sampler = join(directory, "heap-sampler.mjs");
    writeFileSync(sampler, heapSampler(options.allocations));
    const heapProfile = join(work, "heap.json");
    const drain = await runChild([...flags, "--import", pathToFileURL(sampler).href], { ...env, CP_HEAP_PROFILE: heapProfile });
    console.log(`drain: ${Math.round(drain.eventsPerSecond)} events/s (sampling slows it)`);
    const what = options.allocations ? "allocated" : "that outlived a scavenge";
    printHeap((JSON.parse(readFileSync(heapProfile, "utf8")) as { head: HeapNode }).head, top, what);
  } else {
    const drain = await runChild([...flags, "--cpu-prof", `--cpu-prof-dir=${work}`, "--cpu-prof-interval=250"], env);
    console.log(`drain: ${Math.round(drain.eventsPerSecond)} events/s (profiling slows it)`);
    // --cpu-prof writes one file per thread; the main thread's is the one of thread 0.
    const main = readdirSync(work).find((name) => /^CPU\.\d+\.\d+\.\d+\.0\./.test(name));
    if (main === undefined) throw new Error(`no main-thread profile in ${work}`);
    printLines(JSON.parse(readFileSync(join(work, main), "utf8")) as CpuProfile, top, options.functions === undefined ? undefined : new RegExp(options.functions));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
