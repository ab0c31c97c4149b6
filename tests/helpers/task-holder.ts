// Another worker of a partitioned pipeline that holds some of its tasks and runs none of them, until released: the
// tests' way to keep a task (a customers task, an events task) from running while a drain runs the others.
import type { NatsConnection } from "@nats-io/nats-core";
import { runLeasedTasks } from "../../src/runtime/partition-leases.ts";

export type HeldTasks = {
  /** Hands the tasks back (the worker stops); resolves once it is gone, rejects with what stopped it otherwise. */
  release(): Promise<void>;
};

/** Resolves once `tasks` of `pipelineName` are leased to the worker `workerId`. */
export async function holdTasks(connection: NatsConnection, pipelineName: string, tasks: string[], workerId = "holder"): Promise<HeldTasks> {
  const stop = new AbortController();
  let holding!: () => void;
  const held = new Promise<void>((resolve) => (holding = resolve));
  const done = runLeasedTasks(connection, pipelineName, { workerId, tasks, signal: stop.signal }, async (lease) => {
    holding();
    await new Promise((resolve) => lease.handOver.addEventListener("abort", resolve, { once: true }));
    return "handedOver";
  });
  await Promise.race([held, done.then((outcome) => Promise.reject(new Error(`${workerId} ended (${String(outcome)}) before it held ${tasks.join(", ")}`)))]);
  return {
    release: async () => {
      stop.abort();
      await done;
    },
  };
}
