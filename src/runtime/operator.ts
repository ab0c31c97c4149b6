// The operator contract (Bytewax spirit): events in stream order, watermark/timers, end of input, snapshot/restore.
import type { ClickEvent, EventOrigin } from "../events/event.ts";
import type { Row, TableSpec } from "../sinks/table.ts";
import type { Metrics, TaskLabels } from "../metrics/registry.ts";

/** A session as sessionize emits it: one row of the `sessions` table (see ARCHITECTURE.md). */
export interface SessionRecord {
  session_id: string;
  version: number;
  retracted: boolean;
  site_id: string | null;
  visitor_id: string;
  user_id: string | null;
  start_ts: number;
  end_ts: number;
  duration_ms: number;
  event_count: number;
  pageview_count: number;
  landing_url: string | null;
  exit_url: string | null;
  referrer: string | null;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
  is_engaged: boolean;
  is_bounce: boolean;
  converted: boolean;
  revenue: number;
  is_bot: boolean;
  split_reason: string;
  page_path: string[];
  page_items: string[];
  /** Not a column: add_to_cart events in the session, for churn behaviour features. */
  cart_adds?: number;
  /**
   * Not a column: the session's refunds as a positive amount (revenue is net of them), so that the business counters
   * can count sales and refunds apart (clickpipe_revenue_total, clickpipe_refunds_total). Absent: none.
   */
  refunds?: number;
  /**
   * Not a column: the session's sales, the sum of its purchases with revenue ≥ 0 (clickpipe_revenue_total), summed
   * apart because revenue + refunds can differ from it by a rounding. Absent: revenue + refunds.
   */
  sales?: number;
}

export interface OperatorContext {
  /**
   * Appends a row to an output table; it is committed with the next checkpoint. The pseudo-table "_SUCCESS" with
   * `{ table, partition }` (partition = the partition value, e.g. "2026-01-05") asks for a `_SUCCESS` marker there.
   */
  emit(table: string, row: Row): void;
  /** Sends an event that no state can take any more to `late_events`, counted in clickpipe_events_late_total (operators do not count it themselves). */
  late(event: ClickEvent, watermarkAtArrival: number, reason: string): void;
  /**
   * The event is ignored as already seen (its event_id, or its order_id). Counted in clickpipe_events_duplicate_total
   * once per event, however many operators ignore it.
   */
  duplicate(event: ClickEvent): void;
  /** Sessionize only: forwards a session version (or retraction) to operators that consume sessions. */
  emitSession(session: SessionRecord): void;
  /** Sessionize only: tells session consumers that no session ending before `watermark - gap` will change. */
  emitSessionWatermark(watermark: number): void;
  /**
   * Sessionize only, at a drain's end, before its +∞ session watermark: tells session consumers the latest event time
   * that arrived (each ts at most its received_at; −∞: none), through which they write their windows. Optional: a
   * context without session consumers (a benchmark's) need not have it.
   */
  emitSessionInputEnd?(arrivedThrough: number): void;
  /** Processing time in epoch ms (injectable for tests). */
  now(): number;
  metrics: Metrics;
}

export interface Operator {
  /** Unique, deterministic step id (e.g. "sessionize", "sequencePatterns"); keys state and metrics. */
  readonly id: string;
  /** Tables this operator writes. */
  readonly tables: TableSpec[];
  /** One event, in stream order. The operator advances its own event-time watermark. */
  onEvent?(event: ClickEvent, origin: EventOrigin, ctx: OperatorContext): void;
  /** A session version from sessionize (consumers of sessions only). */
  onSession?(session: SessionRecord, ctx: OperatorContext): void;
  /** The sessionize watermark advanced (consumers of sessions only). */
  onSessionWatermark?(watermark: number, ctx: OperatorContext): void;
  /**
   * Sessionize's input ended (a drain), before its +∞ session watermark: `arrivedThrough` is the latest event time that
   * arrived (each ts at most its received_at), over every events partition (consumers of sessions only). Windows after
   * it hold only sessions of devices whose clocks run ahead.
   */
  onSessionInputEnd?(arrivedThrough: number, ctx: OperatorContext): void;
  /** Processing-time tick (about once a second in live mode), e.g. for idle partitions. */
  onTick?(ctx: OperatorContext): void;
  /** End of input (drain): advance the watermark to +∞, flush every window and snapshot. */
  onEnd(ctx: OperatorContext): void;
  /**
   * JSON-serialisable state (plain values, or objects whose toJSON gives them), whose serialization does not change
   * with anything the operator does later (copies, values it never mutates, or copy-on-write as sessionize's events):
   * the worker serializes it in slices while processing goes on (src/runtime/json-slices.ts).
   */
  snapshot(): unknown;
  restore(state: unknown): void;
  /**
   * `clickpipe forget`: drops what the state keeps of these people (user and visitor ids), so that it neither stays
   * in checkpoints nor shapes later rows. Operators whose state names no person leave it out.
   */
  forget?(ids: ReadonlySet<string>): void;
  /** The operator's current event-time watermark (epoch ms; -Infinity before any event), for `clickpipe_watermark_lag_seconds`. */
  watermark?(): number;
  /** Approximate bytes of retained state, for `clickpipe_state_bytes{operator}`. */
  stateBytes?(): number;
  /** How many keys of each kind the state holds (visitors, customers, …), for `clickpipe_state_keys{operator,kind}`. */
  stateKeys?(): Record<string, number>;
  /**
   * Sets the operator's own gauges (sessionize: `clickpipe_open_sessions`), with the state gauges: once a second and
   * at the end. Not on each change: a value that moves with most events would cost a prom-client call (a label hash,
   * objects for the young generation) per event, for a series scraped every few seconds. `labels`: the task's, in a
   * partitioned pipeline (none otherwise).
   */
  reportGauges?(metrics: Metrics, labels?: TaskLabels): void;
  /** Resolves once what the operator starts in the background (a mining thread) can take work. */
  ready?(): Promise<void>;
  /** Releases what outlives a call (a mining thread) once the pipeline is done with the operator. */
  close?(): Promise<void>;
}
