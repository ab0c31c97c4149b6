// Messages between a session stage (session-stage.ts, main thread) and its thread (session-stage-thread.ts).
import type { OperatorConfig } from "../operators/index.ts";
import type { OperatorEnvironment } from "../operators/environment.ts";

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

/**
 * A session (its `fields` values, in order) or a session watermark (a number; ±∞ as the strings "Infinity" and
 * "-Infinity", which JSON has no number for), in the order sessionize made them.
 */
export type StageItem = unknown[] | number | string;

/**
 * Items and rows cross as JSON text: V8's structured clone of arrays of strings cost the main thread about 4 µs per
 * session (the stage's whole gain was 1 µs per event), JSON.stringify a fraction of it. So the values must be JSON's
 * own: strings, finite numbers, booleans, null, arrays, plain objects.
 */
export type StageRequest =
  | { type: "items"; json: string }
  | { type: "snapshot"; id: number }
  | { type: "restore"; id: number; state: unknown }
  | { type: "end"; id: number };

/** A metric call the operator made (`metrics[metric][method](...args)`), replayed on the main thread's registry. */
export type MetricCall = [metric: string, method: string, args: unknown[]];

/** Everything the thread reports, in one message type so one ordered queue carries it. */
export interface StageReport {
  /** The request this answers; undefined for the report every items message gets. */
  id?: number;
  /** JSON of the `[table, row]` pairs emitted since the last report; "" for none. */
  rows: string;
  metrics: MetricCall[];
  watermark: number;
  stateBytes: number;
  /** A snapshot request's state. */
  state?: unknown;
  /** The operator threw: the stage is broken from here on. */
  error?: string;
}
