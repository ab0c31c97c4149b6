// A partitioned drain's targets, looked up while events keep arriving: a customers task's targets must not pass its
// events tasks' own (an events task marked drained at its target is not run again, so no later end record comes).
import type { JetStreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { parsePipelineText } from "../../src/config/load.ts";
import { currentTargets } from "../../src/runtime/partitioned-worker.ts";
import { planTasks } from "../../src/runtime/tasks.ts";

describe("currentTargets", () => {
  it("gives the customers task its events tasks' targets though an event arrived between the looks", async () => {
    const parsed = parsePipelineText(
      ["name: t", "nats:", '  url: "nats://127.0.0.1:1"', "  stream: T", "  partitions: 2", "operators:", "  - { type: sessionize }", "  - { type: basket }", "sinks:", '  - { type: parquet, path: "/tmp/unused" }'].join("\n"),
      "t.yaml",
      {},
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    // Every look at a subject's last message finds one more event stored there since the previous look.
    let stored = 10;
    const manager = { streams: { getMessage: async () => ({ seq: ++stored }) } } as unknown as JetStreamManager;
    const targets = await currentTargets(manager, parsed.config, planTasks(parsed.config));
    expect(targets.get("customers-0")).toEqual([targets.get("events-0")![0], targets.get("events-1")![0]]);
    expect([...targets.keys()]).toEqual(planTasks(parsed.config).map((plan) => plan.name));
  });
});
