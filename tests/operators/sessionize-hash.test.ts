import { describe, expect, it } from "vitest";
import { sessionIdOf } from "../../src/operators/sessionize-hash.ts";
import { visitorKey } from "../../src/operators/sessionize-visitor.ts";

/** The definition, written plainly: two seeded FNV-1a hashes of the text, each finished by murmur3's fmix32. */
function referenceSessionId(text: string): string {
  const fnv = (seed: number): number => {
    let hash = (0x811c9dc5 ^ seed) >>> 0;
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
    hash ^= hash >>> 16;
    hash = Math.imul(hash, 0x85ebca6b);
    hash ^= hash >>> 13;
    hash = Math.imul(hash, 0xc2b2ae35);
    hash ^= hash >>> 16;
    return hash >>> 0;
  };
  return fnv(0x1b873593).toString(16).padStart(8, "0") + fnv(0x68e31da4).toString(16).padStart(8, "0");
}

describe("sessionIdOf", () => {
  it("hashes `${visitor key}\\0${first ts}\\0${first id hash}` without building it, for every kind of key", () => {
    const visitors: [string | undefined, string][] = [
      [undefined, "eb6a23488c2814b0"],
      ["demo-shop", "eb6a23488c2814b0"],
      ["", "a"],
      ["shop-é", "anon-中文"],
      [undefined, ""],
    ];
    for (const [siteId, anonId] of visitors) {
      for (const ts of [0, 1_710_025_196_000, 1.5]) {
        for (const idHash of [0, 123_456_789_012, 281_474_976_710_655]) {
          const text = `${visitorKey(siteId, anonId)}\u0000${ts}\u0000${idHash}`;
          expect(sessionIdOf(siteId, anonId, ts, idHash), text).toBe(referenceSessionId(text));
        }
      }
    }
  });

  it("writes the digits of every safe integer as its decimal text: powers of ten, halves padded with zeros, random", () => {
    const values = [1, 9, 10, 99, 99_999_999, 100_000_000, 100_000_001, 100_000_000_000, 1_000_000_000_000_001, Number.MAX_SAFE_INTEGER];
    for (let power = 0; power <= 15; power++) values.push(10 ** power, 10 ** power - 1, 2 * 10 ** power + 7);
    let state = 7;
    const random = () => ((state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 2_000; i++) values.push(Math.floor(random() * 2 ** 21) * 2 ** 32 + Math.floor(random() * 2 ** 32));
    for (const value of values) {
      const text = `${visitorKey("s", "a")}\u0000${value}\u0000${value}`;
      expect(sessionIdOf("s", "a", value, value), text).toBe(referenceSessionId(text));
    }
  });

  it("keeps a missing site_id and an empty one apart", () => {
    expect(sessionIdOf(undefined, "a", 1, 2)).not.toBe(sessionIdOf("", "a", 1, 2));
  });
});
