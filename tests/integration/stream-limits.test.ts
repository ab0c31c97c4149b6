// nats.maxAge and nats.maxBytes on a real stream, and a worker whose unread input the stream discarded: it says so,
// counts it and goes on from the first message still there. Oracle: counts computed by hand from the limit.
import { DuckDBInstance } from "@duckdb/node-api";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parsePipelineText } from "../../src/config/load.ts";
import type { PipelineConfig } from "../../src/config/pipeline.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { openCheckpointStore } from "../../src/runtime/checkpoint-store.ts";
import { runPartitionedWorker } from "../../src/runtime/partitioned-worker.ts";
import { leaseBucketName } from "../../src/runtime/partition-leases.ts";
import { planTasks, taskCheckpointName } from "../../src/runtime/tasks.ts";
import { runWorker } from "../../src/runtime/worker.ts";
import { partitionOf } from "../../src/transport/partition.ts";
import { StreamReader, type DiscardedSequences } from "../../src/transport/reader.ts";
import { ensureStream, lastSequenceOfSubject, streamOptions } from "../../src/transport/stream.ts";
import { customersSubject, eventsSubject } from "../../src/transport/subjects.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { jetStreamScratchAll } from "../helpers/jetstream-scratch.ts";
import { holdTasks } from "../helpers/task-holder.ts";
import { waitFor } from "../helpers/wait-for.ts";

const ns = (ms: number) => ms * 1_000_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
/**
 * What one message takes of a file-store stream's max_bytes: nats-server counts its subject, payload and 30 bytes of
 * record (22 of header, 8 of hash) when it has no headers. 64 of them fill 1 MiB exactly.
 */
const STORED_BYTES = 16 * 1024;
const RECORD_OVERHEAD = 30;

describe("stream limits - nats.maxAge and nats.maxBytes", () => {
  const scratch = jetStreamScratchAll("clickpipe-limits-");
  const { natsUrl, streams, buckets } = scratch;

  function pipeline(stream: string, nats: string[], out = join(scratch.directory, stream), name = "limits", operators = ["sessionize"]): PipelineConfig {
    const loaded = parsePipelineText(
      [`name: ${name}`, "nats:", `  url: "${natsUrl}"`, `  stream: ${stream}`, ...nats.map((line) => `  ${line}`), "operators:", ...operators.map((type) => `  - { type: ${type} }`), "sinks:", `  - { type: parquet, path: "${out}" }`].join("\n"),
      "limits.yaml",
      {},
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    return loaded.config;
  }

  function newStream(): string {
    const stream = uniqueStreamName("ZZRETENTION");
    streams.push(stream);
    return stream;
  }

  it("creates a stream with the configured max age and max bytes", async () => {
    const stream = newStream();
    const config = pipeline(stream, ["maxAge: 6h", "maxBytes: 2GiB"]);
    await ensureStream(scratch.manager, stream, streamOptions(config.nats));
    const { config: created } = await scratch.manager.streams.info(stream);
    expect(created.max_age).toBe(ns(6 * HOUR));
    expect(created.max_bytes).toBe(2 * 1024 ** 3);
    expect(created.duplicate_window).toBe(ns(2 * MINUTE));
  });

  it("sets an existing stream's limits to the configured ones, says what changed, and keeps its duplicate window within the max age", async () => {
    const stream = newStream();
    // A stream made without limits, whose window another pipeline widened to 2h.
    await ensureStream(scratch.manager, stream, streamOptions(pipeline(stream, ["duplicateWindow: 2h"]).nats));
    const logs: string[] = [];
    await ensureStream(scratch.manager, stream, streamOptions(pipeline(stream, ["maxAge: 1h", "maxBytes: 512MiB"]).nats, (line) => logs.push(line)));
    const { config: updated } = await scratch.manager.streams.info(stream);
    expect(updated.max_age).toBe(ns(HOUR));
    expect(updated.max_bytes).toBe(512 * 1024 ** 2);
    expect(updated.duplicate_window).toBe(ns(HOUR));
    expect(logs[0]).toBe(
      `stream ${stream}: set max age none → 1h (nats.maxAge), duplicate window 2h → 1h (at most the max age), max bytes none → 512MiB (nats.maxBytes); messages beyond the limits are discarded, read or not (workers say how many they lost)`,
    );
    // The window of 1h left is still wider than this pipeline's 2m: kept, as ensureStream keeps any wider window.
    expect(logs.slice(1)).toEqual([expect.stringMatching(/^warning: stream \S+ has a duplicate window of 1h, nats\.duplicateWindow is 2m; .* keeps 1h/)]);
    // A pipeline that sets no limits leaves the stream's (set by another, or by hand) as they are.
    await ensureStream(scratch.manager, stream, streamOptions(pipeline(stream, []).nats));
    const { config: kept } = await scratch.manager.streams.info(stream);
    expect([kept.max_age, kept.max_bytes]).toEqual([ns(HOUR), 512 * 1024 ** 2]);
    // And one that raises them raises them, in place (messages and sequences stay).
    await ensureStream(scratch.manager, stream, streamOptions(pipeline(stream, ["maxAge: 7d", "maxBytes: 10GiB"]).nats));
    const { config: raised } = await scratch.manager.streams.info(stream);
    expect([raised.max_age, raised.max_bytes, raised.duplicate_window]).toEqual([ns(7 * 24 * HOUR), 10 * 1024 ** 3, ns(HOUR)]);
  });

  /** Page views `v<from>`…`v<to>` on `<stream>.events.<partition>`, one per message (each its own session), each STORED_BYTES in the stream. */
  async function publishPadded(stream: string, partition: number, from: number, to: number): Promise<void> {
    const subject = eventsSubject(stream, partition);
    const js = jetstream(scratch.connection);
    for (let index = from; index <= to; index++) {
      const event = JSON.stringify({ type: "page_view", ts: Date.parse("2026-04-01T00:00:00Z") + index * MINUTE, anon_id: `v${index}`, url: "/", pad: "" });
      const padding = STORED_BYTES - RECORD_OVERHEAD - subject.length - event.length;
      await js.publish(subject, event.replace('"pad":""', `"pad":"${"x".repeat(padding)}"`));
    }
  }

  async function sessionVisitors(out: string): Promise<string[]> {
    const db = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      const rows = (await db.runAndReadAll(`SELECT visitor_id FROM read_parquet('${out}/sessions/**/*.parquet') ORDER BY start_ts`)).getRowObjects();
      return rows.map((row) => String(row.visitor_id));
    } finally {
      db.closeSync();
    }
  }

  const visitors = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => `v${from + index}`);

  it("a worker resuming below the stream's first sequence names the messages lost, counts them and writes every event still there", async () => {
    const stream = newStream();
    const out = join(scratch.directory, "lost");
    const config = pipeline(stream, ["maxBytes: 1MiB"], out);
    await ensureStream(scratch.manager, stream, streamOptions(config.nats));
    const publish = (from: number, to: number) => publishPadded(stream, 0, from, to);
    await publish(1, 10);
    expect((await scratch.manager.streams.info(stream)).state.bytes).toBe(10 * STORED_BYTES);
    const first = await runWorker({ config, drain: true, metrics: new Metrics(), log: () => undefined });
    expect([first.position, first.discarded]).toEqual([10, 0]);

    // 70 more: 80 messages of 16 KiB in a 1 MiB stream, which keeps the last 64 (17–80). 11–16 were never read.
    await publish(11, 80);
    const state = (await scratch.manager.streams.info(stream)).state;
    expect([state.first_seq, state.last_seq, state.messages]).toEqual([17, 80, 64]);
    const logs: string[] = [];
    const metrics = new Metrics();
    const second = await runWorker({ config, drain: true, metrics, log: (line) => logs.push(line) });
    expect(logs.filter((line) => line.startsWith("lost input"))).toEqual([
      `lost input: stream ${stream} discarded 6 messages (sequences 11–16) that limits had not read, under its limits (max age, max bytes), so their events are missing from the output; ` +
        "going on from sequence 17. To keep unread messages: raise nats.maxAge / nats.maxBytes (or the stream's own limits), or keep workers running and caught up",
    ]);
    expect([second.discarded, second.events, second.position]).toEqual([6, 64, 80]);
    expect((await metrics.streamMessagesDiscarded.get()).values.map(({ labels, value }) => [labels, value])).toEqual([[{}, 6]]);

    // The lake: the 10 events read before, and the 64 still in the stream after the gap.
    expect(await sessionVisitors(out)).toEqual([...visitors(1, 10), ...visitors(17, 80)]);

    // The checkpoint moved past the gap: a third run reports nothing again.
    const third = await runWorker({ config, drain: true, metrics: new Metrics(), log: (line) => logs.push(line) });
    expect([third.discarded, third.position]).toEqual([0, 80]);
    expect(logs.filter((line) => line.startsWith("lost input"))).toHaveLength(1);
  });

  it("a run refused for a change its checkpoint cannot follow leaves the stream's limits, and so its messages, as they were", { timeout: 60_000 }, async () => {
    for (const partitions of [undefined, 2]) {
      const stream = newStream();
      const out = join(scratch.directory, `refused-${partitions ?? 1}`);
      const config = pipeline(stream, partitions === undefined ? [] : [`partitions: ${partitions}`], out, `refused${partitions ?? 1}`);
      await ensureStream(scratch.manager, stream, streamOptions(config.nats));
      await publishPadded(stream, 0, 1, 80);
      const run = partitions === undefined ? runWorker : runPartitionedWorker;
      await run({ config, drain: true, metrics: new Metrics(), log: () => undefined });
      // The same file with a 1 MiB stream (64 of these messages) and another sessionize gap, which the state cannot follow.
      const changed = pipeline(stream, ["maxBytes: 1MiB", ...(partitions === undefined ? [] : [`partitions: ${partitions}`])], out, `refused${partitions ?? 1}`);
      (changed.operators[0] as { gap: number }).gap = 60 * MINUTE;
      await expect(run({ config: changed, drain: true, metrics: new Metrics(), log: () => undefined })).rejects.toThrow(/gap/);
      const info = await scratch.manager.streams.info(stream);
      expect([info.config.max_bytes, info.state.first_seq, info.state.messages]).toEqual([-1, 1, 80]);
      if (partitions !== undefined) buckets.push(leaseBucketName(`refused${partitions}`));
    }
    // A pipeline run partitioned before, now unpartitioned with a 1 MiB stream: refused, the stream as it was.
    const stream = streams.at(-1)!;
    const unpartitioned = pipeline(stream, ["maxBytes: 1MiB"], join(scratch.directory, "refused-2"), "refused2");
    await expect(runWorker({ config: unpartitioned, drain: true, metrics: new Metrics(), log: () => undefined })).rejects.toThrow(/partition/);
    const info = await scratch.manager.streams.info(stream);
    expect([info.config.max_bytes, info.state.first_seq, info.state.messages]).toEqual([-1, 1, 80]);
  });

  it("a partitioned pipeline's task reports nothing when the stream discards what it read (its subject's or others'), and the discarded range once its unread messages go", { timeout: 60_000 }, async () => {
    const stream = newStream();
    const name = `zzretparts${Date.now().toString(36)}`;
    buckets.push(leaseBucketName(name));
    const out = join(scratch.directory, "parts");
    const config = pipeline(stream, ["partitions: 2", "maxBytes: 1MiB"], out, name);
    await ensureStream(scratch.manager, stream, streamOptions(config.nats));
    const drain = async () => {
      const logs: string[] = [];
      const metrics = new Metrics();
      const summary = await runPartitionedWorker({ config, drain: true, metrics, workerId: "limits", log: (line) => logs.push(line) });
      const counted = (await metrics.streamMessagesDiscarded.get()).values.map(({ labels, value }) => [labels.task, value]);
      return { summary, lost: logs.filter((line) => line.startsWith("lost input")), counted: Object.fromEntries(counted) as Record<string, number> };
    };
    // 1 on partition 1, then 2–40 on partition 0: events-1's position stays 1, but it read its subject through 40.
    await publishPadded(stream, 1, 1, 1);
    await publishPadded(stream, 0, 2, 40);
    expect((await drain()).lost).toEqual([]);
    // 41–80 on partition 0 and 81 on partition 1: the stream keeps 18–81 of 81. What it discarded (1–17) was read, by
    // events-1 (1) and events-0 (2–17): events-1, resuming at 2, reports nothing, since it read through 40.
    await publishPadded(stream, 0, 41, 80);
    await publishPadded(stream, 1, 81, 81);
    const second = await drain();
    expect(second.lost).toEqual([]);
    expect([second.summary.discarded, second.counted["events-1"]]).toEqual([0, 0]);
    // 82–150 on partition 1 while no worker runs: the stream keeps 87–150, and events-1 never read 82–86 (it read
    // through 81). It names them, not knowing whose they were; events-0 and dlq have nothing new and do not run.
    await publishPadded(stream, 1, 82, 150);
    const third = await drain();
    expect(third.lost).toEqual([
      `lost input: stream ${stream} discarded sequences 82–86 (5 messages of all its subjects, which it no longer tells apart) before ${name}.events-1 read them, ` +
        `under its limits (max age, max bytes), so the events of those on ${stream}.events.1 are missing from the output; going on from sequence 87. ` +
        "To keep unread messages: raise nats.maxAge / nats.maxBytes (or the stream's own limits), or keep workers running and caught up",
    ]);
    expect([third.summary.discarded, third.counted]).toEqual([5, { "events-1": 5 }]);
    expect((await sessionVisitors(out)).sort()).toEqual([...visitors(1, 81), ...visitors(87, 150)].sort());
  });

  it("a task whose checkpoint has no readThrough (written before it was kept) cannot tell other subjects' discarded messages from its own: it names the range once, as an upper bound, whether its own lost one or none", { timeout: 90_000 }, async () => {
    /**
     * A 2-partition pipeline drains 1–4 (all on partition 0), and events-1's checkpoint then loses its readThrough, as
     * the version before it wrote them. Then 5 (on partition 1 when `ownLost`, else 0), 6–80 on 0 and 81 on 1: the
     * stream keeps 18–81 and discarded 1–17 unread by events-1, whose own message 5 was among them, or not.
     */
    const upgraded = async (ownLost: boolean) => {
      const stream = newStream();
      const name = `zzretupg${ownLost ? "l" : "q"}${Date.now().toString(36)}`;
      buckets.push(leaseBucketName(name));
      const out = join(scratch.directory, name);
      const config = pipeline(stream, ["partitions: 2", "maxBytes: 1MiB"], out, name);
      await ensureStream(scratch.manager, stream, streamOptions(config.nats));
      const drain = async () => {
        const logs: string[] = [];
        const metrics = new Metrics();
        await runPartitionedWorker({ config, drain: true, metrics, workerId: "limits", log: (line) => logs.push(line) });
        const counted = (await metrics.streamMessagesDiscarded.get()).values.find(({ labels }) => labels.task === "events-1")?.value;
        const lost = logs.filter((line) => line.startsWith("lost input") && line.includes(`${name}.events-1`));
        return { lost: lost.map((line) => line.replaceAll(stream, "S").replaceAll(name, "P")), counted };
      };
      await publishPadded(stream, 0, 1, 4);
      expect((await drain()).lost).toEqual([]);
      const store = await openCheckpointStore("directory", { sinkPath: out, pipelineName: `${name}.events-1`, connection: scratch.connection });
      const { state, readThrough, ...before } = (await store.load())!;
      expect([before.position, readThrough]).toEqual([0, 4]);
      await store.commit({ ...before, epoch: before.epoch + 1 }, JSON.stringify(state));
      await publishPadded(stream, ownLost ? 1 : 0, 5, 5);
      await publishPadded(stream, 0, 6, 80);
      await publishPadded(stream, 1, 81, 81);
      // All the stream tells of events-1's subject: the same in both cases (a discarded message is gone, subject and all).
      const subject = eventsSubject(stream, 1);
      const info = await scratch.manager.streams.info(stream, { subjects_filter: `${stream}.>` });
      // $JS.API.STREAM.MSG.GET's next_by_subj (the subject's first message from its unread start, 1), which the
      // manager's getMessage passes on though its type leaves it out.
      const next = await scratch.manager.streams.getMessage(stream, { seq: 1, next_by_subj: subject } as unknown as { seq: number });
      const last = await scratch.manager.streams.getMessage(stream, { last_by_subj: subject });
      const meta = (await store.loadMeta())!;
      const told = {
        state: [info.state.first_seq, info.state.last_seq, info.state.messages],
        subjects: Object.fromEntries(Object.entries(info.state.subjects ?? {}).map(([key, count]) => [key.replace(stream, "S"), count])),
        next: next?.seq,
        last: last?.seq,
        checkpoint: [meta.position, meta.readThrough],
      };
      return { told, ...(await drain()) };
    };
    const quiet = await upgraded(false);
    const lost = await upgraded(true);
    expect(quiet.told).toEqual({ state: [18, 81, 64], subjects: { "S.events.0": 63, "S.events.1": 1 }, next: 81, last: 81, checkpoint: [0, undefined] });
    expect(lost.told).toEqual(quiet.told);
    // So both name 1–17: the real loss (5) is not missed, and the quiet task's report is the bound, not a loss of its own.
    const named =
      "lost input: stream S discarded sequences 1–17 (17 messages of all its subjects, which it no longer tells apart) before P.events-1 read them, " +
      "under its limits (max age, max bytes), so the events of those on S.events.1 are missing from the output; going on from sequence 18. " +
      "To keep unread messages: raise nats.maxAge / nats.maxBytes (or the stream's own limits), or keep workers running and caught up";
    expect([lost.lost, lost.counted]).toEqual([[named], 17]);
    expect([quiet.lost, quiet.counted]).toEqual([[named], 17]);
  });

  it("a customers task's drain ends when the stream discarded the events tasks' end records before it read them, and says so", { timeout: 90_000 }, async () => {
    const stream = newStream();
    const name = `zzretends${Date.now().toString(36)}`;
    buckets.push(leaseBucketName(name));
    const out = join(scratch.directory, "ends");
    const operators = ["sessionize", "basket"];
    const config = pipeline(stream, ["partitions: 2", "duplicateWindow: 1s"], out, name, operators);
    await ensureStream(scratch.manager, stream, streamOptions(config.nats));
    const js = jetstream(scratch.connection);
    const start = Date.parse("2026-04-01T00:00:00Z");
    for (let visitor = 1; visitor <= 8; visitor++) {
      const anon = `v${visitor}`;
      const subject = eventsSubject(stream, partitionOf(anon, 2));
      await js.publish(subject, JSON.stringify({ type: "page_view", ts: start + visitor * MINUTE, anon_id: anon, url: "/" }));
      const items = [{ sku: "milk" }, { sku: visitor % 2 === 0 ? "bread" : "eggs" }];
      await js.publish(subject, JSON.stringify({ type: "purchase", ts: start + visitor * MINUTE + 1000, anon_id: anon, order_id: `o${visitor}`, revenue: 10, items }));
    }
    // Another worker holds customers-0 and stops before it reads anything, while this one drains the other tasks: the
    // events tasks forward their records, end records last, and are marked drained.
    const holder = await holdTasks(scratch.connection, name, ["customers-0"]);
    const first = new AbortController();
    const firstRun = runPartitionedWorker({ config, drain: true, metrics: new Metrics(), workerId: "first", signal: first.signal, log: () => undefined });
    const markers = await new Kvm(scratch.connection).open(leaseBucketName(name));
    const drained = async (task: string) => (await markers.get(`drained.${task}`))?.operation === "PUT";
    await waitFor("the events tasks and dlq drained", async () => (await drained("events-0")) && (await drained("events-1")) && (await drained("dlq")), 30_000);
    first.abort();
    await firstRun;
    await holder.release();
    expect(await lastSequenceOfSubject(scratch.manager, stream, customersSubject(stream, 0))).toBeGreaterThan(0);

    // The stream's max age goes down to 1s: every message goes, what the events tasks forwarded and their end records too.
    const limited = pipeline(stream, ["partitions: 2", "duplicateWindow: 1s", "maxAge: 1s"], out, name, operators);
    await ensureStream(scratch.manager, stream, streamOptions(limited.nats));
    await waitFor("the stream to discard every message", async () => (await scratch.manager.streams.info(stream)).state.messages === 0, 15_000);
    const lastSequence = (await scratch.manager.streams.info(stream)).state.last_seq;

    // The next drain skips the drained events tasks; customers-0 must not wait for end records that can never come.
    const logs: string[] = [];
    const metrics = new Metrics();
    const stop = new AbortController();
    const second = runPartitionedWorker({ config: limited, drain: true, metrics, workerId: "second", signal: stop.signal, log: (line) => logs.push(line) });
    const outcome = await Promise.race([second.then(() => "ended"), new Promise((resolve) => setTimeout(() => resolve("still waiting"), 20_000))]);
    stop.abort();
    const summary = await second;
    expect(outcome, logs.join("\n")).toBe("ended");
    expect(summary.tasks.map(({ task, outcome }) => [task, outcome])).toContainEqual(["customers-0", "finished"]);
    const lost = logs.filter((line) => line.startsWith("lost input"));
    // What it had not read (every subject's, sequences 1–last) is named and counted once, then the ends it will never get.
    expect(lost).toEqual([
      `lost input: stream ${stream} discarded sequences 1–${lastSequence} (${lastSequence} messages of all its subjects, which it no longer tells apart) before ${name}.customers-0 read them, ` +
        `under its limits (max age, max bytes), so the events of those on ${stream}.customers.0 are missing from the output; going on from sequence ${lastSequence + 1}. ` +
        "To keep unread messages: raise nats.maxAge / nats.maxBytes (or the stream's own limits), or keep workers running and caught up",
      `lost input: the end records of events-0, events-1 (their drains ended) are no longer in stream ${stream}, which discarded them before ${name}.customers-0 read them, ` +
        "under its limits (max age, max bytes), so what events-0, events-1 forwarded that this task had not read is missing from the output; ending the drain without them. " +
        "To keep unread messages: raise nats.maxAge / nats.maxBytes (or the stream's own limits), or keep workers running and caught up",
    ]);
    const counted = (await metrics.streamMessagesDiscarded.get()).values.map(({ labels, value }) => [labels.task, value]);
    expect(Object.fromEntries(counted)).toMatchObject({ "customers-0": lastSequence });

    // Its checkpoint holds the ends: a third drain has nothing to do and reports nothing.
    const third = await runPartitionedWorker({ config: limited, drain: true, metrics: new Metrics(), workerId: "third", log: (line) => logs.push(line) });
    expect([third.discarded, third.tasks]).toEqual([0, []]);
  });

  it("a customers task's drain whose look at discarded end records NATS leaves unanswered fails after the retry limit, naming the end records, instead of waiting for ever", { timeout: 60_000 }, async () => {
    const stream = newStream();
    const name = `zzretunans${Date.now().toString(36)}`;
    const out = join(scratch.directory, name);
    const config = pipeline(stream, ["partitions: 2"], out, name, ["sessionize", "basket"]);
    await ensureStream(scratch.manager, stream, streamOptions(config.nats));
    // One event on each events subject (sequences 1 and 2): the drain's targets. No events task runs, so no end record
    // comes, and customers-0 has read its (empty) subject: each second it asks whether those records were discarded.
    const js = jetstream(scratch.connection);
    for (const partition of [0, 1]) {
      await js.publish(eventsSubject(stream, partition), JSON.stringify({ type: "page_view", ts: Date.parse("2026-04-01T00:00:00Z"), anon_id: `p${partition}`, url: "/" }));
    }
    const plan = planTasks(config).find((candidate) => candidate.kind === "customers")!;
    const store = await openCheckpointStore("directory", { sinkPath: out, pipelineName: taskCheckpointName(name, plan), connection: scratch.connection });
    const lock = (await store.acquireLock({ workerId: "unanswered" }))!;
    // Whether an events task drained is a request to NATS (its marker in the lease bucket): here one nobody answers, a
    // real "no responders" from the server, as while the bucket's stream has no leader.
    let asked = 0;
    const sourceDrained = async () => {
      asked++;
      await scratch.connection.request(`zznobody.${stream}`, "", { timeout: 200 });
      return true;
    };
    const stop = new AbortController();
    const logs: string[] = [];
    const run = runWorker({
      config,
      drain: true,
      metrics: new Metrics(),
      workerId: "unanswered",
      signal: stop.signal,
      log: (line) => logs.push(line),
      natsRetryForMs: 2_000,
      task: { plan, lock, sourceDrained, drainTargets: [1, 2] },
    });
    const outcome = await Promise.race([run.then(() => "ended", (error: unknown) => error), new Promise((resolve) => setTimeout(() => resolve("still waiting"), 15_000))]);
    stop.abort();
    await run.catch(() => undefined);
    await lock.release();
    expect(asked, logs.join("\n")).toBeGreaterThan(1);
    // Before: every unanswered check was passed over, and the drain waited for ever without saying why.
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toBe(
      `${name}.customers-0: looking whether stream ${stream} discarded the end records of events-0, events-1 that its drain waits for: ` +
        `NATS did not answer for 2 s (no responders: 'zznobody.${stream}')`,
    );
  });

  it("a reader of every subject reports each run of sequences the stream discarded while it read, once, and delivers the rest", async () => {
    const stream = newStream();
    await ensureStream(scratch.manager, stream);
    const info = await scratch.manager.streams.info(stream);
    // A limit set by hand, as an operator might: the stream keeps its last 5 messages.
    await scratch.manager.streams.update(stream, { ...info.config, max_msgs: 5 });
    const js = jetstream(scratch.connection);
    const subject = eventsSubject(stream, 0);
    for (let index = 1; index <= 3; index++) await js.publish(subject, `m${index}`);
    const discarded: DiscardedSequences[] = [];
    const reader = await StreamReader.open(js, stream, { startSequence: 1, maxMessages: 1, onDiscarded: (range) => discarded.push(range) });
    const delivered: number[] = [];
    for await (const message of reader) {
      delivered.push(message.seq);
      // While the worker is at its first message, 10 more arrive: the stream keeps 9–13 of 1–13.
      if (message.seq === 1) for (let index = 4; index <= 13; index++) await js.publish(subject, `m${index}`);
      if (message.seq === 13) break;
    }
    await reader.close();
    // Whatever the consumer had fetched before the discard was delivered; every other sequence was reported, once.
    const reported = discarded.flatMap(({ from, to }) => Array.from({ length: to - from + 1 }, (_, index) => from + index));
    expect([...delivered, ...reported].sort((a, b) => a - b)).toEqual(Array.from({ length: 13 }, (_, index) => index + 1));
    expect(reported.length).toBeGreaterThan(0);
    expect(delivered.slice(-5)).toEqual([9, 10, 11, 12, 13]);
    expect(discarded.every((range) => range.exact)).toBe(true);
  });

  it("a drain ends when the stream discards the rest of what it was to read while it reads", { timeout: 30_000 }, async () => {
    const stream = newStream();
    await ensureStream(scratch.manager, stream);
    const js = jetstream(scratch.connection);
    const subject = eventsSubject(stream, 0);
    for (let index = 1; index <= 3; index++) await js.publish(subject, `m${index}`);
    const discarded: DiscardedSequences[] = [];
    const reader = await StreamReader.open(js, stream, { startSequence: 1, maxMessages: 1, expiresMs: 1000, drainUntil: true, onDiscarded: (range) => discarded.push(range) });
    const delivered: number[] = [];
    const drained = (async () => {
      for await (const message of reader) {
        delivered.push(message.seq);
        // While the drain is at its first message, the stream's limits take every message (a purge does the same).
        if (message.seq === 1) await scratch.manager.streams.purge(stream);
      }
      return "ended";
    })();
    const outcome = await Promise.race([drained, new Promise((resolve) => setTimeout(() => resolve("still waiting"), 15_000))]);
    await reader.close();
    expect(outcome).toBe("ended");
    const reported = discarded.flatMap(({ from, to }) => Array.from({ length: to - from + 1 }, (_, index) => from + index));
    expect([...delivered, ...reported].sort((a, b) => a - b)).toEqual([1, 2, 3]);
  });
});
