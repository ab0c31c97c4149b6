// A file published again after the stream's duplicate window: its bad lines reach invalid_events once, across kill -9
// of the worker; a collector's identical bad requests stay one row each.
import { DuckDBInstance } from "@duckdb/node-api";
import { jetstreamManager } from "@nats-io/jetstream";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parsePipelineText } from "../../src/config/load.ts";
import { httpSource } from "../../src/config/pipeline.ts";
import { createHttpCollector } from "../../src/ingest/http-collector.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { runWorker } from "../../src/runtime/worker.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { dlqSubject } from "../../src/transport/subjects.ts";
import { accessLogLine } from "../helpers/access-log-lines.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { parseExposition, sampleValue } from "../metrics/exposition.ts";
import { drainWithKills, sleep } from "./crash-harness.ts";

/** invalid_events' raw and received_at, raws sorted. */
async function invalidRows(out: string): Promise<{ raws: string[]; latestReceivedAt: number }> {
  const instance = await DuckDBInstance.create(":memory:");
  const db = await instance.connect();
  try {
    const source = `read_parquet('${out}/invalid_events/**/*.parquet')`;
    const raws = (await db.runAndReadAll(`SELECT raw FROM ${source}`)).getRowObjectsJson().map((row) => String(row.raw));
    const latest = (await db.runAndReadAll(`SELECT epoch_ms(max(received_at))::DOUBLE AS t FROM ${source}`)).getRowObjectsJson()[0].t;
    return { raws: raws.sort(), latestReceivedAt: Number(latest) };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

/** Resolves once a checkpoint of an epoch above `epoch` exists in `directory`, or the worker exited. */
async function committedPast(directory: string, epoch: number, exited: Promise<unknown>): Promise<void> {
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    const names = await readdir(directory).catch(() => [] as string[]);
    if (names.some((name) => Number(/^checkpoint-(\d+)\.json$/.exec(name)?.[1] ?? 0) > epoch)) return;
    await sleep(10);
  }
}

describe("dead letters sent again after the duplicate window", () => {
  const natsUrl = inject("natsUrl");
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-dlq-ids-"));
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("writes each bad line of a file published again once, across kill -9 of the worker", { timeout: 180_000 }, async () => {
    const stream = uniqueStreamName("DLQIDS");
    const out = join(directory, "lake");
    const pipelineFile = join(directory, "dlq-ids.yaml");
    await writeFile(
      pipelineFile,
      [
        "name: dlqids",
        `nats: { url: "${natsUrl}", stream: ${stream}, duplicateWindow: 1s }`,
        "operators:",
        "  - { type: sessionize }",
        "sinks:",
        `  - { type: parquet, path: "${out}" }`,
        "checkpoint: { interval: 50ms }",
      ].join("\n") + "\n",
    );
    // NDJSON: 9,000 bad lines among good ones, 50 texts repeated at other line numbers (each a record of its own).
    const ndjson: string[] = [];
    const expected: string[] = [];
    for (let n = 0; n < 12_000; n++) {
      if (n % 4 === 3) {
        ndjson.push(JSON.stringify({ type: "page_view", ts: Date.UTC(2026, 2, 1, 10, 0, n % 60), anon_id: `v${n % 100}`, url: `/p/${n}` }));
      } else {
        const bad = n % 8 === 0 ? JSON.stringify({ type: "page_view", anon_id: `v${n}`, url: "/no-ts" }) : `not json ${n % 50}`;
        ndjson.push(bad);
        expected.push(bad);
      }
    }
    // An access log: 200 bad lines among 200 good ones.
    const accessLog: string[] = [];
    for (let n = 0; n < 400; n++) {
      if (n % 2 === 0) {
        accessLog.push(accessLogLine(n, "dlq-ids"));
      } else {
        accessLog.push(`log garbage ${n % 20}`);
        expected.push(`log garbage ${n % 20}`);
      }
    }
    const ndjsonFile = join(directory, "input.ndjson");
    const logFile = join(directory, "access.log");
    await writeFile(ndjsonFile, ndjson.join("\n") + "\n");
    await writeFile(logFile, accessLog.join("\n") + "\n");
    const publish = async () => {
      const outputs: string[] = [];
      for (const args of [[ndjsonFile], [logFile, "--format", "combined"]]) {
        const published = await runCli(["publish", ...args, "--pipeline", pipelineFile]);
        expect(published.code, published.stderr).toBe(0);
        outputs.push(published.stdout + published.stderr);
      }
      return outputs.join("\n");
    };
    await publish();
    const drained = await runCli(["run", pipelineFile, "--drain"]);
    expect(drained.code, drained.stderr).toBe(0);
    expect((await invalidRows(out)).raws).toEqual([...expected].sort());

    const connection = await connectNats({ url: natsUrl });
    const dlqMessages = async () => {
      const info = await (await jetstreamManager(connection)).streams.info(stream, { subjects_filter: dlqSubject(stream) });
      return info.state.subjects?.[dlqSubject(stream)] ?? 0;
    };
    try {
      const firstCopies = await dlqMessages();
      expect(firstCopies).toBeGreaterThan(1);
      // Published again until JetStream stores all of it again: the 1 s window has passed since the first run.
      const republishedFrom = Date.now();
      while ((await publish()).includes("already in the stream")) await sleep(200);
      expect(await dlqMessages()).toBeGreaterThanOrEqual(2 * firstCopies);

      // The second drain killed right after it committed a checkpoint of its own, twice, then left to finish.
      const checkpoints = join(out, "_checkpoints", "dlqids");
      const { kills } = await drainWithKills(pipelineFile, 10, async (worker, kills) => {
        if (kills >= 2) return false;
        const claimed = Number(/\(epoch (\d+)\)/.exec(worker.output())![1]);
        await committedPast(checkpoints, claimed, worker.exited);
        return true;
      });
      expect(kills).toBeGreaterThanOrEqual(1);
      const { raws, latestReceivedAt } = await invalidRows(out);
      expect(raws.length).toBe(expected.length);
      expect(raws).toEqual([...expected].sort());
      // The rows are the first publish's letters, not the copies.
      expect(latestReceivedAt).toBeLessThan(republishedFrom);
    } finally {
      await connection.close();
    }
  });

  /** A pipeline with a 1 s duplicate window, as a file for `clickpipe publish` and as config for runWorker. */
  async function shortWindowPipeline(name: string, out: string) {
    const text = [
      `name: ${name}`,
      `nats: { url: "${natsUrl}", stream: ${uniqueStreamName(name.toUpperCase())}, duplicateWindow: 1s }`,
      "operators:",
      "  - { type: sessionize }",
      "sinks:",
      `  - { type: parquet, path: "${out}" }`,
    ].join("\n");
    const file = join(directory, `${name}.yaml`);
    await writeFile(file, text + "\n");
    const loaded = parsePipelineText(text, `${name}.yaml`, {});
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    return { file, config: loaded.config };
  }

  /** Parse threads even for a small file: the ids must not depend on which of publish's paths read it. */
  const threaded = { CLICKPIPE_PUBLISH_WORKER_MIN_BYTES: "0", CLICKPIPE_PUBLISH_THREADS: "2" };

  async function publishFile(file: string, pipelineFile: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<string> {
    const published = await runCli(["publish", file, "--pipeline", pipelineFile, ...args], env);
    expect(published.code, published.stderr).toBe(0);
    return published.stdout + published.stderr;
  }

  it("writes the same bad line at the same line number of two different files twice", { timeout: 60_000 }, async () => {
    // Daily exports of pretty-printed JSON: line 1 is "{" and line 3 "}," in each, yet each file's are its own rejects.
    const out = join(directory, "two-files-lake");
    const { file: pipelineFile, config } = await shortWindowPipeline("dlqfiles", out);
    const monday = join(directory, "monday.ndjson");
    const tuesday = join(directory, "tuesday.ndjson");
    await writeFile(monday, ["{", `  "type": "page_view", "day": "monday"`, "},"].join("\n") + "\n");
    await writeFile(tuesday, ["{", `  "type": "page_view", "day": "tuesday"`, "},"].join("\n") + "\n");
    // Access logs of two days, each with the same garbage line 2 (access-log parse threads for one of them).
    const mondayLog = join(directory, "monday.log");
    const tuesdayLog = join(directory, "tuesday.log");
    await writeFile(mondayLog, [accessLogLine(1, "monday"), "log garbage", accessLogLine(3, "monday")].join("\n") + "\n");
    await writeFile(tuesdayLog, [accessLogLine(1, "tuesday"), "log garbage", accessLogLine(3, "tuesday")].join("\n") + "\n");
    await publishFile(monday, pipelineFile);
    await publishFile(tuesday, pipelineFile, threaded);
    await publishFile(mondayLog, pipelineFile, {}, ["--format", "combined"]);
    await publishFile(tuesdayLog, pipelineFile, threaded, ["--format", "combined"]);
    await runWorker({ config, drain: true, metrics: new Metrics(), log: () => undefined });
    expect((await invalidRows(out)).raws).toEqual(
      ["{", "{", "},", "},", `  "type": "page_view", "day": "monday"`, `  "type": "page_view", "day": "tuesday"`, "log garbage", "log garbage"].sort(),
    );
  });

  it("counts the dead letters it skipped as copies in clickpipe_dead_letters_duplicate_total", { timeout: 60_000 }, async () => {
    const out = join(directory, "copies-lake");
    const { file: pipelineFile, config } = await shortWindowPipeline("dlqcopies", out);
    const input = join(directory, "copies.ndjson");
    await writeFile(input, ["not json 1", "not json 2", "not json 1"].join("\n") + "\n");
    await publishFile(input, pipelineFile);
    // Published again (on a parse thread this time) until JetStream stores it again: the 1 s window has passed.
    while ((await publishFile(input, pipelineFile, threaded)).includes("already in the stream")) await sleep(200);
    const metrics = new Metrics();
    await runWorker({ config, drain: true, metrics, log: () => undefined });
    expect((await invalidRows(out)).raws).toEqual(["not json 1", "not json 1", "not json 2"]);
    const samples = parseExposition(await metrics.registry.metrics());
    expect(sampleValue(samples, "clickpipe_dead_letters_duplicate_total")).toBe(3);
    expect(sampleValue(samples, 'clickpipe_events_invalid_total{reason="not_json"}')).toBe(3);
  });

  it("keeps two identical bad requests to the collector as two rows", async () => {
    const stream = uniqueStreamName("DLQHTTP");
    const out = join(directory, "http-lake");
    const loaded = parsePipelineText(
      [
        "name: dlqhttp",
        `nats: { url: "${natsUrl}", stream: ${stream}, duplicateWindow: 1s }`,
        "operators:",
        "  - { type: sessionize }",
        "sinks:",
        `  - { type: parquet, path: "${out}" }`,
      ].join("\n"),
      "dlqhttp.yaml",
      {},
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const connection = await connectNats(loaded.config.nats);
    const key = "wk_live_0123456789abcdef";
    const collector = createHttpCollector(
      httpSource.parse({ type: "http", port: 0, host: "127.0.0.1", writeKeys: [key] }),
      { pipeline: loaded.config, connection, metrics: new Metrics(), stateDirectory: directory, log: () => undefined },
    );
    try {
      await collector.start();
      for (let request = 0; request < 2; request++) {
        const response = await fetch(`http://127.0.0.1:${collector.address().port}/v1/events`, {
          method: "POST",
          headers: { "content-type": "application/x-ndjson", "x-write-key": key },
          body: `${JSON.stringify({ type: "page_view", ts: Date.UTC(2026, 2, 1), anon_id: "v", url: "/", event_id: "e1" })}\n{broken\n`,
        });
        expect(response.status).toBe(200);
      }
    } finally {
      await collector.stop();
      await connection.drain();
    }
    await runWorker({ config: loaded.config, drain: true, metrics: new Metrics(), log: () => undefined });
    expect((await invalidRows(out)).raws).toEqual(["{broken", "{broken"]);
  });
});
