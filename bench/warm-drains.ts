// Drains the bench's filled stream several times in one process (a fresh pipeline and output directory each time) and
// prints when each drain reached 50k, 100k, 200k, 400k, … events: the first drain pays V8's warm-up (its optimizing
// compiler, the heap growing into fresh pages), the later ones show the same work with that paid. Session 24 measured
// the warm-up of a fresh drain this way (bench/OPTIMIZATIONS.md).
//
//   node --import tsx bench/warm-drains.ts                 # 3 drains
//   CP_DRAINS=5 node --import tsx bench/warm-drains.ts
//
// Writes no results file: `npm run bench` stays the one source of bench/RESULTS.md.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundledCli } from "../bin/cli-bundle.js";
import { parsePipelineText } from "../src/config/load.ts";
import { Metrics } from "../src/metrics/registry.ts";
import { runWorker } from "../src/runtime/worker.ts";
import { ensureFilledStream } from "./filled-stream.ts";
import { benchPipeline } from "./pipeline.ts";

const url = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const stream = process.env.CP_STREAM ?? "CPBENCH_ISSUE10";
const drains = Number(process.env.CP_DRAINS ?? 3);

await ensureFilledStream(url, stream, { visitors: Number(process.env.BENCH_VISITORS ?? 50_000), refill: false });
// As drain-child.ts: worker threads start from their cached bundles, as `clickpipe run` does.
await bundledCli();

/** The next event count worth a mark after `count`: doubling up to 400k, then every 200k. */
function nextMark(count: number): number {
  return count < 400_000 ? count * 2 : count + 200_000;
}

for (let drain = 0; drain < drains; drain++) {
  const out = await mkdtemp(join(tmpdir(), "clickpipe-warm-drains-"));
  try {
    const loaded = parsePipelineText(benchPipeline(url, stream, out), "bench-pipeline.yaml", process.env);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const metrics = new Metrics();
    const marks: string[] = [];
    let readyAt = Number.NaN;
    let mark = 50_000;
    // The worker counts processed events once a message; a 10 ms poll places each mark within a message or two.
    const poll = setInterval(() => {
      if (Number.isNaN(readyAt)) return;
      void metrics.eventsProcessed.get().then((counter) => {
        const processed = counter.values.reduce((sum, value) => sum + value.value, 0);
        while (processed >= mark) {
          marks.push(`${mark / 1000}k at ${(performance.now() - readyAt).toFixed(0)} ms`);
          mark = nextMark(mark);
        }
      });
    }, 10);
    const log = (line: string) => {
      if (Number.isNaN(readyAt) && /^(starting|resuming) /.test(line)) readyAt = performance.now();
    };
    const summary = await runWorker({ config: loaded.config, drain: true, metrics, log });
    clearInterval(poll);
    const seconds = (performance.now() - readyAt) / 1000;
    console.log(
      `drain ${drain + 1}: ${summary.events} events in ${seconds.toFixed(2)} s from ready (${Math.round(summary.events / seconds)} events/s); ${marks.join(", ")}`,
    );
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
