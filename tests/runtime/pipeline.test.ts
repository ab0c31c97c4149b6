// Pipeline: what reaches the session consumers once people are forgotten; one count per late or repeated event, across tasks too.
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/metrics/registry.ts";
import type { ClickEvent } from "../../src/events/event.ts";
import type { Operator, SessionRecord } from "../../src/runtime/operator.ts";
import { COUNTED_DUPLICATE, COUNTED_LATE, Pipeline } from "../../src/runtime/pipeline.ts";
import { session } from "../operators/churn-features-fixtures.ts";

/** A session consumer that keeps the ids of the sessions it got. */
function sessionRecorder(): Operator & { seen: string[] } {
  const seen: string[] = [];
  return {
    id: "recorder",
    tables: [],
    seen,
    onSession: (record: SessionRecord) => void seen.push(record.session_id),
    onEnd: () => undefined,
    snapshot: () => ({}),
    restore: () => undefined,
  };
}

/** An operator that reports the events named in `late` as late and those in `repeated` as duplicates. */
function judge(id: string, late: ReadonlySet<string>, repeated: ReadonlySet<string>): Operator {
  return {
    id,
    tables: [],
    onEvent: (event, _origin, ctx) => {
      if (late.has(event.event_id)) ctx.late(event, 0, "too_late");
      if (repeated.has(event.event_id)) ctx.duplicate(event);
    },
    onEnd: () => undefined,
    snapshot: () => ({}),
    restore: () => undefined,
  };
}

async function counted(metrics: Metrics): Promise<{ late: number; duplicate: number }> {
  const value = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values.reduce((sum, { value }) => sum + value, 0);
  return { late: await value("clickpipe_events_late_total"), duplicate: await value("clickpipe_events_duplicate_total") };
}

describe("Pipeline", () => {
  it("says what it counted an event as, and counts none that another task counted, still writing its late rows", async () => {
    const event = (id: string) => ({ type: "purchase", ts: 1, event_id: id }) as ClickEvent;
    const origin = { partition: 0, sequence: 1 };
    // The events stage: sessionize finds a and c late, b and c repeated.
    const eventsMetrics = new Metrics();
    const first = new Pipeline({ operators: [judge("sessionize", new Set(["a", "c"]), new Set(["b", "c"]))], sink: { append: () => undefined, markSuccess: () => undefined }, metrics: eventsMetrics });
    const flags = ["a", "b", "c", "d"].map((id) => {
      const shaped = event(id);
      first.processShapedEvent(shaped, origin);
      return first.countedAs(shaped);
    });
    expect(flags).toEqual([COUNTED_LATE, COUNTED_DUPLICATE, COUNTED_LATE | COUNTED_DUPLICATE, 0]);
    // The customer stage: basket and churnFeatures find every one late and repeated; only d was not counted before.
    const customersMetrics = new Metrics();
    const rows: string[] = [];
    const every = new Set(["a", "b", "c", "d"]);
    const second = new Pipeline({
      operators: [judge("basket", every, every), judge("churnFeatures", every, every)],
      sink: { append: (table, row) => void rows.push(`${table} ${String(row.event_id)} ${String(row.operator)}`), markSuccess: () => undefined },
      metrics: customersMetrics,
    });
    ["a", "b", "c", "d"].forEach((id, index) => {
      const shaped = event(id); // decoded again from the forwarded line: another object
      if (flags[index] !== 0) second.countedElsewhere(shaped, flags[index]);
      second.processShapedEvent(shaped, origin);
    });
    expect(await counted(eventsMetrics)).toEqual({ late: 2, duplicate: 2 });
    // b was counted a duplicate only: its lateness counts here; a late only: its repeat counts here.
    expect(await counted(customersMetrics)).toEqual({ late: 2, duplicate: 2 });
    expect(rows).toEqual(["a", "b", "c", "d"].flatMap((id) => [`late_events ${id} basket`, `late_events ${id} churnFeatures`]));
  });

  it("hands no session of a forgotten person (by user or visitor id) to the session consumers", () => {
    const recorder = sessionRecorder();
    let forgotten = new Set<string>();
    const pipeline = new Pipeline({
      operators: [recorder],
      sink: { append: () => undefined, markSuccess: () => undefined },
      metrics: new Metrics(),
      forgotten: () => forgotten,
    });
    const sessions = [
      session("s1", { end_ts: 1, user_id: "alice", visitor_id: "a1" }),
      session("s2", { end_ts: 2, user_id: null, visitor_id: "a2" }),
      session("s3", { end_ts: 3, user_id: "bob", visitor_id: "b1" }),
    ];
    for (const record of sessions) pipeline.processSession(record);
    forgotten = new Set(["alice", "a2"]);
    for (const record of sessions) pipeline.processSession(record);
    expect(recorder.seen).toEqual(["s1", "s2", "s3", "s3"]);
  });
});
