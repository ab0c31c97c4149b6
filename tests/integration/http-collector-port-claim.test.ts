// The HTTP collector's claim on its port (PortClaim), in one process against a real nats-server: a second collector of
// the same source on the same port stands by and takes the port over on a clean stop; a collector whose claim another
// worker took over closes its port, stands by, and listens again once that claim goes stale.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { httpSource, pipelineSchema } from "../../src/config/pipeline.ts";
import { createHttpCollector, type HttpCollector } from "../../src/ingest/http-collector.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import type { LockHolder } from "../../src/runtime/lock-file.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { freePort } from "../../src/transport/local-server.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

let nc: NatsConnection;
let directory: string;
const running: HttpCollector[] = [];
const streams: string[] = [];
const staleBefore = process.env.CLICKPIPE_LOCK_STALE_MS;

beforeAll(async () => {
  nc = await connectNats({ url: inject("natsUrl"), name: "port-claim-test" });
  directory = await mkdtemp(join(tmpdir(), "clickpipe-port-claim-"));
});

afterEach(async () => {
  while (running.length > 0) await running.pop()!.stop();
  if (staleBefore === undefined) delete process.env.CLICKPIPE_LOCK_STALE_MS;
  else process.env.CLICKPIPE_LOCK_STALE_MS = staleBefore;
});

afterAll(async () => {
  const jsm = await jetstreamManager(nc);
  for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
  await nc?.close();
  await rm(directory, { recursive: true, force: true });
});

async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function answers(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
  } catch {
    return false;
  }
}

function collector(port: number, stateDirectory: string, stream: string, workerId: string, logs: string[]): HttpCollector {
  const config = pipelineSchema.parse({ name: "port-claim", nats: { url: inject("natsUrl"), stream }, sinks: [{ type: "parquet", path: directory }] });
  const source = httpSource.parse({ type: "http", port, host: "127.0.0.1", writeKeys: ["k"] });
  const made = createHttpCollector(source, {
    pipeline: config,
    connection: nc,
    metrics: new Metrics(),
    stateDirectory,
    log: (line) => logs.push(line),
    workerId,
    place: "sources[0]",
  });
  running.push(made);
  return made;
}

describe("HTTP collector: its claim on the port", () => {
  it("a second collector of the source stands by and takes the port over when the first stops", async () => {
    const [port, stream] = [await freePort(), uniqueStreamName("PORTCLAIM")];
    streams.push(stream);
    const state = join(directory, "handover");
    const [logsA, logsB] = [[] as string[], [] as string[]];
    const a = collector(port, state, stream, "a", logsA);
    await a.start();
    const b = collector(port, state, stream, "b", logsB);
    await b.start();
    const lockFile = join(state, `port-${port}@${hostname()}.lock`);
    expect(logsB).toEqual([
      `sources[0] (http): standing by: worker a (pid ${process.pid} on ${hostname()}) holds ${lockFile} (port ${port}); retrying every second`,
    ]);
    expect(await answers(port)).toBe(true);

    await a.stop();
    await waitFor("b to listen", () => logsB.some((line) => line.startsWith("http collector listening")));
    expect(logsB.slice(1)).toEqual([
      `sources[0] (http): took over ${lockFile}`,
      `http collector listening on http://127.0.0.1:${port} (stream ${stream})`,
    ]);
    expect(await answers(port)).toBe(true);
    expect((JSON.parse(await readFile(lockFile, "utf8")) as LockHolder).workerId).toBe("b");
  });

  it("a collector whose claim was taken over closes its port and listens again once that claim is stale", async () => {
    process.env.CLICKPIPE_LOCK_STALE_MS = "600";
    const [port, stream] = [await freePort(), uniqueStreamName("PORTCLAIM")];
    streams.push(stream);
    const state = join(directory, "lost");
    const logs: string[] = [];
    const a = collector(port, state, stream, "a", logs);
    await a.start();
    const lockFile = join(state, `port-${port}@${hostname()}.lock`);
    // Another live worker on this host (the test's parent process) took the claim over.
    const other: LockHolder = { workerId: "z", token: "other", pid: process.ppid, host: hostname(), acquiredAt: Date.now() };
    await writeFile(lockFile, JSON.stringify(other));
    await waitFor("a to close its port", async () => !(await answers(port)));
    expect(logs[1]).toBe(`sources[0] (http): lost ${lockFile} to worker z (pid ${process.ppid} on ${hostname()}); closing port ${port} and standing by`);
    // z sends no heartbeat: after 600 ms its claim is stale and a takes the port back (at its first try, 1 s later).
    await waitFor("a to listen again", () => logs.filter((line) => line.startsWith("http collector listening")).length === 2);
    expect(logs.slice(2)).toEqual([
      `sources[0] (http): took over ${lockFile}`,
      `http collector listening on http://127.0.0.1:${port} (stream ${stream})`,
    ]);
    expect(await answers(port)).toBe(true);
  });
});
