// Messages between a session stage (session-stage.ts, main thread) and its thread (session-stage-thread.ts).
import type { OperatorConfig } from "../operators/index.ts";
import type { OperatorEnvironment } from "../operators/environment.ts";
import type { Row } from "../sinks/table.ts";

/** The SessionRecord fields a stage's operator reads, in the order `sessionValues` sends them. */
export type SessionFields = readonly string[];

/** What the thread starts with (workerData): the operator to build and a shared word it signals replies on. */
export interface StageSetup {
  operator: OperatorConfig;
  environment: OperatorEnvironment;
  fields: SessionFields;
  /** Int32 word 0: incremented (and notified) after every message the thread posts on `replies`. */
  signal: SharedArrayBuffer;
}

/** A session (its `fields` values, in order) or a session watermark (a number), in the order sessionize made them. */
export type StageItem = unknown[] | number;

export type StageRequest =
  | { type: "items"; items: StageItem[] }
  | { type: "snapshot"; id: number }
  | { type: "restore"; id: number; state: unknown }
  | { type: "end"; id: number }
  | { type: "flush"; id: number };

/** A metric call the operator made (`metrics[metric][method](...args)`), replayed on the main thread's registry. */
export type MetricCall = [metric: string, method: string, args: unknown[]];

/** Everything the thread reports, in one message type so one ordered queue carries it. */
export interface StageReport {
  /** The request this answers; undefined for the report every items message gets. */
  id?: number;
  rows: [table: string, row: Row][];
  metrics: MetricCall[];
  watermark: number;
  stateBytes: number;
  /** A snapshot request's state. */
  state?: unknown;
  /** The operator threw: the stage is broken from here on. */
  error?: string;
}
