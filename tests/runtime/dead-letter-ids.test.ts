// DeadLetterIds: which dead letters the worker writes, by id, within a retention and a count cap, across a checkpoint.
import { describe, expect, it } from "vitest";
import { DEFAULT_DEAD_LETTER_ID_RETENTION_MS, DeadLetterIds } from "../../src/runtime/dead-letter-ids.ts";
import { fileLineId } from "../../src/events/event-id.ts";
import { accessLineEventId } from "../../src/ingest/edge.ts";

describe("dead letter ids", () => {
  it("admits an id once within the retention and again once it expired", () => {
    const ids = new DeadLetterIds(1_000);
    expect(ids.admit("a", 0)).toBe(true);
    expect(ids.admit("a", 1_000)).toBe(false);
    expect(ids.admit("b", 1_000)).toBe(true);
    // 1,001 ms after its write: swept, and written again.
    expect(ids.admit("a", 1_001)).toBe(true);
    expect(ids.snapshot()).toEqual({ ids: ["b", "a"], at: [1_000, 1_001] });
  });

  it("sweeps expired ids on a later letter, oldest first", () => {
    const ids = new DeadLetterIds(100);
    ids.admit("a", 0);
    ids.admit("b", 50);
    ids.admit("c", 120);
    // a (0) is 120 past: gone; b (50) is 70 past: kept.
    expect(ids.snapshot().ids).toEqual(["b", "c"]);
  });

  it("forgets the oldest id beyond the count cap", () => {
    const ids = new DeadLetterIds(1_000, 2);
    ids.admit("a", 0);
    ids.admit("b", 1);
    ids.admit("c", 2);
    expect(ids.size).toBe(2);
    expect(ids.admit("b", 3)).toBe(false);
    expect(ids.admit("a", 3)).toBe(true);
  });

  it("restores a snapshot, so a restarted worker skips what the checkpoint wrote", () => {
    const ids = new DeadLetterIds(1_000);
    ids.admit("a", 10);
    ids.admit("b", 20);
    const restored = new DeadLetterIds(1_000);
    restored.restore(JSON.parse(JSON.stringify(ids.snapshot())));
    expect(restored.admit("a", 30)).toBe(false);
    expect(restored.admit("c", 30)).toBe(true);
    // A checkpoint from before the ids existed holds none.
    restored.restore(undefined);
    expect(restored.size).toBe(0);
  });

  it("keeps ids for the stream's maxAge when it has one, else 7 days", () => {
    expect(DeadLetterIds.retentionFor(3_600_000)).toBe(3_600_000);
    expect(DeadLetterIds.retentionFor(undefined)).toBe(7 * 24 * 3_600_000);
    expect(DeadLetterIds.retentionFor(0)).toBe(DEFAULT_DEAD_LETTER_ID_RETENTION_MS);
  });

  it("gives a file line the id an access-log event of it has: number and text, 22 characters", () => {
    expect(fileLineId(7, "GET / x")).toBe(accessLineEventId({ lineNumber: 7, line: "GET / x" }));
    expect(fileLineId(7, "x")).not.toBe(fileLineId(8, "x"));
    expect(fileLineId(7, "x")).toHaveLength(22);
  });
});
