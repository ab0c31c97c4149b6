// Graceful shutdown of a live `clickpipe run`: SIGTERM/SIGINT stop intake, commit a checkpoint and exit 0 within 10 s.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { filesEndingWith, lakeRows, publishAndDrainBaseline, sleep, spawnWorker, writePipelineFile } from "./crash-harness.ts";

async function lastCheckpointPosition(directory: string): Promise<number> {
  const names = (await readdir(directory)).filter((name) => /^checkpoint-\d+\.json$/.test(name)).sort();
  return (JSON.parse(await readFile(join(directory, names[names.length - 1]), "utf8")) as { position: number }).position;
}

describe("graceful shutdown of a live run", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("SHUTDOWN");
  let directory: string;
  let expected: Record<string, string[]>;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-shutdown-"));
    expected = (await publishAndDrainBaseline(directory, { name: "shutdown", natsUrl, stream, visitors: 600, days: 3, seed: 93 })).rows;
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`commits what it consumed on ${signal} and exits 0 within 10 s; a later drain completes the same tables`, async () => {
      const out = join(directory, signal);
      // An interval longer than the test: the only checkpoint with events is the one the signal causes.
      const file = await writePipelineFile(directory, { name: "shutdown", natsUrl, stream, out, interval: "10m" });
      const worker = spawnWorker(file);
      await worker.printed(/starting \S+ at \S+ sequence 1/);
      await sleep(2_000);
      const signalledAt = performance.now();
      worker.child.kill(signal);
      const result = await worker.exited;
      expect(performance.now() - signalledAt).toBeLessThan(10_000);
      expect(result.code, result.output).toBe(0);
      const committed = Number(/committed through sequence (\d+)/.exec(result.output)?.[1]);
      expect(committed).toBeGreaterThan(0);
      expect(await lastCheckpointPosition(join(out, "_checkpoints", "shutdown"))).toBe(committed);
      expect(await filesEndingWith(out, [".inprogress", ".tmp", "lock"])).toEqual([]);

      const drained = await runCli(["run", file, "--drain"]);
      expect(drained.code, drained.stderr).toBe(0);
      expect(drained.stderr).toContain(`resuming shutdown at ${stream} sequence ${committed + 1}`);
      expect(await lakeRows(out)).toEqual(expected);
    });
  }
});
