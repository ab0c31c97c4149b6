// The accessLog source's `instance` on a real nats-server: tailers of the same configured path in one state folder (as
// hosts sharing a sink path have) each read under an instance of their own, and JetStream stores every batch of each;
// two of one instance share its claim; without an instance the position file keeps the name it always had.
import { createHash } from "node:crypto";
import { appendFile, mkdtemp, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { pipelineSchema, type PipelineConfig } from "../../src/config/pipeline.ts";
import { createAccessLogTailer, type AccessLogSourceConfig } from "../../src/ingest/access-log-tailer.ts";
import type { Source } from "../../src/ingest/source.ts";
import { TailPositionStore } from "../../src/ingest/tailer-position.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { accessLogLine, accessLogText } from "../helpers/access-log-lines.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { countStreamContent } from "../helpers/stream-content.ts";
import { waitFor } from "../helpers/wait-for.ts";

const line = (n: number) => accessLogLine(n, "instance-test");
const linesOf = (from: number, to: number) => accessLogText(from, to, line);

/** The Nats-Msg-Id of every message in `stream`. */
async function messageIds(connection: NatsConnection, stream: string): Promise<string[]> {
  const manager = await jetstreamManager(connection);
  const { state } = await manager.streams.info(stream);
  const ids: string[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    ids.push((await manager.streams.getMessage(stream, { seq }))!.header!.get("Nats-Msg-Id"));
  }
  return ids;
}

describe("access log tailer - instance", () => {
  const natsUrl = inject("natsUrl");
  let connection: NatsConnection;
  let directory: string;
  let logPath: string;
  let stateDirectory: string;
  const running: Source[] = [];
  let logLines: string[];

  const pipelineOf = (stream: string): PipelineConfig =>
    pipelineSchema.parse({ name: "instances", nats: { url: natsUrl, stream }, ingest: { pages: "all" }, sinks: [{ type: "parquet", path: join(directory, "out") }] });

  /** A tailer of `logPath` as one worker runs it (its own registry), with `instance` when given. */
  async function startTailer(pipeline: PipelineConfig, instance: string | undefined, metrics = new Metrics()): Promise<Source> {
    const config: AccessLogSourceConfig = { type: "accessLog", paths: [logPath], format: "combined", pollInterval: 50, ...(instance === undefined ? {} : { instance }) };
    const source = createAccessLogTailer(config, { pipeline, connection, metrics, stateDirectory, log: (text) => logLines.push(text), place: "sources[0]" });
    await source.start();
    running.push(source);
    return source;
  }

  /** The position of `instance` (none: the tailer without one) has reached the end of the log. */
  const caughtUp = async (instance: string | undefined) => {
    const store = new TailPositionStore(stateDirectory, instance);
    const { size } = await stat(logPath);
    await waitFor(`${instance ?? "the tailer without instance"} to reach byte ${size}`, async () => (await store.load(logPath))?.offset === size, 15_000, 25);
  };

  const claimSamples = async (metrics: Metrics) =>
    (await metrics.registry.getSingleMetric("clickpipe_source_claims")!.get()).values.map(({ labels, value }) => `${labels.place} ${labels.state} ${value}`).sort();

  beforeAll(async () => {
    connection = await connectNats({ url: natsUrl });
  });

  afterAll(async () => {
    await connection?.drain();
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((source) => source.stop()));
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  async function scratch(): Promise<void> {
    directory = await mkdtemp(join(tmpdir(), "zztail-instances-"));
    logPath = join(directory, "access.log");
    stateDirectory = join(directory, "out", "_checkpoints", "instances", "sources", "0-accessLog");
    logLines = [];
  }

  it("two instances of one path both read it, and the stream keeps every batch of each: no id is shared", async () => {
    await scratch();
    const stream = uniqueStreamName("ZZTAIL");
    const pipeline = pipelineOf(stream);
    // One file stands for two hosts' logs at the same path that share device, inode and first line (machines cloned
    // from one image): the case where ids derived from the file alone would collide.
    await writeFile(logPath, `${linesOf(0, 120)}not a log line\n`);
    const web1 = new Metrics();
    const web2 = new Metrics();
    await startTailer(pipeline, "web-1", web1);
    await startTailer(pipeline, "Web-2", web2);
    await caughtUp("web-1");
    await caughtUp("web-2");
    await appendFile(logPath, linesOf(120, 200));
    await caughtUp("web-1");
    await caughtUp("web-2");

    expect(logLines.filter((text) => text.includes("standing by"))).toEqual([]);
    expect(await claimSamples(web1)).toEqual(["sources[0]@web-1 active 1", "sources[0]@web-1 standby 0"]);
    expect(await claimSamples(web2)).toEqual(["sources[0]@web-2 active 1", "sources[0]@web-2 standby 0"]);
    expect((await readdir(stateDirectory)).filter((name) => name.endsWith(".json")).sort()).toEqual([
      expect.stringMatching(/^access-log-[0-9a-f]{16}@web-1\.json$/),
      expect.stringMatching(/^access-log-[0-9a-f]{16}@web-2\.json$/),
    ]);

    // The oracle: each of the 200 lines (and the dead letter) stored once per instance.
    const counts = await countStreamContent(natsUrl, stream, (event) => event.url as string);
    const expected = new Map<string, number>([...Array.from({ length: 200 }, (_, n) => [`/page/${n}`, 2] as const), ["not a log line", 2]]);
    expect(counts).toEqual(expected);
    const ids = await messageIds(connection, stream);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id.startsWith("tail@web-1:")).length).toBe(ids.length / 2);
    expect(ids.filter((id) => id.startsWith("tail@web-2:")).length).toBe(ids.length / 2);
  });

  it("two tailers of one instance share its claim: one reads, the other stands by and takes over, each line once", async () => {
    await scratch();
    const stream = uniqueStreamName("ZZTAIL");
    const pipeline = pipelineOf(stream);
    await writeFile(logPath, linesOf(0, 50));
    const first = await startTailer(pipeline, "web-1");
    await caughtUp("web-1");
    const standbyMetrics = new Metrics();
    await startTailer(pipeline, "WEB-1", standbyMetrics);
    expect(logLines.filter((text) => text.includes("standing by"))).toEqual([
      expect.stringMatching(/^access log .*access\.log: standing by: worker .* holds .*access-log-[0-9a-f]{16}@web-1\.json\.lock$/),
    ]);
    expect(await claimSamples(standbyMetrics)).toEqual(["sources[0]@web-1 active 0", "sources[0]@web-1 standby 1"]);
    await appendFile(logPath, linesOf(50, 80));
    await caughtUp("web-1");

    await first.stop();
    running.splice(running.indexOf(first), 1);
    await appendFile(logPath, linesOf(80, 120));
    await caughtUp("web-1");
    expect(logLines.some((text) => /took over .*@web-1\.json\.lock; resuming from the saved position/.test(text))).toBe(true);
    const counts = await countStreamContent(natsUrl, stream, (event) => event.url as string);
    expect(counts).toEqual(new Map(Array.from({ length: 120 }, (_, n) => [`/page/${n}`, 1])));
  });

  it("without an instance the position file keeps its name and a restarted tailer resumes from it; an instance added later starts from the log's start unless the file is renamed to it", async () => {
    await scratch();
    const stream = uniqueStreamName("ZZTAIL");
    const pipeline = pipelineOf(stream);
    await writeFile(logPath, linesOf(0, 60));
    const first = await startTailer(pipeline, undefined);
    await caughtUp(undefined);
    await first.stop();
    running.splice(running.indexOf(first), 1);
    // The name every earlier version gave it, so an upgraded worker finds its saved position.
    const legacyName = `access-log-${createHash("sha256").update(logPath).digest("hex").slice(0, 16)}.json`;
    expect((await readdir(stateDirectory)).filter((name) => name.endsWith(".json"))).toEqual([legacyName]);

    await appendFile(logPath, linesOf(60, 90));
    const second = await startTailer(pipeline, undefined);
    await caughtUp(undefined);
    await second.stop();
    running.splice(running.indexOf(second), 1);
    expect(await countStreamContent(natsUrl, stream, (event) => event.url as string)).toEqual(new Map(Array.from({ length: 90 }, (_, n) => [`/page/${n}`, 1])));

    // A fresh position: the file at the path from its start (its lines come again, under the instance's batch ids).
    await startTailer(pipeline, "web-1");
    await caughtUp("web-1");
    expect(await countStreamContent(natsUrl, stream, (event) => event.url as string)).toEqual(new Map(Array.from({ length: 90 }, (_, n) => [`/page/${n}`, 2])));

    // The README's way to keep a position when adding an instance: rename the stopped tailer's file to the instance's.
    await rename(join(stateDirectory, legacyName), new TailPositionStore(stateDirectory, "web-2").fileOf(logPath));
    await appendFile(logPath, linesOf(90, 100));
    await startTailer(pipeline, "web-2");
    await caughtUp("web-2");
    await caughtUp("web-1");
    // Lines 0-89: the tailer without instance and web-1; 90-99: web-1 and web-2, which went on from the saved position.
    expect(await countStreamContent(natsUrl, stream, (event) => event.url as string)).toEqual(new Map(Array.from({ length: 100 }, (_, n) => [`/page/${n}`, 2])));
  });
});
