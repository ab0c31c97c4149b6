// Benchmark child: drains one pipeline in a fresh process and reports its own timing, peak RSS and state size.
import { readdirSync, readFileSync } from "node:fs";
import { parsePipelineText } from "../src/config/load.ts";
import { Metrics } from "../src/metrics/registry.ts";
import { runWorker } from "../src/runtime/worker.ts";
import { bundledCli } from "../bin/cli-bundle.js";

// As `clickpipe run` from its bundle: worker threads start from bundles named by the sources' key, built once per
// version of the sources, instead of an esbuild build of each thread entry in this process (0.1 s each, on the main
// thread, during processing).
await bundledCli();

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
// Phase marks: the first batch received (start-up before it), the drain's "drained …" log line (processing and the
// end-of-input flush before it), then the last checkpoint's encode, fsync and commit.
let firstBatchAt = Number.NaN;
let firstBatchCpu = Number.NaN;
let drainedCpu = Number.NaN;
let firstBatchRunDelay = Number.NaN;
let threadsAtFirstBatch: Record<string, number> = {};
let drainedRunDelay = Number.NaN;
const countReceived = metrics.eventsReceived.inc.bind(metrics.eventsReceived);
metrics.eventsReceived.inc = ((...args: Parameters<typeof countReceived>) => {
  if (Number.isNaN(firstBatchAt)) {
    firstBatchAt = performance.now();
    firstBatchCpu = mainThreadCpuSeconds();
    firstBatchRunDelay = mainThreadRunDelaySeconds();
    threadsAtFirstBatch = threadCpuSeconds();
  }
  return countReceived(...args);
}) as typeof metrics.eventsReceived.inc;
let drainedAt = Number.NaN;
// Threads that end with the worker (the session stage's) are read here, before the final checkpoint and close.
let threadsAtDrained: Record<string, number> = {};
const log = (line: string) => {
  if (line.startsWith("drained ")) {
    drainedAt = performance.now();
    drainedCpu = mainThreadCpuSeconds();
    drainedRunDelay = mainThreadRunDelaySeconds();
    threadsAtDrained = threadCpuSeconds();
  }
};
const started = performance.now();
const cpuBefore = process.cpuUsage();
const summary = await runWorker({ config: loaded.config, drain: true, metrics, log });
const endedAt = performance.now();
const seconds = (endedAt - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
// In drain mode the worker awaits each checkpoint (encode, fsync, commit), so their durations are stalls of the loop.
const checkpointMetric = (await metrics.checkpointDuration.get()).values;
const checkpointSeconds = checkpointMetric.find((value) => value.metricName?.endsWith("_sum"))?.value ?? Number.NaN;
const checkpoints = checkpointMetric.find((value) => value.metricName?.endsWith("_count"))?.value ?? Number.NaN;
clearInterval(sampler);
process.stdout.write(
  JSON.stringify({
    seconds,
    events: summary.events,
    eventsPerSecond: summary.events / seconds,
    // CPU time of every thread (main, Parquet encoder, loader): steadier than wall time on a shared machine.
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    phases: {
      startupSeconds: (firstBatchAt - started) / 1000,
      processingSeconds: (drainedAt - firstBatchAt) / 1000,
      finalCommitSeconds: (endedAt - drainedAt) / 1000,
      /** CPU time of the main thread alone while processing: what wall time would be on an idle machine. */
      processingMainThreadCpuSeconds: drainedCpu - firstBatchCpu,
      /** Time the main thread was ready to run but waited for a core while processing (other threads, other processes). */
      processingMainThreadRunDelaySeconds: drainedRunDelay - firstBatchRunDelay,
      checkpoints,
      checkpointSeconds,
    },
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    threadCpuSeconds: { ...threadsAtDrained, ...threadCpuSeconds() },
    processingThreadCpuSeconds: Object.fromEntries(
      Object.entries(threadsAtDrained).map(([name, seconds]) => [name, Number((seconds - (threadsAtFirstBatch[name] ?? 0)).toFixed(2))]),
    ),
    peakStateBytes,
    peakOpenSessions,
    bytesPerOpenSessionAtPeak,
  }) + "\n",
);

/** CPU seconds (user + system) of this process's main thread, from /proc (Linux; NaN elsewhere); 10 ms resolution. */
function mainThreadCpuSeconds(): number {
  try {
    return taskCpuSeconds(readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8"));
  } catch {
    return Number.NaN;
  }
}

/** Seconds this process's main thread spent runnable but waiting for a core, from schedstat (Linux; NaN elsewhere). */
function mainThreadRunDelaySeconds(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[1]) / 1e9;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds per thread ("main", else name and thread id: encoder workers, V8 and libuv helpers), from /proc (Linux). */
function threadCpuSeconds(): Record<string, number> {
  const byName: Record<string, number> = {};
  try {
    for (const task of readdirSync("/proc/self/task")) {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, "utf8");
      const name = task === String(process.pid) ? "main" : `${stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))} ${task}`;
      byName[name] = Number(taskCpuSeconds(stat).toFixed(2));
    }
  } catch {
    // Not Linux: no per-thread figures.
  }
  return byName;
}

/** utime + stime of a /proc task stat line: fields 14 and 15 of stat(5), counted from the state field (3); 1/100 s ticks. */
function taskCpuSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
