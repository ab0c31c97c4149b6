// Scale-out: the same generated events drained by the unpartitioned worker, by one worker of a partitioned pipeline
// (nats.partitions: 4, every task on one process) and by two `clickpipe run --worker-id` processes sharing the tasks.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { parsePipelineText } from "../src/config/load.ts";
import { ensureStream } from "../src/transport/stream.ts";
import { log, ROOT } from "./bench-kit.ts";
import { benchPipeline } from "./pipeline.ts";
import { processCpuSeconds } from "./peers.ts";
import { streamRecordPublisher } from "../src/ingest/stream-record-publisher.ts";

const PARTITIONS = 4;

export interface ScaleOutRun {
  workers: number;
  partitioned: boolean;
  /** Spawn of the processes to the last exit, process start-up included. */
  wallSeconds: number;
  /** The first task (or the unpartitioned worker) starting to the last exit: start-up excluded. */
  processingSeconds: number;
  eventsPerSecond: number;
  /** CPU of the worker processes and of nats-server during the run. */
  workerCpuSeconds: number;
  natsCpuSeconds: number;
}

export interface ScaleOutResult {
  events: number;
  partitions: number;
  runs: ScaleOutRun[];
  /** Two workers' events/s over one worker's, both partitioned. */
  twoVsOne: number;
  /** One worker of the partitioned pipeline over the unpartitioned worker. */
  partitionedVsFlat: number;
  cores: number;
}

function pipelineText(natsUrl: string, stream: string, out: string, name: string, partitions: number): string {
  return benchPipeline(natsUrl, stream, out)
    .replace(/^name: bench$/m, `name: ${name}`)
    .replace(`  stream: ${stream}\n`, `  stream: ${stream}\n  partitions: ${partitions}\n`);
}

/** Spawns `clickpipe run --drain` processes and waits for all of them; times from spawn and from the first task start. */
async function drainWith(file: string, workers: number, natsPid: number | undefined): Promise<Omit<ScaleOutRun, "eventsPerSecond" | "partitioned">> {
  const started = performance.now();
  const natsBefore = processCpuSeconds(natsPid);
  let firstTaskAt = Number.POSITIVE_INFINITY;
  const children = Array.from({ length: workers }, (_, index) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "clickpipe.js"), "run", file, "--drain", "--worker-id", `bench${index}`], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let errors = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      errors = (errors + text).slice(-4000);
      // BENCH_SCALE_LOG=1: each worker's log with the seconds since spawn, to see how the tasks move between workers.
      if (process.env.BENCH_SCALE_LOG === "1") {
        const at = ((performance.now() - started) / 1000).toFixed(2);
        for (const line of text.split("\n")) if (line !== "") process.stderr.write(`[${at} s, worker ${index}] ${line}\n`);
      }
      if (/ runs \S+|^(starting|resuming) /m.test(text)) firstTaskAt = Math.min(firstTaskAt, performance.now());
    });
    return new Promise<void>((resolve, reject) =>
      child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`worker ${index} exited with ${code}: ${errors}`)))),
    );
  });
  const cpuBefore = processCpuSeconds(process.pid, "children");
  await Promise.all(children);
  const ended = performance.now();
  return {
    workers,
    wallSeconds: (ended - started) / 1000,
    processingSeconds: (ended - Math.min(firstTaskAt, ended)) / 1000,
    workerCpuSeconds: processCpuSeconds(process.pid, "children") - cpuBefore,
    natsCpuSeconds: processCpuSeconds(natsPid) - natsBefore,
  };
}

export async function measureScaleOut(
  connection: NatsConnection,
  natsUrl: string,
  out: string,
  lines: readonly string[],
  natsPid: number | undefined,
  cores: number,
): Promise<ScaleOutResult> {
  const stream = `BENCH_SCALE_${process.pid}`;
  // The unpartitioned pipeline reads a stream of its own, published as it would publish it: over a partitioned stream
  // it would read every partition without being held back by those it has not read yet (`clickpipe run` warns).
  const flatStream = `${stream}_FLAT`;
  const manager = await jetstreamManager(connection);
  try {
    const receivedAt = Date.now();
    for (const [target, partitions] of [[flatStream, 1], [stream, PARTITIONS]] as const) {
      await ensureStream(manager, target);
      const publishText = pipelineText(natsUrl, target, join(out, "scale-publish"), "scale_publish", partitions);
      const loaded = parsePipelineText(publishText, "bench.yaml", process.env);
      if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
      const publisher = streamRecordPublisher({ config: loaded.config, js: jetstream(connection), connection, source: "publish", msgIdPrefix: target });
      log(`scale-out: publishing ${lines.length.toLocaleString("en")} events over ${partitions} partition(s)…`);
      for (const line of lines) await publisher.publishJsonLine(line, receivedAt);
      await publisher.flush();
    }

    const runs: ScaleOutRun[] = [];
    const plans: { name: string; partitions: number; workers: number }[] = [
      { name: "scale_flat", partitions: 1, workers: 1 },
      { name: "scale_one", partitions: PARTITIONS, workers: 1 },
      { name: "scale_two", partitions: PARTITIONS, workers: 2 },
    ];
    for (const plan of plans) {
      const file = join(out, `${plan.name}.yaml`);
      await writeFile(file, pipelineText(natsUrl, plan.partitions > 1 ? stream : flatStream, join(out, plan.name), plan.name, plan.partitions));
      log(`scale-out: ${plan.name}: ${plan.workers} worker(s), ${plan.partitions} partition(s)…`);
      const run = await drainWith(file, plan.workers, natsPid);
      const eventsPerSecond = lines.length / run.processingSeconds;
      runs.push({ ...run, partitioned: plan.partitions > 1, eventsPerSecond });
      log(`scale-out: ${plan.name}: ${Math.round(eventsPerSecond).toLocaleString("en")} events/s (${run.processingSeconds.toFixed(1)} s)`);
    }
    const [flat, one, two] = runs;
    return {
      events: lines.length,
      partitions: PARTITIONS,
      runs,
      twoVsOne: two.eventsPerSecond / one.eventsPerSecond,
      partitionedVsFlat: one.eventsPerSecond / flat.eventsPerSecond,
      cores,
    };
  } finally {
    await manager.streams.delete(stream).catch(() => undefined);
    await manager.streams.delete(flatStream).catch(() => undefined);
  }
}
