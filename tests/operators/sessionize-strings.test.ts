import { describe, expect, it } from "vitest";
import { StringPool, recentSlot } from "../../src/operators/sessionize-strings.ts";

/** A fresh string object with the text's content, as JSON.parse gives each event's fields. */
function fresh(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/** Two different texts with the same recent-cache slot, found by search. */
function collidingPair(): [string, string] {
  const bySlot = new Map<number, string>();
  for (let i = 0; ; i++) {
    const text = `/c/shoes/p/${i}`;
    const other = bySlot.get(recentSlot(text));
    if (other !== undefined) return [other, text];
    bySlot.set(recentSlot(text), text);
  }
}

describe("StringPool", () => {
  it("gives equal texts one id and counts their references", () => {
    const pool = new StringPool();
    const id = pool.acquire(fresh("/c/shoes"));
    expect(pool.acquire(fresh("/c/shoes"))).toBe(id);
    expect(pool.acquireLike(id, fresh("/c/shoes"))).toBe(id);
    expect(pool.get(id)).toBe("/c/shoes");
    pool.release(id);
    pool.release(id);
    expect(pool.get(id)).toBe("/c/shoes");
    pool.release(id);
    expect(pool.bytes).toBe(0);
  });

  it("keeps texts that share a recent-cache slot apart", () => {
    const [first, second] = collidingPair();
    expect(recentSlot(first)).toBe(recentSlot(second));
    const pool = new StringPool();
    const firstId = pool.acquire(fresh(first));
    const secondId = pool.acquire(fresh(second));
    expect(secondId).not.toBe(firstId);
    // Alternating: each lookup finds the slot holding the other text's id.
    for (let round = 0; round < 3; round++) {
      expect(pool.acquire(fresh(first))).toBe(firstId);
      expect(pool.acquire(fresh(second))).toBe(secondId);
    }
    expect(pool.get(firstId)).toBe(first);
    expect(pool.get(secondId)).toBe(second);
  });

  it("does not return a freed id for its old text once the id holds another text", () => {
    const pool = new StringPool();
    const id = pool.acquire(fresh("/c/phones"));
    pool.release(id);
    const reused = pool.acquire(fresh("/c/books"));
    expect(reused).toBe(id);
    const again = pool.acquire(fresh("/c/phones"));
    expect(again).not.toBe(id);
    expect(pool.get(again)).toBe("/c/phones");
    expect(pool.get(id)).toBe("/c/books");
  });

  it("finds the restored strings by text after a restore", () => {
    const pool = new StringPool();
    const shoes = pool.acquire("/c/shoes");
    const phones = pool.acquire("/c/phones");
    pool.release(shoes);
    const restored = new StringPool();
    // The cache of the restored pool starts empty; one of another pool's ids in it must not matter.
    restored.acquire("/c/other");
    restored.restore(pool.snapshot());
    expect(restored.acquire(fresh("/c/phones"))).toBe(phones);
    const shoesAgain = restored.acquire(fresh("/c/shoes"));
    expect(restored.get(shoesAgain)).toBe("/c/shoes");
    expect(restored.acquire(fresh("/c/other"))).not.toBe(phones);
    expect(restored.get(restored.acquire(fresh("/c/other")))).toBe("/c/other");
  });

  it("spreads short and long texts over slots inside the cache", () => {
    for (const text of ["", "a", "abc", "abcd", "/c/shoes/p/1007", "x".repeat(5000)]) {
      const slot = recentSlot(text);
      expect(Number.isInteger(slot) && slot >= 0 && slot < 16_384).toBe(true);
    }
    const slots = new Set(Array.from({ length: 1000 }, (_, i) => recentSlot(`/c/shoes/p/${1000 + i}`)));
    expect(slots.size).toBeGreaterThan(900);
  });
});
