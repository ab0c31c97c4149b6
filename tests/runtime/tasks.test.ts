// How a partitioned pipeline splits into tasks: which subjects, which operators, which checkpoint names.
import { describe, expect, it } from "vitest";
import { pipelineSchema } from "../../src/config/pipeline.ts";
import { isPartitioned, planTasks, taskCheckpointName } from "../../src/runtime/tasks.ts";

const config = (nats: Record<string, unknown>, operators: { type: string }[]) =>
  pipelineSchema.parse({ name: "web", nats: { stream: "S", ...nats }, operators, sinks: [{ type: "parquet", path: "./out" }] });

describe("planTasks", () => {
  it("runs sessionize per visitor partition and every other operator in the customer stage, plus one dead-letter task", () => {
    const plans = planTasks(config({ partitions: 3 }, [{ type: "sessionize" }, { type: "sequencePatterns" }, { type: "churnFeatures" }]));
    expect(plans.map(({ name, subject, operators }) => [name, subject, operators.join(",")])).toEqual([
      ["events-0", "S.events.0", "sessionize"],
      ["events-1", "S.events.1", "sessionize"],
      ["events-2", "S.events.2", "sessionize"],
      ["customers-0", "S.customers.0", "sequencePatterns,churnFeatures"],
      ["dlq", "S.dlq", ""],
    ]);
    expect(taskCheckpointName("web", plans[1])).toBe("web.events-1");
  });

  it("has no customer stage without customer-level operators, and one customer task otherwise", () => {
    expect(planTasks(config({ partitions: 2 }, [{ type: "sessionize" }])).map((plan) => plan.name)).toEqual(["events-0", "events-1", "dlq"]);
    // Every customer-level operator needs customerPartitions: 1 (validate refuses more), so there is one customers task.
    const churnOnly = planTasks(config({ partitions: 2 }, [{ type: "sessionize" }, { type: "churnFeatures" }]));
    expect(churnOnly.filter((plan) => plan.kind === "customers").map((plan) => plan.subject)).toEqual(["S.customers.0"]);
  });

  it("leaves a one-partition pipeline to the single worker", () => {
    expect(isPartitioned(config({}, []))).toBe(false);
    expect(isPartitioned(config({ partitions: 2 }, []))).toBe(true);
  });
});
