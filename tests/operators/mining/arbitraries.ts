// fast-check generators of small itemset-sequence databases and page sessions for the mining property tests.
import fc from "fast-check";
import { normalizeItemset, type Itemset } from "../../../src/operators/mining/itemset-sequence.ts";

const PAGES = ["/", "/a", "/b", "/c", "/d"];

/** Sessions of 0..8 page views over five pages (repeats likely). */
export const pageSession = fc.array(fc.constantFrom(...PAGES), { maxLength: 8 });

/** Sequences of 1..5 itemsets of 1..3 items over {1..4}. */
export const itemsetSequence = fc
  .array(fc.uniqueArray(fc.constantFrom("1", "2", "3", "4"), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 5 })
  .map((steps): Itemset[] => steps.map(normalizeItemset));
