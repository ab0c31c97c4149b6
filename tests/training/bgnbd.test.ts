// BG/NBD against the published CDNOW fit (Fader, Hardie & Lee 2005) and hand-computed special functions.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BgNbdInputError, boundWarning, customerLogLikelihood, expectedPurchases, fitBgNbd, probabilityAlive, probabilityNoPurchase, totalLogLikelihood } from "../../src/training/bgnbd.ts";
import { hypergeometric2F1, logBeta, logGamma } from "../../src/training/special-functions.ts";

const SUMMARY = new URL("../fixtures/cdnow/cdnow_customers_summary.csv", import.meta.url);
const PUBLISHED = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

function readSummary() {
  const rows = readFileSync(SUMMARY, "utf8").trim().split("\n").slice(1).map((line) => line.split(",").map(Number));
  return { frequency: rows.map((row) => row[1]), recency: rows.map((row) => row[2]), age: rows.map((row) => row[3]) };
}

describe("special functions", () => {
  it("logGamma equals ln of known factorials and ln √π at 1/2", () => {
    expect(logGamma(1)).toBeCloseTo(0, 13);
    expect(logGamma(10)).toBeCloseTo(Math.log(362_880), 12);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 13);
    expect(logGamma(171)).toBeCloseTo(706.5730622457874, 9);
  });

  it("logBeta(2, 3) = ln(1/12)", () => {
    expect(logBeta(2, 3)).toBeCloseTo(Math.log(1 / 12), 13);
  });

  it("2F1(1, 1; 2; z) = −ln(1 − z)/z", () => {
    for (const z of [0.1, 0.5, 0.9]) expect(hypergeometric2F1(1, 1, 2, z)).toBeCloseTo(-Math.log(1 - z) / z, 10);
  });
});

describe("bgnbd - CDNOW calibration summary (2,357 customers)", () => {
  const fit = fitBgNbd(readSummary());

  it("gives the published r = 0.243, α = 4.414, a = 0.793, b = 2.426 and log-likelihood −9582.4", () => {
    expect(fit.r).toBeCloseTo(PUBLISHED.r, 2);
    expect(fit.alpha).toBeCloseTo(PUBLISHED.alpha, 2);
    expect(fit.a).toBeCloseTo(PUBLISHED.a, 2);
    expect(fit.b).toBeCloseTo(PUBLISHED.b, 2);
    expect(fit.loglik).toBeCloseTo(-9582.4, 1);
    expect(fit.customers).toBe(2357);
    expect(fit.atBound).toEqual([]); // a real maximum, inside the search's bounds
    expect(boundWarning(fit)).toBeUndefined();
  });

  it("the reported log-likelihood is the plain per-customer sum (eq. 6) at the fitted parameters", () => {
    expect(totalLogLikelihood(fit, readSummary())).toBeCloseTo(fit.loglik, 8);
  });

  it("the published parameters are no better than the fit (it is a maximum)", () => {
    const data = readSummary();
    let published = 0;
    for (let i = 0; i < data.frequency.length; i++) published += customerLogLikelihood(PUBLISHED, data.frequency[i], data.recency[i], data.age[i]);
    expect(published).toBeLessThanOrEqual(fit.loglik);
    expect(published).toBeGreaterThan(fit.loglik - 0.1);
  });
});

describe("bgnbd - customer quantities", () => {
  const p = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

  it("P(alive) is 1 without repeat purchases and follows eq. 11 otherwise", () => {
    expect(probabilityAlive(p, 0, 0, 38.86)).toBe(1);
    // x = 2, tx = 30.43, T = 38.86: 1 / (1 + a/(b + x − 1) · ((α + T)/(α + tx))^(r + x)), computed by hand.
    const odds = (0.793 / (2.426 + 1)) * Math.pow((4.414 + 38.86) / (4.414 + 30.43), 2.243);
    expect(probabilityAlive(p, 2, 30.43, 38.86)).toBeCloseTo(1 / (1 + odds), 12);
    expect(1 / (1 + odds)).toBeCloseTo(0.7266, 4); // 43.274/34.844 = 1.24194; ^2.243 = 1.62578; × 0.231465 = 0.37632
  });

  it("a customer who bought on the last day is more likely alive than one silent for months", () => {
    expect(probabilityAlive(p, 3, 38, 38.86)).toBeGreaterThan(probabilityAlive(p, 3, 5, 38.86));
  });

  it("P(no purchase in t) is 1 at t = 0 and decreases with t; expected purchases grow with t", () => {
    expect(probabilityNoPurchase(p, 0, 2, 30.43, 38.86)).toBeCloseTo(1, 12);
    expect(probabilityNoPurchase(p, 10, 2, 30.43, 38.86)).toBeLessThan(probabilityNoPurchase(p, 5, 2, 30.43, 38.86));
    expect(expectedPurchases(p, 10, 2, 30.43, 38.86)).toBeGreaterThan(expectedPurchases(p, 5, 2, 30.43, 38.86));
  });

  it("expected purchases of a new customer (x = 0, T = 0) equal FHL eq. 7, E[X(t)]", () => {
    const t = 39;
    const eq7 = ((p.a + p.b - 1) / (p.a - 1)) * (1 - Math.pow(p.alpha / (p.alpha + t), p.r) * hypergeometric2F1(p.r, p.b, p.a + p.b - 1, t / (p.alpha + t)));
    expect(expectedPurchases(p, t, 0, 0, 0)).toBeCloseTo(eq7, 12);
  });

  it("names the parameters of a fit with no maximum, which ran to the search's bounds", () => {
    // Nobody ever repeats: the likelihood keeps rising as purchase rates go to 0 (r/α → 0), with no maximum.
    const none = fitBgNbd({ frequency: [0, 0, 0, 0], recency: [0, 0, 0, 0], age: [10, 20, 30, 40] });
    expect(none.atBound.length).toBeGreaterThan(0);
    expect(boundWarning(none)).toMatch(/no maximum on these 4 customers .* not estimates/);
  });

  it("rejects recency beyond T with the customer's position", () => {
    expect(() => fitBgNbd({ frequency: [1, 2], recency: [3, 9], age: [5, 8] })).toThrow(BgNbdInputError);
    expect(() => fitBgNbd({ frequency: [1, 2], recency: [3, 9], age: [5, 8] })).toThrow(/customer 2: recency 9/);
  });
});
