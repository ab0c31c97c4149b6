// A crash injected at each step of the commit protocol (CLICKPIPE_CRASH_AT), then a restart: the lake equals the no-fault run's.
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checkpointFileName } from "../../src/runtime/checkpoint.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { crashInput, filesEndingWith, lakeRows, publishAndDrain, spawnWorker, writePipelineFile } from "./crash-harness.ts";

/** Checkpoint epochs committed in a lake. */
async function committedEpochs(out: string, pipeline: string): Promise<number[]> {
  const names = await readdir(join(out, "_checkpoints", pipeline));
  return names.flatMap((name) => {
    const match = /^checkpoint-(\d+)\.json$/.exec(name);
    return match ? [Number(match[1])] : [];
  });
}

/** Parts a committed checkpoint's epoch renames. */
async function epochParts(out: string, pipeline: string, epoch: number): Promise<number> {
  const checkpoint = JSON.parse(await readFile(join(out, "_checkpoints", pipeline, checkpointFileName(epoch)), "utf8")) as { pending?: { files: unknown[] } };
  return checkpoint.pending?.files.length ?? 0;
}

describe("a crash at each commit step", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("CRASHSTEP");
  let directory: string;
  let expected: Record<string, string[]>;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-crash-steps-"));
    const baselineOut = join(directory, "baseline");
    const baselineFile = await writePipelineFile(directory, { name: "steps", natsUrl, stream, out: baselineOut });
    await publishAndDrain(directory, baselineFile, crashInput(600, 4, 33));
    expected = await lakeRows(baselineOut);
    expect(expected.sessions.length).toBeGreaterThan(300);
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  // `@k` is the k-th checkpoint after start (the epoch claimed at start is not counted): earlier ones are durable.
  const steps: Array<{ crashAt: string; after: string; inProgressLeft: boolean; checkpointCommitted: boolean }> = [
    { crashAt: "after-prepare@2", after: "its parts are fsynced, before the checkpoint", inProgressLeft: true, checkpointCommitted: false },
    { crashAt: "checkpoint-written@2", after: "the checkpoint's temporary file is fsynced, before its link", inProgressLeft: true, checkpointCommitted: false },
    { crashAt: "after-checkpoint@2", after: "the checkpoint commits, before any rename", inProgressLeft: true, checkpointCommitted: true },
    { crashAt: "after-rename:1@2", after: "one part of the epoch is renamed", inProgressLeft: true, checkpointCommitted: true },
    { crashAt: "after-rename:2@3", after: "two parts of a later epoch are renamed", inProgressLeft: true, checkpointCommitted: true },
  ];

  // The steps share only the stream and the baseline (both read-only): each has a lake and checkpoints of its own, so
  // they run side by side; the crash comes at a checkpoint count, not a time, so a busier machine only moves it later.
  for (const step of steps) {
    it.concurrent(`recovers identical tables after a crash once ${step.after} (${step.crashAt})`, async ({ expect }) => {
      const out = join(directory, `crash-${step.crashAt.replace(/[^a-z0-9]/g, "-")}`);
      // Checkpoints every 50 ms: a fast machine drains this input in a few hundred ms, and "@3" needs a third
      // checkpoint after start with at least two parts before the final one.
      const file = await writePipelineFile(directory, { name: "steps", natsUrl, stream, out, interval: "50ms" });
      const crashed = spawnWorker(file, ["--drain"], { CLICKPIPE_CRASH_AT: step.crashAt });
      const crash = await crashed.exited;
      expect(crash.signal, crash.output).toBe("SIGKILL");
      // The crash left the commit half done, as planned.
      const claimed = Number(/\(epoch (\d+)\)/.exec(crash.output)![1]);
      const crashedEpoch = claimed + Number(step.crashAt.split("@")[1]);
      expect((await committedEpochs(out, "steps")).includes(crashedEpoch)).toBe(step.checkpointCommitted);
      // A crash after k renames leaves parts in progress only when the epoch had more than k parts (timing decides).
      const renamed = Number(/^after-rename:(\d+)@/.exec(step.crashAt)?.[1] ?? 0);
      const inProgressLeft = step.inProgressLeft && (renamed === 0 || (await epochParts(out, "steps", crashedEpoch)) > renamed);
      expect((await filesEndingWith(out, [".inprogress"])).length > 0).toBe(inProgressLeft);
      if (step.crashAt.startsWith("checkpoint-written")) {
        expect(await filesEndingWith(join(out, "_checkpoints"), [".tmp"])).toHaveLength(1);
      }

      const restarted = await runCli(["run", file, "--drain"]);
      expect(restarted.code, restarted.stderr).toBe(0);
      expect(await lakeRows(out)).toEqual(expected);
      expect(await filesEndingWith(out, [".inprogress"])).toEqual([]);
    });
  }
});
