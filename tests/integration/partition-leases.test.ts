// Partition leases on a real nats-server: fair shares, takeover of a dead worker's tasks, rebalancing, fencing, drain and shutdown.
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { StaleCheckpointError } from "../../src/runtime/checkpoint.ts";
import {
  leaseBucketName,
  rendezvousScore,
  runLeasedTasks,
  type LeasedTasksOptions,
  type TaskLease,
  type TaskOutcome,
} from "../../src/runtime/partition-leases.ts";
import { REPO_ROOT } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const natsUrl = inject("natsUrl");
/** A worker process that runs its tasks until killed, printing each task it starts. */
const CHILD_WORKER = `
  import { connect } from "@nats-io/transport-node";
  import { runLeasedTasks } from ${JSON.stringify(new URL("../../src/runtime/partition-leases.ts", import.meta.url).href)};
  const [url, pipeline, staleAfterMs, ...tasks] = process.argv.slice(1);
  const connection = await connect({ servers: url });
  await runLeasedTasks(connection, pipeline, { workerId: "child", tasks, staleAfterMs: Number(staleAfterMs) }, async (lease) => {
    console.log("running " + lease.task);
    await new Promise(() => undefined);
  });
`;
const STALE_MS = 800;
const TICK_MS = STALE_MS / 4;

/** One run of a task on a table, as the task itself saw it. */
interface Run {
  table: string;
  task: string;
  lease: TaskLease;
  start: number;
  end?: number;
  /** Why it stopped: handed over (rebalancing, shutdown), lease lost, killed with its table, or finished (drain). */
  how?: "handedOver" | "lost" | "killed" | "finished";
}

interface Table {
  id: string;
  done: Promise<void>;
  /** Graceful shutdown. */
  stop: AbortController;
  /** Simulated kill -9. */
  kill: AbortController;
  paused: boolean;
}

const tasksNamed = (count: number) => Array.from({ length: count }, (_, index) => `events-${index}`);
const elapsed = (() => {
  const origin = performance.now();
  return () => performance.now() - origin;
})();

async function waitFor(what: string, condition: () => boolean, timeoutMs = 8_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
  return elapsed();
}

describe("partition leases", () => {
  let connection: NatsConnection;
  let pipeline: string;
  let runs: Run[];
  let tables: Table[];

  beforeAll(async () => {
    connection = await connect({ servers: natsUrl });
  });
  afterAll(async () => connection.close());

  afterEach(async () => {
    for (const table of tables) table.stop.abort();
    for (const table of tables) table.kill.abort();
    await Promise.allSettled(tables.map((table) => table.done));
    await (await new Kvm(connection).open(leaseBucketName(pipeline))).destroy();
  });

  function fresh(): void {
    pipeline = uniqueStreamName("leases").toLowerCase();
    runs = [];
    tables = [];
  }

  /** A live task: runs until handed over, lost or killed with its table, recording when. */
  async function liveTask(table: Table, lease: TaskLease): Promise<TaskOutcome> {
    const run: Run = { table: table.id, task: lease.task, lease, start: elapsed() };
    runs.push(run);
    const signals = [lease.handOver, lease.lost, table.kill.signal];
    await new Promise<void>((resolve) => {
      if (signals.some((signal) => signal.aborted)) return resolve();
      for (const signal of signals) signal.addEventListener("abort", () => resolve(), { once: true });
    });
    run.end = elapsed();
    run.how = lease.lost.aborted ? "lost" : table.kill.signal.aborted ? "killed" : "handedOver";
    return "handedOver";
  }

  function start(
    id: string,
    tasks: readonly string[],
    runTask: (table: Table, lease: TaskLease) => Promise<TaskOutcome> = liveTask,
    options: Partial<LeasedTasksOptions> = {},
    through = connection,
  ): Table {
    const table: Table = { id, done: Promise.resolve(), stop: new AbortController(), kill: new AbortController(), paused: false };
    table.done = runLeasedTasks(
      through,
      pipeline,
      {
        workerId: id,
        tasks,
        staleAfterMs: STALE_MS,
        signal: table.stop.signal,
        testing: { abandon: table.kill.signal, paused: () => table.paused },
        ...options,
      },
      (lease) => runTask(table, lease),
    );
    tables.push(table);
    return table;
  }

  const running = (table: string) => runs.filter((run) => run.table === table && run.end === undefined).map((run) => run.task);
  const shares = () => tables.map((table) => running(table.id).length);
  const lostRuns = () => runs.filter((run) => run.how === "lost").map((run) => `${run.task} on ${run.table}`);
  const sorted = (counts: number[]) => [...counts].sort((a, b) => b - a);

  /** No task ran on two holders at once: each run starts after the previous one ended, unless that one lost its lease. */
  function expectNoOverlap(): void {
    for (const task of new Set(runs.map((run) => run.task))) {
      const ofTask = runs.filter((run) => run.task === task).sort((a, b) => a.start - b.start);
      for (let index = 1; index < ofTask.length; index++) {
        const previous = ofTask[index - 1];
        if (previous.how === "lost") continue;
        expect(previous.end, `${task}: run on ${ofTask[index].table} started while ${previous.table}'s still ran`).toBeDefined();
        expect(ofTask[index].start).toBeGreaterThanOrEqual(previous.end!);
      }
    }
  }

  it("gives each of 4 workers 2 of 8 tasks, never one task to two holders at once", async () => {
    fresh();
    for (const id of ["a", "b", "c", "d"]) start(id, tasksNamed(8));
    await waitFor("2 tasks on each worker", () => shares().every((count) => count === 2));
    await sleep(4 * TICK_MS);
    expect(shares()).toEqual([2, 2, 2, 2]);
    expect(new Set(tables.flatMap((table) => running(table.id))).size).toBe(8);
    expect(lostRuns()).toEqual([]);
    expectNoOverlap();
  });

  it("gives two workers started together their 3 of 6 tasks at the first claims: a claim lost in the race is made up at once", async () => {
    fresh();
    const tasks = ["events-0", "events-1", "events-2", "events-3", "customers-0", "dlq"];
    // Two workers that prefer the same 3 tasks: at their first claims each sees the other holding none, so each goes
    // for the same three and 3 of the 6 claims lose.
    const topThree = (id: string) => [...tasks].sort((a, b) => rendezvousScore(id, b) - rendezvousScore(id, a)).slice(0, 3).sort().join();
    const ids = Array.from({ length: 200 }, (_, index) => `w${index}`);
    const first = ids[0];
    const second = ids.find((id) => id !== first && topThree(id) === topThree(first))!;
    expect(second).toBeDefined();
    // A heartbeat of 2 s: the first claims come 0.5 s after the start, the next tick's 2 s later.
    const startedAt = elapsed();
    for (const id of [first, second]) start(id, tasks, liveTask, { staleAfterMs: 8_000 });
    const sharedAt = await waitFor("3 tasks on each worker", () => shares().every((count) => count === 3));
    expect(sharedAt - startedAt).toBeLessThan(2_000);
    expect(new Set(runs.map((run) => run.task)).size).toBe(6);
    expectNoOverlap();
  });

  it("lets exactly one of 6 workers racing for one task claim it, and exactly one take it over from a killed holder", async () => {
    fresh();
    for (const id of ["a", "b", "c", "d", "e", "f"]) start(id, ["dlq"]);
    await waitFor("dlq to run", () => runs.length > 0);
    await sleep(4 * TICK_MS);
    expect(runs).toHaveLength(1);
    const first = tables.find((table) => table.id === runs[0].table)!;
    first.kill.abort();
    await waitFor("dlq to run again", () => runs.length > 1, 4 * STALE_MS);
    await sleep(4 * TICK_MS);
    expect(runs.map((run) => run.how)).toEqual(["killed", undefined]);
    expectNoOverlap();
  });

  it("moves a killed worker's 2 tasks to the other 3 once its leases are stale (shares 3, 3, 2)", async () => {
    fresh();
    for (const id of ["a", "b", "c", "d"]) start(id, tasksNamed(8));
    await waitFor("2 tasks on each worker", () => shares().every((count) => count === 2));
    const orphaned = running("d");
    const killedAt = elapsed();
    tables[3].kill.abort();
    await tables[3].done;
    const movedAt = await waitFor("8 tasks on a, b and c", () => shares().slice(0, 3).reduce((sum, count) => sum + count, 0) === 8);
    expect(sorted(shares().slice(0, 3))).toEqual([3, 3, 2]);
    // Nobody takes a lease over before its last heartbeat (at most a tick or two before the kill) is staleAfterMs old.
    const firstTakeover = Math.min(...runs.filter((run) => orphaned.includes(run.task) && run.table !== "d").map((run) => run.start));
    expect(firstTakeover - killedAt).toBeGreaterThanOrEqual(STALE_MS / 2);
    expect(movedAt - killedAt).toBeLessThan(STALE_MS + 10 * TICK_MS);
    expectNoOverlap();
  });

  /** A worker on a host whose clock is `offsetMs` off the others' (and the NATS server's): it writes that time into its leases. */
  const hostClock = (offsetMs: number): Partial<LeasedTasksOptions> => ({ now: () => Date.now() + offsetMs });
  const HOUR_MS = 3_600_000;

  it("keeps 2, 2, 2 among workers whose host clocks run an hour ahead and an hour behind, then moves a killed one's tasks once stale", async () => {
    fresh();
    // Before staleness was judged on the server's clock: "ahead" took every other lease for an hour old and took it
    // over, the others took "behind"'s for an hour old: leases thrashed and their holders were fenced.
    start("ahead", tasksNamed(6), liveTask, hostClock(HOUR_MS));
    start("behind", tasksNamed(6), liveTask, hostClock(-HOUR_MS));
    start("right", tasksNamed(6));
    await waitFor("2 tasks on each worker", () => shares().every((count) => count === 2));
    await sleep(3 * STALE_MS);
    expect(shares()).toEqual([2, 2, 2]);
    expect(lostRuns()).toEqual([]);
    expect(runs).toHaveLength(6);
    const orphaned = running("right");
    const killedAt = elapsed();
    tables[2].kill.abort();
    await tables[2].done;
    const movedAt = await waitFor("6 tasks on ahead and behind", () => running("ahead").length + running("behind").length === 6);
    expect(shares().slice(0, 2)).toEqual([3, 3]);
    // As for workers whose clocks agree: not before the last heartbeat is staleAfterMs old, and soon after.
    const firstTakeover = Math.min(...runs.filter((run) => orphaned.includes(run.task) && run.table !== "right").map((run) => run.start));
    expect(firstTakeover - killedAt).toBeGreaterThanOrEqual(STALE_MS / 2);
    expect(movedAt - killedAt).toBeLessThan(STALE_MS + 10 * TICK_MS);
    expect(lostRuns()).toEqual([]);
    expectNoOverlap();
  });

  it.each([
    ["behind", -HOUR_MS],
    ["ahead", HOUR_MS],
  ])("takes a dead worker's stale leases over at its first claims though its host clock runs an hour %s", async (_, offsetMs) => {
    fresh();
    const dead = start("dead", tasksNamed(2));
    await waitFor("dead to run both tasks", () => running("dead").length === 2);
    dead.kill.abort();
    await dead.done;
    await sleep(STALE_MS + 2 * TICK_MS);
    const startedAt = elapsed();
    start("fresh", tasksNamed(2), liveTask, hostClock(offsetMs));
    const takenAt = await waitFor("fresh to run both tasks", () => running("fresh").length === 2, 4 * STALE_MS);
    // Its first claims come a short pause (a tick) after its start; a fresh worker with no history of the leases'
    // revisions would need staleAfterMs more to find them unchanged (over 1 s here).
    expect(takenAt - startedAt).toBeLessThan((3 * STALE_MS) / 4);
  });

  it("rebalances to 2, 2, 2, 1, 1 when a fifth worker joins, by handover without waiting for staleness", async () => {
    fresh();
    for (const id of ["a", "b", "c", "d"]) start(id, tasksNamed(8));
    await waitFor("2 tasks on each worker", () => shares().every((count) => count === 2));
    start("e", tasksNamed(8));
    await waitFor("shares 2, 2, 2, 1, 1", () => sorted(shares()).join() === "2,2,2,1,1");
    await sleep(4 * TICK_MS);
    expect(sorted(shares())).toEqual([2, 2, 2, 1, 1]);
    const handedOver = runs.filter((run) => run.how === "handedOver");
    expect(handedOver).toHaveLength(1);
    const taken = runs.find((run) => run.table === "e")!;
    expect(taken.task).toBe(handedOver[0].task);
    expect(taken.start - handedOver[0].end!).toBeLessThan(STALE_MS);
    expect(lostRuns()).toEqual([]);
    expectNoOverlap();
  });

  it("fences a paused holder whose lease was taken over: lost aborts, verify() names the new holder, no re-claim", async () => {
    fresh();
    const paused = start("paused", ["events-0"]);
    await waitFor("paused to hold events-0", () => running("paused").length === 1);
    start("other", ["events-0"]);
    await sleep(4 * TICK_MS);
    expect(running("other")).toEqual([]);
    const pausedAt = elapsed();
    paused.paused = true;
    const takenAt = await waitFor("other to take events-0 over", () => running("other").length === 1);
    expect(takenAt - pausedAt).toBeGreaterThanOrEqual(STALE_MS / 2);
    const lease = runs[0].lease;
    expect(lease.lost.aborted).toBe(false); // a paused process cannot know yet
    paused.paused = false;
    await waitFor("the paused holder to notice", () => lease.lost.aborted);
    expect(lease.held).toBe(false);
    await expect(lease.verify()).rejects.toThrow(StaleCheckpointError);
    await expect(lease.verify()).rejects.toThrow(/worker paused lost the lock .* to worker other/);
    await sleep(4 * TICK_MS);
    expect(runs.filter((run) => run.table === "paused")).toHaveLength(1);
    expect(running("other")).toEqual(["events-0"]);
    expect(runs[0].how).toBe("lost");
  });

  it("drains 4 tasks on 2 workers: each task once, a complete task skipped, both return", async () => {
    fresh();
    const completed = new Set<string>(["events-4"]);
    const drainTask = async (table: Table, lease: TaskLease): Promise<TaskOutcome> => {
      const run: Run = { table: table.id, task: lease.task, lease, start: elapsed() };
      runs.push(run);
      await sleep(150);
      completed.add(lease.task);
      Object.assign(run, { end: elapsed(), how: "finished" });
      return "finished";
    };
    const options = { drain: true, isComplete: async (task: string) => completed.has(task) };
    const first = start("a", tasksNamed(5), drainTask, options);
    const second = start("b", tasksNamed(5), drainTask, options);
    await Promise.all([first.done, second.done]);
    expect(runs.map((run) => run.task).sort()).toEqual(tasksNamed(4));
    expect(runs.filter((run) => run.table === "a")).toHaveLength(2);
    expect(runs.filter((run) => run.table === "b")).toHaveLength(2);
  });

  it("lets a draining worker with no task left return soon after the other's last task completes, not a heartbeat later", async () => {
    fresh();
    const completed = new Set<string>();
    const finishedAt = new Map<string, number>();
    // events-0 takes 2.8 s, events-1 none: the worker that drew events-1 waits with nothing to do (its heartbeats at
    // about 2.5 and 4.5 s, events-0 complete at about 3.3 s).
    const drainTask = async (table: Table, lease: TaskLease): Promise<TaskOutcome> => {
      runs.push({ table: table.id, task: lease.task, lease, start: elapsed() });
      await sleep(lease.task === "events-0" ? 2_800 : 0);
      completed.add(lease.task);
      finishedAt.set(lease.task, elapsed());
      return "finished";
    };
    // A heartbeat of 2 s.
    const options = { drain: true, staleAfterMs: 8_000, isComplete: async (task: string) => completed.has(task) };
    const returnedAt = new Map<string, number>();
    const tables = ["a", "b"].map((id) => start(id, tasksNamed(2), drainTask, options));
    await Promise.all(tables.map((table) => table.done.then(() => returnedAt.set(table.id, elapsed()))));
    expect(runs.map((run) => run.task).sort()).toEqual(tasksNamed(2));
    const idle = runs.find((run) => run.task === "events-1")!.table;
    const busy = runs.find((run) => run.task === "events-0")!.table;
    expect(idle).not.toBe(busy);
    expect(returnedAt.get(idle)! - finishedAt.get("events-0")!).toBeLessThan(700);
  });

  it("drains without isComplete: runs each task once on a lone worker and returns", async () => {
    fresh();
    const drainTask = async (table: Table, lease: TaskLease): Promise<TaskOutcome> => {
      runs.push({ table: table.id, task: lease.task, lease, start: elapsed(), end: elapsed(), how: "finished" });
      return "finished";
    };
    await start("a", tasksNamed(3), drainTask, { drain: true }).done;
    expect(runs.map((run) => run.task).sort()).toEqual(tasksNamed(3));
  });

  it("hands every task over on shutdown and deletes its leases: another worker claims them without a stale wait", async () => {
    fresh();
    const leaving = start("a", tasksNamed(4));
    start("b", tasksNamed(4));
    await waitFor("2 tasks on each worker", () => shares().every((count) => count === 2));
    const left = running("a");
    leaving.stop.abort();
    await leaving.done;
    expect(runs.filter((run) => run.table === "a").map((run) => run.how)).toEqual(["handedOver", "handedOver"]);
    const kv = await new Kvm(connection).open(leaseBucketName(pipeline));
    const holders = await Promise.all(left.map(async (task) => kv.get(`tasks.${task}`)));
    expect(holders.filter((entry) => entry?.operation === "PUT" && entry.json<{ workerId: string }>().workerId === "a")).toEqual([]);
    expect((await kv.get("workers.a"))?.operation).not.toBe("PUT");
    await waitFor("b to run all 4 tasks", () => running("b").length === 4);
    for (const task of left) {
      const handedOver = runs.find((run) => run.table === "a" && run.task === task)!;
      const taken = runs.find((run) => run.table === "b" && run.task === task)!;
      expect(taken.start - handedOver.end!).toBeLessThan(STALE_MS);
    }
    expectNoOverlap();
  });

  it("stops its tasks and rejects when its NATS connection closes; another worker takes them over once stale", async () => {
    fresh();
    const own = await connect({ servers: natsUrl });
    const closing = start("a", tasksNamed(2), liveTask, {}, own);
    start("b", tasksNamed(2));
    await waitFor("1 task on each worker", () => shares().every((count) => count === 1));
    await own.close();
    await expect(closing.done).rejects.toThrow(/NATS connection .* closed/);
    expect(runs.filter((run) => run.table === "a").every((run) => run.end !== undefined)).toBe(true);
    await waitFor("b to run both tasks", () => running("b").length === 2, 4 * STALE_MS);
    expectNoOverlap();
  });

  it("takes a kill -9'd process's tasks over at once on its host, without waiting staleAfterMs", async () => {
    fresh();
    const staleAfterMs = 3 * STALE_MS;
    const childArguments = [CHILD_WORKER, natsUrl, pipeline, String(STALE_MS), ...tasksNamed(2)];
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", ...childArguments], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = once(child, "exit");
    let printed = "";
    child.stdout.on("data", (chunk: Buffer) => (printed += chunk.toString("utf8")));
    const started = () => tasksNamed(2).every((task) => printed.includes(`running ${task}\n`));
    try {
      await waitFor("the child to run both tasks", started, 15_000);
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    const killedAt = elapsed();
    start("parent", tasksNamed(2), liveTask, { staleAfterMs });
    const takenAt = await waitFor("the parent to run both tasks", () => running("parent").length === 2, staleAfterMs);
    // Staleness alone would take staleAfterMs less the child's tick (its last heartbeat's age at the kill), over 2/3 of it.
    expect(takenAt - killedAt).toBeLessThan(staleAfterMs / 2);
  });

  it("rejects with a task's error after handing the other tasks over and releasing their leases", async () => {
    fresh();
    const failing = async (table: Table, lease: TaskLease): Promise<TaskOutcome> => {
      if (lease.task !== "events-1") return liveTask(table, lease);
      await sleep(100);
      throw new Error("operator exploded");
    };
    const lines: string[] = [];
    const table = start("a", tasksNamed(3), failing, { log: (line) => lines.push(line) });
    await expect(table.done).rejects.toThrow("operator exploded");
    expect(runs.map((run) => [run.task, run.how]).sort()).toEqual([
      ["events-0", "handedOver"],
      ["events-2", "handedOver"],
    ]);
    expect(lines.some((line) => line.includes("task events-1 failed: Error: operator exploded"))).toBe(true);
    const kv = await new Kvm(connection).open(leaseBucketName(pipeline));
    for (const task of tasksNamed(3)) expect((await kv.get(`tasks.${task}`))?.operation).not.toBe("PUT");
  });
});
