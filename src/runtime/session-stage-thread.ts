// Worker-thread entry of a session stage: one session-consuming operator, fed sessions and session watermarks in
// sessionize's order; its rows and metric calls go back on one ordered port (see session-stage.ts).
import { isMainThread, parentPort, workerData, type MessagePort } from "node:worker_threads";
import type { ClickEvent } from "../events/event.ts";
import type { Metrics } from "../metrics/registry.ts";
import { createOperator } from "../operators/index.ts";
import type { Row } from "../sinks/table.ts";
import type { Operator, OperatorContext, SessionRecord } from "./operator.ts";
import type { MetricCall, StageItem, StageReport, StageRequest, StageSetup } from "./session-stage-protocol.ts";

/** Records metric calls instead of making them: `metrics.name.method(...args)` becomes one MetricCall. */
function recordingMetrics(calls: MetricCall[]): Metrics {
  return new Proxy({} as Metrics, {
    get: (_target, metric) =>
      new Proxy(
        {},
        {
          get: (_inner, method) =>
            (...args: unknown[]) => {
              calls.push([String(metric), String(method), args]);
            },
        },
      ),
  });
}

export class SessionStageThread {
  private readonly operator: Operator;
  private readonly context: OperatorContext;
  private rows: [string, Row][] = [];
  /** Emptied in place by each report: recordingMetrics holds this array. */
  private readonly metricCalls: MetricCall[] = [];
  private readonly signal: Int32Array;
  private failure: string | undefined;

  constructor(
    private readonly setup: StageSetup,
    private readonly replies: MessagePort,
  ) {
    this.signal = new Int32Array(setup.signal);
    this.operator = createOperator(setup.operator, setup.environment);
    const unsupported = (what: string) => () => {
      throw new Error(`${this.operator.id}: ${what} is not available in a session stage`);
    };
    this.context = {
      emit: (table: string, row: Row) => {
        this.rows.push([table, row]);
      },
      late: unsupported("late(event)") as (event: ClickEvent, watermark: number, reason: string) => void,
      emitSession: unsupported("emitSession") as (session: SessionRecord) => void,
      emitSessionWatermark: unsupported("emitSessionWatermark") as (watermark: number) => void,
      now: Date.now,
      metrics: recordingMetrics(this.metricCalls),
    };
  }

  handle(request: StageRequest): void {
    if (this.failure !== undefined) {
      this.report({ id: request.type === "items" ? undefined : request.id });
      return;
    }
    try {
      switch (request.type) {
        case "items":
          // Answered even with nothing to report: the main thread counts these to bound the items in flight.
          this.consume(JSON.parse(request.json) as StageItem[]);
          this.report({});
          return;
        case "snapshot":
          this.report({ id: request.id, state: this.operator.snapshot() });
          return;
        case "restore":
          this.operator.restore(request.state);
          this.report({ id: request.id });
          return;
        case "end":
          this.operator.onEnd(this.context);
          this.report({ id: request.id });
          return;
      }
    } catch (error) {
      this.failure = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
      this.report({ id: request.type === "items" ? undefined : request.id });
    }
  }

  private consume(items: readonly unknown[]): void {
    const { operator, context } = this;
    const fields = this.setup.fields;
    for (const item of items) {
      if (typeof item === "number" || typeof item === "string") {
        operator.onSessionWatermark?.(Number(item), context);
        continue;
      }
      const values = item as unknown[];
      const session: Record<string, unknown> = {};
      for (let i = 0; i < fields.length; i++) session[fields[i]] = values[i];
      operator.onSession?.(session as unknown as SessionRecord, context);
    }
  }

  private report(fields: Pick<StageReport, "id" | "state">): void {
    const report: StageReport = {
      ...fields,
      rows: this.rows.length === 0 ? "" : JSON.stringify(this.rows),
      metrics: this.metricCalls.splice(0),
      watermark: this.operator.watermark?.() ?? Number.NEGATIVE_INFINITY,
      stateBytes: this.operator.stateBytes?.() ?? 0,
      ...(this.failure !== undefined && { error: this.failure }),
    };
    this.rows = [];
    this.replies.postMessage(report);
    // Posted first, then signalled: a waiting main thread finds the message in the port's queue when it wakes.
    Atomics.add(this.signal, 0, 1);
    Atomics.notify(this.signal, 0);
  }
}

if (!isMainThread && parentPort !== null && (workerData as { sessionStage?: StageSetup } | undefined)?.sessionStage !== undefined) {
  const { sessionStage, replies } = workerData as { sessionStage: StageSetup; replies: MessagePort };
  const stage = new SessionStageThread(sessionStage, replies);
  parentPort.on("message", (request: StageRequest) => stage.handle(request));
  // Its only message on the worker port: built and listening (SessionStage.ready).
  parentPort.postMessage("ready");
}
