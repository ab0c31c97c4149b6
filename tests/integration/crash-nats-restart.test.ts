// nats-server killed and restarted (same port and store) during `clickpipe run --drain`: the worker reconnects by itself,
// mid-run and while it opens its reader.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, uniqueStreamName, type RunningNatsServer } from "../helpers/nats-server.ts";
import { proxyHoldingAt } from "../helpers/tcp-proxy.ts";
import { crashInput, filesEndingWith, lakeRows, publishAndDrain, sleep, spawnWorker, writePipelineFile } from "./crash-harness.ts";

async function highestEpoch(directory: string): Promise<number> {
  const names = await readdir(directory).catch(() => [] as string[]);
  return Math.max(0, ...names.map((name) => Number(/^checkpoint-(\d+)\.json$/.exec(name)?.[1] ?? 0)));
}

async function waitForEpochAbove(directory: string, epoch: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const highest = await highestEpoch(directory);
    if (highest > epoch) return highest;
    await sleep(25);
  }
  throw new Error(`no checkpoint above epoch ${epoch} in ${directory} within ${timeoutMs} ms`);
}

describe("nats-server restart during run --drain", () => {
  const stream = uniqueStreamName("CRASHNATS");
  let server: RunningNatsServer;
  let directory: string;
  let baselineOut: string;
  /** The no-fault run's tables, read once for both tests. */
  let baselineRows: Promise<Record<string, string[]>> | undefined;
  const baseline = () => (baselineRows ??= lakeRows(baselineOut));

  beforeAll(async () => {
    server = await startNatsServer();
    directory = await mkdtemp(join(tmpdir(), "clickpipe-crash-nats-"));
    baselineOut = join(directory, "baseline");
    const baselineFile = await writePipelineFile(directory, { name: "natsrestart", natsUrl: server.url, stream, out: baselineOut });
    await publishAndDrain(directory, baselineFile, crashInput(2500, 6, 45));
  });

  afterAll(async () => {
    await server?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("resumes within 10 s of the server's return and writes exactly the no-fault tables", { timeout: 120_000 }, async () => {
    const out = join(directory, "restarted");
    const file = await writePipelineFile(directory, { name: "natsrestart", natsUrl: server.url, stream, out });
    const checkpoints = join(out, "_checkpoints", "natsrestart");
    const worker = spawnWorker(file, ["--drain"]);
    await worker.printed(/starting \S+ at \S+ sequence 1 \(epoch (\d+)\)/);
    const claimed = Number(/\(epoch (\d+)\)/.exec(worker.output())![1]);
    // Mid-run: one checkpoint with events committed, most messages not yet pulled (the worker prefetches 8 MiB).
    await waitForEpochAbove(checkpoints, claimed, 30_000);
    server.kill("SIGKILL");
    // The worker uses up what it prefetched, then stalls: no checkpoint for 1.5 s, the process still running.
    let beforeRestart = await highestEpoch(checkpoints);
    for (let stableSince = performance.now(); performance.now() - stableSince < 1_500; await sleep(100)) {
      const highest = await highestEpoch(checkpoints);
      if (highest !== beforeRestart) [beforeRestart, stableSince] = [highest, performance.now()];
    }
    expect(worker.child.exitCode, worker.output()).toBeNull();
    await server.restart();
    const restartedAt = performance.now();
    const result = await Promise.race([worker.exited, waitForEpochAbove(checkpoints, beforeRestart, 10_000).then(() => undefined)]);
    const resumedWithinMs = performance.now() - restartedAt;
    expect(resumedWithinMs, worker.output()).toBeLessThan(10_000);
    expect(result === undefined || result.code === 0, worker.output()).toBe(true);

    const finished = await worker.exited;
    expect(finished.code, finished.output).toBe(0);
    expect(finished.output).toMatch(/drained \S+ through sequence/);
    expect(await lakeRows(out)).toEqual(await baseline());
    expect(await filesEndingWith(out, [".inprogress", ".tmp"])).toEqual([]);
  });

  it("lost just as the worker opens its reader, is waited for instead of failing the run", { timeout: 120_000 }, async () => {
    const out = join(directory, "lost-at-start");
    // The worker reaches the server through a proxy that drops the reader's consumer request, so the server is lost at
    // that exact request however slowly this test process runs beside others (killing it on the worker's "starting"
    // line lost the race under load: the reader was open by then).
    const proxy = await proxyHoldingAt(server.port, "$JS.API.CONSUMER.CREATE.");
    try {
      const file = await writePipelineFile(directory, { name: "natsrestart", natsUrl: proxy.url, stream, out });
      const worker = spawnWorker(file, ["--drain"]);
      await Promise.race([proxy.held, worker.exited.then(({ output }) => Promise.reject(new Error(`the worker exited first:\n${output}`)))]);
      server.kill("SIGKILL");
      await sleep(1_500);
      await server.restart();
      const finished = await worker.exited;
      expect(finished.code, finished.output).toBe(0);
      expect(finished.output).toMatch(/opening a reader on \S+: NATS did not answer \(timeout\); retrying for up to 60 s/);
      expect(await lakeRows(out)).toEqual(await baseline());
      expect(await filesEndingWith(out, [".inprogress", ".tmp"])).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
