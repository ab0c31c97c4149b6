// A test OperatorContext that records emitted rows and late events (tests/helpers/operator-harness.ts was not there yet).
import type { ClickEvent } from "../../../src/events/event.ts";
import { Metrics } from "../../../src/metrics/registry.ts";
import type { OperatorContext, SessionRecord } from "../../../src/runtime/operator.ts";
import type { Row } from "../../../src/sinks/table.ts";

export interface RecordingContext extends OperatorContext {
  rows: { table: string; row: Row }[];
  lates: { event: ClickEvent; watermark: number; reason: string }[];
  rowsOf(table: string): Row[];
}

export function recordingContext(now = 0): RecordingContext {
  const rows: { table: string; row: Row }[] = [];
  const lates: { event: ClickEvent; watermark: number; reason: string }[] = [];
  const metrics = new Metrics();
  let lastDuplicate: ClickEvent | undefined;
  return {
    rows,
    lates,
    rowsOf: (table) => rows.filter((entry) => entry.table === table).map((entry) => entry.row),
    emit: (table, row) => rows.push({ table, row }),
    late: (event, watermark, reason) => lates.push({ event, watermark, reason }),
    // Counted as the pipeline's context counts them: once per event object.
    duplicate: (event: ClickEvent) => {
      if (event !== lastDuplicate) metrics.eventsDuplicate.inc();
      lastDuplicate = event;
    },
    emitSession: (_session: SessionRecord) => undefined,
    emitSessionWatermark: (_watermark: number) => undefined,
    emitSessionInputEnd: (_arrivedThrough: number) => undefined,
    now: () => now,
    metrics,
  };
}
