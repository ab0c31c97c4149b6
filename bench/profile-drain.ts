// Profiling helper for the end to end (issue 10) without `npm run bench`: fills a stream once (kept for reuse, name in
// CP_STREAM), then per round (CP_ROUNDS) measures the (JetStream read + JSON.parse) ceiling and a drain child back to
// back and prints one JSON line. CP_NODE_FLAGS passes flags to the child (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
// Writes no results file: `npm run bench` stays the one source of bench/RESULTS.md.
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runJsonChild } from "./bench-kit.ts";
import type { CeilingResult } from "./ceiling-child.ts";
import type { DrainResult } from "./drain-result.ts";
import { ensureFilledStream } from "./filled-stream.ts";
import { benchPipeline } from "./pipeline.ts";

const url = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const stream = process.env.CP_STREAM ?? "CPBENCH_ISSUE10";
const rounds = Number(process.env.CP_ROUNDS ?? 2);
const visitors = Number(process.env.BENCH_VISITORS ?? 50_000);
const nodeFlags = (process.env.CP_NODE_FLAGS ?? "").split(" ").filter((flag) => flag !== "");

await ensureFilledStream(url, stream, { visitors, refill: process.env.CP_REFILL === "1" });

for (let round = 0; round < rounds; round++) {
  const loadBefore = loadavg()[0];
  const { read, seconds: ceilingSeconds, minorFaults: ceilingMinorFaults } = await runJsonChild<CeilingResult>(join(ROOT, "bench", "ceiling-child.ts"), [url, stream]);
  const ceiling = read / ceilingSeconds;
  const out = await mkdtemp(join(tmpdir(), "clickpipe-profile-drain-"));
  try {
    const drain = await runJsonChild<DrainResult>(join(ROOT, "bench", "drain-child.ts"), [benchPipeline(url, stream, out)], { nodeFlags });
    const phases = drain.phases;
    console.log(
      JSON.stringify({
        round,
        loadAverage: [loadBefore, loadavg()[0]].map((load) => Number(load.toFixed(2))),
        ceilingEventsPerSecond: Math.round(ceiling),
        ceilingMinorFaults,
        drainEventsPerSecond: Math.round(drain.eventsPerSecond),
        ratio: Number((drain.eventsPerSecond / ceiling).toFixed(3)),
        events: drain.events,
        seconds: Number(drain.seconds.toFixed(2)),
        secondsWithStartup: Number((drain.secondsWithStartup ?? Number.NaN).toFixed(2)),
        steadyEventsPerSecond: Math.round(drain.steadyEventsPerSecond ?? Number.NaN),
        steadyRatio: Number(((drain.steadyEventsPerSecond ?? Number.NaN) / ceiling).toFixed(3)),
        processingSeconds: Number(phases.processingSeconds.toFixed(2)),
        mainThreadCpuSeconds: phases.processingMainThreadCpuSeconds,
        mainThreadRunDelaySeconds: phases.processingMainThreadRunDelaySeconds,
        mainThreadMinorFaults: phases.processingMainThreadMinorFaults,
        processCpuSeconds: Number(drain.cpuSeconds.toFixed(2)),
        checkpoints: phases.checkpoints,
        checkpointSeconds: Number(phases.checkpointSeconds.toFixed(2)),
        processingThreadCpuSeconds: drain.processingThreadCpuSeconds,
      }),
    );
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
