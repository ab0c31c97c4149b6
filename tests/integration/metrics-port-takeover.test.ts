// metrics.port across a takeover on one host: a worker that took the lock over from a stalled holder (SIGSTOP), which
// still has metrics.port bound, runs without metrics and binds the port once that holder wakes, is fenced and stops.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { DirectoryCheckpointStore } from "../../src/runtime/checkpoint.ts";
import type { LockHolder } from "../../src/runtime/lock-file.ts";
import { thisProcessIdentity } from "../../src/runtime/process-identity.ts";
import { freePort } from "../../src/transport/local-server.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { occupyPort } from "../helpers/port-range.ts";
import { waitForValue } from "../helpers/wait-for.ts";
import { crashInput, lakeRows, publishAndDrainBaseline, sleep, spawnWorker, writePipelineFile, type WorkerProcess } from "./crash-harness.ts";

const NAME = "mport";
const STALE_LOCK = { CLICKPIPE_LOCK_STALE_MS: "1500" };
const HELD_LINE = /metrics: port (\d+) on 127\.0\.0\.1 is in use, held by the previous holder worker zombie \(pid (\d+) on [^)]+\)/;

/** A sample's value in Prometheus text (the first series of `name` whose labels contain `labels`); undefined if absent. */
function sample(text: string, name: string, labels = ""): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] === name && (match[2] ?? "").includes(labels)) return Number(match[3]);
  }
  return undefined;
}

describe("metrics.port after a takeover from a stalled holder on the same host", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("MPORT");
  const running: WorkerProcess[] = [];
  let directory: string;
  let expected: Record<string, string[]>;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-metrics-takeover-"));
    expected = (await publishAndDrainBaseline(directory, { name: NAME, natsUrl, stream, visitors: 1200, days: 4, seed: 61 })).rows;
  });

  afterEach(() => {
    // A stopped process ignores SIGTERM but not SIGKILL.
    for (const { child } of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  /** A live worker that took the lock and bound metrics.port, then stopped with SIGSTOP: alive, port still bound. */
  async function stalledHolder(file: string, metricsPort: number): Promise<WorkerProcess> {
    const zombie = spawnWorker(file, ["--worker-id", "zombie"], STALE_LOCK);
    running.push(zombie);
    expect(await zombie.printed(new RegExp(`metrics on http://127\\.0\\.0\\.1:${metricsPort}/metrics`)), zombie.output()).toBe(true);
    expect(await zombie.printed(/starting \S+ at \S+ sequence 1 /), zombie.output()).toBe(true);
    // Long enough to commit a checkpoint or two, so the successor resumes from the zombie's epoch.
    await sleep(1_000);
    zombie.child.kill("SIGSTOP");
    return zombie;
  }

  it("drains without metrics while the stalled holder keeps the port, and exits cleanly with the retries still pending", { timeout: 120_000 }, async () => {
    const out = join(directory, "drain");
    const metricsPort = await freePort();
    const file = await writePipelineFile(directory, { name: NAME, natsUrl, stream, out, metricsPort });
    const zombie = await stalledHolder(file, metricsPort);

    const successor = spawnWorker(file, ["--drain", "--worker-id", "successor"], STALE_LOCK);
    running.push(successor);
    const done = await successor.exited;
    // Before the fix: "clickpipe run: metrics: port … is in use …: set metrics.port to a free port", exit 1.
    expect(done.code, done.output).toBe(0);
    expect(done.output).toMatch(HELD_LINE);
    expect(HELD_LINE.exec(done.output)!.slice(1)).toEqual([String(metricsPort), String(zombie.child.pid)]);
    expect(done.output.match(new RegExp(HELD_LINE.source, "g"))).toHaveLength(1);
    expect(done.output).not.toMatch(/metrics on /);
    expect(done.output).toMatch(/resuming mport at \S+ sequence \d+ \(epoch ([2-9]|\d\d+)\)/);
    // The zombie, stopped throughout, wrote nothing since: the lake is the successor's drain, the single-worker tables.
    expect(await lakeRows(out)).toEqual(expected);
  });

  it("serves its own metrics once the woken holder, fenced, lets go of the port", { timeout: 120_000 }, async () => {
    const out = join(directory, "live");
    const metricsPort = await freePort();
    const file = await writePipelineFile(directory, { name: NAME, natsUrl, stream, out, metricsPort });
    const zombie = await stalledHolder(file, metricsPort);
    // Traffic that arrives while the holder is stalled: only the successor can read it.
    const more = join(directory, "more.ndjson");
    await writeFile(more, crashInput(300, 1, 62).join("\n") + "\n");
    const published = await runCli(["publish", more, "--pipeline", file]);
    expect(published.code, published.stderr).toBe(0);

    const spawnedAt = Date.now();
    const successor = spawnWorker(file, ["--worker-id", "successor"], STALE_LOCK);
    running.push(successor);
    expect(await successor.printed(HELD_LINE), successor.output()).toBe(true);

    // It processes the new traffic meanwhile: its checkpoint reaches the stream's last sequence, the port still held.
    const nc = await connect({ servers: natsUrl });
    const lastSequence = (await (await jetstreamManager(nc)).streams.info(stream)).state.last_seq;
    await nc.close();
    const checkpoints = new DirectoryCheckpointStore(out, NAME);
    await waitForValue("the successor's checkpoint to reach the stream's end", async () => (await checkpoints.loadMeta())?.position, (position) => position === lastSequence, 60_000);
    expect((await checkpoints.loadMeta())?.workerId).toBe("successor");
    expect(successor.output()).not.toMatch(/metrics on /);

    // Woken, the old holder finds its lock taken (its heartbeat, or a commit that fails): it stops, closing its port.
    zombie.child.kill("SIGCONT");
    const fenced = await zombie.exited;
    expect(fenced.code, fenced.output).toBe(1);
    expect(fenced.output).toMatch(/fenced|lost the lock|is stale/);

    expect(await successor.printed(new RegExp(`metrics on http://127\\.0\\.0\\.1:${metricsPort}/metrics`)), successor.output()).toBe(true);
    const text = await waitForValue(
      "the successor's /metrics",
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
      (body) => body.includes("clickpipe_events_received_total"),
      30_000,
    );
    // This process's series: started after the successor was spawned (the zombie started seconds before).
    expect(sample(text, "process_start_time_seconds")).toBeGreaterThanOrEqual(Math.floor(spawnedAt / 1000));
    const received = sample(text, "clickpipe_events_received_total", 'source="nats"');

    successor.child.kill("SIGTERM");
    const stopped = await successor.exited;
    expect(stopped.code, stopped.output).toBe(0);
    expect(stopped.output).toContain(`committed through sequence ${lastSequence} `);
    // Counted while no server served them: every line the successor read, as its own summary counts them (each line of
    // an events message is an event or an invalid one; no tombstones, so none filtered).
    const summary = /(\d+) events, (\d+) invalid/.exec(stopped.output)!;
    expect(received).toBe(Number(summary[1]) + Number(summary[2]));
    expect(received).toBeGreaterThan(0);
  });
  it("restarts a round on an operator failure without a second retry loop, and stops on SIGTERM with the retries pending", { timeout: 120_000 }, async () => {
    const out = join(directory, "sigterm");
    const metricsPort = await freePort();
    const file = await writePipelineFile(directory, { name: NAME, natsUrl, stream, out, metricsPort });
    const zombie = await stalledHolder(file, metricsPort);
    const lines = crashInput(200, 1, 63);
    const more = join(directory, "more-63.ndjson");
    await writeFile(more, lines.join("\n") + "\n");
    const published = await runCli(["publish", more, "--pipeline", file]);
    expect(published.code, published.stderr).toBe(0);
    // One event of the new traffic makes an operator throw once: the round rolls back and starts again.
    const poisoned = lines.map((line) => (/"event_id":"([^"]+)"/.exec(line) ?? [])[1]).find((id) => id !== undefined)!;

    const successor = spawnWorker(file, ["--worker-id", "successor"], { ...STALE_LOCK, CLICKPIPE_THROW_ON_EVENTS: poisoned, CLICKPIPE_THROW_TIMES: "1" });
    running.push(successor);
    expect(await successor.printed(HELD_LINE), successor.output()).toBe(true);
    expect(await successor.printed(new RegExp(`failed \\(attempt 1 of \\d+: injected failure on event ${poisoned}\\): rolling back`)), successor.output()).toBe(true);
    const nc = await connect({ servers: natsUrl });
    const lastSequence = (await (await jetstreamManager(nc)).streams.info(stream)).state.last_seq;
    await nc.close();
    const checkpoints = new DirectoryCheckpointStore(out, NAME);
    await waitForValue("the successor's checkpoint to reach the stream's end", async () => (await checkpoints.loadMeta())?.position, (position) => position === lastSequence, 60_000);

    // The zombie, still stopped, keeps the port: the successor stops with its retries pending, as asked, exit 0.
    expect(zombie.child.exitCode).toBe(null);
    successor.child.kill("SIGTERM");
    const stopped = await successor.exited;
    expect(stopped.code, stopped.output).toBe(0);
    expect(stopped.output.match(new RegExp(HELD_LINE.source, "g"))).toHaveLength(1);
    expect(stopped.output).toMatch(/rolling back/);
    expect(stopped.output).not.toMatch(/metrics on |cleanup:/);
  });

  it("names the whole range in use when every port of metrics.port is, one of them the stalled holder's", { timeout: 120_000 }, async () => {
    const out = join(directory, "range");
    // Two ports in a row, the second bound by another program for the whole test: the zombie takes the first.
    let first = await freePort();
    let other: Server | undefined;
    while (other === undefined) {
      other = await occupyPort(first + 1).catch(() => undefined);
      if (other === undefined) first = await freePort();
    }
    try {
      const file = await writePipelineFile(directory, { name: NAME, natsUrl, stream, out, metricsPort: `${first}-${first + 1}` });
      const zombie = await stalledHolder(file, first);
      const successor = spawnWorker(file, ["--drain", "--worker-id", "successor"], STALE_LOCK);
      running.push(successor);
      const done = await successor.exited;
      expect(done.code, done.output).toBe(0);
      // Before the fix: "metrics: port 9464-9465 on …", one port named by a range's text.
      const line = `metrics: every port of ${first}-${first + 1} on 127.0.0.1 is in use, held by the previous holder worker zombie (pid ${zombie.child.pid} on `;
      expect(done.output).toContain(line);
      expect(done.output.split(line)).toHaveLength(2);
      expect(done.output).not.toMatch(/metrics on /);
    } finally {
      other.close();
    }
  });

  const bootId = thisProcessIdentity().bootId;
  it.skipIf(bootId === undefined)(
    "stops naming metrics.port when the port is in use after a takeover from a holder of another boot with this host's name",
    { timeout: 120_000 },
    async () => {
      const out = join(directory, "namesake");
      const metricsPort = await freePort();
      const file = await writePipelineFile(directory, { name: NAME, natsUrl, stream, out, metricsPort });
      // The lock of a live-looking holder with this host's name but another kernel boot (another machine of this name,
      // or this one before a reboot), its pid one that runs here: taken over once its heartbeat stays unchanged.
      const me = thisProcessIdentity();
      const namesake: LockHolder = { ...me, workerId: "namesake", token: "namesake-token", acquiredAt: Date.now(), bootId: bootId === "00000000" ? "11111111" : "00000000" };
      const lockFile = new DirectoryCheckpointStore(out, NAME).lockFile;
      await mkdir(dirname(lockFile), { recursive: true });
      await writeFile(lockFile, JSON.stringify(namesake));
      // What holds the port is another program: no process of another boot binds a port of this kernel.
      const other = await occupyPort(metricsPort);
      try {
        const successor = spawnWorker(file, ["--drain", "--worker-id", "successor"], STALE_LOCK);
        running.push(successor);
        const done = await successor.exited;
        // Before the fix it drained without metrics (exit 0), blaming the namesake for the port and retrying every second.
        expect(done.code, done.output).toBe(1);
        expect(done.output).toContain(`metrics: port ${metricsPort} on 127.0.0.1 is in use (another clickpipe run or process?): set metrics.port to a free port`);
        expect(done.output).not.toMatch(/held by the previous holder/);
      } finally {
        other.close();
      }
    },
  );
});
