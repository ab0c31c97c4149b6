// `clickpipe run <pipeline.yaml> [--drain] [--worker-id <id>] [--metrics-port <port|range>]`: runs a pipeline until
// Ctrl-C, or drains the stream.
import { parseCommandLine } from "./parse-command-line.ts";
import { startSources } from "../ingest/sources.ts";
import { Metrics } from "../metrics/registry.ts";
import { runPartitionedWorker, type PartitionedSummary } from "../runtime/partitioned-worker.ts";
import { isPartitioned } from "../runtime/tasks.ts";
import { assertPartitionCountsBeforeIntake } from "../runtime/partition-count.ts";
import { assertConfigUnchangedBeforeIntake } from "../runtime/config-change.ts";
import { connectNats } from "../transport/connection.ts";
import { portViolations, type PipelineConfig } from "../config/pipeline.ts";
import { isPortRange, parsePortRange } from "../config/port-range.ts";
import { runWorker, type WorkerSummary } from "../runtime/worker.ts";
import { loadPipelineOrThrow } from "./load-config.ts";

export const runUsage = "usage: clickpipe run <pipeline.yaml> [--drain] [--worker-id <id>] [--metrics-port <port|range>]";

/** A command line run cannot start with: exit 2, the message naming the bad value. */
export class RunUsageError extends Error {
  override name = "RunUsageError";
}

/**
 * The config with `--metrics-port` (a port, or a range "9464-9467") in place of the file's metrics.port, which the
 * flag overrides whatever set it (the file, a ${VAR} in it, the default); a file without a metrics section gets one on
 * 0.0.0.0. Throws RunUsageError naming a bad value or a port a source of the file listens on.
 */
export function withMetricsPort(config: PipelineConfig, text: string): PipelineConfig {
  const written = text.trim();
  let port: number | string = written;
  if (/^\d+$/.test(written)) {
    port = Number(written);
    if (port > 65535) throw new RunUsageError(`--metrics-port must be a port 0-65535 or a range like 9464-9467, got "${text}"`);
  } else {
    const range = parsePortRange(written);
    if (!isPortRange(range)) throw new RunUsageError(`--metrics-port: ${range.message}. ${range.hint}`);
  }
  const overridden = { ...config, metrics: { host: config.metrics?.host ?? "0.0.0.0", port } };
  const [clash] = portViolations(overridden);
  if (clash !== undefined) throw new RunUsageError(`--metrics-port: ${clash.message}. ${clash.hint ?? ""}`.trimEnd());
  return overridden;
}

async function checkCheckpointsBeforeIntake(config: PipelineConfig): Promise<void> {
  if ((config.sources ?? []).length === 0) return;
  const connection = await connectNats(config.nats);
  try {
    await assertPartitionCountsBeforeIntake(config, connection);
    await assertConfigUnchangedBeforeIntake(config, connection);
  } finally {
    await connection.close();
  }
}

export async function runRun(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: argv,
    allowPositionals: true,
    options: { drain: { type: "boolean", default: false }, "worker-id": { type: "string" }, "metrics-port": { type: "string" } },
  });
  if (positionals.length !== 1) {
    console.error(`clickpipe run: ${positionals.length === 0 ? "name a pipeline file" : "name one pipeline file"}\n${runUsage}`);
    return 2;
  }
  // Said once, at start: a key left out because its variable is set but empty runs on its default.
  const fromFile = await loadPipelineOrThrow(positionals[0]);
  let config: PipelineConfig;
  try {
    config = values["metrics-port"] === undefined ? fromFile : withMetricsPort(fromFile, values["metrics-port"]);
  } catch (error) {
    if (!(error instanceof RunUsageError)) throw error;
    console.error(`clickpipe run: ${error.message}\n${runUsage}`);
    return 2;
  }
  const controller = new AbortController();
  const stop = (signal: string) => {
    console.error(`${signal}: stopping intake, committing a checkpoint`);
    controller.abort();
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
  const log = (line: string) => console.error(line);
  const metrics = new Metrics({ defaultMetrics: config.metrics !== undefined });
  // Sources feed the stream in live runs; a drain processes only what the stream holds at start. They start only once
  // the pipeline's partition counts and settings are known to match its checkpoints (the worker checks again, for
  // drains too): a changed nats.stream would otherwise take events the pipeline then refuses to read.
  if (!values.drain) await checkCheckpointsBeforeIntake(config);
  const sources = values.drain ? undefined : await startSources(config, { metrics, log, workerId: values["worker-id"] });
  let summary: WorkerSummary;
  let position: string;
  try {
    const options = { config, drain: values.drain, workerId: values["worker-id"], signal: controller.signal, metrics, log };
    if (isPartitioned(config)) {
      // Tasks claimed through leases, so any number of workers can share the pipeline.
      const partitioned: PartitionedSummary = await runPartitionedWorker(options);
      summary = partitioned;
      position = `ran ${partitioned.tasks.map((task) => `${task.task} (${task.outcome})`).join(", ") || "no task"}`;
    } else {
      summary = await runWorker(options);
      position = `committed through sequence ${summary.position} (epoch ${summary.epoch})`;
    }
  } finally {
    await sources?.stop();
  }
  // Late events are no error, but a drain that sent most of a file to late_events must not look like a clean one.
  // Input the stream discarded unread is said again here (the log said when): the output lacks those events.
  const discarded = summary.discarded > 0 ? `, ${summary.discarded} stream messages lost unread (discarded by the stream's limits)` : "";
  console.log(
    `${config.name}: ${summary.events} events, ${summary.invalid} invalid, ${summary.deadLetters} dead letters, ${summary.late} late ` +
      `(late_events)${discarded}; ${position}`,
  );
  return 0;
}
