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
let sessionizeBytesPerOpenSessionAtPeak = 0;
let peakCustomers = 0;
let churnBytesPerCustomerAtPeak = 0;
let churnPeakBytes = 0;
// The worker sets the state gauges once a second, by operator (clickpipe_state_bytes{operator}, clickpipe_state_keys).
const sampler = setInterval(async () => {
  const byOperator = new Map((await metrics.stateBytes.get()).values.map((value) => [value.labels.operator, value.value]));
  const state = [...byOperator.values()].reduce((sum, bytes) => sum + bytes, 0);
  const open = (await metrics.openSessions.get()).values[0]?.value ?? 0;
  if (open > peakOpenSessions) {
    peakOpenSessions = open;
    bytesPerOpenSessionAtPeak = open > 0 ? state / open : 0;
    sessionizeBytesPerOpenSessionAtPeak = open > 0 ? (byOperator.get("sessionize") ?? 0) / open : 0;
  }
  peakStateBytes = Math.max(peakStateBytes, state);
  const customers = await churnCustomers();
  if (customers > peakCustomers) {
    peakCustomers = customers;
    churnBytesPerCustomerAtPeak = (byOperator.get("churnFeatures") ?? 0) / customers;
  }
  churnPeakBytes = Math.max(churnPeakBytes, byOperator.get("churnFeatures") ?? 0);
}, 250);

/** churnFeatures' customers as the worker last set them (clickpipe_state_keys). */
async function churnCustomers(): Promise<number> {
  return (await metrics.stateKeys.get()).values.find((value) => value.labels.operator === "churnFeatures" && value.labels.kind === "customers")?.value ?? 0;
}

/** churnFeatures' state bytes and customers as the worker last set them (clickpipe_state_bytes / _keys). */
async function churnState(): Promise<{ bytes: number; customers: number }> {
  const bytes = (await metrics.stateBytes.get()).values.find((value) => value.labels.operator === "churnFeatures")?.value ?? 0;
  return { bytes, customers: await churnCustomers() };
}
/** (time, events processed) every 100 ms (CP_PROGRESS_MS): the rate between 20% and 90% of the events, warm-up and the end left out. */
const progress: [number, number][] = [];
const progressSampler = setInterval(() => {
  const at = performance.now();
  void metrics.eventsProcessed.get().then((counter) => progress.push([at, counter.values.reduce((sum, value) => sum + value.value, 0)]));
}, Number(process.env.CP_PROGRESS_MS ?? 100));
// Phase marks: ready to read (the worker's "starting …"/"resuming …" line: connected, recovered, its threads up),
// the drain's "drained …" log line (processing and the end-of-input flush before it), then the last checkpoint's
// encode, fsync and commit. The events/s counts from ready: process start-up is left out, as the issue asks and as
// the ceiling child starts its clock once connected.
let readyAt = Number.NaN;
let readyCpu = Number.NaN;
let readyRunDelay = Number.NaN;
let readyFaults = Number.NaN;
let threadsAtReady: Record<string, number> = {};
let cpuAtReady: NodeJS.CpuUsage | undefined;
let drainedCpu = Number.NaN;
let drainedRunDelay = Number.NaN;
let drainedFaults = Number.NaN;
let drainedAt = Number.NaN;
// Threads that end with the worker (the mining thread) are read here, before the final checkpoint and close.
let threadsAtDrained: Record<string, number> = {};
const log = (line: string) => {
  if (Number.isNaN(readyAt) && /^(starting|resuming) /.test(line)) {
    readyAt = performance.now();
    readyCpu = mainThreadCpuSeconds();
    readyRunDelay = mainThreadRunDelaySeconds();
    readyFaults = mainThreadMinorFaults();
    threadsAtReady = threadCpuSeconds();
    cpuAtReady = process.cpuUsage();
  }
  if (line.startsWith("drained ")) {
    drainedAt = performance.now();
    drainedCpu = mainThreadCpuSeconds();
    drainedRunDelay = mainThreadRunDelaySeconds();
    drainedFaults = mainThreadMinorFaults();
    threadsAtDrained = threadCpuSeconds();
  }
};
const started = performance.now();
const cpuBefore = process.cpuUsage();
const summary = await runWorker({ config: loaded.config, drain: true, metrics, log });
const endedAt = performance.now();
if (Number.isNaN(readyAt)) throw new Error("the worker never logged that it started reading");
const seconds = (endedAt - readyAt) / 1000;
const cpuWithStartup = process.cpuUsage(cpuBefore);
const cpu = process.cpuUsage(cpuAtReady);
// In drain mode the worker awaits each checkpoint (encode, fsync, commit), so their durations are stalls of the loop.
const checkpointMetric = (await metrics.checkpointDuration.get()).values;
const checkpointSeconds = checkpointMetric.find((value) => value.metricName?.endsWith("_sum"))?.value ?? Number.NaN;
const checkpoints = checkpointMetric.find((value) => value.metricName?.endsWith("_count"))?.value ?? Number.NaN;
clearInterval(sampler);
clearInterval(progressSampler);
// The worker sets the gauges once more after the end of input: every period folded, churnFeatures' pending buffers
// (a period's sessions, buckets and identity mappings, held for its fold) are empty, so what is left is per customer.
const churnAtEnd = await churnState();
churnPeakBytes = Math.max(churnPeakBytes, churnAtEnd.bytes);
// CP_PROGRESS=1: the progress samples (ms since ready, events processed) on stderr, to see the warm-up and the end.
if (process.env.CP_PROGRESS === "1") for (const [at, processed] of progress) process.stderr.write(`${(at - readyAt).toFixed(0)} ${processed}\n`);
const steadyFrom = progress.find(([, processed]) => processed >= 0.2 * summary.events);
const steadyTo = progress.findLast(([, processed]) => processed <= 0.9 * summary.events);
const steadyEventsPerSecond =
  steadyFrom !== undefined && steadyTo !== undefined && steadyTo[0] > steadyFrom[0] ? ((steadyTo[1] - steadyFrom[1]) / (steadyTo[0] - steadyFrom[0])) * 1000 : Number.NaN;
process.stdout.write(
  JSON.stringify({
    seconds,
    events: summary.events,
    eventsPerSecond: summary.events / seconds,
    secondsWithStartup: (endedAt - started) / 1000,
    steadyEventsPerSecond,
    // CPU time of every thread (main, mining thread, Parquet encoders, V8's helpers) from ready to the end: steadier
    // than wall time on a shared machine.
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    cpuSecondsWithStartup: (cpuWithStartup.user + cpuWithStartup.system) / 1e6,
    phases: {
      startupSeconds: (readyAt - started) / 1000,
      processingSeconds: (drainedAt - readyAt) / 1000,
      finalCommitSeconds: (endedAt - drainedAt) / 1000,
      /** CPU time of the main thread alone while processing: what wall time would be on an idle machine. */
      processingMainThreadCpuSeconds: drainedCpu - readyCpu,
      /** Time the main thread was ready to run but waited for a core while processing (other threads, other processes). */
      processingMainThreadRunDelaySeconds: drainedRunDelay - readyRunDelay,
      processingMainThreadMinorFaults: drainedFaults - readyFaults,
      checkpoints,
      checkpointSeconds,
    },
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    threadCpuSeconds: { ...threadsAtDrained, ...threadCpuSeconds() },
    processingThreadCpuSeconds: Object.fromEntries(
      Object.entries(threadsAtDrained).map(([name, seconds]) => [name, Number((seconds - (threadsAtReady[name] ?? 0)).toFixed(2))]),
    ),
    peakStateBytes,
    peakOpenSessions,
    bytesPerOpenSessionAtPeak,
    sessionizeBytesPerOpenSessionAtPeak,
    peakCustomers,
    churnBytesPerCustomerAtPeak,
    customersAtEnd: churnAtEnd.customers,
    churnBytesPerCustomerAtEnd: churnAtEnd.customers > 0 ? churnAtEnd.bytes / churnAtEnd.customers : Number.NaN,
    churnPeakBytes,
  }) + "\n",
);

/** CPU seconds (user + system) of this process's main thread, from /proc (Linux; NaN elsewhere); 10 ms resolution. */
function mainThreadCpuSeconds(): number {
  const stat = mainThreadStat();
  return stat === undefined ? Number.NaN : taskCpuSeconds(stat);
}

/** Minor page faults of this process's main thread so far, from /proc (Linux; NaN elsewhere). */
function mainThreadMinorFaults(): number {
  const stat = mainThreadStat();
  return stat === undefined ? Number.NaN : Number(statFields(stat)[7]);
}

/** The main thread's /proc stat line (undefined off Linux). */
function mainThreadStat(): string | undefined {
  try {
    return readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
  } catch {
    return undefined;
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
  const fields = statFields(stat);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The fields of a /proc stat line after the command name (which may hold spaces): state first. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}
