// `npm start`: the demo pipeline fed by generated traffic in accelerated event time, against a local NATS.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { PipelineConfig } from "../config/pipeline.ts";
import { publishTraffic } from "../ingest/traffic-publisher.ts";
import { Metrics } from "../metrics/registry.ts";
import { ListenError } from "../runtime/listen.ts";
import { runWorker } from "../runtime/worker.ts";
import { splitBatch } from "../transport/batch-codec.ts";
import { connectNats } from "../transport/connection.ts";
import { ensureLocalNats, NatsServerMissingError } from "../transport/local-server.ts";
import { ensureStream, streamOptions } from "../transport/stream.ts";
import { eventsSubject } from "../transport/subjects.ts";
import { asksForHelp } from "./asks-for-help.ts";
import { loadPipelineOrThrow } from "./load-config.ts";

const DAY_MS = 86_400_000;
const DEMO_PIPELINE = fileURLToPath(new URL("../../pipelines/demo.yaml", import.meta.url));

export const demoUsage = `usage: clickpipe demo
       the demo behind npm start: generated traffic → NATS → pipelines/demo.yaml → Parquet; Ctrl-C commits and exits.
       It takes no arguments; environment variables set it up:
  NATS_URL                       the NATS server (default nats://127.0.0.1:4222; when none answers, it starts nats-server -js)
  CLICKPIPE_OUT                  the Parquet lake (default ./data; a server it starts keeps its stream in <lake>/_nats)
  CLICKPIPE_STREAM               the stream (default CLICKPIPE_DEMO)
  CLICKPIPE_METRICS_PORT         Prometheus metrics (default 9464)
  CLICKPIPE_CHECKPOINT_INTERVAL  how often a checkpoint commits (default 5s)
  CLICKPIPE_STREAM_MAX_BYTES     the stream keeps at most this much, oldest discarded (default 2GiB; a size such as 10GiB)
  CLICKPIPE_STREAM_MAX_AGE       the stream discards messages older than this (default 6h; at least 2m)
  CLICKPIPE_DEMO_RATE            events per second (default 5000)
  CLICKPIPE_DEMO_VISITORS        visitors per period (default 3000)
  CLICKPIPE_DEMO_DAYS            days of event time per period (default 14)
  CLICKPIPE_DEMO_ROUNDS          periods to send, then the traffic stops (default: no end)
  CLICKPIPE_DEMO_FAULTS_EVERY    one invalid record and one late event per that many events (default 5000; 0: none)
(README.md has the details)`;

/** The traffic's settings, read from the CLICKPIPE_DEMO_* variables. */
export interface DemoTraffic {
  rate: number;
  visitors: number;
  days: number;
  rounds: number;
  faultsEvery: number;
}

/** Each variable: its default, the smallest value it takes, whether it must be whole, and what it counts. */
const DEMO_VARIABLES: Record<string, { key: keyof DemoTraffic; fallback: number; min: number; whole: boolean; what: string }> = {
  CLICKPIPE_DEMO_RATE: { key: "rate", fallback: 5000, min: Number.MIN_VALUE, whole: false, what: "events per second above 0" },
  CLICKPIPE_DEMO_VISITORS: { key: "visitors", fallback: 3000, min: 1, whole: true, what: "a whole number of visitors, at least 1" },
  CLICKPIPE_DEMO_DAYS: { key: "days", fallback: 14, min: 1, whole: true, what: "a whole number of days, at least 1" },
  CLICKPIPE_DEMO_ROUNDS: { key: "rounds", fallback: Number.POSITIVE_INFINITY, min: 1, whole: true, what: "a whole number of periods, at least 1" },
  CLICKPIPE_DEMO_FAULTS_EVERY: { key: "faultsEvery", fallback: 5000, min: 0, whole: true, what: "a whole number of events, 0 for no faults" },
};

/**
 * The demo's traffic settings from the environment, or the first variable that holds no such number, named with what
 * it takes: `Number("abc")` used to give NaN, and NaN visitors sent nothing at all without a word.
 */
export function demoTraffic(env: NodeJS.ProcessEnv): DemoTraffic | { error: string } {
  const settings = {} as DemoTraffic;
  for (const [name, rule] of Object.entries(DEMO_VARIABLES)) {
    const text = env[name]?.trim();
    if (text === undefined || text === "") {
      settings[rule.key] = rule.fallback;
      continue;
    }
    const value = Number(text);
    if (!Number.isFinite(value) || value < rule.min || (rule.whole && !Number.isInteger(value))) {
      return { error: `${name}=${env[name]} is not a valid setting: it takes ${rule.what} (default ${rule.fallback === Number.POSITIVE_INFINITY ? "no end" : rule.fallback})` };
    }
    settings[rule.key] = value;
  }
  return settings;
}

export async function runDemo(argv: string[]): Promise<number> {
  if (asksForHelp(argv)) {
    console.log(demoUsage);
    return 0;
  }
  if (argv.length > 0) {
    console.error(`clickpipe demo: takes no arguments, got ${argv.join(" ")} (CLICKPIPE_DEMO_* variables set it up: README.md)`);
    return 2;
  }
  const traffic = demoTraffic(process.env);
  if ("error" in traffic) {
    console.error(`clickpipe demo: ${traffic.error}`);
    return 2;
  }
  const requestedUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  // A server of our own keeps its stream beside the Parquet it feeds: a restarted demo then finds the traffic it sent
  // and continues after it, where a fresh store would get the same traffic again and every row would be written twice.
  // Its warnings are said by the load below, of the config the demo runs.
  const lake = (await loadPipelineOrThrow(DEMO_PIPELINE, process.env, () => {})).sinks.find((sink) => sink.type === "parquet")?.path ?? "./data";
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
  const sending = sendTraffic(config, traffic, metrics, controller.signal).catch((error: unknown) => {
    console.error(`traffic generator stopped: ${(error as Error).message}`);
  });
  try {
    let summary;
    try {
      summary = await worker;
    } catch (error) {
      // A worker that could not start (metrics.port taken) or failed: the traffic stops with it. It went on filling
      // the stream at CLICKPIPE_DEMO_RATE with nothing reading it, and kept the process alive until a Ctrl-C.
      controller.abort();
      await sending;
      if (error instanceof ListenError && error.message.startsWith("metrics:")) {
        throw new ListenError(`${error.message} (the demo's is CLICKPIPE_METRICS_PORT, default 9464; 0 takes a free one, a range such as 9464-9467 the first free port of it)`);
      }
      throw error;
    }
    await sending;
    const discarded = summary.discarded > 0 ? `, ${summary.discarded} stream messages lost unread (discarded by the stream's limits)` : "";
    console.error(`clickpipe demo: ${summary.events} events processed${discarded}, committed through sequence ${summary.position}`);
  } finally {
    await nats.started?.stop();
  }
  return 0;
}

/**
 * Generated traffic at a steady rate, starting after whatever the stream already holds, period after period until
 * stopped (CLICKPIPE_DEMO_ROUNDS bounds it): live dashboards keep moving instead of going flat after the first period.
 */
async function sendTraffic(config: PipelineConfig, settings: DemoTraffic, metrics: Metrics, signal: AbortSignal): Promise<void> {
  const { rate, visitors, days, rounds, faultsEvery } = settings;
  const connection = await connectNats(config.nats);
  let start: number;
  try {
    const manager = await jetstreamManager(connection);
    await ensureStream(manager, config.nats.stream, streamOptions(config.nats, (line) => console.error(line)));
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
