// Suggestions for misspelt keys and values.
import { describe, expect, it } from "vitest";
import { closestMatch, editDistance, relatedName } from "../../src/config/did-you-mean.ts";

describe("config did-you-mean", () => {
  it("counts insertions, deletions and substitutions, ignoring case", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("gap", "GAP")).toBe(0);
    expect(editDistance("", "abc")).toBe(3);
  });

  it("suggests a close key and nothing for an unrelated word", () => {
    const keys = ["gap", "maxDuration", "outOfOrderness", "allowedLateness"];
    expect(closestMatch("maxduraton", keys)).toBe("maxDuration");
    expect(closestMatch("allowedLatenes", keys)).toBe("allowedLateness");
    expect(closestMatch("gaps", keys)).toBe("gap");
    expect(closestMatch("compression", keys)).toBeUndefined();
  });

  it("counts two swapped neighbouring letters as one typo, so short keys still get a suggestion", () => {
    expect(editDistance("brust", "burst")).toBe(1);
    expect(closestMatch("brust", ["requestsPerSecond", "burst"])).toBe("burst");
    expect(closestMatch("prot", ["port", "host"])).toBe("port");
  });

  it("names the one type that shares a stem with a word too far off for a typo: a short name or the type's table", () => {
    const types = ["sessionize", "sequencePatterns", "basket", "churnFeatures"];
    expect(relatedName("churn", types)).toBe("churnFeatures");
    expect(relatedName("patterns", types)).toBe("sequencePatterns");
    expect(relatedName("sessions", types)).toBe("sessionize");
    expect(relatedName("basket_rules", types)).toBe("basket");
    expect(relatedName("funnel", types)).toBeUndefined();
    expect(relatedName("se", types)).toBeUndefined();
  });
});
