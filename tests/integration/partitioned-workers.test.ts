// Scale-out: `nats.partitions: 8` run by four `clickpipe run --worker-id` processes sharing leases, one of them
// killed with -9 mid-run: its tasks move to the others, and the lake equals one worker's no-fault run, which equals an
// unpartitioned pipeline's over the same input; a wiped pipeline run again under the same name ignores what the old
// run forwarded; a pipeline configured for fewer partitions than the stream holds is refused.
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { customersSubject, dlqSubject, eventsSubject } from "../../src/transport/subjects.ts";
import { crashInput, filesEndingWith, lakeRows, rowCounts, spawnWorker, writePipelineFile, type WorkerProcess } from "./crash-harness.ts";

const natsUrl = inject("natsUrl");
/** Short leases so that a killed worker's tasks move within seconds. */
const LEASE_ENV = { CLICKPIPE_LEASE_STALE_MS: "6000" };

/** The index of the first worker whose output matches `pattern`, or -1 when all exit without it. */
function firstToPrint(workers: WorkerProcess[], pattern: RegExp): Promise<number> {
  return new Promise((resolve) => {
    let silent = 0;
    workers.forEach((worker, index) => {
      void worker.printed(pattern).then((matched) => {
        if (matched) resolve(index);
        else if (++silent === workers.length) resolve(-1);
      });
    });
  });
}

/** The stream position of the newest checkpoint in a task's checkpoint folder; 0 before the first (or when it just went). */
async function committedPosition(folder: string): Promise<number> {
  const epochs = (await readdir(folder).catch(() => [] as string[])).flatMap((name) => /^checkpoint-(\d+)\.json$/.exec(name)?.[1] ?? []);
  if (epochs.length === 0) return 0;
  const newest = epochs.sort((a, b) => Number(b) - Number(a))[0];
  const text = await readFile(join(folder, `checkpoint-${newest}.json`), "utf8").catch(() => undefined);
  return text === undefined ? 0 : (JSON.parse(text) as { position: number }).position;
}

/**
 * Resolves once each task of the 8-partition pipeline `name` (lake `out`) has committed a checkpoint through the last
 * message now on its subject: the events tasks have read the backlog and the customer stage what they forwarded.
 */
async function waitUntilCaughtUp(stream: string, name: string, out: string): Promise<void> {
  const tasks: Array<[string, string]> = [
    ...Array.from({ length: 8 }, (_, partition): [string, string] => [`events-${partition}`, eventsSubject(stream, partition)]),
    ["customers-0", customersSubject(stream, 0)],
    ["dlq", dlqSubject(stream)],
  ];
  const connection = await connect({ servers: natsUrl });
  try {
    const manager = await jetstreamManager(connection);
    await waitFor(
      `every task of ${name} to commit through its subject's last message`,
      async () => {
        for (const [task, subject] of tasks) {
          const last = await manager.streams.getMessage(stream, { last_by_subj: subject }).then((message) => message?.seq ?? 0, () => 0);
          if ((await committedPosition(join(out, "_checkpoints", `${name}.${task}`))) < last) return false;
        }
        return true;
      },
      90_000,
    );
  } finally {
    await connection.close();
  }
}

describe("a partitioned pipeline over several workers", () => {
  const stream = uniqueStreamName("PARTS");
  let directory: string;
  let baselineOut: string;

  /** The same pipeline (8 partitions, every operator) under its own name, so its checkpoints and leases are fresh. */
  async function pipelineFile(name: string): Promise<{ file: string; out: string }> {
    const out = join(directory, name);
    return { file: await writePipelineFile(directory, { name, natsUrl, stream, out, partitions: 8, interval: "300ms" }), out };
  }

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-partitioned-"));
    const baseline = await pipelineFile("parts_baseline");
    baselineOut = baseline.out;
    const input = join(directory, "input.ndjson");
    await writeFile(input, crashInput(500, 3, 47).join("\n") + "\n");
    const published = await runCli(["publish", input, "--pipeline", baseline.file]);
    expect(published.code, published.stderr).toBe(0);
    const drained = await runCli(["run", baseline.file, "--drain", "--worker-id", "solo"], LEASE_ENV);
    expect(drained.code, drained.stderr).toBe(0);
    // One worker ran every task: 8 events partitions, the customer stage and the dead letters.
    for (const task of ["events-0", "events-7", "customers-0", "dlq"]) expect(drained.stdout).toContain(`${task} (finished)`);
  }, 180_000);

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("writes the tables of one unpartitioned pipeline over the same input", { timeout: 120_000 }, async () => {
    // Oracle: the same operators without re-keying, over the same input published unpartitioned. The customer stage
    // gets its events as forwarded lines (purchases whole, other events with only what it reads) and its sessions from
    // eight events tasks; what it writes must depend on neither.
    const out = join(directory, "parts_flat");
    const file = await writePipelineFile(directory, { name: "parts_flat", natsUrl, stream: uniqueStreamName("FLAT"), out, interval: "300ms" });
    const published = await runCli(["publish", join(directory, "input.ndjson"), "--pipeline", file]);
    expect(published.code, published.stderr).toBe(0);
    const drained = await runCli(["run", file, "--drain"]);
    expect(drained.code, drained.stderr).toBe(0);
    const flat = await lakeRows(out);
    const partitioned = await lakeRows(baselineOut);
    expect(flat.customer_features.length).toBeGreaterThan(50);
    expect(flat.patterns.length).toBeGreaterThan(0);
    expect(flat.basket_rules.length).toBeGreaterThan(0);
    for (const table of ["sessions", "patterns", "basket_rules", "cross_sell", "customer_features"]) {
      expect(partitioned[table], table).toEqual(flat[table]);
    }
  });

  it("checkpoints each task in a NATS KV bucket of its own with checkpoint.store: kv, and writes the same tables", { timeout: 120_000 }, async () => {
    // A name of its own: a bucket left by an aborted run on another stream would refuse this one (config-change.ts).
    const name = uniqueStreamName("parts_kv").toLowerCase();
    const out = join(directory, name);
    const file = await writePipelineFile(directory, { name, natsUrl, stream, out, partitions: 8, interval: "300ms", checkpointStore: "kv" });
    const drained = await runCli(["run", file, "--drain", "--worker-id", "solo"], LEASE_ENV);
    expect(drained.code, drained.stderr).toBe(0);
    const [kv, baseline] = [await lakeRows(out), await lakeRows(baselineOut)];
    for (const table of ["sessions", "patterns", "basket_rules", "cross_sell", "customer_features"]) expect(kv[table], table).toEqual(baseline[table]);
    const connection = await connect({ servers: natsUrl });
    try {
      const manager = await jetstreamManager(connection);
      const buckets: string[] = [];
      for await (const info of manager.streams.list()) if (info.config.name.startsWith(`KV_clickpipe_ckpt_${name}`)) buckets.push(info.config.name);
      expect(buckets).toContain(`KV_clickpipe_ckpt_${name}__events-7`);
      for (const bucket of [...buckets, `KV_clickpipe_leases_${name}`]) await manager.streams.delete(bucket).catch(() => undefined);
    } finally {
      await connection.close();
    }
  });

  it("refuses to run this stream with fewer partitions, and warns an unpartitioned worker over it", { timeout: 60_000 }, async () => {
    // Four tasks would never read partitions 4–7: nothing may be dropped silently.
    const fewer = join(directory, "parts_fewer");
    const fewerFile = await writePipelineFile(directory, { name: "parts_fewer", natsUrl, stream, out: fewer, partitions: 4, interval: "300ms" });
    // One worker reads every partition, but those it has not read yet do not hold its watermark back.
    const flat = join(directory, "parts_one");
    const flatFile = await writePipelineFile(directory, { name: "parts_one", natsUrl, stream, out: flat, interval: "300ms" });
    // Two pipelines of their own (names, lakes): the two runs go side by side.
    const [refused, warned] = await Promise.all([
      runCli(["run", fewerFile, "--drain", "--worker-id", "solo"], LEASE_ENV),
      runCli(["run", flatFile, "--drain"]),
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`stream ${stream} holds events of 8 partitions (up to ${stream}.events.7) but nats.partitions is 4`);
    expect(refused.stderr).toContain("set nats.partitions: 8");
    expect(await lakeRows(fewer).catch(() => ({}))).toEqual({});
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toContain("but nats.partitions is 1: this worker reads them all");
  });

  it("live over the backlog, then stopped and drained, writes the tables of a drain alone", { timeout: 120_000 }, async () => {
    // Live, the customer stage takes each events partition's records as they come: a partition not heard from yet
    // must hold the watermarks back, or the first partitions' watermark makes the others' sessions and purchases late.
    const { file, out } = await pipelineFile("parts_live");
    const live = spawnWorker(file, ["--worker-id", "live"], LEASE_ENV);
    expect(await live.printed(/parts_live: worker live runs customers-0/), live.output()).toBe(true);
    // Stopped once it has gone over the whole backlog live, rather than after a fixed 4 s.
    await waitUntilCaughtUp(stream, "parts_live", out);
    live.child.kill("SIGTERM");
    const stopped = await live.exited;
    expect(stopped.code, stopped.output).toBe(0);
    const drained = await runCli(["run", file, "--drain", "--worker-id", "live"], LEASE_ENV);
    expect(drained.code, drained.stderr).toBe(0);
    const [actual, expected] = [await lakeRows(out), await lakeRows(baselineOut)];
    for (const table of ["sessions", "patterns", "basket_rules", "cross_sell", "customer_features", "late_events"]) {
      expect(actual[table], table).toEqual(expected[table]);
    }
  });

  it("moves a killed worker's partitions to the others and writes exactly the one-worker tables", { timeout: 180_000 }, async () => {
    const expected = await lakeRows(baselineOut);
    expect(expected.sessions.length, JSON.stringify(rowCounts(expected))).toBeGreaterThan(300);
    expect(expected.customer_features.length).toBeGreaterThan(50);
    expect(expected.patterns.length).toBeGreaterThan(0);
    expect(expected.invalid_events.length).toBeGreaterThan(0);

    const { file, out } = await pipelineFile("parts_killed");
    const ids = ["w1", "w2", "w3", "w4"];
    const workers: WorkerProcess[] = ids.map((id) => spawnWorker(file, ["--drain", "--worker-id", id], LEASE_ENV));
    // The victim: the first worker that runs an events task of its own (on a slow machine one worker may start so
    // late that the others leave it nothing).
    const first = await firstToPrint(workers, /parts_killed: worker w\d runs events-\d/);
    expect(first, workers.map((worker) => worker.output()).join("\n")).toBeGreaterThanOrEqual(0);
    const victim = workers[first];
    const victimId = ids[first];
    const others = workers.filter((worker) => worker !== victim);
    // Killed as soon as it starts its work: on a fast machine a task of this input drains in well under a second.
    expect(await victim.printed(/resuming|starting/)).toBe(true);
    victim.child.kill("SIGKILL");
    const victimOutput = victim.output();
    const ranBeforeKill = [...victimOutput.matchAll(new RegExp(`worker ${victimId} runs (\\S+)`, "g"))].map((match) => match[1]);
    // A task it drained before it died may have been finished (a fast machine finishes some that quickly).
    const drainedBeforeKill = new Set([...victimOutput.matchAll(/drained \S+?\.(events\.\d+|customers\.\d+|dlq) through/g)].map((match) => match[1].replace(".", "-")));
    const killed = await victim.exited;
    expect(killed.signal, killed.output).toBe("SIGKILL");

    const results = await Promise.all(others.map((worker) => worker.exited));
    for (const result of results) expect(result.code, result.output).toBe(0);
    // Every task the victim was running and had not drained when it died was taken over after its lease went stale.
    const afterKill = results.map((result) => result.output).join("\n");
    const otherIds = ids.filter((id) => id !== victimId).join("|");
    const unfinished = ranBeforeKill.filter((task) => !drainedBeforeKill.has(task));
    expect(unfinished.length, victimOutput).toBeGreaterThan(0);
    for (const task of unfinished) expect(afterKill).toMatch(new RegExp(`worker (${otherIds}) runs ${task}\\b`));

    const actual = await lakeRows(out);
    expect(rowCounts(actual)).toEqual(rowCounts(expected));
    expect(actual).toEqual(expected);
    expect(await filesEndingWith(out, [".inprogress", ".tmp"])).toEqual([]);
  });

  it("starts over cleanly when the lake and checkpoints are wiped: records forwarded by the old run are not taken", { timeout: 120_000 }, async () => {
    const expected = await lakeRows(baselineOut);
    await rm(baselineOut, { recursive: true, force: true });
    const again = await runCli(["run", join(directory, "parts_baseline.yaml"), "--drain", "--worker-id", "again"], LEASE_ENV);
    expect(again.code, again.stderr).toBe(0);
    expect(await lakeRows(baselineOut)).toEqual(expected);
  });
});
