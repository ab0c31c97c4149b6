// kill -9 of `clickpipe run --drain` at random moments, restarted until it finishes: the lake equals the no-fault run's.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { seededRandom } from "../helpers/seeded-random.ts";
import { crashInput, drainWithKills, filesEndingWith, lakeRows, publishAndDrain, rowCounts, sleep, writePipelineFile } from "./crash-harness.ts";

/** Resolves once a checkpoint of an epoch above `epoch` exists in `directory`. */
async function committedPast(directory: string, epoch: number): Promise<void> {
  for (;;) {
    const names = await readdir(directory).catch(() => [] as string[]);
    if (names.some((name) => Number(/^checkpoint-(\d+)\.json$/.exec(name)?.[1] ?? 0) > epoch)) return;
    await sleep(20);
  }
}

describe("kill -9 during run --drain", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("CRASHKILL");
  let directory: string;
  let baselineOut: string;
  let baselineFile: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-crash-kill-"));
    baselineOut = join(directory, "baseline");
    baselineFile = await writePipelineFile(directory, { name: "baseline", natsUrl, stream, out: baselineOut });
    await publishAndDrain(directory, baselineFile, crashInput(1500, 5, 21));
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("loses and duplicates no row in any table across kills at random moments", { timeout: 180_000 }, async () => {
    const out = join(directory, "killed");
    // Checkpoints every 50 ms: a fast machine drains this input in well under a second, so each run commits several
    // of its own before the random moment of its kill, instead of finishing first (then too few kills land).
    const file = await writePipelineFile(directory, { name: "baseline", natsUrl, stream, out, interval: "50ms" });
    const checkpoints = join(out, "_checkpoints", "baseline");
    const random = seededRandom(8);
    const delays: number[] = [];
    const { kills, resumedAt } = await drainWithKills(file, 20, async (worker, kills) => {
      if (kills >= 6) return false;
      // Every third kill lands during start-up or the first prepare; the others a random moment after this run
      // committed its first checkpoint: mid-batch, mid-prepare, between the checkpoint and the renames, or during the
      // final flush. Waiting for progress keeps the test meaningful on a loaded machine, and short delays keep it so
      // on a fast one.
      const claimed = Number(/\(epoch (\d+)\)/.exec(worker.output())![1]);
      if (kills % 3 !== 2) await Promise.race([committedPast(checkpoints, claimed), worker.exited]);
      const delay = Math.round(random() * (kills % 3 === 2 ? 300 : 150));
      delays.push(delay);
      await Promise.race([sleep(delay), worker.exited]);
      return true;
    });
    // Most kills landed mid-run: the worker resumed from several different checkpoints.
    expect(kills, `resumed at ${resumedAt.join(", ")}`).toBeGreaterThanOrEqual(3);
    expect(new Set(resumedAt).size, `resumed at ${resumedAt.join(", ")}`).toBeGreaterThanOrEqual(3);
    const expected = await lakeRows(baselineOut);
    expect(expected.sessions.length, JSON.stringify(rowCounts(expected))).toBeGreaterThan(1000);
    expect(expected.late_events.length).toBeGreaterThan(0);
    const actual = await lakeRows(out);
    expect(rowCounts(actual)).toEqual(rowCounts(expected));
    expect(actual, `kills ${delays.join(", ")} ms after start-up; resumed at ${resumedAt.join(", ")}`).toEqual(expected);
    expect(await filesEndingWith(out, [".inprogress", ".tmp"])).toEqual([]);
  });
});
