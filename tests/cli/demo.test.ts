// The demo's traffic settings from its CLICKPIPE_DEMO_* variables: defaults, accepted values and named errors.
import { describe, expect, it } from "vitest";
import { demoTraffic } from "../../src/cli/demo.ts";

describe("demoTraffic", () => {
  it("takes the README's defaults when no variable is set, or one is empty", () => {
    const defaults = { rate: 5000, visitors: 3000, days: 14, rounds: Number.POSITIVE_INFINITY, faultsEvery: 5000 };
    expect(demoTraffic({})).toEqual(defaults);
    expect(demoTraffic({ CLICKPIPE_DEMO_RATE: "", CLICKPIPE_DEMO_ROUNDS: " " })).toEqual(defaults);
  });

  it("reads each variable, a fractional rate and no faults (0) included", () => {
    expect(
      demoTraffic({
        CLICKPIPE_DEMO_RATE: "2.5",
        CLICKPIPE_DEMO_VISITORS: " 40 ",
        CLICKPIPE_DEMO_DAYS: "1",
        CLICKPIPE_DEMO_ROUNDS: "2",
        CLICKPIPE_DEMO_FAULTS_EVERY: "0",
      }),
    ).toEqual({ rate: 2.5, visitors: 40, days: 1, rounds: 2, faultsEvery: 0 });
  });

  it.each([
    ["CLICKPIPE_DEMO_RATE", "abc", "events per second above 0 (default 5000)"],
    ["CLICKPIPE_DEMO_RATE", "0", "events per second above 0 (default 5000)"],
    ["CLICKPIPE_DEMO_RATE", "Infinity", "events per second above 0 (default 5000)"],
    ["CLICKPIPE_DEMO_VISITORS", "0", "a whole number of visitors, at least 1 (default 3000)"],
    ["CLICKPIPE_DEMO_VISITORS", "12.5", "a whole number of visitors, at least 1 (default 3000)"],
    ["CLICKPIPE_DEMO_DAYS", "-3", "a whole number of days, at least 1 (default 14)"],
    ["CLICKPIPE_DEMO_ROUNDS", "once", "a whole number of periods, at least 1 (default no end)"],
    ["CLICKPIPE_DEMO_FAULTS_EVERY", "-1", "a whole number of events, 0 for no faults (default 5000)"],
  ])("names %s=%s and what it takes", (name, value, takes) => {
    expect(demoTraffic({ [name]: value })).toEqual({ error: `${name}=${value} is not a valid setting: it takes ${takes}` });
  });
});
