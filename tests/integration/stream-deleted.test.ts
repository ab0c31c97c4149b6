// A live `clickpipe run` whose stream is deleted while it runs: it says so, commits what it read and exits 1 (it used
// to wait for ever at its old sequence and, once the stream was created again, skip the new stream's first messages).
// A restart reads the recreated stream from its start: every session of both phases is in the lake once (DuckDB).
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { cliScratchEachTest, runCli, spawnCli, type CliProcess } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { waitForValue } from "../helpers/wait-for.ts";
import { lakeRows } from "./crash-harness.ts";

/** Three page views for each of `visitors` visitors named `<phase>-<n>`, on 2026-01-05, minutes apart (one session each). */
function phaseLines(phase: string, visitors: number): string[] {
  const lines: string[] = [];
  for (let visitor = 0; visitor < visitors; visitor++) {
    for (let view = 0; view < 3; view++) {
      const ts = new Date(Date.UTC(2026, 0, 5, 10, visitor, view * 10)).toISOString();
      lines.push(JSON.stringify({ type: "page_view", ts, anon_id: `${phase}-${visitor}`, url: `/p/${view}` }));
    }
  }
  return lines;
}

/** visitor_id → event_count of the lake's sessions, one entry per row (a repeated visitor shows as a repeated entry). */
async function sessionsOf(out: string): Promise<string[]> {
  const rows = (await lakeRows(out).catch(() => ({}) as Record<string, string[]>)).sessions ?? [];
  return rows.map((row) => JSON.parse(row) as { visitor_id: string; event_count: number }).map(({ visitor_id, event_count }) => `${visitor_id}:${event_count}`).sort();
}

/** One session-only pipeline on `stream`, its lake in `<directory>/lake`; `publish` sends a phase's lines through it. */
async function sessionsPipeline(
  directory: string,
  natsUrl: string,
  stream: string,
  interval: string,
  partitions?: number,
  store?: { kv: string },
  customerStage = false,
) {
  const out = join(directory, "lake");
  const file = join(directory, "gone.yaml");
  await writeFile(
    file,
    [
      `name: ${store?.kv ?? "gone"}`,
      "nats:",
      `  url: ${natsUrl}`,
      `  stream: ${stream}`,
      ...(partitions === undefined ? [] : [`  partitions: ${partitions}`]),
      "operators:",
      "  - type: sessionize",
      "    gap: 30m",
      // A customer-keyed operator: the events tasks forward records to the customer stage at each commit.
      ...(customerStage ? ["  - type: churnFeatures", "    snapshotEvery: 1d", "    outOfOrderness: 1m", "    allowedLateness: 1h"] : []),
      "sinks:",
      "  - type: parquet",
      `    path: ${out}`,
      "checkpoint:",
      `  interval: ${interval}`,
      ...(store === undefined ? [] : ["  store: kv"]),
    ].join("\n") + "\n",
  );
  const publish = async (phase: string, extra: string[] = []) => {
    const input = join(directory, `${phase}.ndjson`);
    await writeFile(input, [...phaseLines(phase, 20), ...extra].join("\n") + "\n");
    const published = await runCli(["publish", input, "--pipeline", file]);
    expect(published.code, published.stderr).toBe(0);
  };
  return { out, file, publish };
}

/**
 * A day after the phases' events: its watermark closes their sessions, which are then committed. Its own session is
 * still open when the stream goes, and a worker starting on another stream starts with empty state: it is not expected.
 */
const CLOCK_LINE = JSON.stringify({ type: "page_view", ts: "2026-01-06T12:00:00.000Z", anon_id: "clock", url: "/clock" });

const expected = (phase: string) => Array.from({ length: 20 }, (_, visitor) => `${phase}-${visitor}:3`);

async function deleteStream(natsUrl: string, stream: string): Promise<void> {
  const connection = await connect({ servers: natsUrl });
  try {
    await (await jetstreamManager(connection)).streams.delete(stream);
  } finally {
    await connection.close();
  }
}

/** The worker's exit, or undefined when it still runs after `ms`. */
async function exitWithin(worker: CliProcess, ms: number): Promise<{ code: number | null; output: string } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([worker.exited, late]).finally(() => clearTimeout(timer));
}

describe("stream deleted", () => {
  const natsUrl = inject("natsUrl");
  const scratch = cliScratchEachTest("clickpipe-stream-deleted-");

  it("stream deleted - a live worker says so, commits what it read and exits 1; its restart reads the recreated stream from its start", async () => {
    const directory = await scratch.folder();
    const stream = uniqueStreamName("GONE");
    const { out, file, publish } = await sessionsPipeline(directory, natsUrl, stream, "200ms");
    const worker = scratch.track(spawnCli(["run", file]));
    expect(await worker.printed(/starting gone at/)).toBe(true);
    await publish("first", [CLOCK_LINE]);
    await waitForValue("the first phase's sessions in the lake", () => sessionsOf(out), (sessions) => sessions.length >= 20, 60_000);

    await deleteStream(natsUrl, stream);
    const ended = await exitWithin(worker, 30_000);
    expect(ended, `still running 30 s after its stream was deleted:\n${worker.output()}`).toBeDefined();
    expect(ended!.code).toBe(1);
    expect(ended!.output).toMatch(
      new RegExp(`^clickpipe run: stream ${stream} was deleted while gone was reading it: committed what it read \\(through sequence \\d+, epoch \\d+\\) and stopping`, "m"),
    );

    await publish("second");
    const restarted = await runCli(["run", file, "--drain"]);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stderr).toContain(`starting ${stream} from its first message`);
    expect(await sessionsOf(out)).toEqual([...expected("first"), ...expected("second")].sort());
  });

  it("stream deleted - a worker whose stream is created again before it notices reads none of the new stream's messages at its old position", async () => {
    const directory = await scratch.folder();
    const stream = uniqueStreamName("GONE");
    // A checkpoint interval longer than the test: the reader's own check, not the worker's periodic one, must notice.
    const { out, file, publish } = await sessionsPipeline(directory, natsUrl, stream, "10m");
    const worker = scratch.track(spawnCli(["run", file]));
    expect(await worker.printed(/starting gone at/)).toBe(true);
    await publish("first", [CLOCK_LINE]);
    const connection = await connect({ servers: natsUrl });
    try {
      const manager = await jetstreamManager(connection);
      const last = (await manager.streams.info(stream)).state.last_seq;
      const delivered = async () => {
        for await (const consumer of manager.consumers.list(stream)) if (consumer.delivered.stream_seq >= last) return true;
        return false;
      };
      await waitForValue("the worker's consumer at the first phase's last message", delivered, (done) => done, 30_000);
    } finally {
      await connection.close();
    }

    await deleteStream(natsUrl, stream);
    // Three messages in the new stream: the old position + 1 is among them.
    for (const part of ["second", "third", "fourth"]) await publish(part);
    const ended = await exitWithin(worker, 30_000);
    expect(ended, `still running 30 s after its stream was deleted:\n${worker.output()}`).toBeDefined();
    expect(ended!.code).toBe(1);
    expect(ended!.output).toMatch(new RegExp(`^clickpipe run: stream ${stream} was deleted( and created again \\(now created [^)]+\\))? while gone was reading it`, "m"));

    const restarted = await runCli(["run", file, "--drain"]);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(await sessionsOf(out)).toEqual([...expected("first"), ...expected("second"), ...expected("third"), ...expected("fourth")].sort());
  });

  it("stream deleted - a partitioned worker stops every task, says so once and exits 1; its restart reads the recreated stream from its start", async () => {
    const directory = await scratch.folder();
    const stream = uniqueStreamName("GONE");
    const { out, file, publish } = await sessionsPipeline(directory, natsUrl, stream, "200ms", 3);
    const worker = scratch.track(spawnCli(["run", file]));
    expect(await worker.printed(/ runs /)).toBe(true);
    // A clock on every partition (each task's watermark is its own).
    const clocks = Array.from({ length: 12 }, (_, index) => CLOCK_LINE.replace('"clock"', `"clock-${index}"`));
    await publish("first", clocks);
    await waitForValue("the first phase's sessions in the lake", () => sessionsOf(out), (sessions) => sessions.length >= 20, 60_000);

    await deleteStream(natsUrl, stream);
    const ended = await exitWithin(worker, 30_000);
    expect(ended, `still running 30 s after its stream was deleted:\n${worker.output()}`).toBeDefined();
    expect(ended!.code, ended!.output).toBe(1);
    // One line for the stream, not one stack per task.
    expect(ended!.output.match(new RegExp(`stream ${stream} was deleted`, "g")), ended!.output).toHaveLength(1);
    expect(ended!.output).not.toMatch(/StreamGoneError|^\s+at /m);

    await publish("second");
    const restarted = await runCli(["run", file, "--drain"]);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(await sessionsOf(out)).toEqual([...expected("first"), ...expected("second")].sort());
  });

  it("stream deleted - with checkpoint.store: kv (its bucket remains), the restart reads the recreated stream from its start", async () => {
    const directory = await scratch.folder();
    const stream = uniqueStreamName("GONE");
    // Named after a unique name, so that the teardown deletes its bucket too.
    const name = uniqueStreamName("GONEKV").toLowerCase();
    const { out, file, publish } = await sessionsPipeline(directory, natsUrl, stream, "200ms", undefined, { kv: name });
    const worker = scratch.track(spawnCli(["run", file]));
    expect(await worker.printed(new RegExp(`starting ${name} at`))).toBe(true);
    await publish("first", [CLOCK_LINE]);
    await waitForValue("the first phase's sessions in the lake", () => sessionsOf(out), (sessions) => sessions.length >= 20, 60_000);

    await deleteStream(natsUrl, stream);
    const ended = await exitWithin(worker, 30_000);
    expect(ended, `still running 30 s after its stream was deleted:\n${worker.output()}`).toBeDefined();
    expect(ended!.code, ended!.output).toBe(1);
    expect(ended!.output).toMatch(new RegExp(`^clickpipe run: stream ${stream} was deleted while ${name} was reading it`, "m"));

    await publish("second");
    const restarted = await runCli(["run", file, "--drain"]);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stderr).toContain(`starting ${stream} from its first message`);
    expect(await sessionsOf(out)).toEqual([...expected("first"), ...expected("second")].sort());
  });

  it("stream deleted - partitioned events tasks whose last commit cannot forward to the gone stream stop with the one line, no stacks", async () => {
    const directory = await scratch.folder();
    const stream = uniqueStreamName("GONE");
    // A long interval: the first phase's records for the customer stage are still to forward when the stream goes.
    const { file, publish } = await sessionsPipeline(directory, natsUrl, stream, "10m", 2, undefined, true);
    const worker = scratch.track(spawnCli(["run", file]));
    expect(await worker.printed(/starting gone\.events-1 at/)).toBe(true);
    expect(await worker.printed(/starting gone\.events-0 at/)).toBe(true);
    await publish("first");
    const connection = await connect({ servers: natsUrl });
    try {
      const manager = await jetstreamManager(connection);
      const last = (await manager.streams.info(stream)).state.last_seq;
      const delivered = async () => {
        let through = 0;
        for await (const consumer of manager.consumers.list(stream)) through = Math.max(through, consumer.delivered.stream_seq);
        return through >= last;
      };
      await waitForValue("a worker's consumer at the first phase's last message", delivered, (done) => done, 30_000);
    } finally {
      await connection.close();
    }

    await deleteStream(natsUrl, stream);
    const ended = await exitWithin(worker, 30_000);
    expect(ended, `still running 30 s after its stream was deleted:\n${worker.output()}`).toBeDefined();
    expect(ended!.code, ended!.output).toBe(1);
    expect(ended!.output.match(new RegExp(`^clickpipe run: stream ${stream} was deleted`, "gm")), ended!.output).toHaveLength(1);
    expect(ended!.output, ended!.output).not.toMatch(/^\s+at |JetStreamNotEnabled|failed: /m);
  });
});
