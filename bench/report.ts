// The shape of bench/results.json: the machine, then one entry per section, each stamped with its own date and commit.
import type { AccessLogBenchResult } from "./access-log.ts";
import type { ChurnRunResult } from "./churn.ts";
import type { CoreResult } from "./core.ts";
import type { DuckdbSessionizeResult, LiveResult, TwoWorkersResult } from "./peers.ts";
import type { PatternsBenchResult } from "./patterns.ts";
import type { RecoveryResult } from "./recovery.ts";
import type { ScaleOutResult } from "./scale-out.ts";
import type { SessionizeBenchResult } from "./sessionize.ts";

export interface Stamp {
  date: string;
  commit: string;
  /** 1-minute load average when the section started and ended: other processes on a shared machine. */
  loadAverage: [number, number];
}

export interface Machine {
  cpu?: string;
  cores: number;
  memoryBytes: number;
  os: string;
  node: string;
}

export interface CollectorScenario {
  requestsPerSecond: number;
  eventsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  collectorCpuMicrosPerRequest: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  eventsStored: number;
  everyAnsweredEventStored: boolean;
  storedButUnanswered: number;
}

export interface CollectorResult {
  connections: number;
  durationSeconds: number;
  results: { single_event: CollectorScenario; batch_20_events: CollectorScenario };
}

export interface TrainingResult {
  backend: string;
  model: string;
  rows: number;
  features: number;
  epochs: number;
  batchSize: number;
  secondsPerEpoch: number;
  trainRowsPerSecond: number;
  scoreRowsPerSecond: number;
  peakRssMB: number;
}

export interface PeersResult {
  duckdb: DuckdbSessionizeResult;
  /** clickpipe's drain (all operators, Parquet) events/s over DuckDB's sessionization alone. */
  drainVsDuckdb: number;
  live?: LiveResult;
  twoWorkers?: TwoWorkersResult;
  /** Two workers' aggregate over the one-worker drain of the same events. */
  twoWorkersVsOne?: number;
}

export type Section<T> = T & { stamp: Stamp };

export interface BenchReport {
  date: string;
  commit: string;
  machine: Machine;
  core?: Section<CoreResult>;
  peers?: Section<PeersResult>;
  sessionize?: Section<SessionizeBenchResult>;
  patterns?: Section<PatternsBenchResult>;
  churn?: Section<{ runs: ChurnRunResult[] }>;
  collector?: Section<CollectorResult>;
  accessLog?: Section<AccessLogBenchResult>;
  training?: Section<TrainingResult>;
  recovery?: Section<RecoveryResult>;
  scaleOut?: Section<ScaleOutResult>;
  /** Sections that failed in the last run (their previous results, if any, are not kept). */
  failures?: { section: SectionName; date: string; error: string }[];
}

export const SECTIONS = ["core", "peers", "sessionize", "patterns", "churn", "collector", "accessLog", "training", "recovery", "scaleOut"] as const;
export type SectionName = (typeof SECTIONS)[number];
