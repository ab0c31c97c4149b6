// The test-only fault injection: CLICKPIPE_CRASH_AT parsing and the poison operator CLICKPIPE_THROW_ON_EVENTS adds.
import { describe, expect, it } from "vitest";
import type { ClickEvent } from "../../src/events/event.ts";
import { parseCrashPlan, poisonOperatorFromEnv } from "../../src/runtime/fault-injection.ts";

const event = (event_id: string) => ({ type: "page_view", ts: 0, event_id, anon_id: "a", url: "/" }) as unknown as ClickEvent;
const origin = { partition: 0, sequence: 1 };

describe("parseCrashPlan", () => {
  it("reads a step, a rename count and the checkpoint it applies to (default the third)", () => {
    expect(parseCrashPlan(undefined)).toBeUndefined();
    expect(parseCrashPlan("after-prepare")).toEqual({ step: "after-prepare", renames: 0, checkpoint: 3 });
    expect(parseCrashPlan("after-rename:2@5")).toEqual({ step: "after-rename", renames: 2, checkpoint: 5 });
  });

  it("reads the merge steps of compaction, merge-deleted with the inputs deleted before the crash", () => {
    for (const step of ["merge-prepared", "merge-checkpointed", "merge-renamed"]) {
      expect(parseCrashPlan(`${step}@1`)).toEqual({ step, renames: 0, checkpoint: 1 });
    }
    expect(parseCrashPlan("merge-deleted:1@2")).toEqual({ step: "merge-deleted", renames: 1, checkpoint: 2 });
  });

  it("rejects an unknown step with the list of steps", () => {
    expect(() => parseCrashPlan("before-lunch")).toThrow(/after-prepare, checkpoint-written, after-checkpoint, after-rename/);
  });
});

describe("poisonOperatorFromEnv", () => {
  it("is absent unless CLICKPIPE_THROW_ON_EVENTS is set", () => {
    expect(poisonOperatorFromEnv({})).toBeUndefined();
  });

  it("throws on the listed events only, every time by default", () => {
    const operator = poisonOperatorFromEnv({ CLICKPIPE_THROW_ON_EVENTS: "e1,e2" })!;
    const run = (id: string) => () => operator.onEvent!(event(id), origin, undefined as never);
    expect(run("e0")).not.toThrow();
    expect(run("e1")).toThrow("injected failure on event e1");
    expect(run("e1")).toThrow("injected failure on event e1");
    expect(run("e2")).toThrow();
  });

  it("throws only CLICKPIPE_THROW_TIMES times per event (a transient failure)", () => {
    const operator = poisonOperatorFromEnv({ CLICKPIPE_THROW_ON_EVENTS: "e1", CLICKPIPE_THROW_TIMES: "1" })!;
    const run = () => operator.onEvent!(event("e1"), origin, undefined as never);
    expect(run).toThrow();
    expect(run).not.toThrow();
  });
});
