import { describe, expect, it } from "vitest";
import { medianRoundRatio } from "../../bench/core.ts";

const round = (ceilingEventsPerSecond: number, drainEventsPerSecond: number) => ({ ceilingEventsPerSecond, drainEventsPerSecond });

describe("medianRoundRatio", () => {
  it("takes the middle of the rounds' own ratios, not the fastest drain over the fastest ceiling", () => {
    // Shaped like session 32's full run: 37.0%, 44.0%, 41.0% per round, while the fastest drain (round 2) over the
    // fastest ceiling (round 1) is 158,572 / 419,860 = 37.8%.
    const rounds = [round(419_860, 155_348), round(360_392, 158_572), round(380_000, 155_800)];
    expect(medianRoundRatio(rounds)).toBeCloseTo(0.41, 12);
  });

  it("averages the middle two of an even number of rounds", () => {
    expect(medianRoundRatio([round(100, 30), round(100, 50), round(100, 40), round(100, 45)])).toBeCloseTo(0.425, 12);
  });

  it("is the one ratio of a single round", () => {
    expect(medianRoundRatio([round(400_000, 160_000)])).toBe(0.4);
  });
});
