// Window counting: PrefixSpan-at-close equals summing each session's distinct patterns, for both kinds.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sessionSequence } from "../../../src/operators/mining/itemset-sequence.ts";
import { exactContiguousCounts, exactPatternCounts, forEachDistinctPattern, PATTERN_KINDS } from "../../../src/operators/mining/pattern-counting.ts";
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

/** Each distinct run of each session once, every length (no pruning): run (its steps as JSON) → support, where ≥ minCount. */
function runsBySessionSums(sequences: ReturnType<typeof sessionSequence>[], minCount: number): Map<string, number> {
  const supports = new Map<string, number>();
  for (const sequence of sequences) {
    const seen = new Set<string>();
    for (let start = 0; start < sequence.length; start++) {
      for (let end = start + 1; end <= sequence.length; end++) seen.add(JSON.stringify(sequence.slice(start, end)));
    }
    for (const run of seen) supports.set(run, (supports.get(run) ?? 0) + 1);
  }
  return new Map([...supports].filter(([, support]) => support >= minCount));
}

const runsOf = (found: ReturnType<typeof exactContiguousCounts>) =>
  new Map(found.map((run) => [JSON.stringify(run.items.map((step) => step.split(" "))), run.support]));

describe("exactContiguousCounts (support-pruned, level by level)", () => {
  it("equals every run of every session counted once per session, unbounded, on page sessions with repeats", () => {
    fc.assert(
      fc.property(fc.array(pageSession, { maxLength: 20 }), fc.integer({ min: 1, max: 5 }), (pages, minCount) => {
        const sequences = pages.map((visited) => sessionSequence(visited));
        expect(runsOf(exactContiguousCounts(sequences, Number.POSITIVE_INFINITY, " ", minCount))).toEqual(runsBySessionSums(sequences, minCount));
      }),
      { numRuns: 200 },
    );
  });

  it("equals the per-session runs on itemset sequences (a multi-item step one step of a run)", () => {
    fc.assert(
      fc.property(fc.array(itemsetSequence, { maxLength: 10 }), fc.integer({ min: 1, max: 3 }), (sequences, minCount) => {
        expect(runsOf(exactContiguousCounts(sequences, Number.POSITIVE_INFINITY, " ", minCount))).toEqual(runsBySessionSums(sequences, minCount));
      }),
      { numRuns: 150 },
    );
  });

  it("counts A > A > A once in A A A A A, and A A only where two A follow each other", () => {
    const sequences = [["A", "A", "A", "A", "A"], ["A", "B", "A"], ["A", "A"]].map((visited) => sessionSequence(visited));
    const found = exactContiguousCounts(sequences, Number.POSITIVE_INFINITY, " ", 2).map(({ pattern, length, support }) => ({ pattern, length, support }));
    expect(found.sort((a, b) => (a.pattern < b.pattern ? -1 : 1))).toEqual([
      { pattern: "A", length: 1, support: 3 },
      { pattern: "A > A", length: 2, support: 2 },
    ]);
  });

  it("tells the one-item step \"a b\" from the step {a, b}, which read alike", () => {
    const sequences = [[["a b"], ["c"]], [["a", "b"], ["c"]], [["a b"], ["c"]]];
    const found = exactContiguousCounts(sequences, 3, " ", 2).map(({ items, support }) => ({ items, support }));
    expect(found.sort((a, b) => a.items.length - b.items.length || (a.items[0] < b.items[0] ? -1 : 1))).toEqual([
      { items: ["a b"], support: 2 },
      { items: ["c"], support: 3 },
      { items: ["a b", "c"], support: 2 },
    ]);
  });
});
