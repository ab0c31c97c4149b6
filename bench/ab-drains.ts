// Alternating drains of two variants against one filled stream: how each change of issue 10 was measured from
// session 9 on (bench/OPTIMIZATIONS.md). A variant is a source tree (a `git worktree` of another commit, with this
// checkout's node_modules linked into it), node flags, environment variables or a pipeline; A and B take turns, so
// that the host's swings (often 2× within minutes on these VMs) fall on both alike, and only pairs are compared.
// Writes no results file: `npm run bench` stays the one source of bench/RESULTS.md.
//
//   node --import tsx bench/ab-drains.ts --pairs 6 --b-tree /tmp/base          # this checkout against another commit
//   node --import tsx bench/ab-drains.ts --pairs 6 --b-flags=--maglev          # the same code with a V8 flag (=: it starts with -)
//   node --import tsx bench/ab-drains.ts --b-env "CLICKPIPE_MINING_THREADS=never"
//   node --import tsx bench/ab-drains.ts --b-pipeline no-churn.yaml            # {url} {stream} {out} are filled in
//
// The stream (CP_STREAM, default CPBENCH_ISSUE10) is filled once with the bench's million events and kept.
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, runJsonChild } from "./bench-kit.ts";
import type { DrainResult } from "./drain-result.ts";
import { ensureFilledStream } from "./filled-stream.ts";
import { benchPipeline } from "./pipeline.ts";

interface Variant {
  name: string;
  tree: string;
  flags: string[];
  env: Record<string, string>;
  pipeline: (out: string) => string;
}

interface DrainFigures {
  eventsPerSecond: number;
  steadyEventsPerSecond: number;
  mainCpu: number;
  runDelay: number;
  mainFaults: number;
  finalCommit: number;
  processCpu: number;
  otherThreadsCpu: number;
}

const url = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const stream = process.env.CP_STREAM ?? "CPBENCH_ISSUE10";
const { values: options } = parseArgs({
  options: {
    pairs: { type: "string", default: "6" },
    ...Object.fromEntries(
      ["a", "b"].flatMap((side) => [
        [`${side}-tree`, { type: "string" }],
        [`${side}-flags`, { type: "string" }],
        [`${side}-env`, { type: "string" }],
        [`${side}-pipeline`, { type: "string" }],
      ]),
    ),
  },
  strict: true,
});

function variant(side: "a" | "b"): Variant {
  const option = (name: string) => (options as Record<string, string | undefined>)[`${side}-${name}`];
  const tree = resolve(option("tree") ?? ROOT);
  if (!existsSync(join(tree, "bench", "drain-child.ts"))) throw new Error(`--${side}-tree ${tree}: no bench/drain-child.ts there`);
  if (!existsSync(join(tree, "node_modules"))) {
    throw new Error(`--${side}-tree ${tree}: no node_modules (link this checkout's: ln -s ${join(ROOT, "node_modules")} ${join(tree, "node_modules")})`);
  }
  const flags = (option("flags") ?? "").split(" ").filter((flag) => flag !== "");
  const env = Object.fromEntries(
    (option("env") ?? "")
      .split(" ")
      .filter((pair) => pair !== "")
      .map((pair) => {
        const at = pair.indexOf("=");
        if (at <= 0) throw new Error(`--${side}-env: expected NAME=value, got ${pair}`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
  );
  const file = option("pipeline");
  const template = file === undefined ? undefined : readFileSync(file, "utf8");
  const pipeline = (out: string) =>
    template === undefined ? benchPipeline(url, stream, out) : template.replaceAll("{url}", url).replaceAll("{stream}", stream).replaceAll("{out}", out);
  const described = [option("tree") && `tree ${tree}`, option("flags"), option("env"), file && `pipeline ${file}`].filter(Boolean).join(", ");
  return { name: `${side.toUpperCase()}${described === "" ? "" : ` (${described})`}`, tree, flags, env, pipeline };
}

async function drain(which: Variant): Promise<DrainFigures> {
  const out = await mkdtemp(join(tmpdir(), "clickpipe-ab-drain-"));
  try {
    const result = await runJsonChild<DrainResult>(join(which.tree, "bench", "drain-child.ts"), [which.pipeline(out)], {
      nodeFlags: which.flags,
      env: which.env,
      cwd: which.tree,
    });
    const threads = result.processingThreadCpuSeconds ?? {};
    return {
      eventsPerSecond: result.eventsPerSecond,
      steadyEventsPerSecond: result.steadyEventsPerSecond ?? Number.NaN,
      mainCpu: result.phases.processingMainThreadCpuSeconds,
      runDelay: result.phases.processingMainThreadRunDelaySeconds ?? Number.NaN,
      mainFaults: result.phases.processingMainThreadMinorFaults ?? Number.NaN,
      finalCommit: result.phases.finalCommitSeconds,
      processCpu: result.cpuSeconds,
      otherThreadsCpu: Object.entries(threads).reduce((sum, [name, seconds]) => (name === "main" ? sum : sum + seconds), 0),
    };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function line(label: string, figures: DrainFigures): string {
  const f = (value: number, digits = 2) => value.toFixed(digits);
  return (
    `${label}: ${Math.round(figures.eventsPerSecond)} events/s (steady ${Math.round(figures.steadyEventsPerSecond)}), ` +
    `main thread ${f(figures.mainCpu)} CPU s + ${f(figures.runDelay)} s waiting, ${Math.round(figures.mainFaults)} page faults, final commit ${f(figures.finalCommit)} s, process ${f(figures.processCpu)} CPU s, ` +
    `other threads ${f(figures.otherThreadsCpu)} s`
  );
}

const pairs = Number(options.pairs);
if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`--pairs: expected a whole number ≥ 1, got ${options.pairs}`);
const a = variant("a");
const b = variant("b");
await ensureFilledStream(url, stream, { visitors: Number(process.env.BENCH_VISITORS ?? 50_000), refill: process.env.CP_REFILL === "1" });
const results: { a: DrainFigures; b: DrainFigures }[] = [];
for (let pair = 1; pair <= pairs; pair++) {
  // The order alternates too: a drain right after another may find the host warmer or busier.
  const first = pair % 2 === 1 ? a : b;
  const second = first === a ? b : a;
  const firstFigures = await drain(first);
  console.log(line(`pair ${pair} ${first.name}`, firstFigures));
  const secondFigures = await drain(second);
  console.log(line(`pair ${pair} ${second.name}`, secondFigures));
  results.push(first === a ? { a: firstFigures, b: secondFigures } : { a: secondFigures, b: firstFigures });
}
const ratios = results.map((result) => result.b.eventsPerSecond / result.a.eventsPerSecond);
const faster = ratios.filter((ratio) => ratio > 1).length;
const percent = (ratio: number) => `${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(1)}%`;
console.log(`A = ${a.name}\nB = ${b.name}`);
console.log(`B against A per pair: ${ratios.map(percent).join(", ")}; B faster in ${faster} of ${pairs}, median ${percent(median(ratios))}`);
for (const [name, side] of [["A", "a"], ["B", "b"]] as const) {
  const figures = results.map((result) => result[side]);
  const medianOf = (pick: (figures: DrainFigures) => number) => median(figures.map(pick));
  console.log(
    line(`median ${name}`, {
      eventsPerSecond: medianOf((x) => x.eventsPerSecond),
      steadyEventsPerSecond: medianOf((x) => x.steadyEventsPerSecond),
      mainCpu: medianOf((x) => x.mainCpu),
      runDelay: medianOf((x) => x.runDelay),
      mainFaults: medianOf((x) => x.mainFaults),
      finalCommit: medianOf((x) => x.finalCommit),
      processCpu: medianOf((x) => x.processCpu),
      otherThreadsCpu: medianOf((x) => x.otherThreadsCpu),
    }),
  );
}
