// A session-consuming operator (sequencePatterns) on a worker thread of its own, so its window mining runs beside
// decode and sessionize instead of after them on the one main thread (bench/RESULTS.md, issue 10).
//
// Exactly-once is kept by order, not by locks. The main thread sends sessions and session watermarks in the order
// sessionize made them; the thread answers on one port, rows and replies in the order it made them. snapshot() is a
// barrier: it sends everything buffered, waits (Atomics.wait) for the thread's answer and appends every row reported
// before it to the sink. So the state a checkpoint stores and the rows it commits cover the same sessions, as when the
// operator ran on the main thread; the snapshot is the operator's own, so checkpoints move between the two modes.
//
// A failure in the thread (the operator threw) fails the next snapshot(), restore() or onEnd(): the checkpoint fails
// and the worker stops, to restart from the last checkpoint like after any failed checkpoint. It is not tied to an event
// as an operator error on the main thread is (the thread runs behind), so no event is dead-lettered for it.
import { availableParallelism } from "node:os";
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from "node:worker_threads";
import type { Metrics } from "../metrics/registry.ts";
import type { OperatorEnvironment } from "../operators/environment.ts";
import type { OperatorConfig } from "../operators/index.ts";
import type { Row, TableSpec } from "../sinks/table.ts";
import type { Operator, OperatorContext, SessionRecord } from "./operator.ts";
import type { SessionFields, StageItem, StageReport, StageRequest, StageSetup } from "./session-stage-protocol.ts";
import { startTypeScriptWorker } from "./thread-entry.ts";

/** Items (sessions and watermarks) sent per message: one JSON text and one postMessage per this many, not per session. */
const ITEMS_PER_MESSAGE = 512;
/** Items messages the thread may be behind by before the main thread waits for it (memory bound: 32k sessions). */
const MAX_ITEM_MESSAGES_IN_FLIGHT = 64;
/** A reply later than this means the thread is gone or stuck: the checkpoint fails rather than hang. */
const REPLY_TIMEOUT_MS = 120_000;

/**
 * The session fields each stage-capable operator reads; only these cross threads (the whole record is 25 fields).
 * An operator listed here consumes sessions only: no onEvent, no onTick, no late events.
 */
function sessionFieldsOf(config: OperatorConfig): SessionFields | undefined {
  if (config.type === "sequencePatterns") return ["session_id", "version", "retracted", "end_ts", config.item === "page_path" ? "page_path" : "page_items"];
  return undefined;
}

/**
 * Whether session stages run at all: not on a single core (the thread would only take turns with the main thread), nor
 * with CLICKPIPE_SESSION_STAGES=never (every operator on the main thread, as before stages existed).
 */
export function sessionStagesEnabled(environment: NodeJS.ProcessEnv = process.env): boolean {
  return environment.CLICKPIPE_SESSION_STAGES !== "never" && availableParallelism() >= 2;
}

/** Whether `config`'s operator can run as a session stage. */
export function runsAsSessionStage(config: OperatorConfig): boolean {
  return sessionFieldsOf(config) !== undefined;
}

export class SessionStageError extends Error {
  override name = "SessionStageError";
}

export class SessionStage implements Operator {
  readonly id: string;
  readonly tables: TableSpec[];
  private readonly fields: SessionFields;
  private readonly worker: Worker;
  private readonly replies: MessagePort;
  private readonly signal: Int32Array;
  /** Reports read so far (the signal's count when nothing is pending). */
  private reportsSeen = 0;
  private items: StageItem[] = [];
  /** Whether the last buffered item is a watermark (a newer one with no session between replaces it). */
  private lastIsWatermark = false;
  private nextId = 0;
  /** Items messages sent and not yet reported on. */
  private itemMessagesInFlight = 0;
  private context: OperatorContext | undefined;
  private lastWatermark = Number.NEGATIVE_INFINITY;
  private lastStateBytes = 0;
  private failure: string | undefined;
  private closed = false;
  /** Settles when the thread has built its operator (its one message on the worker port) or failed before. */
  private readonly started: Promise<void>;

  /**
   * `template` is the same operator built on this thread: its id and tables (the sink needs them up front). The
   * thread builds its own from `config`.
   */
  constructor(
    config: OperatorConfig,
    environment: OperatorEnvironment,
    template: Operator,
    private readonly metrics: Metrics,
  ) {
    const fields = sessionFieldsOf(config);
    if (fields === undefined) throw new Error(`operator ${config.type} cannot run as a session stage`);
    this.id = template.id;
    this.tables = template.tables;
    this.fields = fields;
    const signal = new SharedArrayBuffer(4);
    this.signal = new Int32Array(signal);
    const channel = new MessageChannel();
    this.replies = channel.port1;
    const setup: StageSetup = { operator: config, environment, fields, signal };
    this.worker = startTypeScriptWorker(new URL(import.meta.url.endsWith(".ts") ? "./session-stage-thread.ts" : "./session-stage-thread.js", import.meta.url), {
      workerData: { sessionStage: setup, replies: channel.port2 },
      transferList: [channel.port2],
    });
    this.worker.on("error", (error) => {
      this.failure ??= `thread failed: ${error.message}`;
    });
    this.worker.on("exit", (code) => {
      if (!this.closed) this.failure ??= `thread exited with code ${code}`;
    });
    const worker = this.worker;
    this.started = new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", (error) => reject(new SessionStageError(`session stage ${this.id}: thread failed to start: ${error.message}`)));
      worker.once("exit", (code) => reject(new SessionStageError(`session stage ${this.id}: thread exited with code ${code} before it started`)));
    });
    // Whoever never awaits ready() learns of a failed start at the next snapshot(), as of any other failure.
    this.started.catch(() => undefined);
    // The thread only ends when closed; it must not keep a finished process alive.
    this.worker.unref();
  }

  /**
   * Resolves once the thread runs and has built its operator. A worker awaits this before it reads, so the thread's
   * start-up (its bundle and operator, ≈ 0.1–0.3 CPU s) overlaps recovery instead of competing for a core with the
   * first batches.
   */
  async ready(): Promise<void> {
    // Held referenced while waiting, so an otherwise idle process does not exit under the wait; a thread that never
    // answers fails the start as a late reply fails a checkpoint.
    this.worker.ref();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new SessionStageError(`session stage ${this.id}: thread not started within ${REPLY_TIMEOUT_MS / 1000} s`)),
        REPLY_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([this.started, timeout]);
    } finally {
      clearTimeout(timer);
      this.worker.unref();
    }
  }

  onSession(session: SessionRecord, ctx: OperatorContext): void {
    this.context = ctx;
    const fields = this.fields;
    const values = new Array<unknown>(fields.length);
    for (let i = 0; i < fields.length; i++) values[i] = session[fields[i] as keyof SessionRecord];
    this.items.push(values);
    this.lastIsWatermark = false;
    if (this.items.length >= ITEMS_PER_MESSAGE) this.send();
  }

  onSessionWatermark(watermark: number, ctx: OperatorContext): void {
    this.context = ctx;
    // Consecutive watermarks with no session between them act as the last one alone (they only ever rise).
    const item = Number.isFinite(watermark) ? watermark : String(watermark);
    if (this.lastIsWatermark) this.items[this.items.length - 1] = item;
    else this.items.push(item);
    this.lastIsWatermark = true;
    if (this.items.length >= ITEMS_PER_MESSAGE) this.send();
  }

  /** Processing-time tick (live mode): what is buffered goes out, and the rows reported so far come in. */
  onTick(ctx: OperatorContext): void {
    this.context = ctx;
    this.send();
    this.readReports();
  }

  onEnd(ctx: OperatorContext): void {
    this.context = ctx;
    this.call({ type: "end", id: this.nextId++ });
  }

  snapshot(): unknown {
    return this.call({ type: "snapshot", id: this.nextId++ }).state;
  }

  restore(state: unknown): void {
    this.items = [];
    this.lastIsWatermark = false;
    this.call({ type: "restore", id: this.nextId++, state });
  }

  watermark(): number {
    return this.lastWatermark;
  }

  stateBytes(): number {
    return this.lastStateBytes;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.replies.close();
    await this.worker.terminate();
  }

  private send(): void {
    if (this.failure !== undefined) {
      // Broken: nothing more goes over; the next snapshot() reports the failure.
      this.items = [];
      this.lastIsWatermark = false;
      return;
    }
    if (this.items.length === 0) return;
    this.post({ type: "items", json: JSON.stringify(this.items) });
    this.itemMessagesInFlight++;
    this.items = [];
    this.lastIsWatermark = false;
    // Rows of windows closed meanwhile: into the sink now, so they do not pile up until the next checkpoint.
    this.readReports();
    // Backpressure: a thread that falls behind holds the main thread back rather than a growing queue.
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    while (this.itemMessagesInFlight > MAX_ITEM_MESSAGES_IN_FLIGHT && this.waitForReport(`${this.itemMessagesInFlight} items messages`, deadline)) {
      this.readReports();
    }
  }

  private post(request: StageRequest): void {
    if (this.closed) throw new SessionStageError(`session stage ${this.id}: used after close`);
    this.worker.postMessage(request);
  }

  /** Sends what is buffered and the request, then blocks until the thread answers it; every earlier report is applied. */
  private call(request: Exclude<StageRequest, { type: "items" }>): StageReport {
    this.send();
    if (this.failure === undefined) {
      this.post(request);
      const deadline = Date.now() + REPLY_TIMEOUT_MS;
      do {
        const reply = this.readReports(request.id);
        if (reply !== undefined && this.failure === undefined) return reply;
      } while (this.waitForReport(request.type, deadline));
    }
    throw new SessionStageError(`session stage ${this.id}: ${this.failure}`);
  }

  /**
   * Blocks until the thread posts another report (its count moves past what was read) or a second passes; false once
   * the stage has failed. A thread that died cannot say so while this thread blocks (its exit event needs the event
   * loop): the deadline ends that wait as a failure.
   */
  private waitForReport(what: string, deadline: number): boolean {
    if (this.failure !== undefined) return false;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      this.failure = `no answer to ${what} within ${REPLY_TIMEOUT_MS / 1000} s`;
      return false;
    }
    Atomics.wait(this.signal, 0, this.reportsSeen, Math.min(remaining, 1000));
    return true;
  }

  /** Applies every report waiting on the port, in order; returns the one answering `id`, when it came. */
  private readReports(id?: number): StageReport | undefined {
    let answer: StageReport | undefined;
    for (let received = receiveMessageOnPort(this.replies); received !== undefined; received = receiveMessageOnPort(this.replies)) {
      const report = received.message as StageReport;
      this.reportsSeen++;
      if (report.id === undefined) this.itemMessagesInFlight--;
      this.apply(report);
      if (id !== undefined && report.id === id) answer = report;
    }
    return answer;
  }

  private apply(report: StageReport): void {
    this.lastWatermark = report.watermark;
    this.lastStateBytes = report.stateBytes;
    if (report.rows !== "") {
      const context = this.context;
      if (context === undefined) throw new SessionStageError(`session stage ${this.id}: rows before any session`);
      for (const [table, row] of JSON.parse(report.rows) as [string, Row][]) context.emit(table, row);
    }
    for (const [metric, method, args] of report.metrics) {
      const target = (this.metrics as unknown as Record<string, Record<string, (...values: unknown[]) => void>>)[metric];
      target[method](...args);
    }
    this.failure ??= report.error;
  }
}
