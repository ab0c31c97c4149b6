// Per-session pattern enumeration: every contained pattern exactly once, checked by hand and against exhaustive search.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { forEachDistinctContiguous, forEachDistinctSubsequence } from "../../../src/operators/mining/distinct-subsequences.ts";
import { sessionSequence, type ItemsetSequence } from "../../../src/operators/mining/itemset-sequence.ts";
import { itemsetSequence, pageSession } from "./arbitraries.ts";
import { bruteForceSupports } from "./brute-force-patterns.ts";

function visited(sequence: ItemsetSequence, maxLength: number, kind: "subsequence" | "contiguous" = "subsequence"): [string, number][] {
  const seen: [string, number][] = [];
  const enumerate = kind === "subsequence" ? forEachDistinctSubsequence : forEachDistinctContiguous;
  enumerate(sequence, maxLength, (pattern, length) => seen.push([pattern, length]));
  return seen.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe("forEachDistinctSubsequence", () => {
  it("visits the six distinct subsequences of a > b > a once each", () => {
    expect(visited(sessionSequence(["a", "b", "a"]), 3)).toEqual([
      ["a", 1],
      ["a > a", 2],
      ["a > b", 2],
      ["a > b > a", 3],
      ["b", 1],
      ["b > a", 2],
    ]);
  });

  it("stops at maxLength items", () => {
    expect(visited(sessionSequence(["a", "b", "a"]), 1)).toEqual([
      ["a", 1],
      ["b", 1],
    ]);
  });

  it("extends within an itemset: (1)(1 2) holds 1, 2, 1 2, 1 > 1, 1 > 2, 1 > 1 2", () => {
    expect(visited([["1"], ["1", "2"]], 3)).toEqual([
      ["1", 1],
      ["1 2", 2],
      ["1 > 1", 2],
      ["1 > 1 2", 3],
      ["1 > 2", 2],
      ["2", 1],
    ]);
  });

  it("visits exactly the patterns exhaustive search finds in random page sessions", () => {
    fc.assert(
      fc.property(pageSession, (pages) => {
        const sequence = sessionSequence(pages);
        const expected = [...bruteForceSupports([sequence], 3).keys()].sort();
        expect(visited(sequence, 3).map(([pattern]) => pattern)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it("visits exactly the patterns exhaustive search finds in random itemset sequences", () => {
    fc.assert(
      fc.property(itemsetSequence, (sequence) => {
        const expected = [...bruteForceSupports([sequence], 4).keys()].sort();
        expect(visited(sequence, 4).map(([pattern]) => pattern)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it("enumerates 200 + C(200,2) + C(200,3) patterns of a 200-page session of distinct pages", () => {
    let count = 0;
    const pages = Array.from({ length: 200 }, (_, index) => `/page/${index}`);
    forEachDistinctSubsequence(sessionSequence(pages), 3, () => {
      count += 1;
    });
    expect(count).toBe(200 + 19_900 + 1_313_400);
  });
});

describe("forEachDistinctContiguous", () => {
  it("visits each distinct run of consecutive pages once: a > b > a > b", () => {
    expect(visited(sessionSequence(["a", "b", "a", "b"]), 3, "contiguous")).toEqual([
      ["a", 1],
      ["a > b", 2],
      ["a > b > a", 3],
      ["b", 1],
      ["b > a", 2],
      ["b > a > b", 3],
    ]);
  });

  it("does not join pages that are not adjacent", () => {
    const patterns = visited(sessionSequence(["a", "x", "b"]), 3, "contiguous").map(([pattern]) => pattern);
    expect(patterns).not.toContain("a > b");
    expect(patterns).toContain("a > x > b");
  });
});
