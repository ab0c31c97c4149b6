// Peers and scale for the end to end (issue 10): DuckDB SQL sessionization of the same events, a live run at a fixed
// rate (publish → operator latency), and two pipelines drained at once against one. Called by run.ts.
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { parsePipelineText } from "../src/config/load.ts";
import { ensureStream } from "../src/transport/stream.ts";
import { log, ROOT, runJsonChild } from "./bench-kit.ts";
import type { DrainResult } from "./drain-result.ts";
import type { LivePublishResult } from "./live-publisher-child.ts";
import { benchPipeline } from "./pipeline.ts";
import { streamRecordPublisher } from "../src/ingest/stream-record-publisher.ts";

const GAP_MINUTES = 30;

export interface DuckdbSessionizeResult {
  events: number;
  sessions: number;
  seconds: number;
  eventsPerSecond: number;
  threads: number;
}

/** Sessions per (site_id, anon_id) with a 30-minute gap, in DuckDB SQL: LAG for the gap, a running SUM for the id. */
export async function duckdbSessionize(ndjsonPath: string): Promise<DuckdbSessionizeResult> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    const threads = Number((await connection.runAndReadAll("SELECT current_setting('threads') AS t")).getRows()[0][0]);
    const sql = `
      WITH events AS (
        SELECT site_id, anon_id, CAST(ts AS TIMESTAMPTZ) AS ts
        FROM read_json('${ndjsonPath}', format = 'newline_delimited',
                       columns = {site_id: 'VARCHAR', anon_id: 'VARCHAR', ts: 'VARCHAR'})
        WHERE anon_id IS NOT NULL
      ),
      marked AS (
        SELECT *, CASE WHEN ts - LAG(ts) OVER visitor <= INTERVAL ${GAP_MINUTES} MINUTE THEN 0 ELSE 1 END AS starts_session
        FROM events WINDOW visitor AS (PARTITION BY site_id, anon_id ORDER BY ts)
      ),
      numbered AS (
        SELECT *, SUM(starts_session) OVER (PARTITION BY site_id, anon_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS session_number
        FROM marked
      ),
      sessions AS (
        SELECT site_id, anon_id, session_number, MIN(ts) AS start_ts, MAX(ts) AS end_ts, COUNT(*) AS event_count
        FROM numbered GROUP BY site_id, anon_id, session_number
      )
      SELECT COUNT(*) AS sessions, SUM(event_count) AS events FROM sessions`;
    await connection.runAndReadAll(sql); // warm-up: the file in the page cache, as it is for clickpipe's reads
    const started = performance.now();
    const [sessions, events] = (await connection.runAndReadAll(sql)).getRows()[0].map(Number);
    const seconds = (performance.now() - started) / 1000;
    log(`DuckDB sessionization: ${Math.round(events / seconds).toLocaleString("en")} events/s (${sessions} sessions, ${threads} threads)`);
    return { events, sessions, seconds, eventsPerSecond: events / seconds, threads };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

export interface LiveResult {
  ratePerSecond: number;
  publishedEvents: number;
  publishSeconds: number;
  achievedRatePerSecond: number;
  messages: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  workerCpuSeconds: number;
  /** Event-time delay built into results, apart from processing latency: a session row is final after these. */
  watermarkDelay: { outOfOrderness: string; gap: string; allowedLateness: string };
}

/** Node flags for the live worker's process, e.g. BENCH_LIVE_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/p". */
function liveNodeFlags(): string[] {
  return (process.env.BENCH_LIVE_NODE_FLAGS ?? "").split(" ").filter((flag) => flag !== "");
}

/** The bench's generated traffic, which the live publisher generates again in its own process. */
export interface LiveTraffic {
  events: number;
  visitors: number;
  days: number;
}

/**
 * Publishes the traffic's first events at `rate` per second for `seconds` to a worker in live mode (a child process
 * each), every event stamped with its publish time as `ts`, and reads back the worker's per-message latency from that
 * time to the end of processing.
 */
export async function liveLatency(manager: JetStreamManager, natsUrl: string, out: string, traffic: LiveTraffic, rate: number, seconds: number): Promise<LiveResult> {
  const stream = `BENCH_LIVE_${process.pid}`;
  const pipelineText = benchPipeline(natsUrl, stream, join(out, "live"));
  await ensureStream(manager, stream);
  let child: ReturnType<typeof fork> | undefined;
  try {
    const worker = fork(join(ROOT, "bench", "live-child.ts"), [pipelineText], { execArgv: [...liveNodeFlags(), "--import", "tsx"], stdio: ["ignore", "pipe", "inherit", "ipc"], cwd: ROOT });
    child = worker;
    let output = "";
    worker.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => worker.once("exit", resolve));
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("exit", (code) => reject(new Error(`live child exited with ${code} before it was ready`)));
    });
    const total = Math.min(traffic.events, Math.round(rate * seconds));
    log(`live: ${rate.toLocaleString("en")} events/s for ${seconds} s (${total} events)…`);
    const args = [pipelineText, String(rate), String(total), String(traffic.visitors), String(traffic.days)];
    const published = await runJsonChild<LivePublishResult>(join(ROOT, "bench", "live-publisher-child.ts"), args);
    if (published.published !== total) throw new Error(`live publisher published ${published.published} of ${total} events`);
    const publishSeconds = published.seconds;
    worker.send({ expected: total });
    const code = await exited;
    if (code !== 0) throw new Error(`live child exited with ${code}`);
    const result = JSON.parse(output.trim().split("\n").pop()!) as { messages: number; p50Ms: number; p99Ms: number; maxMs: number; cpuSeconds: number };
    log(`live: p50 ${result.p50Ms.toFixed(0)} ms, p99 ${result.p99Ms.toFixed(0)} ms over ${result.messages} messages`);
    return {
      ratePerSecond: rate,
      publishedEvents: total,
      publishSeconds,
      achievedRatePerSecond: total / publishSeconds,
      messages: result.messages,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      maxMs: result.maxMs,
      workerCpuSeconds: result.cpuSeconds,
      watermarkDelay: { outOfOrderness: "1m", gap: "30m", allowedLateness: "1h" },
    };
  } finally {
    // A failed publisher must not leave the live worker waiting for its expected count (and the caller's job open).
    if (child !== undefined && child.exitCode === null) child.kill();
    await manager.streams.delete(stream).catch(() => undefined);
  }
}

export interface TwoWorkersResult {
  events: number;
  /** Both drains started together; aggregate = all events / the slower drain's own time. */
  aggregateEventsPerSecond: number;
  workers: DrainResult[];
  /** CPU seconds nats-server used during the two drains (when this run started it; NaN otherwise). */
  natsCpuSeconds: number;
  /** CPU seconds available on the machine during the drains: cores × wall seconds. */
  machineCpuSeconds: number;
}

/**
 * CPU seconds (user + system) of a process, or with `children` of its exited and waited-for children, from /proc
 * (Linux); NaN when unreadable.
 */
export function processCpuSeconds(pid: number | undefined, of: "self" | "children" = "self"): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const first = of === "self" ? 11 : 13;
    return (Number(fields[first]) + Number(fields[first + 1])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Splits the events by visitor into two streams and drains both at once, each in its own process. */
export async function twoWorkers(
  connection: NatsConnection,
  natsUrl: string,
  out: string,
  lines: readonly string[],
  natsPid: number | undefined,
  cores: number,
): Promise<TwoWorkersResult> {
  const manager = await jetstreamManager(connection);
  const streams = [`BENCH_W0_${process.pid}`, `BENCH_W1_${process.pid}`];
  const texts = streams.map((stream, i) => benchPipeline(natsUrl, stream, join(out, `worker${i}`)));
  try {
    const publishers = await Promise.all(
      streams.map(async (stream, i) => {
        await ensureStream(manager, stream);
        const loaded = parsePipelineText(texts[i], "bench.yaml", process.env);
        if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
        return streamRecordPublisher({ config: loaded.config, js: jetstream(connection), connection, source: "publish", msgIdPrefix: stream });
      }),
    );
    log("two workers: publishing half of the visitors to each of two streams…");
    const receivedAt = Date.now();
    for (const line of lines) {
      // Split by visitor (the sessionization key), as partitions would: anon_id's last hex digit.
      const anon = /"anon_id":"([^"]*)"/.exec(line)?.[1] ?? "";
      await publishers[anon.charCodeAt(anon.length - 1) & 1].publishJsonLine(line, receivedAt);
    }
    await Promise.all(publishers.map((publisher) => publisher.flush()));
    log("two workers: draining both streams at once…");
    const natsBefore = processCpuSeconds(natsPid);
    const started = performance.now();
    const workers = await Promise.all(texts.map((text) => runJsonChild<DrainResult>(join(ROOT, "bench", "drain-child.ts"), [text])));
    const wallSeconds = (performance.now() - started) / 1000;
    const natsCpuSeconds = processCpuSeconds(natsPid) - natsBefore;
    const events = workers.reduce((sum, worker) => sum + worker.events, 0);
    const aggregate = events / Math.max(...workers.map((worker) => worker.seconds));
    log(`two workers: ${Math.round(aggregate).toLocaleString("en")} events/s together`);
    return { events, aggregateEventsPerSecond: aggregate, workers, natsCpuSeconds, machineCpuSeconds: cores * wallSeconds };
  } finally {
    for (const stream of streams) await manager.streams.delete(stream).catch(() => undefined);
  }
}

/** Writes the generated NDJSON for the DuckDB peer. */
export async function writeNdjson(path: string, lines: readonly string[]): Promise<void> {
  await writeFile(path, lines.join("\n") + "\n");
}
