import { describe, expect, it } from "vitest";
import {
  MAX_MERGE_INPUTS,
  mergedPartFileName,
  ownPartPattern,
  planMerge,
  planMerges,
  rowCountsUntilSettled,
  type CompactionPolicy,
  type PartListing,
} from "../../src/sinks/compaction.ts";
import { partFileName } from "../../src/sinks/parquet.ts";

const policy: CompactionPolicy = { minParts: 4, targetRows: 1_000, mergesPerCheckpoint: 1 };

/** Parts of writer `w` from epochs `from`…, one each, with the given rows. */
function parts(writer: string | undefined, from: number, rows: number[]): PartListing[] {
  return rows.map((count, offset) => ({ name: partFileName(from + offset, 0, writer), rows: count }));
}

describe("compaction policy - which parts a merge takes", () => {
  it("names a merged part after its epoch with a c infix that part-*.parquet still matches", () => {
    expect(mergedPartFileName(12, 0, "web")).toBe("part-web-0000000012-c0000.parquet");
    expect(mergedPartFileName(12, 3)).toBe("part-0000000012-c0003.parquet");
    expect(ownPartPattern("web").test("part-web-0000000012-c0000.parquet")).toBe(true);
  });

  it("merges nothing below minParts small parts", () => {
    expect(planMerge("t/dt=1", parts("w", 1, [10, 10, 10]), policy, "w")).toBeUndefined();
  });

  it("merges the small parts in name order once there are minParts of them", () => {
    const listed = parts("w", 1, [10, 20, 30, 40]).reverse();
    const merge = planMerge("t/dt=1", listed, policy, "w")!;
    expect(merge.inputs.map((part) => part.name)).toEqual(parts("w", 1, [10, 20, 30, 40]).map((part) => part.name));
    expect(merge.rows).toBe(100);
  });

  it("leaves out parts that are not small, and counts only small ones towards minParts", () => {
    const listed = [...parts("w", 1, [10, 1_000, 10, 10]), ...parts("w", 5, [5_000])];
    expect(planMerge("t/dt=1", listed, policy, "w")).toBeUndefined();
    const more = [...listed, ...parts("w", 6, [10])];
    expect(planMerge("t/dt=1", more, policy, "w")!.inputs.map((part) => part.rows)).toEqual([10, 10, 10, 10]);
  });

  it("takes only this writer's parts: never another task's, another pipeline's, or files it did not write", () => {
    const listed = [
      ...parts("web_events_0_1a2b3c4d", 1, [10, 10, 10]),
      ...parts("web_events_1_5e6f7a8b", 1, [10, 10, 10, 10]),
      ...parts("web", 1, [10, 10, 10]),
      { name: "part-00000-spark.snappy.parquet", rows: 10 },
      { name: "part-web_events_0_1a2b3c4d-0000000009-0000.parquet.inprogress", rows: 10 },
      { name: "data.parquet", rows: 10 },
    ];
    expect(planMerge("t/dt=1", listed, policy, "web_events_0_1a2b3c4d")).toBeUndefined();
    const merge = planMerge("t/dt=1", listed, policy, "web_events_1_5e6f7a8b")!;
    expect(merge.inputs.every((part) => part.name.startsWith("part-web_events_1_5e6f7a8b-"))).toBe(true);
    expect(merge.inputs).toHaveLength(4);
    // "web" is a prefix of the task writers' ids, not their owner.
    expect(planMerge("t/dt=1", listed, policy, "web")).toBeUndefined();
  });

  it("stops at targetRows rows in all, but takes at least two parts", () => {
    const merge = planMerge("t/dt=1", parts("w", 1, [400, 400, 400, 400, 400]), policy, "w")!;
    expect(merge.inputs.map((part) => part.rows)).toEqual([400, 400]);
    const big = planMerge("t/dt=1", parts("w", 1, [900, 900, 900, 900]), policy, "w")!;
    expect(big.inputs).toHaveLength(2);
    expect(big.rows).toBe(1_800);
  });

  it("takes merged parts in again while they are small", () => {
    const listed = [{ name: mergedPartFileName(9, 0, "w"), rows: 40 }, ...parts("w", 10, [10, 10, 10])];
    expect(planMerge("t/dt=1", listed, policy, "w")!.inputs.map((part) => part.name)[0]).toBe(mergedPartFileName(9, 0, "w"));
  });

  it("bounds the work: at most MAX_MERGE_INPUTS parts per merge and mergesPerCheckpoint merges per checkpoint", () => {
    const many = parts("w", 1, Array.from({ length: MAX_MERGE_INPUTS + 50 }, () => 1));
    expect(planMerge("t/dt=1", many, { ...policy, targetRows: 1_000_000 }, "w")!.inputs).toHaveLength(MAX_MERGE_INPUTS);
    const folders = ["t/dt=3", "t/dt=1", "t/dt=2"].map((directory) => ({ directory, parts: parts("w", 1, [1, 1, 1, 1]) }));
    expect(planMerges(folders, policy, "w").map((merge) => merge.directory)).toEqual(["t/dt=1"]);
    expect(planMerges(folders, { ...policy, mergesPerCheckpoint: 2 }, "w").map((merge) => merge.directory)).toEqual(["t/dt=1", "t/dt=2"]);
  });
});

describe("compaction policy - how many row counts a merge's planning reads", () => {
  /** Counts `names` with `rowsOf`, recording for each batch the turn of the event loop it was read in. */
  async function countedInTurns(names: readonly string[], rowsOf: (name: string) => number): Promise<{ counted: PartListing[]; turns: number[][] }> {
    let turn = 0;
    let reading = true;
    const tick = () => {
      turn++;
      if (reading) setImmediate(tick);
    };
    setImmediate(tick);
    const turns: number[][] = [];
    const counted = await rowCountsUntilSettled(names, policy, 32, (batch) => {
      turns.push(batch.map(() => turn));
      return batch.map((name) => ({ name, rows: rowsOf(name) }));
    });
    reading = false;
    return { counted, turns };
  }

  it("reads the counts a batch per turn of the event loop: a folder read whole (few small parts) does not stall the thread", async () => {
    const names = parts("w", 1, Array.from({ length: 100 }, () => 0)).map((part) => part.name);
    const { counted, turns } = await countedInTurns(names, () => policy.targetRows);
    expect(counted.map((part) => part.name)).toEqual(names);
    expect(turns.map((batch) => batch.length)).toEqual([32, 32, 32, 4]);
    // Each batch in one turn, and every batch in a turn of its own.
    for (const batch of turns) expect(new Set(batch).size).toBe(1);
    expect(new Set(turns.map((batch) => batch[0])).size).toBe(4);
  });

  it("stops reading once the merge is settled: minParts small parts holding more than targetRows rows", async () => {
    const names = parts("w", 1, Array.from({ length: 100 }, () => 0)).map((part) => part.name);
    const { counted } = await countedInTurns(names, () => 300);
    expect(counted).toHaveLength(32);
  });
});
