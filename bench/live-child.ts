// Benchmark child: runs one pipeline in live mode and records, per processed message, the time from the last event's
// `ts` (its publish time, set by the parent) to the end of its processing. Stops once the parent's expected count is in.
import { parsePipelineText } from "../src/config/load.ts";
import { Metrics } from "../src/metrics/registry.ts";
import { runWorker } from "../src/runtime/worker.ts";
import { bundledCli } from "../bin/cli-bundle.js";
import { quantile } from "./bench-kit.ts";

// As `clickpipe run` from its bundle, and as bench/drain-child.ts: worker threads start from bundles named by the
// sources' key. Without it each thread's entry was bundled again by esbuild on this process's main thread when the
// thread started, with the first rows, inside the measured run (≈ 0.14 s in a profiled live run).
await bundledCli();

const [pipelineText] = process.argv.slice(2);
const loaded = parsePipelineText(pipelineText, "bench-live.yaml", process.env);
if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
const metrics = new Metrics();
const latenciesSeconds: number[] = [];
// The worker observes clickpipe_event_latency_seconds once per message, after every event of it went through the operators.
const observe = metrics.eventLatency.observe.bind(metrics.eventLatency);
metrics.eventLatency.observe = ((...args: Parameters<typeof observe>) => {
  const value = args[0];
  if (typeof value === "number") latenciesSeconds.push(value);
  return observe(...args);
}) as typeof metrics.eventLatency.observe;
let received = 0;
let expected = Number.POSITIVE_INFINITY;
const controller = new AbortController();
const countReceived = metrics.eventsReceived.inc.bind(metrics.eventsReceived) as (...args: unknown[]) => void;
metrics.eventsReceived.inc = ((...args: unknown[]) => {
  // The worker calls inc({ source }, events of the message).
  received += typeof args[1] === "number" ? args[1] : 1;
  if (received >= expected) controller.abort();
  countReceived(...args);
}) as typeof metrics.eventsReceived.inc;
process.on("message", (message: { expected: number }) => {
  expected = message.expected;
  if (received >= expected) controller.abort();
});
const log = (line: string) => {
  if (/^(starting|resuming) /.test(line)) process.send?.({ ready: true });
};
const cpuBefore = process.cpuUsage();
await runWorker({ config: loaded.config, drain: false, metrics, log, signal: controller.signal });
const cpu = process.cpuUsage(cpuBefore);
const sorted = latenciesSeconds.slice().sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({
    events: received,
    messages: sorted.length,
    p50Ms: quantile(sorted, 0.5) * 1000,
    p99Ms: quantile(sorted, 0.99) * 1000,
    maxMs: (sorted[sorted.length - 1] ?? Number.NaN) * 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  }) + "\n",
);
process.disconnect?.();
