// Collector benchmark: autocannon over loopback against a real collector and NATS; prints requests/s, events/s, latency as JSON.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { httpSource, pipelineSchema } from "../src/config/pipeline.ts";
import { createHttpCollector } from "../src/ingest/http-collector.ts";
import { Metrics } from "../src/metrics/registry.ts";
import { splitBatch } from "../src/transport/batch-codec.ts";
import { connectNats } from "../src/transport/connection.ts";
import { ensureLocalNats } from "../src/transport/local-server.ts";
import { parseSubject } from "../src/transport/subjects.ts";

const DURATION_SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100);
const WRITE_KEY = "bench-write-key";
const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
/** Set in the child process that runs autocannon: the scenario name and the collector URL. */
const LOAD_ENV = "CLICKPIPE_BENCH_LOAD";

/** The subset of autocannon's --json result this script reads. */
interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  "2xx": number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}

interface Scenario {
  name: string;
  eventsPerRequest: number;
}

const SCENARIOS: Scenario[] = [
  { name: "single_event", eventsPerRequest: 1 },
  { name: "batch_20_events", eventsPerRequest: 20 },
];

/** A request body of `count` page views of a new visitor: every request differs, as real traffic does. */
function requestBody(requestNumber: number, count: number): string {
  const events = Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      type: "page_view",
      ts: 1_700_000_000_000 + requestNumber * count + index,
      anon_id: `v-${requestNumber}`,
      url: `https://shop.example/c/shoes/p/${index}?utm_source=bench`,
      referrer: "https://search.example/?q=shoes",
      title: "Running shoes",
    }),
  );
  return count === 1 ? events[0] : `[${events.join(",")}]`;
}

type AutocannonOptions = {
  url: string;
  connections: number;
  duration: number;
  requests: { method: string; headers: Record<string, string>; setupRequest(request: { body?: string }): { body?: string } }[];
};
type Autocannon = (options: AutocannonOptions, done: (error: Error | null, result: AutocannonResult) => void) => unknown;

/** Child mode: runs autocannon (it has no type declarations, hence require) and prints its result as one JSON line. */
function runLoad(scenario: Scenario, url: string): void {
  const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;
  let requestNumber = 0;
  const headers = { "content-type": "application/json", "x-write-key": WRITE_KEY, "user-agent": USER_AGENT };
  const setupRequest = (request: { body?: string }) => {
    request.body = requestBody(requestNumber++, scenario.eventsPerRequest);
    return request;
  };
  autocannon(
    { url, connections: CONNECTIONS, duration: DURATION_SECONDS, requests: [{ method: "POST", headers, setupRequest }] },
    (error, result) => {
      if (error !== null) throw error;
      console.log(JSON.stringify(result));
    },
  );
}

/** autocannon runs in its own process so it does not share the collector's event loop. */
function runAutocannon(scenario: Scenario, url: string): Promise<AutocannonResult> {
  const args = [...process.execArgv, process.argv[1]];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, [LOAD_ENV]: JSON.stringify({ scenario: scenario.name, url }) },
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited with ${code}`));
      resolve(JSON.parse(output.trim().split("\n").pop() ?? "") as AutocannonResult);
    });
  });
}

/** Events stored in the stream, read back with an ordered consumer up to the stream's last sequence at call time. */
async function storedEventCount(js: ReturnType<typeof jetstream>, jsm: Awaited<ReturnType<typeof jetstreamManager>>, stream: string): Promise<number> {
  const last = (await jsm.streams.info(stream)).state.last_seq;
  if (last === 0) return 0;
  const consumer = await js.consumers.get(stream);
  const messages = await consumer.consume();
  let events = 0;
  for await (const message of messages) {
    if (parseSubject(stream, message.subject)?.kind === "events") events += splitBatch(message.data).length;
    if (message.seq >= last) break;
  }
  await messages.close();
  return events;
}

/** The promise's value, or an error naming `what` after `ms`: the section fails instead of hanging. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms / 1000} s`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main(): Promise<void> {
  const nats = await ensureLocalNats(process.env.NATS_URL ?? "nats://127.0.0.1:4222");
  const connection = await connectNats({ url: nats.url, name: "collector-bench" });
  const js = jetstream(connection);
  const jsm = await jetstreamManager(connection);
  const results: Record<string, unknown> = {};
  try {
    for (const scenario of SCENARIOS) {
      const stream = `BENCH_COLLECTOR_${process.pid}_${scenario.name.toUpperCase()}`;
      const pipeline = pipelineSchema.parse({
        name: "collector-bench",
        nats: { url: nats.url, stream },
        sinks: [{ type: "parquet", path: "/tmp/clickpipe-bench-unused" }],
      });
      const source = httpSource.parse({
        type: "http",
        port: 0,
        host: "127.0.0.1",
        writeKeys: [WRITE_KEY],
        // One client (autocannon) sends everything: the per-client limit must not be what is measured.
        rateLimit: { requestsPerSecond: 1e9, burst: 1_000_000_000 },
        // …nor the per-client connection limit: its connections all come from 127.0.0.1.
        maxConnectionsPerClient: 0,
      });
      const collector = createHttpCollector(source, {
        pipeline,
        connection,
        metrics: new Metrics(),
        stateDirectory: "/tmp/clickpipe-bench-unused",
        log: (line) => console.error(line),
      });
      await collector.start();
      const url = `http://127.0.0.1:${collector.address().port}/v1/events`;
      console.error(`${scenario.name}: ${CONNECTIONS} connections for ${DURATION_SECONDS} s…`);
      const cpuBefore = process.cpuUsage();
      const run = await runAutocannon(scenario, url);
      const cpu = process.cpuUsage(cpuBefore);
      // Bounded: a stop or read-back that hangs (seen once after the batch scenario under load) must not hang the run.
      await withTimeout(collector.stop(), 30_000, `${scenario.name}: collector.stop()`);
      const stored = await withTimeout(storedEventCount(js, jsm, stream), 60_000, `${scenario.name}: reading the stream back`);
      await jsm.streams.delete(stream);
      const requestsPerSecond = run["2xx"] / run.duration;
      results[scenario.name] = {
        requestsPerSecond: Math.round(requestsPerSecond),
        eventsPerSecond: Math.round(requestsPerSecond * scenario.eventsPerRequest),
        latencyP50Ms: run.latency.p50,
        latencyP99Ms: run.latency.p99,
        // CPU of this process (collector + NATS client) per answered request: 1e6 / it is what one core could do
        // alone, a figure that shared or busy machines distort less than requests/s.
        collectorCpuMicrosPerRequest: Math.round((cpu.user + cpu.system) / Math.max(1, run["2xx"])),
        ok2xx: run["2xx"],
        non2xx: run.non2xx,
        errors: run.errors + run.timeouts,
        // A 200 means stored: every answered event is in the stream. Requests still in flight when autocannon
        // stopped were stored too but never counted as answered, so at most connections × events more are stored.
        eventsStored: stored,
        everyAnsweredEventStored: stored >= run["2xx"] * scenario.eventsPerRequest,
        storedButUnanswered: stored - run["2xx"] * scenario.eventsPerRequest,
      };
      console.error(`${scenario.name}: ${Math.round(requestsPerSecond).toLocaleString("en")} requests/s, ${stored} events stored`);
    }
  } finally {
    await connection.close();
    await nats.started?.stop();
  }
  console.log(JSON.stringify({ connections: CONNECTIONS, durationSeconds: DURATION_SECONDS, results }, null, 2));
}

const load = process.env[LOAD_ENV];
if (load === undefined) await main();
else {
  const { scenario, url } = JSON.parse(load) as { scenario: string; url: string };
  runLoad(SCENARIOS.find((candidate) => candidate.name === scenario)!, url);
}
