import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fnv1a32, partitionOf } from "../../src/transport/partition.ts";

/** Reference FNV-1a 32 over Buffer's UTF-8 bytes with BigInt arithmetic: independent of the implementation's tricks. */
function referenceFnv1a32(text: string): number {
  let hash = 0x811c9dc5n;
  for (const byte of Buffer.from(text, "utf8")) hash = ((hash ^ BigInt(byte)) * 0x01000193n) % 0x1_0000_0000n;
  return Number(hash);
}

describe("partition - fnv1a32", () => {
  it("matches the published FNV-1a 32 test vectors", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
  });

  it("hashes the UTF-8 bytes of non-ASCII keys (2- and 4-byte characters, lone surrogates as U+FFFD)", () => {
    expect(fnv1a32("ü")).toBe(0x119dd44a);
    expect(fnv1a32("😀")).toBe(0x33a29608);
    expect(fnv1a32("\ud800x")).toBe(referenceFnv1a32("\ud800x"));
  });

  it("agrees with a BigInt reference on arbitrary Unicode strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => fnv1a32(text) === referenceFnv1a32(text)),
      { numRuns: 500 },
    );
  });
});

describe("partition - partitionOf", () => {
  it("is the hash modulo the partition count (hand-computed values)", () => {
    expect(partitionOf("a", 16)).toBe(12); // 0xe40c292c % 16 = 0xc
    expect(partitionOf("a", 7)).toBe(5); // 3826002220 = 7 * 546571745 + 5
    expect(partitionOf("foobar", 7)).toBe(0); // 3214735720 = 7 * 459247960
    expect(partitionOf("anon-1", 16)).toBe(5); // 0xf14cd385 % 16 = 5
  });

  it("sends events without a key, and every key of a single-partition stream, to partition 0", () => {
    expect(partitionOf(undefined, 8)).toBe(0);
    expect(partitionOf("anything", 1)).toBe(0);
  });

  it("is stable: any key lands where the reference hash modulo the count puts it, in any process or language", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), fc.integer({ min: 1, max: 64 }), (key, partitions) => {
        expect(partitionOf(key, partitions)).toBe(referenceFnv1a32(key) % partitions);
      }),
      { numRuns: 500 },
    );
  });

  it("spreads 16,000 visitor ids over 16 partitions within ±10 % of even", () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf(`anon-${i.toString(36)}-${i * 7919}`, 16)]++;
    for (const count of counts) {
      expect(count).toBeGreaterThan(900);
      expect(count).toBeLessThan(1100);
    }
  });
});
