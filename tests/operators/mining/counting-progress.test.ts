// The counting's heartbeat: one atomic increment of its word per WORK_PER_HEARTBEAT units of reported work, and the
// counting reporting its work without changing its rows.
import { describe, expect, it } from "vitest";
import { CountingProgress, UNWATCHED, WORK_PER_HEARTBEAT } from "../../../src/operators/mining/counting-progress.ts";
import { countWindowPatterns } from "../../../src/operators/mining/pattern-counting.ts";

/** Adds up the work reported, without heartbeats. */
class Tally extends CountingProgress {
  total = 0;
  override advance(work: number): void {
    this.total += work;
  }
}

describe("CountingProgress", () => {
  it("adds 1 to its heartbeat word once WORK_PER_HEARTBEAT units are reported, and leaves the other words alone", () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    const progress = new CountingProgress(words, 1);
    progress.advance(WORK_PER_HEARTBEAT - 1);
    expect([...words]).toEqual([0, 0]);
    progress.advance(1);
    expect([...words]).toEqual([0, 1]);
    for (let unit = 0; unit < 2 * WORK_PER_HEARTBEAT + 5; unit++) progress.advance(1);
    expect([...words]).toEqual([0, 3]);
    // One call is one heartbeat at most, however much work it reports.
    progress.advance(10 * WORK_PER_HEARTBEAT);
    expect([...words]).toEqual([0, 4]);
  });

  it("is told the work of a window's counting, which counts the same rows watched or not", () => {
    const request = { elements: Array.from({ length: 200 }, () => ["a", "b", "c"]), maxLength: 3, itemJoin: " ", minCount: 1 };
    const dense = new Tally();
    const rows = countWindowPatterns(request, dense);
    // Dense counting, by hand per session a b c: 3 lengths per position (9), plus the shorter patterns extended:
    // none at a, {a} at b, {a b} and {a, b} at c (4).
    expect(dense.total).toBe(200 * 13);
    expect(rows).toEqual(countWindowPatterns(request, UNWATCHED));
    expect(rows).toEqual(countWindowPatterns(request));
    // An itemset separator takes PrefixSpan and run counting instead: the same rows, its own work.
    const sparse = new Tally();
    expect(countWindowPatterns({ ...request, itemsetSeparator: "|" }, sparse)).toEqual(rows);
    expect(sparse.total).toBeGreaterThan(200 * 3);
  });
});
