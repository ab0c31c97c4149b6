// Dense window counting against hand-computed supports, brute force, and the PrefixSpan path it stands in for.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DENSE_PATTERN_CELLS, denseOneItemPatternCounts as denseOverIds } from "../../../src/operators/mining/dense-pattern-counts.ts";
import { sessionSequence } from "../../../src/operators/mining/itemset-sequence.ts";
import { countWindowPatterns, exactPatternCounts, type CountedPattern } from "../../../src/operators/mining/pattern-counting.ts";
import { encodeSessions } from "../../../src/operators/mining/session-dictionary.ts";
import { pageSession } from "./arbitraries.ts";
import { bruteForceSupports } from "./brute-force-patterns.ts";

/** The dense counter over sessions given as strings (it reads them as the mining thread gets them: dictionary ids). */
const denseOneItemPatternCounts = (sessions: string[][], maxLength: number, minCount: number) =>
  denseOverIds(encodeSessions(sessions), maxLength, minCount);

const asMap = (found: readonly CountedPattern[]) => new Map(found.map((p) => [`${p.kind}|${p.length}|${p.pattern}`, p.support]));

function prefixSpanPath(elements: string[][], maxLength: number, minCount: number): Map<string, number> {
  return asMap(exactPatternCounts(elements.map((session) => sessionSequence(session)), maxLength, " ", minCount));
}

describe("denseOneItemPatternCounts", () => {
  it("counts each session's distinct subsequences and runs once (hand-computed)", () => {
    // a b a c | b c | a c, minCount 2:
    //   items: a in sessions 1, 3 → 2; b in 1, 2 → 2; c in all → 3
    //   subsequences of 2: a>c (1, 3) → 2; b>c (1, 2) → 2; a>b (1 only), b>a (1), a>a (1): below 2
    //   subsequences of 3: a>b>c, a>a>c, b>a>c (session 1 only): none
    //   runs of 2: a>c (1, 3) → 2; b>c (2 only, session 1 has b>a then a>c) → 1; runs of 3: none
    const found = denseOneItemPatternCounts(
      [
        ["a", "b", "a", "c"],
        ["b", "c"],
        ["a", "c"],
      ],
      3,
      2,
    );
    expect(asMap(found!)).toEqual(
      new Map([
        ["subsequence|1|a", 2],
        ["subsequence|1|b", 2],
        ["subsequence|1|c", 3],
        ["subsequence|2|a > c", 2],
        ["subsequence|2|b > c", 2],
        ["contiguous|1|a", 2],
        ["contiguous|1|b", 2],
        ["contiguous|1|c", 3],
        ["contiguous|2|a > c", 2],
      ]),
    );
    expect(found!.every((pattern) => pattern.errorBound === 0)).toBe(true);
  });

  it("gives the subsequence supports brute force gives", () => {
    fc.assert(
      fc.property(fc.array(pageSession, { maxLength: 12 }), fc.integer({ min: 1, max: 3 }), (sessions, minCount) => {
        const found = denseOneItemPatternCounts(sessions, 3, minCount)!.filter((pattern) => pattern.kind === "subsequence");
        const expected = bruteForceSupports(sessions.map((session) => sessionSequence(session)), 3, minCount);
        expect(new Map(found.map((pattern) => [pattern.pattern, pattern.support]))).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });

  it("equals PrefixSpan plus run counting for every maxLength", () => {
    fc.assert(
      fc.property(fc.array(pageSession, { maxLength: 15 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), (sessions, maxLength, minCount) => {
        expect(asMap(denseOneItemPatternCounts(sessions, maxLength, minCount)!)).toEqual(prefixSpanPath(sessions, maxLength, minCount));
      }),
      { numRuns: 200 },
    );
  });

  it("equals the PrefixSpan path on long sessions that repeat items (crawlers)", () => {
    const pages = Array.from({ length: 20 }, (_, index) => `/p${index}`);
    let seed = 7;
    // A 32-bit linear congruential generator: the same sessions on every run.
    const next = () => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0);
    const sessions = Array.from({ length: 40 }, (_, index) => Array.from({ length: index % 5 === 0 ? 200 : 1 + (index % 9) }, () => pages[next() % pages.length]));
    expect(asMap(denseOneItemPatternCounts(sessions, 3, 3)!)).toEqual(prefixSpanPath(sessions, 3, 3));
  });

  it("declines alphabets too large for dense counters, and the window still gets PrefixSpan's rows", () => {
    const alphabet = Math.ceil(Math.cbrt(DENSE_PATTERN_CELLS)) + 1;
    const sessions = Array.from({ length: alphabet }, (_, index) => [`/p${index}`, `/p${(index + 1) % alphabet}`, `/p${(index + 2) % alphabet}`]);
    expect(denseOneItemPatternCounts(sessions, 3, 1)).toBeUndefined();
    // Only the longest session counts: the same alphabet fits when no pattern can be longer than 2 items.
    const pairs = sessions.map((session) => session.slice(0, 2));
    expect(asMap(denseOneItemPatternCounts(pairs, 3, 1)!)).toEqual(prefixSpanPath(pairs, 3, 1));
    const rows = countWindowPatterns({ elements: sessions, maxLength: 3, itemJoin: " ", minCount: 1 });
    expect(asMap(rows)).toEqual(prefixSpanPath(sessions, 3, 1));
  });

  it("has nothing to count in empty sessions", () => {
    expect(denseOneItemPatternCounts([[], []], 3, 1)).toEqual([]);
    expect(denseOneItemPatternCounts([], 3, 1)).toEqual([]);
  });
});

describe("countWindowPatterns", () => {
  it("writes the same rows in the same order through the dense path as through PrefixSpan", () => {
    fc.assert(
      fc.property(fc.array(pageSession, { maxLength: 15 }), fc.integer({ min: 1, max: 3 }), (sessions, minCount) => {
        const dense = countWindowPatterns({ elements: sessions, maxLength: 3, itemJoin: " ", minCount });
        // An itemset separator no element holds gives one-item steps through the PrefixSpan path.
        const prefixSpan = countWindowPatterns({ elements: sessions, maxLength: 3, itemJoin: " ", minCount, itemsetSeparator: "|" });
        expect(dense).toEqual(prefixSpan);
      }),
      { numRuns: 100 },
    );
  });
});
