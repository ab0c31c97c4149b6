// Workers of a partitioned pipeline on one host, all run from one pipeline file and all serving metrics: with a range
// in metrics.port each takes the first free port of it; with one port the second stops, naming metrics.port, unless
// `--metrics-port` gives it a range.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { cliScratchEachTest, spawnCli, runCli, type CliProcess } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { freePortRange, holdPortRange } from "../helpers/port-range.ts";

const METRICS_LINE = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/;

/** A pipeline of 2 partitions (tasks events-0, events-1 and dlq) serving metrics on 127.0.0.1 at `port`. */
async function partitionedPipeline(directory: string, port: number | string): Promise<string> {
  const file = join(directory, "p.yaml");
  const name = uniqueStreamName("mrange").toLowerCase();
  await writeFile(
    file,
    [`name: ${name}`, "nats:", `  url: ${inject("natsUrl")}`, `  stream: ${uniqueStreamName("MRANGE")}`, "  partitions: 2"]
      .concat(["operators:", "  - type: sessionize", "sinks:", "  - type: parquet", `    path: ${join(directory, "out")}`])
      .concat(["checkpoint:", "  interval: 500ms", "metrics:", `  port: ${port}`, "  host: 127.0.0.1", ""])
      .join("\n"),
  );
  return file;
}

/** The port a worker says it serves metrics on, once it says so; undefined when it exits first. */
async function metricsPortOf(worker: CliProcess): Promise<number | undefined> {
  if (!(await worker.printed(METRICS_LINE))) return undefined;
  return Number(METRICS_LINE.exec(worker.output())![1]);
}

/** The tasks whose pending messages the worker serving `port` reports (one series per task it runs). */
async function tasksServedAt(port: number): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await response.text();
  return [...text.matchAll(/^clickpipe_consumer_pending_messages\{[^}]*task="([^"]+)"[^}]*\} /gm)].map((match) => match[1]).sort();
}

async function stopped(worker: CliProcess): Promise<{ code: number | null; output: string }> {
  worker.child.kill("SIGTERM");
  return worker.exited;
}

describe("clickpipe run - metrics.port of workers on one host", () => {
  const scratch = cliScratchEachTest("clickpipe-metrics-range-");

  it("gives two workers of a partitioned pipeline the first two free ports of a range, each serving its own tasks", { timeout: 90_000 }, async () => {
    const directory = await scratch.folder();
    const first = await freePortRange(3);
    const file = await partitionedPipeline(directory, `${first}-${first + 2}`);
    const a = scratch.track(spawnCli(["run", file, "--worker-id", "a"]));
    expect(await metricsPortOf(a), a.output()).toBe(first);
    const b = scratch.track(spawnCli(["run", file, "--worker-id", "b"]));
    expect(await metricsPortOf(b), b.output()).toBe(first + 1);

    // Oracle: the pipeline's tasks, each run by one worker once the leases settle (b takes its share from a), so the
    // two endpoints together report every task once, and each reports at least one.
    let served = [await tasksServedAt(first), await tasksServedAt(first + 1)];
    while (served.some((tasks) => tasks.length === 0) || served.flat().length !== 3) {
      expect(a.child.exitCode, a.output()).toBeNull();
      expect(b.child.exitCode, b.output()).toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 250));
      served = [await tasksServedAt(first), await tasksServedAt(first + 1)];
    }
    expect(served.flat().sort()).toEqual(["dlq", "events-0", "events-1"]);

    const [stoppedA, stoppedB] = await Promise.all([stopped(a), stopped(b)]);
    expect(stoppedA.code, stoppedA.output).toBe(0);
    expect(stoppedB.code, stoppedB.output).toBe(0);
  });

  it("stops a second worker on the host when metrics.port is one port, and --metrics-port gives it a range", { timeout: 90_000 }, async () => {
    const directory = await scratch.folder();
    const held = await holdPortRange(2);
    const [port, next] = [held.first, held.first + 1];
    await held.release();
    const file = await partitionedPipeline(directory, port);
    const a = scratch.track(spawnCli(["run", file, "--worker-id", "a"]));
    expect(await metricsPortOf(a), a.output()).toBe(port);

    // As before ranges: the port is a's, so b stops before it claims any task, naming the key to change.
    const b = await runCli(["run", file, "--worker-id", "b"]);
    expect(b.stderr).toBe(`clickpipe run: metrics: port ${port} on 127.0.0.1 is in use (another clickpipe run or process?): set metrics.port to a free port\n`);
    expect(b.code).toBe(1);

    // The same file with --metrics-port: its range starts at a's port, so c takes the next.
    const c = scratch.track(spawnCli(["run", file, "--worker-id", "c", "--metrics-port", `${port}-${next}`]));
    expect(await metricsPortOf(c), c.output()).toBe(next);
    expect((await fetch(`http://127.0.0.1:${next}/metrics`)).status).toBe(200);

    const [stoppedA, stoppedC] = await Promise.all([stopped(a), stopped(c)]);
    expect(stoppedA.code, stoppedA.output).toBe(0);
    expect(stoppedC.code, stoppedC.output).toBe(0);
  });
});
