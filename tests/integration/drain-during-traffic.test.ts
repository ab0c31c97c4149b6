// A partitioned drain of a stream that still receives events: events published after the drain started, once its
// events tasks drained and were marked so, must neither keep the customers task waiting for end records no events task
// will send, nor be half taken, whether the customers task runs in the worker that started the drain or in one that
// joined it later. Oracle: the lake after that drain equals a drain of the events that were there when it started;
// after the next drain, it equals one drain over all of them.
import { Kvm } from "@nats-io/kv";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipelineOrThrow } from "../../src/cli/load-config.ts";
import { generateLines } from "../../src/ingest/generate.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { runPartitionedWorker } from "../../src/runtime/partitioned-worker.ts";
import { leaseBucketName, rendezvousScore, runLeasedTasks } from "../../src/runtime/partition-leases.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { jetStreamScratchAll } from "../helpers/jetstream-scratch.ts";
import { holdTasks } from "../helpers/task-holder.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { lakeRows, rowCounts, writePipelineFile } from "./crash-harness.ts";

const DAY_MS = 86_400_000;
const START = Date.parse("2026-02-02T00:00:00Z");
const PARTITIONS = 3;

describe("a partitioned drain while events keep arriving", () => {
  const scratch = jetStreamScratchAll("clickpipe-drain-traffic-");
  const { natsUrl, streams, buckets } = scratch;

  function newStream(): string {
    const stream = uniqueStreamName("DRAINTRAFFIC");
    streams.push(stream);
    return stream;
  }

  /** A pipeline of its own (name, lease bucket, lake, directory checkpoints) over `stream`. */
  async function pipeline(prefix: string, stream: string): Promise<{ file: string; out: string; name: string }> {
    const name = uniqueStreamName(prefix);
    buckets.push(leaseBucketName(name));
    const out = join(scratch.directory, name.toLowerCase());
    return { file: await writePipelineFile(scratch.directory, { name, natsUrl, stream, out, partitions: PARTITIONS, interval: "1s" }), out, name };
  }

  async function publish(file: string, pipelineFile: string, lines: Iterable<string>): Promise<void> {
    const path = join(scratch.directory, `${Date.now().toString(36)}-${file}`);
    await writeFile(path, [...lines].join("\n") + "\n");
    const result = await runCli(["publish", path, "--pipeline", pipelineFile]);
    expect(result.code, result.stderr).toBe(0);
  }

  async function drain(pipelineFile: string, workerId: string): Promise<void> {
    await runPartitionedWorker({ config: await loadPipelineOrThrow(pipelineFile), drain: true, metrics: new Metrics(), workerId, log: () => undefined });
  }

  it("ends with what the stream held when it started, and leaves what came after it to the next drain", { timeout: 180_000 }, async () => {
    const stream = newStream();
    const race = await pipeline("RACE", stream);
    const early = await pipeline("EARLY", stream);
    const once = await pipeline("ONCE", stream);
    const config = await loadPipelineOrThrow(race.file);
    await publish("first.ndjson", race.file, generateLines({ visitors: 200, days: 2, seed: 1, start: START }));
    // What a drain that started now writes, with nothing arriving during it.
    await drain(early.file, "early");

    // Another worker holds customers-0 and runs nothing, so that the events tasks drain, forward their end records and
    // are marked drained before customers-0 starts.
    const holder = await holdTasks(scratch.connection, race.name, ["customers-0"]);
    const logs: string[] = [];
    const stop = new AbortController();
    const running = runPartitionedWorker({ config, drain: true, metrics: new Metrics(), workerId: "drainer", signal: stop.signal, log: (line) => logs.push(line) });
    const markers = await new Kvm(scratch.connection).open(leaseBucketName(race.name));
    const drained = async (task: string) => (await markers.get(`drained.${task}`))?.operation === "PUT";
    const others = [...Array.from({ length: PARTITIONS }, (_, partition) => `events-${partition}`), "dlq"];
    await waitFor("the events tasks and dlq drained", async () => (await Promise.all(others.map(drained))).every(Boolean), 60_000);

    // Days later, more events arrive on every events subject while the drain still runs; then customers-0 is free.
    await publish("later.ndjson", race.file, generateLines({ visitors: 200, days: 2, seed: 2, start: START + 5 * DAY_MS }));
    await holder.release();
    // Before, customers-0 took the events subjects' last sequences as they were when it started for its targets: past
    // the end records the events tasks sent, which were marked drained and not run again. It waited for ever.
    const outcome = await Promise.race([running.then(() => "ended"), new Promise((resolve) => setTimeout(() => resolve("still waiting"), 30_000))]);
    stop.abort();
    const summary = await running;
    expect(outcome, logs.join("\n")).toBe("ended");
    expect(summary.tasks.map(({ task, outcome }) => [task, outcome])).toContainEqual(["customers-0", "finished"]);
    const expectedEarly = await lakeRows(early.out);
    expect(rowCounts(await lakeRows(race.out))).toEqual(rowCounts(expectedEarly));
    expect(await lakeRows(race.out)).toEqual(expectedEarly);

    // The next drain takes the rest, once: the lake equals one drain over both parts.
    await Promise.all([drain(race.file, "next"), drain(once.file, "once")]);
    const expected = await lakeRows(once.out);
    expect(rowCounts(expected).sessions).toBeGreaterThan(rowCounts(expectedEarly).sessions);
    expect(rowCounts(await lakeRows(race.out))).toEqual(rowCounts(expected));
    expect(await lakeRows(race.out)).toEqual(expected);
  });
  it("a worker joining a drain that another live worker runs ends at that drain's targets, not at the stream as it is when it joins", { timeout: 180_000 }, async () => {
    const stream = newStream();
    const joined = await pipeline("JOIN", stream);
    const early = await pipeline("EARLY", stream);
    const once = await pipeline("ONCE", stream);
    await publish("first.ndjson", joined.file, generateLines({ visitors: 200, days: 2, seed: 3, start: START }));
    await drain(early.file, "early");

    // Held tasks, so that the workers run exactly the ones this test lets them: customers-0 from the start, the events
    // tasks once the first worker drained them. Abandoned (kill -9) later: their leases go stale after 2 s.
    const abandon = new AbortController();
    const hold = async (task: string) => {
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const done = runLeasedTasks(scratch.connection, joined.name, { workerId: `holder-${task}`, tasks: [task], staleAfterMs: 2000, testing: { abandon: abandon.signal } }, async () => {
        holding();
        await new Promise(() => undefined);
        return "handedOver";
      });
      await held;
      // Wrapped: an async function returning the promise would wait for it.
      return [done];
    };
    const holders = await hold("customers-0");
    const staleAfter = process.env.CLICKPIPE_LEASE_STALE_MS;
    const logs: string[] = [];
    const log = (worker: string) => (line: string) => logs.push(`${worker}: ${line}`);
    const stopFirst = new AbortController();
    const stopJoiner = new AbortController();
    let first: Promise<unknown> | undefined;
    let joiner: Promise<unknown> | undefined;
    try {
      // The first worker starts the drain, and sees the others' leases fresh for a minute: it never takes customers-0.
      process.env.CLICKPIPE_LEASE_STALE_MS = "60000";
      first = runPartitionedWorker({ config: await loadPipelineOrThrow(joined.file), drain: true, metrics: new Metrics(), workerId: "first", signal: stopFirst.signal, log: log("first") });
      const markers = await new Kvm(scratch.connection).open(leaseBucketName(joined.name));
      const drained = async (task: string) => (await markers.get(`drained.${task}`))?.operation === "PUT";
      const events = Array.from({ length: PARTITIONS }, (_, partition) => `events-${partition}`);
      await waitFor("the events tasks and dlq drained", async () => (await Promise.all([...events, "dlq"].map(drained))).every(Boolean), 60_000);
      for (const task of events) holders.push(...(await hold(task)));

      // More events arrive; then a second worker joins the drain, which sees the held leases go stale after 2 s, all
      // at once, and prefers customers-0 among them. Before, it drained toward the stream as it was when it joined:
      // customers-0 waited for end records past the events tasks' (marked drained for the first worker), and the fair
      // share of two live workers let it run only one of the events tasks again: it waited for ever.
      await publish("later.ndjson", joined.file, generateLines({ visitors: 200, days: 2, seed: 4, start: START + 5 * DAY_MS }));
      process.env.CLICKPIPE_LEASE_STALE_MS = "2000";
      const joinerId = Array.from({ length: 100 }, (_, index) => `joiner-${index}`).find((id) =>
        events.every((task) => rendezvousScore(id, "customers-0") > rendezvousScore(id, task)),
      )!;
      abandon.abort();
      await Promise.all(holders);
      joiner = runPartitionedWorker({ config: await loadPipelineOrThrow(joined.file), drain: true, metrics: new Metrics(), workerId: joinerId, signal: stopJoiner.signal, log: log("joiner") });
      const outcome = await Promise.race([Promise.all([first, joiner]).then(() => "ended"), new Promise((resolve) => setTimeout(() => resolve("still waiting"), 30_000))]);
      expect(outcome, logs.join("\n")).toBe("ended");
    } finally {
      if (staleAfter === undefined) delete process.env.CLICKPIPE_LEASE_STALE_MS;
      else process.env.CLICKPIPE_LEASE_STALE_MS = staleAfter;
      stopFirst.abort();
      stopJoiner.abort();
      await Promise.allSettled([first, joiner]);
    }
    expect(logs).toContainEqual(expect.stringMatching(/^joiner: .* runs customers-0$/));
    const expectedEarly = await lakeRows(early.out);
    expect(rowCounts(await lakeRows(joined.out))).toEqual(rowCounts(expectedEarly));
    expect(await lakeRows(joined.out)).toEqual(expectedEarly);

    await Promise.all([drain(joined.file, "next"), drain(once.file, "once")]);
    const expected = await lakeRows(once.out);
    expect(rowCounts(await lakeRows(joined.out))).toEqual(rowCounts(expected));
    expect(await lakeRows(joined.out)).toEqual(expected);
  });
});
