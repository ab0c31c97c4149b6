// Pipeline: what reaches the session consumers once people are forgotten.
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/metrics/registry.ts";
import type { Operator, SessionRecord } from "../../src/runtime/operator.ts";
import { Pipeline } from "../../src/runtime/pipeline.ts";
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

describe("Pipeline", () => {
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
