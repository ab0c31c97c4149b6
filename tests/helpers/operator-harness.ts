// A real OperatorContext for operator tests: collects rows per table, late events, sessions and watermarks; settable clock.
import type { ClickEvent, EventOrigin } from "../../src/events/event.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import type { Operator, OperatorContext, SessionRecord } from "../../src/runtime/operator.ts";
import type { Row } from "../../src/sinks/table.ts";

export interface LateRecord {
  event: ClickEvent;
  watermarkAtArrival: number;
  reason: string;
}

export class OperatorHarness implements OperatorContext {
  readonly metrics = new Metrics();
  readonly rows = new Map<string, Row[]>();
  readonly lateEvents: LateRecord[] = [];
  readonly sessions: SessionRecord[] = [];
  readonly sessionWatermarks: number[] = [];
  /** What sessionize's drain ends said arrived (emitSessionInputEnd). */
  readonly sessionInputEnds: number[] = [];
  /** Processing time returned by now(), epoch ms. */
  clock: number;
  #sequence = 0;
  #lastDuplicate: ClickEvent | undefined;

  constructor(clock = 0) {
    this.clock = clock;
  }

  emit(table: string, row: Row): void {
    let rows = this.rows.get(table);
    if (rows === undefined) {
      rows = [];
      this.rows.set(table, rows);
    }
    rows.push(row);
  }

  /** Counts clickpipe_events_late_total as the pipeline's context does: operators report, the runtime counts. */
  late(event: ClickEvent, watermarkAtArrival: number, reason: string): void {
    this.metrics.eventsLate.inc();
    this.lateEvents.push({ event, watermarkAtArrival, reason });
  }

  /** Counts clickpipe_events_duplicate_total once per event object, as the pipeline's context does. */
  duplicate(event: ClickEvent): void {
    if (event === this.#lastDuplicate) return;
    this.#lastDuplicate = event;
    this.metrics.eventsDuplicate.inc();
  }

  emitSession(session: SessionRecord): void {
    this.sessions.push(session);
  }

  emitSessionWatermark(watermark: number): void {
    this.sessionWatermarks.push(watermark);
  }

  emitSessionInputEnd(arrivedThrough: number): void {
    this.sessionInputEnds.push(arrivedThrough);
  }

  now(): number {
    return this.clock;
  }

  /** Moves processing time forward. */
  advanceClock(ms: number): void {
    this.clock += ms;
  }

  /** Rows emitted to `table` so far (empty when none). */
  rowsOf(table: string): Row[] {
    return this.rows.get(table) ?? [];
  }

  /** Feeds events in order to `operator.onEvent`, from one partition, with increasing sequences. */
  feed(operator: Operator, events: Iterable<ClickEvent>, partition = 0): void {
    for (const event of events) this.send(operator, event, { partition, sequence: ++this.#sequence });
  }

  send(operator: Operator, event: ClickEvent, origin: EventOrigin): void {
    if (operator.onEvent === undefined) throw new Error(`operator ${operator.id} does not take events`);
    operator.onEvent(event, origin, this);
  }

  /** Current value of a metric series (counters, gauges; histograms give their _count). */
  async metricValue(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = this.metrics.registry.getSingleMetric(name);
    if (metric === undefined) throw new Error(`no metric named ${name}`);
    const { values } = (await metric.get()) as { values: { value: number; labels: Record<string, unknown>; metricName?: string }[] };
    const wanted = Object.entries(labels);
    const isHistogram = values.some((value) => value.metricName?.endsWith("_count"));
    const matching = values.filter(
      (value) =>
        (!isHistogram || value.metricName === `${name}_count`) &&
        wanted.every(([label, expected]) => String(value.labels[label]) === expected),
    );
    return matching.reduce((sum, value) => sum + value.value, 0);
  }
}

/** The current truth of a versioned table: the highest `version` per key whose `retracted` is false. */
export function currentView(rows: Row[], key = "session_id"): Row[] {
  const latest = new Map<unknown, Row>();
  for (const row of rows) {
    const seen = latest.get(row[key]);
    if (seen === undefined || (row.version as number) > (seen.version as number)) latest.set(row[key], row);
  }
  return [...latest.values()].filter((row) => row.retracted !== true);
}
