// The operator graph of one pipeline: routes events and sessions between operators and rows to the sink.
import type { ClickEvent, EventOrigin } from "../events/event.ts";
import { operatorEvent } from "../events/event-shape.ts";
import { recordFinalSession } from "../metrics/business.ts";
import type { Metrics, TaskLabels } from "../metrics/registry.ts";
import type { Row, TableSpec } from "../sinks/table.ts";
import { botEventRow, lateEventRow } from "../sinks/system-tables.ts";
import type { Operator, OperatorContext, SessionRecord } from "./operator.ts";
import { isForgottenSession } from "./tombstones.ts";

/** Where rows go: the Parquet sink in production, a collector in tests. */
export interface RowSink {
  append(table: string, row: Row): void;
  markSuccess(table: string, partition: string): void;
}

/** The pseudo-table an operator emits to ask for a `_SUCCESS` marker once its rows are committed. */
export const SUCCESS_MARKER_TABLE = "_SUCCESS";

export interface PipelineOptions {
  operators: Operator[];
  sink: RowSink;
  metrics: Metrics;
  /** `drop` sends events flagged is_bot to the `bots` table before any operator. */
  bots?: "flag" | "drop";
  now?: () => number;
  /**
   * The ids of forgotten people (tombstones): their session versions reach no session consumer, since state restored
   * from before `forget` may still close a session of theirs. Default: none.
   */
  forgotten?: () => ReadonlySet<string>;
  /** Called once per event sent to `late_events` (however many operators found it late): the run's summary counts them. */
  onLate?: () => void;
}

const NO_ONE: ReadonlySet<string> = new Set();

/**
 * What one event was counted as, as bits: in clickpipe_events_late_total, in clickpipe_events_duplicate_total. A
 * partitioned pipeline's events task forwards them with the event, so that the customers task does not count it again.
 */
export const COUNTED_LATE = 1;
export const COUNTED_DUPLICATE = 2;

export class Pipeline {
  readonly operators: Operator[];
  private readonly eventConsumers: Operator[];
  private readonly sessionConsumers: Operator[];
  private readonly tickConsumers: Operator[];
  private readonly sink: RowSink;
  private readonly metrics: Metrics;
  private readonly dropBots: boolean;
  private readonly forgotten: () => ReadonlySet<string>;
  private readonly onLate: (() => void) | undefined;
  /** One context per operator, so late rows can say which operator found them late. */
  private readonly contexts: Map<Operator, OperatorContext>;
  private readonly eventContexts: OperatorContext[];
  /** Session consumers split by callback, each with its context: sessionize calls these on every watermark step. */
  private readonly onSessionConsumers: Operator[];
  private readonly onSessionContexts: OperatorContext[];
  private readonly sessionWatermarkConsumers: Operator[];
  private readonly sessionWatermarkContexts: OperatorContext[];
  /** The last event an operator reported as a duplicate, so that the others' reports of it are not counted again. */
  private lastDuplicate: ClickEvent | undefined;
  /** The last event an operator reported late, likewise: one late purchase is late for sessionize, basket and churn. */
  private lastLate: ClickEvent | undefined;

  constructor(options: PipelineOptions) {
    // Sessionize runs first so that session consumers see sessions in the same step as the events behind them.
    this.operators = [...options.operators].sort((a, b) => rank(a) - rank(b));
    this.eventConsumers = this.operators.filter((op) => op.onEvent !== undefined);
    this.sessionConsumers = this.operators.filter((op) => op.onSession !== undefined || op.onSessionWatermark !== undefined);
    this.tickConsumers = this.operators.filter((op) => op.onTick !== undefined);
    this.sink = options.sink;
    this.metrics = options.metrics;
    this.dropBots = options.bots === "drop";
    this.forgotten = options.forgotten ?? (() => NO_ONE);
    this.onLate = options.onLate;
    const now = options.now ?? Date.now;
    this.contexts = new Map(this.operators.map((op) => [op, this.contextFor(op.id, now)]));
    this.eventContexts = this.eventConsumers.map((op) => this.contexts.get(op)!);
    this.onSessionConsumers = this.sessionConsumers.filter((op) => op.onSession !== undefined);
    this.onSessionContexts = this.onSessionConsumers.map((op) => this.contexts.get(op)!);
    this.sessionWatermarkConsumers = this.sessionConsumers.filter((op) => op.onSessionWatermark !== undefined);
    this.sessionWatermarkContexts = this.sessionWatermarkConsumers.map((op) => this.contexts.get(op)!);
  }

  /** Every table any operator writes. */
  tables(): TableSpec[] {
    return this.operators.flatMap((op) => op.tables);
  }

  /** One valid event, in stream order. */
  processEvent(event: ClickEvent, origin: EventOrigin): void {
    this.metrics.eventsProcessed.inc();
    this.processShapedEvent(operatorEvent(event), origin);
  }

  /**
   * processEvent for an event already in the one shape of event-shape.ts, as the worker decodes them; the caller
   * counts it in clickpipe_events_processed_total (the worker once a message).
   */
  processShapedEvent(shaped: ClickEvent, origin: EventOrigin): void {
    if (this.dropBots && shaped.is_bot === true) {
      this.sink.append("bots", botEventRow(shaped, "bot (ingest.bots: drop)"));
      this.metrics.eventsFiltered.inc();
      return;
    }
    // Hot path: operators and their contexts in parallel arrays, no lookups per event.
    const consumers = this.eventConsumers;
    const contexts = this.eventContexts;
    for (let i = 0; i < consumers.length; i++) consumers[i].onEvent!(shaped, origin, contexts[i]);
  }

  /**
   * What processShapedEvent counted `event`, the event it processed last, as (COUNTED_LATE, COUNTED_DUPLICATE; 0:
   * neither). Two identity comparisons: it is on the per-event path of an events task that forwards.
   */
  countedAs(event: ClickEvent): number {
    return (event === this.lastLate ? COUNTED_LATE : 0) | (event === this.lastDuplicate ? COUNTED_DUPLICATE : 0);
  }

  /**
   * Before processShapedEvent of an event another task counted already (`counted` as countedAs gave there): as when
   * one of this pipeline's operators reported it first, the others' reports append their rows but count nothing.
   */
  countedElsewhere(event: ClickEvent, counted: number): void {
    if ((counted & COUNTED_LATE) !== 0) this.lastLate = event;
    if ((counted & COUNTED_DUPLICATE) !== 0) this.lastDuplicate = event;
  }

  /** A session version sessionize emitted in another task (the customer stage of a partitioned pipeline). */
  processSession(session: SessionRecord): void {
    const forgotten = this.forgotten();
    if (forgotten.size > 0 && isForgottenSession(session, forgotten)) return;
    const consumers = this.onSessionConsumers;
    const contexts = this.onSessionContexts;
    for (let i = 0; i < consumers.length; i++) consumers[i].onSession!(session, contexts[i]);
  }

  /** Sessionize's watermark from other tasks, combined over them (the customer stage of a partitioned pipeline). */
  processSessionWatermark(watermark: number): void {
    const consumers = this.sessionWatermarkConsumers;
    const contexts = this.sessionWatermarkContexts;
    for (let i = 0; i < consumers.length; i++) consumers[i].onSessionWatermark!(watermark, contexts[i]);
  }

  /** Sessionize's input ended (a drain) through this event time, here or in another task (Operator.onSessionInputEnd). */
  processSessionInputEnd(arrivedThrough: number): void {
    for (const op of this.sessionConsumers) op.onSessionInputEnd?.(arrivedThrough, this.contexts.get(op)!);
  }

  tick(): void {
    for (const op of this.tickConsumers) op.onTick!(this.contexts.get(op)!);
  }

  /** End of input: watermark to +∞ everywhere, every window and snapshot flushed. */
  end(): void {
    for (const op of this.operators) op.onEnd(this.contexts.get(op)!);
  }

  snapshot(): Record<string, unknown> {
    const state: Record<string, unknown> = {};
    for (const op of this.operators) state[op.id] = op.snapshot();
    return state;
  }

  restore(state: Record<string, unknown>): void {
    for (const op of this.operators) {
      if (state[op.id] !== undefined) op.restore(state[op.id]);
    }
  }

  /** Drops what every operator's state keeps of these people (Operator.forget). */
  forget(ids: ReadonlySet<string>): void {
    for (const op of this.operators) op.forget?.(ids);
  }

  /** Resolves once every operator's threads can take work (Operator.ready). */
  async ready(): Promise<void> {
    await Promise.all(this.operators.map((op) => op.ready?.()));
  }

  /** Releases the operators' threads; the pipeline is not used after. */
  async close(): Promise<void> {
    await Promise.all(this.operators.map((op) => op.close?.()));
  }

  /**
   * `clickpipe_state_bytes`, `clickpipe_state_keys` and the operators' own gauges, for each operator that reports them;
   * `labels` names the task of a partitioned pipeline.
   */
  reportState(metrics: Metrics, labels: TaskLabels = {}): void {
    for (const op of this.operators) {
      if (op.stateBytes !== undefined) metrics.stateBytes.set({ operator: op.id, ...labels }, op.stateBytes());
      const keys = op.stateKeys?.();
      if (keys !== undefined) for (const kind in keys) metrics.stateKeys.set({ operator: op.id, kind, ...labels }, keys[kind]);
      op.reportGauges?.(metrics, labels);
    }
  }

  private contextFor(operatorId: string, now: () => number): OperatorContext {
    const sink = this.sink;
    const metrics = this.metrics;
    const context: OperatorContext = {
      emit: (table, row) => {
        if (table === SUCCESS_MARKER_TABLE) sink.markSuccess(String(row.table), String(row.partition));
        else sink.append(table, row);
      },
      late: (event, watermarkAtArrival, reason) => {
        // One row per operator that found it late (each names itself), but one late event: counted once, as duplicates.
        if (event !== this.lastLate) {
          metrics.eventsLate.inc();
          this.onLate?.();
        }
        this.lastLate = event;
        sink.append("late_events", lateEventRow(event, watermarkAtArrival, reason, operatorId));
      },
      duplicate: (event) => {
        // Every operator gets the same event object: sessionize (event_id), basket and churnFeatures (order_id) may
        // each ignore one resent purchase.
        if (event === this.lastDuplicate) return;
        this.lastDuplicate = event;
        metrics.eventsDuplicate.inc();
      },
      emitSession: (session: SessionRecord) => {
        recordFinalSession(metrics, session);
        this.processSession(session);
      },
      emitSessionWatermark: (watermark: number) => this.processSessionWatermark(watermark),
      emitSessionInputEnd: (arrivedThrough: number) => this.processSessionInputEnd(arrivedThrough),
      now,
      metrics,
    };
    return context;
  }
}

function rank(op: Operator): number {
  return op.id === "sessionize" ? 0 : 1;
}
