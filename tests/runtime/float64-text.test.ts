// Number columns as checkpoint text: base64 of little-endian float64 bytes, exact for every double.
import { describe, expect, it } from "vitest";
import { base64ToFloat64, float64Column, float64ColumnOf, float64ToBase64 } from "../../src/runtime/float64-text.ts";
import { SeededRandom } from "../../src/training/random.ts";

describe("float64 columns as text", () => {
  it("writes the IEEE 754 little-endian bytes of each number, in base64", () => {
    // 1 = 0x3FF0000000000000, -2 = 0xC000000000000000: bytes low to high.
    expect(float64ToBase64([1])).toBe(Buffer.from([0, 0, 0, 0, 0, 0, 0xf0, 0x3f]).toString("base64"));
    expect(float64ToBase64([1])).toBe("AAAAAAAA8D8=");
    expect(float64ToBase64([1, -2])).toBe(Buffer.from([0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xc0]).toString("base64"));
    expect(float64ToBase64([])).toBe("");
  });

  it("reads back exactly what it wrote: integers up to 2^53, fractions, negative zero, every column size", () => {
    const seeded = new SeededRandom(25);
    const special = [0, -0, 1, -1, 0.1, 2 ** 53 - 1, -(2 ** 53), 2 ** 52 + 0.5, Number.MIN_VALUE, Number.MAX_VALUE, Infinity, -Infinity];
    expect(Object.is(base64ToFloat64(float64ToBase64(special))[1], -0)).toBe(true);
    expect(base64ToFloat64(float64ToBase64(special))).toEqual(special);
    // Up to past the reused 1 MiB buffer (131,072 numbers), so both of its paths are read back.
    for (const length of [0, 1, 5, 131_072, 131_073, 300_000]) {
      const values = Array.from({ length }, () => seeded.int(2 ** 20) * 2 ** 32 + seeded.int(2 ** 32) - 2 ** 51);
      expect(base64ToFloat64(float64ToBase64(values))).toEqual(values);
    }
  });

  it("rejects text that is not base64 of a whole number of 8-byte values", () => {
    expect(() => base64ToFloat64(Buffer.from([1, 2, 3]).toString("base64"))).toThrow(/not a whole number of 8-byte values/);
    // 12 characters claim 9 bytes minus padding; with characters outside base64 fewer are decoded.
    expect(() => base64ToFloat64("AAAA*AAA8D8=")).toThrow(/not base64/);
  });

  it("keeps short columns as numbers and long ones as text, and reads both back", () => {
    const short = Array.from({ length: 29 }, (_, i) => i * 1.5);
    const long = Array.from({ length: 30 }, (_, i) => i * 2 ** 40 + 1);
    expect(float64Column(short)).toEqual(short);
    expect(float64Column(short)).not.toBe(short);
    expect(float64Column(long)).toBe(float64ToBase64(long));
    expect(float64ColumnOf(JSON.parse(JSON.stringify(float64Column(short))) as number[])).toEqual(short);
    expect(float64ColumnOf(JSON.parse(JSON.stringify(float64Column(long))) as string)).toEqual(long);
  });
});
