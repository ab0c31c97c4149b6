// inParallel: every task runs once, never more than `limit` at a time; the first failure rejects.
import { describe, expect, it } from "vitest";
import { forEachInParallel, inParallel } from "../../src/runtime/in-parallel.ts";

describe("inParallel", () => {
  it("runs each index once with at most `limit` tasks in flight", async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    await inParallel(100, 7, async (index) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, index % 3));
      seen.push(index);
      running--;
    });
    expect(most).toBe(7);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, index) => index));
  });

  it("rejects with a task's failure, and does nothing for no items", async () => {
    await expect(forEachInParallel(["a", "b", "c"], 2, async (item) => {
      if (item === "b") throw new Error("b failed");
    })).rejects.toThrow("b failed");
    await expect(forEachInParallel([], 4, () => Promise.reject(new Error("never")))).resolves.toBeUndefined();
  });
});
