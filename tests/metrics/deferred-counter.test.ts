// DeferredCounter against prom-client's own Counter fed the same calls: the same exposition whenever it is read.
import { Counter, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { DeferredCounter } from "../../src/metrics/deferred-counter.ts";

function pair() {
  const deferredRegistry = new Registry();
  const plainRegistry = new Registry();
  const config = { name: "clickpipe_test_total", help: "Test counter." };
  const deferred = new DeferredCounter({ ...config, registers: [deferredRegistry] });
  const plain = new Counter({ ...config, registers: [plainRegistry] });
  return { deferred, plain, deferredRegistry, plainRegistry };
}

describe("DeferredCounter", () => {
  it("exposes exactly prom-client's value at every scrape, with increments between scrapes", async () => {
    const { deferred, plain, deferredRegistry, plainRegistry } = pair();
    expect(await deferredRegistry.metrics()).toBe(await plainRegistry.metrics());
    for (const counter of [deferred, plain]) {
      counter.inc();
      counter.inc(5);
      counter.inc(0);
    }
    expect(await deferredRegistry.metrics()).toContain("clickpipe_test_total 6");
    expect(await deferredRegistry.metrics()).toBe(await plainRegistry.metrics());
    for (let i = 0; i < 1000; i++) {
      deferred.inc();
      plain.inc();
    }
    expect((await deferred.get()).values).toEqual([{ value: 1006, labels: {} }]);
    expect(await deferredRegistry.metrics()).toBe(await plainRegistry.metrics());
  });

  it("rejects a decrease or a non-finite value at the call, as prom-client does", () => {
    const { deferred, plain } = pair();
    expect(() => plain.inc(-1)).toThrow(/decrease/);
    expect(() => deferred.inc(-1)).toThrow(/decrease/);
    expect(() => plain.inc(Infinity)).toThrow(/not a valid number/);
    expect(() => deferred.inc(Infinity)).toThrow(/not a valid number/);
  });

  it("forgets pending increments on reset", async () => {
    const { deferred } = pair();
    deferred.inc(3);
    deferred.reset();
    deferred.inc();
    expect((await deferred.get()).values[0].value).toBe(1);
  });
});
