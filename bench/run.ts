// `npm run bench`: every benchmark the issues ask for, ratios against ceilings and peers measured in the same run;
// writes bench/RESULTS.md and results.json. BENCH_ONLY / BENCH_SKIP (comma-separated section names) select sections.
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, platform, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parsePipelineText } from "../src/config/load.ts";
import { generateLines } from "../src/ingest/generate.ts";
import { ensureLocalNats, type LocalNats } from "../src/transport/local-server.ts";
import { measureAccessLog } from "./access-log.ts";
import { log, ROOT, runJsonChild, sectionEnabled } from "./bench-kit.ts";
import { measureCore } from "./core.ts";
import { measureRecovery } from "./recovery.ts";
import { measureScaleOut } from "./scale-out.ts";
import { duckdbSessionize, liveLatency, twoWorkers, writeNdjson } from "./peers.ts";
import { benchPipeline } from "./pipeline.ts";
import { resultsMarkdown } from "./render.ts";
import { SECTIONS, type BenchReport, type CollectorResult, type PeersResult, type SectionName, type Stamp, type TrainingResult } from "./report.ts";

const VISITORS = Number(process.env.BENCH_VISITORS ?? 50_000);
const DAYS = Number(process.env.BENCH_DAYS ?? 3);
const LIVE_SECONDS = Number(process.env.BENCH_LIVE_SECONDS ?? 15);
const TRAINING_ROWS = process.env.BENCH_TRAINING_ROWS ?? "1000000";
/** The scale-out section drains generated events three times: fewer than the core section's. */
const SCALE_OUT_VISITORS = Number(process.env.BENCH_SCALE_OUT_VISITORS ?? 15_000);

function scaleOutLines(): string[] {
  return [...generateLines({ visitors: SCALE_OUT_VISITORS, days: DAYS, seed: 43 })];
}
const RESULTS_JSON = join(ROOT, "bench", "results.json");
const GC_FLAGS = ["--expose-gc"];

function gitCommit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
  } catch {
    return "unknown";
  }
}

const failures: NonNullable<BenchReport["failures"]> = [];

/**
 * nats-server's pid, for its CPU time in the drain and scale-out sections: the one this run started, else the only
 * nats-server process on this machine (the usual local server; with several, which one serves the URL is unknown).
 */
function natsPidOf(nats: LocalNats): number | undefined {
  if (nats.started !== undefined) return nats.started.process.pid;
  try {
    const pids = execFileSync("pgrep", ["-x", "nats-server"], { encoding: "utf8" }).trim().split("\n").filter((pid) => pid !== "");
    return pids.length === 1 ? Number(pids[0]) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs one section and stamps it with date, commit and the load average around it. */
async function stamped<T extends object>(name: SectionName, work: () => Promise<T>): Promise<(T & { stamp: Stamp }) | undefined> {
  if (!sectionEnabled(name)) return undefined;
  log(`── ${name} ──`);
  const date = new Date().toISOString();
  const loadBefore = loadavg()[0];
  try {
    const value = await work();
    return { ...value, stamp: { date, commit: gitCommit(), loadAverage: [loadBefore, loadavg()[0]] } };
  } catch (error) {
    // One failing section is reported and the others still run.
    log(`${name} FAILED: ${String(error)}`);
    failures.push({ section: name, date, error: String(error) });
    return undefined;
  }
}

/** A partial run (BENCH_ONLY/BENCH_SKIP) keeps the other, stamped sections of the previous results.json. */
async function previousSections(): Promise<Partial<BenchReport>> {
  if (SECTIONS.every((name) => sectionEnabled(name))) return {};
  const previous = (JSON.parse(await readFile(RESULTS_JSON, "utf8").catch(() => "{}")) ?? {}) as Record<string, unknown>;
  const kept: Record<string, unknown> = {};
  for (const name of SECTIONS) {
    const section = previous[name];
    if (typeof section === "object" && section !== null && "stamp" in section) kept[name] = section;
  }
  return kept as Partial<BenchReport>;
}

async function main(): Promise<void> {
  const report: BenchReport = {
    ...(await previousSections()),
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryBytes: totalmem(), os: `${platform()} ${release()}`, node: process.version },
  };
  const needsNats = ["core", "peers", "collector", "accessLog", "recovery", "scaleOut"].some((name) => sectionEnabled(name));
  const nats = needsNats ? await ensureLocalNats(process.env.NATS_URL ?? "nats://127.0.0.1:4222") : undefined;
  const out = await mkdtemp(join(tmpdir(), "clickpipe-bench-"));
  try {
    if (nats !== undefined) {
      const connection = await connect({ servers: nats.url });
      const manager = await jetstreamManager(connection);
      const stream = `BENCH_${process.pid}_${Date.now()}`;
      try {
        if (sectionEnabled("core") || sectionEnabled("peers")) {
          const pipelineText = benchPipeline(nats.url, stream, join(out, "core"));
          const loaded = parsePipelineText(pipelineText, "bench.yaml", process.env);
          if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
          log(`generating ${VISITORS} visitors over ${DAYS} days…`);
          const lines = [...generateLines({ visitors: VISITORS, days: DAYS, seed: 42 })];
          // Peers compare with the drain, so peers needs the core section of this run.
          const pipelineTextFor = (round: number) => benchPipeline(nats.url, stream, join(out, `core-${round}`));
          const core = await stamped("core", () => measureCore({ connection, url: nats.url, manager, stream, pipelineTextFor, config: loaded.config, lines, visitors: VISITORS, days: DAYS, natsPid: natsPidOf(nats) }));
          if (core !== undefined) report.core = core;
          await manager.streams.delete(stream).catch(() => undefined);
          const drain = core?.drain;
          if (drain === undefined && sectionEnabled("peers")) log("peers: skipped (needs the core section's drain in the same run)");
          const peers =
            drain === undefined
              ? undefined
              : await stamped("peers", async (): Promise<PeersResult> => {
                  const ndjson = join(out, "events.ndjson");
                  await writeNdjson(ndjson, lines);
                  const duckdb = await duckdbSessionize(ndjson);
                  await rm(ndjson, { force: true });
                  const live = await liveLatency(manager, nats.url, out, { events: lines.length, visitors: VISITORS, days: DAYS }, Math.round(drain.eventsPerSecond / 2), LIVE_SECONDS);
                  const two = await twoWorkers(connection, nats.url, out, lines, natsPidOf(nats), cpus().length);
                  return {
                    duckdb,
                    drainVsDuckdb: drain.eventsPerSecond / duckdb.eventsPerSecond,
                    live,
                    twoWorkers: two,
                    twoWorkersVsOne: two.aggregateEventsPerSecond / drain.eventsPerSecond,
                  };
                });
          if (peers !== undefined) report.peers = peers;
        }
        const collector = await stamped("collector", () =>
          runJsonChild<CollectorResult>(join(ROOT, "bench", "collector.ts"), [], { env: { NATS_URL: nats.url }, wholeOutput: true }),
        );
        if (collector !== undefined) report.collector = collector;
        const accessLog = await stamped("accessLog", () => measureAccessLog(nats.url));
        if (accessLog !== undefined) report.accessLog = accessLog;
        const recovery = await stamped("recovery", () => measureRecovery(nats.url));
        if (recovery !== undefined) report.recovery = recovery;
        const scaleOut = await stamped("scaleOut", () =>
          measureScaleOut(connection, nats.url, out, scaleOutLines(), natsPidOf(nats), cpus().length),
        );
        if (scaleOut !== undefined) report.scaleOut = scaleOut;
      } finally {
        await manager.streams.delete(stream).catch(() => undefined);
        await connection.drain();
      }
    }
    const sessionize = await stamped("sessionize", () => runJsonChild<NonNullable<BenchReport["sessionize"]>>(join(ROOT, "bench", "sessionize.ts"), [], { nodeFlags: GC_FLAGS }));
    if (sessionize !== undefined) report.sessionize = sessionize;
    const patterns = await stamped("patterns", () => runJsonChild<NonNullable<BenchReport["patterns"]>>(join(ROOT, "bench", "patterns.ts"), [], { nodeFlags: GC_FLAGS }));
    if (patterns !== undefined) report.patterns = patterns;
    const churn = await stamped("churn", async () => ({ runs: await runJsonChild<NonNullable<BenchReport["churn"]>["runs"]>(join(ROOT, "bench", "churn.ts"), [], { nodeFlags: GC_FLAGS }) }));
    if (churn !== undefined) report.churn = churn;
    const training = await stamped("training", () => runJsonChild<TrainingResult>(join(ROOT, "bench", "training.ts"), ["--rows", TRAINING_ROWS]));
    if (training !== undefined) report.training = training;

    if (failures.length > 0) report.failures = failures;
    await writeFile(RESULTS_JSON, JSON.stringify(report, null, 2) + "\n");
    await writeFile(join(ROOT, "bench", "RESULTS.md"), resultsMarkdown(report));
    log("wrote bench/RESULTS.md and bench/results.json");
  } finally {
    await rm(out, { recursive: true, force: true });
    await nats?.started?.stop();
  }
}

await main();
