// Two workers for one pipeline and stream: one runs, the other stands by; a paused zombie is fenced and leaves nothing behind.
import { jetstreamManager } from "@nats-io/jetstream";
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parsePipelineText } from "../../src/config/load.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { DirectoryCheckpointStore } from "../../src/runtime/checkpoint.ts";
import { runWorker } from "../../src/runtime/worker.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { freePort } from "../../src/transport/local-server.ts";
import { ensureStream } from "../../src/transport/stream.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { filesEndingWith, lakeRows, publishAndDrainBaseline, sleep, spawnWorker, writePipelineFile } from "./crash-harness.ts";

/** Whether 127.0.0.1:port can be bound now (the server bound to find out is closed again). */
async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (bound) await new Promise((resolve) => server.close(resolve));
  return bound;
}

describe("two workers for the same pipeline", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("FENCE");
  let directory: string;
  let expected: Record<string, string[]>;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-fencing-"));
    expected = (await publishAndDrainBaseline(directory, { name: "fence", natsUrl, stream, visitors: 1200, days: 4, seed: 57 })).rows;
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("runs one of two workers started together while the other stands by, and writes the single-worker tables", async () => {
    const out = join(directory, "pair");
    const file = await writePipelineFile(directory, { name: "fence", natsUrl, stream, out });
    const first = spawnWorker(file, ["--drain", "--worker-id", "first"]);
    const second = spawnWorker(file, ["--drain", "--worker-id", "second"]);
    const [a, b] = await Promise.all([first.exited, second.exited]);
    expect(a.code, a.output).toBe(0);
    expect(b.code, b.output).toBe(0);
    // Exactly one waited for the other's lock; it then found the stream drained and changed nothing.
    expect([a.output, b.output].filter((output) => output.includes("standing by: worker"))).toHaveLength(1);
    expect(await lakeRows(out)).toEqual(expected);
    expect(await filesEndingWith(out, [".inprogress", ".tmp"])).toEqual([]);
  });

  it("fences a paused worker whose lock was taken over: it stops with an error and none of its parts survive", async () => {
    const out = join(directory, "zombie");
    const file = await writePipelineFile(directory, { name: "fence", natsUrl, stream, out });
    const staleLock = { CLICKPIPE_LOCK_STALE_MS: "1500" };
    // A live worker: it keeps buffering rows between checkpoints, so when paused it holds uncommitted work.
    const zombie = spawnWorker(file, ["--worker-id", "zombie"], staleLock);
    await zombie.printed(/starting \S+ at \S+ sequence 1/);
    await sleep(1_500);
    zombie.child.kill("SIGSTOP");
    const successor = spawnWorker(file, ["--drain", "--worker-id", "successor"], staleLock);
    const took = await successor.exited;
    expect(took.code, took.output).toBe(0);
    // It took the lock over from the paused zombie (standing by first, unless its own start-up outlasted the stale
    // time on a loaded machine) and resumed from the zombie's claimed epoch.
    expect(took.output).toMatch(/resuming fence at \S+ sequence \d+ \(epoch ([2-9]|\d\d+)\)/);

    zombie.child.kill("SIGCONT");
    const fenced = await zombie.exited;
    expect(fenced.code, fenced.output).toBe(1);
    expect(fenced.output).toMatch(/fenced|lost the lock|is stale/);
    expect(await filesEndingWith(out, [".inprogress", ".tmp"])).toEqual([]);
    expect(await lakeRows(out)).toEqual(expected);
  });
});

describe("a worker that loses its lock before it opens its reader", () => {
  const natsUrl = inject("natsUrl");

  it("stops fenced on an idle stream and lets go of metrics.port, instead of reading on unaware", { timeout: 60_000 }, async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-fenced-early-"));
    const stream = uniqueStreamName("FENCEEARLY");
    const out = join(directory, "out");
    const metricsPort = await freePort();
    const loaded = parsePipelineText(
      [
        "name: early",
        `nats: { url: "${natsUrl}", stream: ${stream} }`,
        "operators:",
        "  - { type: sessionize, gap: 30m }",
        "sinks:",
        `  - { type: parquet, path: "${out}" }`,
        "checkpoint: { interval: 200ms }",
        `metrics: { port: ${metricsPort}, host: 127.0.0.1 }`,
      ].join("\n"),
      "early.yaml",
      {},
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    // An empty stream: nothing to read, so only the lost lock itself can stop the worker.
    const connection = await connectNats(loaded.config.nats);
    await ensureStream(await jetstreamManager(connection), stream);
    const lockFile = new DirectoryCheckpointStore(out, "early").lockFile;
    const usurper = { workerId: "usurper", token: "usurper-token", pid: 1, host: "elsewhere.example", acquiredAt: Date.now() };
    const controller = new AbortController();
    const logs: string[] = [];
    const log = (line: string) => {
      logs.push(line);
      // Logged just before the reader opens, after the epoch claim: the lock is taken over here, and the main thread
      // then stays busy past a heartbeat (every 50 ms at lockStaleAfterMs 200), which notices it before the reader opens.
      if (line.startsWith("starting early at ")) {
        writeFileSync(lockFile, JSON.stringify(usurper));
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150);
      }
    };
    let outcome: { error: unknown } | { summary: unknown } | undefined;
    const worker = runWorker({ config: loaded.config, workerId: "early", metrics: new Metrics(), lockStaleAfterMs: 200, signal: controller.signal, log }).then(
      (summary) => (outcome = { summary }),
      (error: unknown) => (outcome = { error }),
    );
    try {
      // Before the fix the lost lock's stop went unheard: reading on an idle stream, it kept its lock-less run and the port.
      await waitFor("the fenced worker to stop", async () => outcome !== undefined, 30_000);
      expect(outcome, logs.join("\n")).toMatchObject({ error: expect.objectContaining({ message: expect.stringMatching(/^fenced: worker usurper \(pid 1 on elsewhere\.example\) took .* over/) }) });
      expect(logs).toContain(`metrics on http://127.0.0.1:${metricsPort}/metrics`);
      expect(await portIsFree(metricsPort)).toBe(true);
    } finally {
      controller.abort();
      await worker;
      await connection.drain().catch(() => connection.close());
      await rm(directory, { recursive: true, force: true });
    }
  });
});
