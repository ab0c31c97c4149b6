// Space-Saving's guarantees checked against exact counts of random streams.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SpaceSaving } from "../../../src/operators/mining/space-saving.ts";

describe("SpaceSaving", () => {
  it("counts exactly while the keys fit in its counters", () => {
    const summary = new SpaceSaving(3);
    for (const key of ["a", "b", "a", "c", "a", "b"]) summary.offer(key);
    expect(summary.entries()).toEqual([
      { key: "a", count: 3, error: 0 },
      { key: "b", count: 2, error: 0 },
      { key: "c", count: 1, error: 0 },
    ]);
  });

  it("gives a new key the evicted minimum as count and error", () => {
    const summary = new SpaceSaving(2);
    for (const key of ["a", "a", "b", "c"]) summary.offer(key);
    // b (count 1) is the minimum when c arrives: c gets 1 + 1 with error 1.
    expect(summary.entries()).toEqual([
      { key: "a", count: 2, error: 0 },
      { key: "c", count: 2, error: 1 },
    ]);
  });

  it("never underestimates, never overestimates beyond its error, and keeps every key above N/k", () => {
    const stream = fc.array(fc.integer({ min: 0, max: 30 }).map((n) => `k${Math.floor(Math.sqrt(n * 9))}`), { maxLength: 400 });
    fc.assert(
      fc.property(stream, fc.integer({ min: 1, max: 12 }), (keys, capacity) => {
        const summary = new SpaceSaving(capacity);
        const truth = new Map<string, number>();
        for (const key of keys) {
          summary.offer(key);
          truth.set(key, (truth.get(key) ?? 0) + 1);
        }
        const entries = summary.entries();
        expect(entries.length).toBe(Math.min(capacity, truth.size));
        for (const { key, count, error } of entries) {
          const exact = truth.get(key)!;
          expect(count).toBeGreaterThanOrEqual(exact);
          expect(count - error).toBeLessThanOrEqual(exact);
          expect(error).toBeLessThanOrEqual(keys.length / capacity);
        }
        const monitored = new Set(entries.map((entry) => entry.key));
        for (const [key, exact] of truth) if (exact > keys.length / capacity) expect(monitored.has(key)).toBe(true);
        expect(summary.total).toBe(keys.length);
      }),
      { numRuns: 300 },
    );
  });
});
