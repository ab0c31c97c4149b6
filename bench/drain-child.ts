// Benchmark child: drains one pipeline in a fresh process and reports its own timing, peak RSS and state size.
import { parsePipelineText } from "../src/config/load.ts";
import { Metrics } from "../src/metrics/registry.ts";
import { runWorker } from "../src/runtime/worker.ts";

const [pipelineText] = process.argv.slice(2);
const loaded = parsePipelineText(pipelineText, "bench-pipeline.yaml", process.env);
if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
const metrics = new Metrics();
let peakStateBytes = 0;
let peakOpenSessions = 0;
let bytesPerOpenSessionAtPeak = 0;
const sampler = setInterval(async () => {
  const state = (await metrics.stateBytes.get()).values[0]?.value ?? 0;
  const open = (await metrics.openSessions.get()).values[0]?.value ?? 0;
  if (open > peakOpenSessions) {
    peakOpenSessions = open;
    bytesPerOpenSessionAtPeak = open > 0 ? state / open : 0;
  }
  peakStateBytes = Math.max(peakStateBytes, state);
}, 250);
const started = performance.now();
const cpuBefore = process.cpuUsage();
const summary = await runWorker({ config: loaded.config, drain: true, metrics, log: () => undefined });
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
clearInterval(sampler);
process.stdout.write(
  JSON.stringify({
    seconds,
    events: summary.events,
    eventsPerSecond: summary.events / seconds,
    // CPU time of every thread (main, Parquet encoder, loader): steadier than wall time on a shared machine.
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    peakStateBytes,
    peakOpenSessions,
    bytesPerOpenSessionAtPeak,
  }) + "\n",
);
