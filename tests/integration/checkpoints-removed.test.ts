// A lake whose checkpoints were removed (the directory deleted, the KV bucket dropped) while its parts stayed.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { crashInput, lakeRows, publishAndDrain, rowCounts, spawnWorker, writePipelineFile } from "./crash-harness.ts";

describe("checkpoints removed", () => {
  const natsUrl = inject("natsUrl");
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-checkpoints-removed-"));
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("checkpoints removed - a run refuses to start over the parts it committed, naming them, and writes no row twice", async () => {
    const out = join(directory, "lake");
    const file = await writePipelineFile(directory, { name: "orphans", natsUrl, stream: uniqueStreamName("ORPHANS"), out });
    await publishAndDrain(directory, file, crashInput(120, 2, 5));
    const before = rowCounts(await lakeRows(out));
    expect(before.sessions).toBeGreaterThan(0);

    await rm(join(out, "_checkpoints"), { recursive: true, force: true });
    const again = await runCli(["run", file, "--drain"]);

    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      new RegExp(
        `^clickpipe run: no checkpoint in ${join(out, "_checkpoints", "orphans")}, but ${out} holds \\d+ parts this pipeline committed ` +
          `\\([a-z_]+/[a-z]+=[^/]+/part-orphans-\\d{10}-\\d{4}\\.parquet, …\\): its checkpoints were removed`,
        "m",
      ),
    );
    expect(rowCounts(await lakeRows(out))).toEqual(before);
  });

  it("checkpoints removed - a live worker whose lock goes with them says so, not that another worker took it, and exits 1", async () => {
    const out = join(directory, "live");
    const file = await writePipelineFile(directory, { name: "unlocked", natsUrl, stream: uniqueStreamName("UNLOCKED"), out });
    const worker = spawnWorker(file);
    expect(await worker.printed(/starting unlocked at/)).toBe(true);

    await rm(join(out, "_checkpoints"), { recursive: true, force: true });
    const { code, output } = await worker.exited;

    expect(code).toBe(1);
    expect(output).toContain(`clickpipe run: fenced: ${join(out, "_checkpoints", "unlocked", "lock")} is gone (another worker took it over and has since let it go, or the checkpoints were removed); stopping without committing`);
  });
});
