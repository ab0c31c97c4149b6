// The seeded generator against a BigInt reference of xoshiro128** and splitmix64, anchored on their authors' outputs.
import { describe, expect, it } from "vitest";
import { SeededRandom } from "../../src/training/random.ts";

const MASK64 = (1n << 64n) - 1n;
const MASK32 = (1n << 32n) - 1n;

/** splitmix64 (Vigna's splitmix64.c) from `seed`: the first `count` outputs. */
function splitmix64(seed: bigint, count: number): bigint[] {
  let x = seed & MASK64;
  return Array.from({ length: count }, () => {
    x = (x + 0x9e3779b97f4a7c15n) & MASK64;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  });
}

/** xoshiro128** (Blackman and Vigna's xoshiro128starstar.c) from state s[0..3]: the first `count` 32-bit outputs. */
function xoshiro128(state: bigint[], count: number): number[] {
  const s = [...state];
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & MASK32;
  return Array.from({ length: count }, () => {
    const result = (rotl((s[1] * 5n) & MASK32, 7n) * 9n) & MASK32;
    const t = (s[1] << 9n) & MASK32;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
    return Number(result);
  });
}

/** The state SeededRandom documents: two splitmix64 outputs of the seed, low 32 bits first. */
function referenceStream(seed: number, count: number): number[] {
  const state = splitmix64(BigInt(seed), 2).flatMap((z) => [z & MASK32, z >> 32n]);
  return xoshiro128(state, count);
}

function streamOf(seed: number, count: number): number[] {
  const random = new SeededRandom(seed);
  return Array.from({ length: count }, () => random.next() * 2 ** 32);
}

describe("seeded random", () => {
  it("the references reproduce their authors' outputs: splitmix64 from 0, xoshiro128** from state 1, 2, 3, 4", () => {
    expect(splitmix64(0n, 3)).toEqual([0xe220a8397b1dcdafn, 0x6e789e6aa1b965f4n, 0x06c45d188009454fn]);
    expect(xoshiro128([1n, 2n, 3n, 4n], 6)).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  for (const seed of [0, 1, 42, -1, 2 ** 32, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
    it(`seed ${seed}: xoshiro128** from splitmix64's first two outputs of the seed`, () => {
      expect(streamOf(seed, 64)).toEqual(referenceStream(seed, 64));
    });
  }

  it("distinct seeds give distinct streams: 2³² apart, 0 and 0x9e3779b9, −1 and 2³² − 1, ±(2⁵³ − 1)", () => {
    const pairs = [
      [7, 7 + 2 ** 32],
      [1, 1 + 2 ** 40],
      [0, 0x9e3779b9],
      [-1, 2 ** 32 - 1],
      [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
    ];
    for (const [a, b] of pairs) expect(streamOf(a, 4), `${a} and ${b}`).not.toEqual(streamOf(b, 4));
  });

  it("rejects a seed that is not a safe integer, which could not be told apart from its neighbours", () => {
    for (const seed of [0.5, 2 ** 53, NaN, Infinity]) expect(() => new SeededRandom(seed)).toThrow(/seed .* must be an integer/);
  });
});
