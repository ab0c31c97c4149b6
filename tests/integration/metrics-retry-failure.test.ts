// Errors from outside a worker's rounds end the run even while an operator failure's back-off runs: a metrics retry
// (after a takeover from a stalled holder) that fails for another reason than the port in use, and the lock lost.
import { writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadPipeline } from "../../src/config/load.ts";
import type { PipelineConfig } from "../../src/config/pipeline.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { startMetricsServer } from "../../src/metrics/server.ts";
import { DirectoryCheckpointStore } from "../../src/runtime/checkpoint.ts";
import type { LockHolder } from "../../src/runtime/lock-file.ts";
import { thisProcessIdentity } from "../../src/runtime/process-identity.ts";
import { runWorker, type WorkerOptions, type WorkerSummary } from "../../src/runtime/worker.ts";
import { freePort } from "../../src/transport/local-server.ts";
import { runCli } from "../helpers/cli.ts";
import { occupyPort } from "../helpers/port-range.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { crashInput, writePipelineFile } from "./crash-harness.ts";

const NAME = "mretry";
/** TEST-NET-1 (RFC 5737): never an address of this machine, so binding it fails with EADDRNOTAVAIL. */
const FOREIGN_HOST = "192.0.2.1";
/** Logged as an operator failure's back-off starts (not for the last attempt, which dead-letters without one). */
const BACK_OFF_LINE = / failed \(attempt (\d+) of \d+: /;

/**
 * Drains with operators that throw on the event `poisoned` every time (CLICKPIPE_THROW_ON_EVENTS, which the poison
 * operator reads once, as runWorker constructs the worker, synchronously), and waits until the run ends.
 */
async function drainPoisoned(options: WorkerOptions, poisoned: string): Promise<{ error: unknown } | { summary: WorkerSummary }> {
  process.env.CLICKPIPE_THROW_ON_EVENTS = poisoned;
  let running: Promise<WorkerSummary>;
  try {
    running = runWorker({ drain: true, metrics: new Metrics(), ...options });
  } finally {
    delete process.env.CLICKPIPE_THROW_ON_EVENTS;
  }
  return running.then(
    (summary) => ({ summary }),
    (error: unknown) => ({ error }),
  );
}

describe("errors from outside a worker's rounds during an operator failure's back-off", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("MRETRY");
  let directory: string;
  /** The first event of the stream: the operators throw on it. */
  let poisoned: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-metrics-retry-"));
    const lines = crashInput(20, 1, 71);
    poisoned = lines.map((line) => (/"event_id":"([^"]+)"/.exec(line) ?? [])[1]).find((id) => id !== undefined)!;
    const input = join(directory, "input.ndjson");
    await writeFile(input, lines.join("\n") + "\n");
    const file = await writePipelineFile(directory, { name: NAME, natsUrl, stream, out: join(directory, "publish") });
    const published = await runCli(["publish", input, "--pipeline", file]);
    expect(published.code, published.stderr).toBe(0);
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  async function pipelineConfig(out: string, metricsPort?: number): Promise<PipelineConfig> {
    const loaded = await loadPipeline(await writePipelineFile(directory, { name: NAME, natsUrl, stream, out, metricsPort }));
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    return loaded.config;
  }

  it("stops with a metrics retry's error other than the port in use, naming it", { timeout: 60_000 }, async () => {
    const out = join(directory, "metrics");
    const metricsPort = await freePort();
    const config = await pipelineConfig(out, metricsPort);
    // The stalled holder: a live process of this host (vitest's parent) whose lock's heartbeat is old, and its port.
    const lockFile = new DirectoryCheckpointStore(out, NAME).lockFile;
    await mkdir(dirname(lockFile), { recursive: true });
    const { host, bootId, pidNamespace } = thisProcessIdentity();
    const stalled: LockHolder = { workerId: "stalled", token: "stalled-token", pid: process.ppid, host, bootId, pidNamespace, acquiredAt: 0 };
    await writeFile(lockFile, JSON.stringify(stalled));
    const old = new Date(Date.now() - 10_000);
    await utimes(lockFile, old, old);
    const held = await occupyPort(metricsPort);

    // From an operator failure's back-off to the start of the next round's reading.
    let backingOff = false;
    const logs: string[] = [];
    const log = (line: string) => {
      logs.push(line);
      if (BACK_OFF_LINE.test(line)) backingOff = true;
      else if (line.startsWith(`resuming ${NAME} `)) backingOff = false;
    };
    const failedInBackOff: string[] = [];
    // Real binds: the held port (EADDRINUSE, retried), but during a back-off a host not of this machine (EADDRNOTAVAIL).
    const start: WorkerOptions["startMetricsServer"] = (metrics, port, bindHost) => {
      if (!backingOff) return startMetricsServer(metrics, port, bindHost);
      return startMetricsServer(metrics, port, FOREIGN_HOST).catch((error: unknown) => {
        failedInBackOff.push((error as Error).message);
        throw error;
      });
    };
    try {
      // Back-offs of 0.2, 0.4, 0.8, 1.6, 2, 2 s: the retry, every second, falls into one of them before the dead letter.
      const outcome = await drainPoisoned({ config, workerId: "successor", lockStaleAfterMs: 2_000, maxEventAttempts: 8, log, startMetricsServer: start }, poisoned);
      const expected = `metrics: ${FOREIGN_HOST} is not an address of this machine: set metrics.host to one of its addresses, or 0.0.0.0 for all`;
      expect(failedInBackOff).toEqual([expected]);
      // Before the fix the round after the back-off forgot it: the drain went on without metrics, dead-lettered the event
      // after its 8 attempts and returned its summary as if all was well.
      expect(outcome, logs.join("\n")).toMatchObject({ error: expect.objectContaining({ message: expected }) });
      const text = logs.join("\n");
      expect(text).toContain(`metrics: port ${metricsPort} on 127.0.0.1 is in use, held by the previous holder worker stalled (pid ${process.ppid} on ${host})`);
      expect(text).toMatch(new RegExp(`event \\S+ failed \\(attempt 1 of 8: injected failure on event ${poisoned}\\): rolling back`));
      expect(text).not.toMatch(/dead-lettered|metrics on /);
    } finally {
      held.close();
    }
  });

  it("stops fenced when the lock is lost during the back-off, naming who took it", { timeout: 60_000 }, async () => {
    const out = join(directory, "fenced");
    const config = await pipelineConfig(out);
    const lockFile = new DirectoryCheckpointStore(out, NAME).lockFile;
    const usurper: LockHolder = { workerId: "usurper", token: "usurper-token", pid: 1, host: "elsewhere.example", acquiredAt: Date.now() };
    const logs: string[] = [];
    const log = (line: string) => {
      logs.push(line);
      // The third back-off lasts 0.8 s: the heartbeat (every 50 ms at lockStaleAfterMs 200) finds the lock taken in it.
      if (BACK_OFF_LINE.exec(line)?.[1] === "3") writeFileSync(lockFile, JSON.stringify(usurper));
    };
    const outcome = await drainPoisoned({ config, workerId: "owner", lockStaleAfterMs: 200, maxEventAttempts: 8, log }, poisoned);
    // Before the fix the next round forgot the fencing, and its epoch claim failed on "… lost the lock …" instead.
    expect(outcome, logs.join("\n")).toMatchObject({
      error: expect.objectContaining({ message: `fenced: worker usurper (pid 1 on elsewhere.example) took ${lockFile} over; stopping without committing` }),
    });
    expect(logs.filter((line) => BACK_OFF_LINE.test(line))).toHaveLength(3);
    expect(logs.filter((line) => line.startsWith(`resuming ${NAME} `))).toHaveLength(2);
  });
});
