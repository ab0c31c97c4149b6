// The fair-share planner of partition leases and the bucket name, by hand-computed cases.
import { describe, expect, it } from "vitest";
import { leaseBucketName, planBalance, rendezvousScore, type BalanceView } from "../../src/runtime/partition-leases.ts";

const tasks = (count: number, from = 0) => Array.from({ length: count }, (_, index) => `events-${from + index}`);

function view(overrides: Partial<BalanceView>): BalanceView {
  return { taskCount: 8, self: "w1", live: ["w1"], heldBy: new Map(), held: [], handingOver: 0, claimable: [], ...overrides };
}

describe("planBalance", () => {
  it("claims ⌈8/4⌉ = 2 of 8 free tasks, the preferred first", () => {
    expect(planBalance(view({ live: ["w1", "w2", "w3", "w4"], claimable: tasks(8) }))).toEqual({
      claim: ["events-0", "events-1"],
      handOver: [],
    });
  });

  it("claims one more of a dead worker's tasks to reach ⌈8/3⌉ = 3 when no other worker starves", () => {
    const plan = planBalance(
      view({ live: ["w1", "w2", "w3"], heldBy: new Map([["w2", 2], ["w3", 2]]), held: tasks(2), claimable: tasks(2, 6) }),
    );
    expect(plan).toEqual({ claim: ["events-6"], handOver: [] });
  });

  it("claims only up to ⌊T/L⌋ while another worker is below it, so free tasks go to the starving first", () => {
    const plan = planBalance(
      view({ live: ["w1", "w2", "w3"], heldBy: new Map([["w2", 0], ["w3", 3]]), held: tasks(1), claimable: tasks(4, 4) }),
    );
    expect(plan).toEqual({ claim: ["events-4"], handOver: [] });
  });

  it("hands the least preferred surplus over when holding more than ⌈T/L⌉", () => {
    const plan = planBalance(view({ live: ["w1", "w2"], heldBy: new Map([["w2", 0]]), held: tasks(5) }));
    expect(plan).toEqual({ claim: [], handOver: ["events-4"] });
  });

  it("makes exactly one of four workers at 2 hand one over to a fifth that joined with none (8 tasks: 2,2,2,1,1)", () => {
    const live = ["w1", "w2", "w3", "w4", "w5"];
    const heldBy = new Map([["w1", 2], ["w2", 2], ["w3", 2], ["w4", 2], ["w5", 0]]);
    const handovers = live.map((self) => planBalance(view({ self, live, heldBy, held: tasks(heldBy.get(self)!) })).handOver.length);
    expect(handovers).toEqual([1, 0, 0, 0, 0]);
  });

  it("does not hand over twice while the first handover is still in progress", () => {
    const live = ["w1", "w2", "w3", "w4", "w5"];
    const heldBy = new Map([["w2", 2], ["w3", 2], ["w4", 2], ["w5", 0]]);
    expect(planBalance(view({ live, heldBy, held: tasks(2), handingOver: 1 }))).toEqual({ claim: [], handOver: [] });
  });

  it("does not hand over when the starving worker can claim a free task instead", () => {
    const live = ["w1", "w2", "w3", "w4", "w5"];
    const heldBy = new Map([["w2", 2], ["w3", 2], ["w4", 1], ["w5", 0]]);
    expect(planBalance(view({ live, heldBy, held: tasks(2), claimable: ["events-7"] }))).toEqual({ claim: [], handOver: [] });
  });

  it("claims nothing and hands nothing over in drain mode once no task is left", () => {
    expect(planBalance(view({ taskCount: 0, live: ["w1", "w2"] }))).toEqual({ claim: [], handOver: [] });
  });
});

describe("rendezvousScore", () => {
  it("orders the same tasks differently for different workers, and identically for the same worker", () => {
    const order = (worker: string) => [...tasks(16)].sort((a, b) => rendezvousScore(worker, b) - rendezvousScore(worker, a));
    expect(order("w1")).toEqual(order("w1"));
    expect(new Set(["w1", "w2", "w3", "w4"].map((worker) => order(worker)[0])).size).toBeGreaterThan(1);
  });
});

describe("leaseBucketName", () => {
  it("keeps a valid pipeline name and makes others valid and distinct", () => {
    expect(leaseBucketName("web-sessions_2")).toBe("clickpipe_leases_web-sessions_2");
    const dotted = leaseBucketName("web.sessions");
    expect(dotted).toMatch(/^clickpipe_leases_web_sessions_[0-9a-f]{8}$/);
    expect(dotted).not.toBe(leaseBucketName("web sessions"));
  });
});
