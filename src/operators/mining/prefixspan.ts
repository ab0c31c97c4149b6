// PrefixSpan (Pei et al. 2001) with pseudo-projection: exact frequent sequential patterns of an itemset-sequence database.
import { containsAll } from "./distinct-subsequences.ts";
import { compareItems, type Itemset, type ItemsetSequence } from "./itemset-sequence.ts";

export interface SequentialPattern {
  pattern: Itemset[];
  /** Sequences containing the pattern (each sequence once). */
  support: number;
}

export interface PrefixSpanOptions {
  /** Absolute support threshold (sequences); see sequenceMinSupportCount for ratios. */
  minSupportCount: number;
  /** Most items in a pattern (SPMF's maxPatternLength); omitted: unbounded. */
  maxLength?: number;
}

/** Where a prefix sits in one sequence: the leftmost end of its all-but-last step and of its last step. */
interface Projection {
  sequence: number;
  prevEnd: number;
  end: number;
}

/**
 * Every pattern with support ≥ minSupportCount and at most maxLength items, sorted by support (desc) then
 * pattern. Support is the number of sequences containing the pattern as SPMF defines it.
 */
export function prefixSpan(database: readonly ItemsetSequence[], options: PrefixSpanOptions): SequentialPattern[] {
  const minCount = Math.max(1, options.minSupportCount);
  const maxLength = options.maxLength ?? Number.POSITIVE_INFINITY;
  const items = [...new Set(database.flatMap((sequence) => sequence.flat()))].sort(compareItems);
  const idOf = new Map(items.map((item, id) => [item, id] as const));
  const encoded = database.map((sequence) => sequence.map((itemset) => Int32Array.from(itemset, (item) => idOf.get(item)!).sort()));
  const counts = new Int32Array(items.length);
  const lastCounted = new Int32Array(items.length).fill(-1);
  const results: SequentialPattern[] = [];

  const countOnce = (item: number, sequence: number): void => {
    if (lastCounted[item] === sequence) return;
    lastCounted[item] = sequence;
    counts[item] += 1;
  };
  const frequentCounted = (touched: Set<number>): number[] => {
    const frequent = [...touched].filter((item) => counts[item] >= minCount).sort((a, b) => a - b);
    for (const item of touched) {
      counts[item] = 0;
      lastCounted[item] = -1;
    }
    return frequent;
  };

  const grow = (pattern: number[][], projections: Projection[], length: number): void => {
    results.push({ pattern: pattern.map((step) => step.map((id) => items[id])), support: projections.length });
    if (length >= maxLength) return;
    const last = pattern[pattern.length - 1];
    const maxLast = last[last.length - 1];

    // i-extensions: items above the last step's items, in a step (from the last step's leftmost end on) holding it.
    const touched = new Set<number>();
    for (const { sequence, end } of projections) {
      const steps = encoded[sequence];
      for (let step = end; step < steps.length; step += 1) {
        if (!containsAll(steps[step], last)) continue;
        for (const item of steps[step]) {
          if (item > maxLast) {
            countOnce(item, sequence);
            touched.add(item);
          }
        }
      }
    }
    for (const item of frequentCounted(touched)) {
      const extended = [...last, item];
      const next: Projection[] = [];
      for (const { sequence, prevEnd, end } of projections) {
        const steps = encoded[sequence];
        for (let step = end; step < steps.length; step += 1) {
          if (containsAll(steps[step], extended)) {
            next.push({ sequence, prevEnd, end: step });
            break;
          }
        }
      }
      grow([...pattern.slice(0, -1), extended], next, length + 1);
    }

    // s-extensions: any item in a step after the prefix's leftmost end.
    touched.clear();
    for (const { sequence, end } of projections) {
      const steps = encoded[sequence];
      for (let step = end + 1; step < steps.length; step += 1) {
        for (const item of steps[step]) {
          countOnce(item, sequence);
          touched.add(item);
        }
      }
    }
    for (const item of frequentCounted(touched)) {
      grow([...pattern, [item]], projectStep(projections, item), length + 1);
    }
  };

  const projectStep = (projections: Projection[], item: number): Projection[] => {
    const next: Projection[] = [];
    for (const { sequence, end } of projections) {
      const steps = encoded[sequence];
      for (let step = end + 1; step < steps.length; step += 1) {
        if (steps[step].includes(item)) {
          next.push({ sequence, prevEnd: end, end: step });
          break;
        }
      }
    }
    return next;
  };

  const all: Projection[] = encoded.map((_, sequence) => ({ sequence, prevEnd: -1, end: -1 }));
  const touched = new Set<number>();
  all.forEach(({ sequence }) => {
    for (const step of encoded[sequence]) {
      for (const item of step) {
        countOnce(item, sequence);
        touched.add(item);
      }
    }
  });
  if (maxLength >= 1) {
    for (const item of frequentCounted(touched)) grow([[item]], projectStep(all, item), 1);
  }
  return results.sort(byPatternOrder);
}

function byPatternOrder(a: SequentialPattern, b: SequentialPattern): number {
  if (a.support !== b.support) return b.support - a.support;
  return compareItems(patternKey(a.pattern), patternKey(b.pattern));
}

function patternKey(pattern: Itemset[]): string {
  return pattern.map((step) => step.join("\u0000")).join("\u0001");
}
