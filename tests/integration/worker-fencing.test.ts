// Two workers for one pipeline and stream: one runs, the other stands by; a paused zombie is fenced and leaves nothing behind.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { filesEndingWith, lakeRows, publishAndDrainBaseline, sleep, spawnWorker, writePipelineFile } from "./crash-harness.ts";

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
