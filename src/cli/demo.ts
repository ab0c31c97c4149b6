// `npm start`: the demo pipeline fed by generated traffic in accelerated event time, against a local NATS.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { PipelineConfig } from "../config/pipeline.ts";
import { publishTraffic } from "../ingest/traffic-publisher.ts";
import { Metrics } from "../metrics/registry.ts";
import { runWorker } from "../runtime/worker.ts";
import { splitBatch } from "../transport/batch-codec.ts";
import { connectNats } from "../transport/connection.ts";
import { ensureLocalNats, NatsServerMissingError } from "../transport/local-server.ts";
import { ensureStream } from "../transport/stream.ts";
import { eventsSubject } from "../transport/subjects.ts";
import { loadPipelineOrThrow } from "./load-config.ts";

const DAY_MS = 86_400_000;
const DEMO_PIPELINE = fileURLToPath(new URL("../../pipelines/demo.yaml", import.meta.url));

export async function runDemo(argv: string[]): Promise<number> {
  if (argv.length > 0) {
    console.error(`clickpipe demo: takes no arguments, got ${argv.join(" ")} (CLICKPIPE_DEMO_* variables set it up: README.md)`);
    return 2;
  }
  const requestedUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  // A server of our own keeps its stream beside the Parquet it feeds: a restarted demo then finds the traffic it sent
  // and continues after it, where a fresh store would get the same traffic again and every row would be written twice.
  const lake = (await loadPipelineOrThrow(DEMO_PIPELINE)).sinks.find((sink) => sink.type === "parquet")?.path ?? "./data";
  let nats;
  try {
    nats = await ensureLocalNats(requestedUrl, { storeDir: join(lake, "_nats") });
  } catch (error) {
    if (error instanceof NatsServerMissingError) {
      console.error(`clickpipe demo: ${error.message}`);
      return 1;
    }
    throw error;
  }
  if (nats.started) console.error(`nothing answered at ${requestedUrl}: started nats-server -js at ${nats.url} (store ${nats.started.storeDir}, kept for the next run)`);
  const env = { ...process.env, NATS_URL: nats.url };
  const config = await loadPipelineOrThrow(DEMO_PIPELINE, env);
  const metrics = new Metrics({ defaultMetrics: true });
  const controller = new AbortController();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${signal}: stopping traffic, committing a checkpoint, exiting`);
    controller.abort();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  const sinkPath = config.sinks.find((sink) => sink.type === "parquet")?.path ?? "./data";
  console.error(`clickpipe demo: pipeline ${config.name}, stream ${config.nats.stream}, Parquet under ${sinkPath}`);
  const worker = runWorker({ config, signal: controller.signal, metrics, log: (line) => console.error(line) });
  const traffic = sendTraffic(config, metrics, controller.signal).catch((error: unknown) => {
    console.error(`traffic generator stopped: ${(error as Error).message}`);
  });
  try {
    const summary = await worker;
    await traffic;
    console.error(`clickpipe demo: ${summary.events} events processed, committed through sequence ${summary.position}`);
  } finally {
    await nats.started?.stop();
  }
  return 0;
}

/**
 * Generated traffic at a steady rate, starting after whatever the stream already holds, period after period until
 * stopped (CLICKPIPE_DEMO_ROUNDS bounds it): live dashboards keep moving instead of going flat after the first period.
 */
async function sendTraffic(config: PipelineConfig, metrics: Metrics, signal: AbortSignal): Promise<void> {
  const rate = Number(process.env.CLICKPIPE_DEMO_RATE ?? 5000);
  const visitors = Number(process.env.CLICKPIPE_DEMO_VISITORS ?? 3000);
  const days = Number(process.env.CLICKPIPE_DEMO_DAYS ?? 14);
  const rounds = Number(process.env.CLICKPIPE_DEMO_ROUNDS ?? Number.POSITIVE_INFINITY);
  const faultsEvery = Number(process.env.CLICKPIPE_DEMO_FAULTS_EVERY ?? 5000);
  const connection = await connectNats(config.nats);
  let start: number;
  try {
    const manager = await jetstreamManager(connection);
    await ensureStream(manager, config.nats.stream, { replicas: config.nats.replicas });
    // A restarted demo continues after the traffic already in the stream, so its events are not all late.
    start = await nextDayAfterStream(manager, config.nats.stream, config.nats.partitions);
  } finally {
    await connection.drain().catch(() => connection.close());
  }
  for (let round = 0; round < rounds && !signal.aborted; round++) {
    const from = start + round * days * DAY_MS;
    // Another seed each period: new event and order ids, so nothing in it is taken for a repeat of the last period.
    const seed = round + 1;
    console.error(`generating ${visitors} visitors over ${days} day${days === 1 ? "" : "s"} from ${new Date(from).toISOString()} at ${rate} events/s (period ${round + 1})`);
    // A few invalid records and late events among them, as real sites send: invalid_events and late_events fill too.
    // Days of event time pass in seconds, so events arrive at their own time, not the clock's (which they soon pass).
    const counts = await publishTraffic({ config, traffic: { visitors, days, seed, start: from }, rate, signal, metrics, faultsEvery, arrivalAtEventTime: true });
    console.error(`traffic: published ${counts.published} events (${counts.rejected} rejected, ${counts.filtered} filtered)`);
  }
}

/** How far back from a partition's last message the demo looks for one that holds event times. */
const MESSAGES_LOOKED_BACK = 50;

/**
 * The day after the latest event time in the stream's partitions: each partition's last message, or the nearest one
 * before it that holds events (someone else's message that is not JSON may be last). A month ago when there is none.
 */
async function nextDayAfterStream(manager: JetStreamManager, stream: string, partitions: number): Promise<number> {
  let latest = Number.NEGATIVE_INFINITY;
  for (let partition = 0; partition < partitions; partition++) {
    const subject = eventsSubject(stream, partition);
    let message = await manager.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
    for (let looked = 0; message !== null && looked < MESSAGES_LOOKED_BACK; looked++) {
      let found = Number.NEGATIVE_INFINITY;
      if (message.subject === subject) for (const line of splitBatch(message.data)) found = Math.max(found, eventTimeOf(line) ?? found);
      if (Number.isFinite(found)) {
        latest = Math.max(latest, found);
        break;
      }
      const before = message.seq - 1;
      // Other subjects' messages (dead letters, other partitions) lie between; a deleted sequence ends the search.
      message = before > 0 ? await manager.streams.getMessage(stream, { seq: before }).catch(() => null) : null;
    }
  }
  if (!Number.isFinite(latest)) return Math.floor(Date.now() / DAY_MS) * DAY_MS - 30 * DAY_MS;
  return (Math.floor(latest / DAY_MS) + 1) * DAY_MS;
}

/** A stored line's event time in epoch ms (ISO text or a number), or undefined for a line that is not such a record. */
function eventTimeOf(line: string): number | undefined {
  let ts: unknown;
  try {
    ts = (JSON.parse(line) as { ts?: unknown } | null)?.ts;
  } catch {
    return undefined; // Not JSON: someone else's message on the subject; the worker dead-letters it, the demo skips it.
  }
  const parsed = typeof ts === "string" ? Date.parse(ts) : Number.NaN;
  const value = Number.isFinite(parsed) ? parsed : Number(ts);
  return Number.isFinite(value) ? value : undefined;
}
