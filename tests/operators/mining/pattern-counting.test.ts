// Window counting: PrefixSpan-at-close equals summing each session's distinct patterns, for both kinds.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sessionSequence } from "../../../src/operators/mining/itemset-sequence.ts";
import { exactPatternCounts, forEachDistinctPattern, PATTERN_KINDS } from "../../../src/operators/mining/pattern-counting.ts";
import { itemsetSequence, pageSession } from "./arbitraries.ts";

function summedPerSession(sequences: ReturnType<typeof sessionSequence>[], maxLength: number, minCount: number): Map<string, number> {
  const totals = new Map<string, number>();
  for (const kind of PATTERN_KINDS) {
    for (const sequence of sequences) {
      forEachDistinctPattern(kind, sequence, maxLength, " ", (pattern, length) => {
        const key = `${kind}|${length}|${pattern}`;
        totals.set(key, (totals.get(key) ?? 0) + 1);
      });
    }
  }
  return new Map([...totals].filter(([, count]) => count >= minCount));
}

const asMap = (found: ReturnType<typeof exactPatternCounts>) => new Map(found.map((p) => [`${p.kind}|${p.length}|${p.pattern}`, p.support]));

describe("exactPatternCounts", () => {
  it("equals the per-session distinct-pattern sums on random page sessions", () => {
    fc.assert(
      fc.property(fc.array(pageSession, { maxLength: 15 }), fc.integer({ min: 1, max: 4 }), (pages, minCount) => {
        const sequences = pages.map((visited) => sessionSequence(visited));
        expect(asMap(exactPatternCounts(sequences, 3, " ", minCount))).toEqual(summedPerSession(sequences, 3, minCount));
      }),
      { numRuns: 150 },
    );
  });

  it("equals the per-session distinct-pattern sums on random itemset sequences", () => {
    fc.assert(
      fc.property(fc.array(itemsetSequence, { maxLength: 8 }), fc.integer({ min: 1, max: 3 }), (sequences, minCount) => {
        expect(asMap(exactPatternCounts(sequences, 4, " ", minCount))).toEqual(summedPerSession(sequences, 4, minCount));
      }),
      { numRuns: 150 },
    );
  });
});
