// PrefixSpan against SPMF's published output on its own example database and against exhaustive counting.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatPattern, patternItemCount } from "../../../src/operators/mining/itemset-sequence.ts";
import { sequenceMinSupportCount } from "../../../src/operators/mining/min-support.ts";
import { prefixSpan } from "../../../src/operators/mining/prefixspan.ts";
import { parseSpmfPatterns, parseSpmfSequences } from "../../../src/operators/mining/spmf-format.ts";
import { itemsetSequence } from "./arbitraries.ts";
import { bruteForceSupports } from "./brute-force-patterns.ts";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/spmf/${name}`, import.meta.url), "utf8");
const database = parseSpmfSequences(fixture("contextPrefixSpan.txt"));
const spmfPatterns = new Map(parseSpmfPatterns(fixture("spmPatterns.txt")).map((p) => [formatPattern(p.pattern), p.support]));

const asMap = (patterns: ReturnType<typeof prefixSpan>) => new Map(patterns.map((p) => [formatPattern(p.pattern), p.support]));

describe("prefixSpan", () => {
  it("reads SPMF's four example sequences with their itemsets", () => {
    expect(database).toEqual([
      [["1"], ["1", "2", "3"], ["1", "3"], ["4"], ["3", "6"]],
      [["1", "4"], ["3"], ["2", "3"], ["1", "5"]],
      [["5", "6"], ["1", "2"], ["4", "6"], ["3"], ["2"]],
      [["5"], ["7"], ["1", "6"], ["3"], ["2"], ["3"]],
    ]);
  });

  it("finds exactly SPMF's 53 patterns and supports of contextPrefixSpan at minsup 2", () => {
    expect(spmfPatterns.size).toBe(53);
    expect(asMap(prefixSpan(database, { minSupportCount: 2 }))).toEqual(spmfPatterns);
  });

  it("turns minsup 50% into ceil(0.5 × 4) = 2 sequences, as SPMF does", () => {
    expect(sequenceMinSupportCount(0.5, 4)).toBe(2);
    expect(asMap(prefixSpan(database, { minSupportCount: sequenceMinSupportCount(0.5, 4) }))).toEqual(spmfPatterns);
  });

  it("keeps only SPMF's patterns of at most maxLength items", () => {
    const expected = new Map([...spmfPatterns].filter(([text]) => text.split(/ > | /).length <= 2));
    expect(expected.size).toBe(28);
    expect(asMap(prefixSpan(database, { minSupportCount: 2, maxLength: 2 }))).toEqual(expected);
  });

  it("counts a sequence once however often it holds the pattern", () => {
    const repeated = [[["a"], ["a"], ["a"]], [["a"]]];
    const patterns = prefixSpan(repeated, { minSupportCount: 1 });
    expect(patterns.map((p) => [formatPattern(p.pattern), p.support, patternItemCount(p.pattern)])).toEqual([
      ["a", 2, 1],
      ["a > a", 1, 2],
      ["a > a > a", 1, 3],
    ]);
  });

  it("equals exhaustive counting on random itemset databases", () => {
    fc.assert(
      fc.property(fc.array(itemsetSequence, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 3 }), (db, minCount) => {
        expect(asMap(prefixSpan(db, { minSupportCount: minCount, maxLength: 3 }))).toEqual(bruteForceSupports(db, 3, minCount));
      }),
      { numRuns: 150 },
    );
  });
});
