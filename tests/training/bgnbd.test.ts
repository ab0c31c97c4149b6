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

  // An oracle that shares no formula with bgnbd.ts: the model itself (FHL 2005, §2), integrated numerically. Given λ and
  // p, the likelihood of (x, tx, T) is (1 − p)^x λ^x e^(−λT) alive plus p(1 − p)^(x−1) λ^x e^(−λ tx) dead after the
  // last purchase (x > 0); an alive customer buys (1 − e^(−λpt))/p times in the next t on average (a geometric number
  // of Poisson purchases), and none at all with probability e^(−λt). Posterior means are ratios of double integrals over
  // λ ~ Gamma(r, α) and p ~ Beta(a, b), by Simpson's rule after λ = v^(1/r), p = u^(1/a), which absorb the densities'
  // singularities at 0 (λ^(r−1) dλ = dv/r, p^(a−1) dp = du/a; the constants cancel in the ratio).
  function posteriorMean(x: number, tx: number, T: number, quantity: (lambda: number, q: number) => number): number {
    const steps = 300;
    const simpson = (g: (at: number) => number, upper: number) => {
      const h = upper / steps;
      let sum = g(0) + g(upper);
      for (let i = 1; i < steps; i++) sum += (i % 2 === 1 ? 4 : 2) * g(i * h);
      return (sum * h) / 3;
    };
    const integrate = (f: (lambda: number, q: number) => number) =>
      simpson((v) => {
        const lambda = Math.pow(v, 1 / p.r);
        return Math.exp(-p.alpha * lambda) * simpson((u) => Math.pow(1 - Math.pow(u, 1 / p.a), p.b - 1) * f(lambda, Math.pow(u, 1 / p.a)), 1);
      }, Math.pow(60 / p.alpha, p.r)); // λ up to 60/α: the Gamma density beyond is below e^−60
    const alive = (lambda: number, q: number) => Math.pow(1 - q, x) * Math.pow(lambda, x) * Math.exp(-lambda * T);
    const dead = (lambda: number, q: number) => (x > 0 ? q * Math.pow(1 - q, x - 1) * Math.pow(lambda, x) * Math.exp(-lambda * tx) : 0);
    return integrate((lambda, q) => alive(lambda, q) * quantity(lambda, q)) / integrate((lambda, q) => alive(lambda, q) + dead(lambda, q));
  }

  it("P(alive), expected purchases and P(no purchase in t) are the model's posterior means, integrated numerically", () => {
    const t = 39;
    const purchasesWhileAlive = (lambda: number, q: number) => (q === 0 ? lambda * t : (1 - Math.exp(-lambda * q * t)) / q);
    const buysWhileAlive = (lambda: number) => 1 - Math.exp(-lambda * t);
    // A new customer (eq. 7, E[X(t)]), one silent since joining, and two with repeat purchases, recent and long ago.
    for (const [x, tx, T] of [[0, 0, 0], [0, 0, 38.86], [2, 30.43, 38.86], [3, 5, 38.86]]) {
      const customer = `x = ${x}, tx = ${tx}, T = ${T}`;
      expect(probabilityAlive(p, x, tx, T), customer).toBeCloseTo(posteriorMean(x, tx, T, () => 1), 5);
      expect(expectedPurchases(p, t, x, tx, T), customer).toBeCloseTo(posteriorMean(x, tx, T, purchasesWhileAlive), 5);
      expect(probabilityNoPurchase(p, t, x, tx, T), customer).toBeCloseTo(1 - posteriorMean(x, tx, T, buysWhileAlive), 5);
    }
  });

  it("names the parameters of a fit with no maximum, which ran to the search's bounds", () => {
    // Nobody ever repeats: the likelihood keeps rising as purchase rates go to 0 (r/α → 0), with no maximum.
    const none = fitBgNbd({ frequency: [0, 0, 0, 0], recency: [0, 0, 0, 0], age: [10, 20, 30, 40] });
    // With x = 0 the likelihood is Π (α/(α + T))^r (eq. 6: no Beta term), rising to its supremum 1 as r → 0 or α → ∞;
    // a and b do not enter it, so only r and α can run to the bounds.
    expect(none.loglik).toBeCloseTo(0, 6);
    expect(none.atBound.length).toBeGreaterThan(0);
    expect(none.atBound.filter((name) => name !== "r" && name !== "alpha")).toEqual([]);
    expect(boundWarning(none)).toMatch(new RegExp(`no maximum on these 4 customers \\(${none.atBound.join(", ")} ran to the search's bound e\\^±12\\): .* not estimates`));
  });

  it("refuses customers who all have T = 0 (likelihood 1 for any parameters) instead of printing the search's start", () => {
    // Each customer's likelihood is (α/(α + 0))^r = 1: any r, α, a, b fit equally well.
    expect(totalLogLikelihood({ r: 0.3, alpha: 4, a: 0.8, b: 2.4 }, { frequency: [0, 0], recency: [0, 0], age: [0, 0] })).toBe(0);
    expect(() => fitBgNbd({ frequency: [0, 0, 0], recency: [0, 0, 0], age: [0, 0, 0] })).toThrow(BgNbdInputError);
    expect(() => fitBgNbd({ frequency: [0, 0, 0], recency: [0, 0, 0], age: [0, 0, 0] })).toThrow(/all 3 customers have T = 0 .* nothing to fit/);
  });

  it("rejects recency beyond T with the customer's position", () => {
    expect(() => fitBgNbd({ frequency: [1, 2], recency: [3, 9], age: [5, 8] })).toThrow(BgNbdInputError);
    expect(() => fitBgNbd({ frequency: [1, 2], recency: [3, 9], age: [5, 8] })).toThrow(/customer 2: recency 9/);
  });
});
