import { describe, expect, it } from "vitest";
import { MAX_MERGE_INPUTS, mergedPartFileName, ownPartPattern, planMerge, planMerges, type CompactionPolicy, type PartListing } from "../../src/sinks/compaction.ts";
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
