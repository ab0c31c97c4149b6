// The end-to-end section of `npm run bench`: ceilings (JSON.parse, JetStream read), publish, the drain, and the
// per-stage breakdown (bench/stages.ts), all over the same generated events.
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { jetstream, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { PipelineConfig } from "../src/config/pipeline.ts";
import { ensureStream } from "../src/transport/stream.ts";
import { log, ROOT, runJsonChild } from "./bench-kit.ts";
import type { CeilingResult } from "./ceiling-child.ts";
import type { DrainResult } from "./drain-result.ts";
import { processCpuSeconds } from "./peers.ts";
import type { StagesResult } from "./stages.ts";
import { streamRecordPublisher } from "../src/ingest/stream-record-publisher.ts";

export interface Measurement {
  name: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  note?: string;
}

export interface CoreResult {
  input: { visitors: number; days: number; events: number; averageBytes: number };
  results: Measurement[];
  /** The fastest drain over the fastest ceiling of the rounds (the headline until session 33). */
  endToEndVsCeiling: number;
  /**
   * The headline since session 33: the median over the rounds of each round's drain / ceiling. A round runs its ceiling
   * and its drain back to back, so both meet the same phase of the host; the fastest of each can come from different
   * phases minutes apart (absent in results from before).
   */
  medianRoundVsCeiling?: number;
  /** Every round's ceiling and drain, in the order they ran (absent in results from before rounds). */
  rounds?: {
    ceilingEventsPerSecond: number;
    drainEventsPerSecond: number;
    /** Minor page faults of the ceiling's process and of the drain's main thread (while processing); absent before session 19. */
    ceilingMinorFaults?: number;
    drainMainThreadMinorFaults?: number;
  }[];
  /** The fastest drain of the rounds. */
  drain: DrainResult;
  /**
   * What the drain's CPU allows on this machine: the drain process's and nats-server's CPU seconds for the events,
   * spread over every core with none idle. Above the measured rate only by the time cores waited or idled.
   */
  cpuBound?: { cores: number; processCpuSeconds: number; natsCpuSeconds: number; eventsPerSecond: number; vsCeiling: number };
  stages?: StagesResult;
}

export interface CoreInput {
  connection: NatsConnection;
  /** The server's URL, for the ceiling's child process. */
  url: string;
  manager: JetStreamManager;
  stream: string;
  /** The bench pipeline writing to an output directory of the round's own (a drain resumes from its directory's checkpoint). */
  pipelineTextFor: (round: number) => string;
  config: PipelineConfig;
  lines: readonly string[];
  visitors: number;
  days: number;
  /** nats-server's process id, for its CPU during the drain (undefined: not measured). */
  natsPid?: number;
}

export const CEILING_READ = "ceiling: JetStream read + JSON.parse";

/** Rounds of (ceiling, drain) taken in turns: BENCH_CORE_ROUNDS, default 5 (odd, so the median is one round's ratio). */
const CORE_ROUNDS = Math.max(1, Number(process.env.BENCH_CORE_ROUNDS ?? 5));

interface CoreRound {
  read: number;
  ceilingSeconds: number;
  ceilingMinorFaults?: number;
  ceilingEventsPerSecond: number;
  drain: DrainResult;
  natsCpuSeconds: number;
}

/** The median of the rounds' drain / ceiling ratios; with an even count, the mean of the middle two. */
export function medianRoundRatio(rounds: readonly { ceilingEventsPerSecond: number; drainEventsPerSecond: number }[]): number {
  const ratios = rounds.map((round) => round.drainEventsPerSecond / round.ceilingEventsPerSecond).sort((a, b) => a - b);
  const middle = ratios.length >> 1;
  return ratios.length % 2 === 1 ? ratios[middle] : (ratios[middle - 1] + ratios[middle]) / 2;
}

function measure(name: string, events: number, seconds: number, note?: string): Measurement {
  const result = { name, events, seconds, eventsPerSecond: events / seconds, note };
  log(`${name}: ${Math.round(result.eventsPerSecond).toLocaleString("en")} events/s (${events} events in ${seconds.toFixed(2)} s)`);
  return result;
}

export async function measureCore(input: CoreInput): Promise<CoreResult> {
  const { connection, manager, stream, config, lines } = input;
  const bytes = lines.reduce((sum, line) => sum + line.length, 0);
  const results: Measurement[] = [];

  // Ceiling 1: raw JSON.parse of the same events (warm-up pass first), in this process: beside the lines it keeps, whose
  // heap its garbage collections walk, so it reads low; the ratio's ceiling below runs in a process of its own.
  for (let i = 0; i < Math.min(lines.length, 100_000); i++) JSON.parse(lines[i]);
  let started = performance.now();
  for (const line of lines) JSON.parse(line);
  results.push(measure("ceiling: JSON.parse (in the bench process)", lines.length, (performance.now() - started) / 1000));

  await ensureStream(manager, stream);
  // Publish: what `clickpipe publish` does (decode, edge processing, batches of 100, acks awaited).
  const publisher = streamRecordPublisher({ config, js: jetstream(connection), connection, source: "publish", msgIdPrefix: stream });
  const receivedAt = Date.now();
  started = performance.now();
  for (const line of lines) await publisher.publishJsonLine(line, receivedAt);
  await publisher.flush();
  results.push(measure("publish (decode + edge + JetStream acks)", lines.length, (performance.now() - started) / 1000));

  // Ceiling 2 (JetStream read of the same messages plus JSON.parse of every event, no acks) and the end to end (the demo
  // operators with --drain), each in a fresh process with start-up excluded by the child's own clock, take turns for
  // ROUNDS rounds. The host's other tenants slow a single run by up to 1.6×, either one, in phases that last minutes:
  // each round's ratio pairs a ceiling and a drain of the same phase, and the headline is their median.
  const rounds: CoreRound[] = [];
  for (let round = 0; round < CORE_ROUNDS; round++) {
    const { read, seconds: ceilingSeconds, minorFaults: ceilingMinorFaults } = await runJsonChild<CeilingResult>(join(ROOT, "bench", "ceiling-child.ts"), [
      input.url,
      stream,
    ]);
    const natsBefore = processCpuSeconds(input.natsPid);
    const drain = await runJsonChild<DrainResult>(join(ROOT, "bench", "drain-child.ts"), [input.pipelineTextFor(round)]);
    const natsCpuSeconds = processCpuSeconds(input.natsPid) - natsBefore;
    rounds.push({ read, ceilingSeconds, ceilingMinorFaults, ceilingEventsPerSecond: read / ceilingSeconds, drain, natsCpuSeconds });
    log(`round ${round + 1}/${CORE_ROUNDS}: ceiling ${Math.round(read / ceilingSeconds).toLocaleString("en")} events/s, drain ${Math.round(drain.eventsPerSecond).toLocaleString("en")} events/s`);
  }
  const fastestCeiling = rounds.reduce((best, round) => (round.ceilingSeconds < best.ceilingSeconds ? round : best));
  const fastestDrain = rounds.reduce((best, round) => (round.drain.seconds < best.drain.seconds ? round : best));
  const { drain, natsCpuSeconds } = fastestDrain;
  results.push(measure(CEILING_READ, fastestCeiling.read, fastestCeiling.ceilingSeconds, `fastest of ${CORE_ROUNDS}`));
  results.push(measure("end to end: run --drain (sessionize, sequencePatterns, basket, churnFeatures, Parquet)", drain.events, drain.seconds, `fastest of ${CORE_ROUNDS}`));
  const ceiling = results.find((r) => r.name === CEILING_READ)!.eventsPerSecond;
  const cores = availableParallelism();
  // nats-server's CPU covers the whole drain child (start-up included): a slight overestimate of the drain's share.
  const boundRate = Number.isFinite(natsCpuSeconds) ? drain.events / ((drain.cpuSeconds + natsCpuSeconds) / cores) : Number.NaN;
  const cpuBound = { cores, processCpuSeconds: drain.cpuSeconds, natsCpuSeconds, eventsPerSecond: boundRate, vsCeiling: boundRate / ceiling };
  log(`CPU bound on ${cores} cores (drain process ${drain.cpuSeconds.toFixed(1)} s + nats-server ${natsCpuSeconds.toFixed(1)} s): ${Math.round(boundRate).toLocaleString("en")} events/s`);
  // The per-stage CPU breakdown without NATS, in a fresh process (BENCH_STAGES=0 skips it).
  const stages = process.env.BENCH_STAGES === "0" ? undefined : await runJsonChild<StagesResult>(join(ROOT, "bench", "stages.ts"));
  const medianRoundVsCeiling = medianRoundRatio(rounds.map((round) => ({ ceilingEventsPerSecond: round.ceilingEventsPerSecond, drainEventsPerSecond: round.drain.eventsPerSecond })));
  log(
    `end to end is ${(medianRoundVsCeiling * 100).toFixed(0)}% of the JetStream read + JSON.parse ceiling (median of ${CORE_ROUNDS} rounds' ratios; ` +
      `fastest drain / fastest ceiling ${((drain.eventsPerSecond / ceiling) * 100).toFixed(0)}%)`,
  );
  return {
    input: { visitors: input.visitors, days: input.days, events: lines.length, averageBytes: bytes / lines.length },
    results,
    endToEndVsCeiling: drain.eventsPerSecond / ceiling,
    medianRoundVsCeiling,
    rounds: rounds.map((round) => ({
      ceilingEventsPerSecond: round.ceilingEventsPerSecond,
      drainEventsPerSecond: round.drain.eventsPerSecond,
      ceilingMinorFaults: round.ceilingMinorFaults,
      drainMainThreadMinorFaults: round.drain.phases.processingMainThreadMinorFaults,
    })),
    drain,
    cpuBound,
    stages,
  };
}
