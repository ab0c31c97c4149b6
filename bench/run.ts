// `npm run bench`: end-to-end throughput beside ceilings measured in the same run; writes bench/RESULTS.md and results.json.
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, totalmem, tmpdir, platform, release } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { parsePipelineText } from "../src/config/load.ts";
import { generateLines } from "../src/ingest/generate.ts";
import { RecordPublisher } from "../src/ingest/record-publisher.ts";
import { splitBatch } from "../src/transport/batch-codec.ts";
import { ensureLocalNats } from "../src/transport/local-server.ts";
import { StreamReader } from "../src/transport/reader.ts";
import { ensureStream } from "../src/transport/stream.ts";
import { benchPipeline } from "./pipeline.ts";
import type { StagesResult } from "./stages.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const VISITORS = Number(process.env.BENCH_VISITORS ?? 50_000);
const DAYS = Number(process.env.BENCH_DAYS ?? 3);

interface Measurement {
  name: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  note?: string;
}

function measure(name: string, events: number, seconds: number, note?: string): Measurement {
  const result = { name, events, seconds, eventsPerSecond: events / seconds, note };
  console.error(`${name}: ${Math.round(result.eventsPerSecond).toLocaleString("en")} events/s (${events} events in ${seconds.toFixed(2)} s)`);
  return result;
}

async function main(): Promise<void> {
  const nats = await ensureLocalNats(process.env.NATS_URL ?? "nats://127.0.0.1:4222");
  const stream = `BENCH_${process.pid}_${Date.now()}`;
  const out = await mkdtemp(join(tmpdir(), "clickpipe-bench-"));
  const pipelineText = benchPipeline(nats.url, stream, out);
  const loaded = parsePipelineText(pipelineText, "bench.yaml", process.env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const config = loaded.config;
  const results: Measurement[] = [];

  console.error(`generating ${VISITORS} visitors over ${DAYS} days…`);
  const lines = [...generateLines({ visitors: VISITORS, days: DAYS, seed: 42 })];
  const bytes = lines.reduce((sum, line) => sum + line.length, 0);
  console.error(`${lines.length} events, ${(bytes / lines.length).toFixed(0)} bytes on average`);

  // Ceiling 1: raw JSON.parse of the same events (warm-up pass first).
  for (let i = 0; i < Math.min(lines.length, 100_000); i++) JSON.parse(lines[i]);
  let started = performance.now();
  for (const line of lines) JSON.parse(line);
  results.push(measure("ceiling: JSON.parse", lines.length, (performance.now() - started) / 1000));

  const connection = await connect({ servers: nats.url });
  const manager = await jetstreamManager(connection);
  await ensureStream(manager, stream);
  try {
    // Publish: what `clickpipe publish` does (decode, edge processing, batches of 100, acks awaited).
    const publisher = new RecordPublisher({ config, js: jetstream(connection), connection, source: "publish", msgIdPrefix: stream });
    const receivedAt = Date.now();
    started = performance.now();
    for (const line of lines) await publisher.publishJsonLine(line, receivedAt);
    await publisher.flush();
    results.push(measure("publish (decode + edge + JetStream acks)", lines.length, (performance.now() - started) / 1000));

    // Ceiling 2: JetStream read of the same messages plus JSON.parse of every event, no acks.
    started = performance.now();
    let read = 0;
    const reader = await StreamReader.open(jetstream(connection), stream, { startSequence: 1, drainUntil: true });
    for await (const message of reader) {
      for (const line of splitBatch(message.data)) {
        JSON.parse(line);
        read++;
      }
    }
    await reader.close();
    results.push(measure("ceiling: JetStream read + JSON.parse", read, (performance.now() - started) / 1000));

    // End to end: the demo operators with --drain in a fresh process (start-up excluded by the child's own clock).
    const drain = await runDrainChild(pipelineText);
    results.push(measure("end to end: run --drain (sessionize, sequencePatterns, basket, churnFeatures, Parquet)", drain.events, drain.seconds));
    const ceiling = results.find((r) => r.name.startsWith("ceiling: JetStream"))!.eventsPerSecond;
    const stages = await runStagesChild();
    const report = {
      date: new Date().toISOString(),
      commit: gitCommit(),
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryBytes: totalmem(), os: `${platform()} ${release()}`, node: process.version },
      input: { visitors: VISITORS, days: DAYS, events: lines.length, averageBytes: bytes / lines.length },
      results,
      endToEndVsCeiling: drain.eventsPerSecond / ceiling,
      drain,
      stages,
    };
    await writeFile(join(ROOT, "bench", "results.json"), JSON.stringify(report, null, 2) + "\n");
    const optimizations = await readFile(join(ROOT, "bench", "OPTIMIZATIONS.md"), "utf8").catch(() => "");
    await writeFile(join(ROOT, "bench", "RESULTS.md"), renderMarkdown(report) + (optimizations === "" ? "" : `\n${optimizations}`));
    console.error(`end to end is ${(report.endToEndVsCeiling * 100).toFixed(0)}% of the JetStream read + JSON.parse ceiling; wrote bench/RESULTS.md`);
  } finally {
    await manager.streams.delete(stream).catch(() => undefined);
    await connection.drain();
    await rm(out, { recursive: true, force: true });
    await nats.started?.stop();
  }
}

interface DrainResult {
  seconds: number;
  events: number;
  eventsPerSecond: number;
  /** CPU seconds of the whole drain process (main thread, encoder threads, loader). */
  cpuSeconds: number;
  phases: {
    startupSeconds: number;
    processingSeconds: number;
    finalCommitSeconds: number;
    processingMainThreadCpuSeconds: number;
    /** Checkpoints taken (the last one included) and their summed duration; one runs beside processing at a time. */
    checkpoints: number;
    checkpointSeconds: number;
  };
  peakRssBytes: number;
  peakStateBytes: number;
  peakOpenSessions: number;
  bytesPerOpenSessionAtPeak: number;
}

/** Runs bench/stages.ts in a fresh process: the per-stage CPU breakdown, without NATS. */
function runStagesChild(): Promise<StagesResult | undefined> {
  if (process.env.BENCH_STAGES === "0") return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench", "stages.ts")], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`stages child exited with ${code}`));
      else resolve(JSON.parse(output.trim().split("\n").pop()!) as StagesResult);
    });
  });
}

function runDrainChild(pipelineText: string): Promise<DrainResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench", "drain-child.ts"), pipelineText], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`drain child exited with ${code}`));
      else resolve(JSON.parse(output.trim().split("\n").pop()!) as DrainResult);
    });
  });
}

function gitCommit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
  } catch {
    return "unknown";
  }
}

function renderMarkdown(report: {
  date: string;
  commit: string;
  machine: { cpu?: string; cores: number; memoryBytes: number; os: string; node: string };
  input: { visitors: number; days: number; events: number; averageBytes: number };
  results: Measurement[];
  endToEndVsCeiling: number;
  drain: DrainResult;
  stages?: StagesResult;
}): string {
  const rows = report.results
    .map((r) => `| ${r.name} | ${Math.round(r.eventsPerSecond).toLocaleString("en")} | ${r.seconds.toFixed(2)} |`)
    .join("\n");
  return `# Benchmark results

Written by \`npm run bench\` (bench/run.ts). Ratios against ceilings measured in the same run survive machine noise;
absolute numbers do not.

- Date: ${report.date}, commit ${report.commit}
- Machine: ${report.machine.cpu} × ${report.machine.cores} cores, ${(report.machine.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${report.machine.os}, Node ${report.machine.node}
- Input: \`clickpipe generate\` traffic, ${report.input.visitors.toLocaleString("en")} visitors over ${report.input.days} days = ${report.input.events.toLocaleString("en")} events (${report.input.averageBytes.toFixed(0)} bytes each on average)

| measurement | events/s | seconds |
| --- | ---: | ---: |
${rows}

- **End to end / (JetStream read + JSON.parse) ceiling: ${(report.endToEndVsCeiling * 100).toFixed(0)}%** (target ≥ 40%).
- Drain process peak RSS: ${(report.drain.peakRssBytes / 2 ** 20).toFixed(0)} MiB.
- State: peak ${(report.drain.peakStateBytes / 2 ** 20).toFixed(1)} MiB over all operators; at the peak of ${report.drain.peakOpenSessions.toLocaleString("en")} open sessions, ${report.drain.bytesPerOpenSessionAtPeak.toFixed(0)} bytes of total state per open session (an upper bound for sessionize alone: it includes the other operators' state).
${renderDrainPhases(report.drain)}${report.stages === undefined ? "" : renderStages(report.stages)}`;
}

function renderDrainPhases(drain: DrainResult): string {
  const { phases } = drain;
  return `
## Where the drain's time goes

| phase | seconds |
| --- | ---: |
| start-up (connect, recover, open the consumer) | ${phases.startupSeconds.toFixed(2)} |
| processing (read, decode, operators, Parquet append, end-of-input flush) | ${phases.processingSeconds.toFixed(2)} |
| final checkpoint (encode in worker threads, fsync, commit) | ${phases.finalCommitSeconds.toFixed(2)} |

- Main-thread CPU while processing: ${phases.processingMainThreadCpuSeconds.toFixed(2)} s, i.e. ${Math.round(drain.events / phases.processingMainThreadCpuSeconds).toLocaleString("en")} events per main-thread CPU second (wall time above this is time the main thread waited for a core: other processes on a shared machine).
- Checkpoints: ${phases.checkpoints} taking ${phases.checkpointSeconds.toFixed(2)} s in all (the last one is the final checkpoint); a checkpoint runs beside processing; intake waits only when the next one is due while the previous one is still committing (src/runtime/worker.ts).
- CPU of the whole drain process (main thread, encoder threads, module loading): ${drain.cpuSeconds.toFixed(2)} s.
`;
}

function renderStages(stages: StagesResult): string {
  const rows = stages.stages
    .map((stage) => `| ${stage.stage} | ${Math.round(stage.eventsPerCpuSecond).toLocaleString("en")} | ${((stage.cpuSeconds / stages.events) * 1e6).toFixed(2)} |`)
    .join("\n");
  return `
## Per-stage CPU breakdown (bench/stages.ts, no NATS, one process)

Each stage includes the ones above it, over the same ${stages.events.toLocaleString("en")} published events; the difference between two rows is
the cost of what the lower one adds.

| stage | events per CPU second | µs per event |
| --- | ---: | ---: |
${rows}

- Parquet encoding of all ${stages.parquetEncode.rows.toLocaleString("en")} buffered rows (this thread, zstd, then fsynced): ${Math.round(stages.parquetEncode.rowsPerSecond).toLocaleString("en")} rows/s.
`;
}

await main();
