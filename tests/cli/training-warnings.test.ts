// train and score say, once on stderr, which key of the training file a set-but-empty variable left out.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScore } from "../../src/cli/score.ts";
import { runTrain } from "../../src/cli/train.ts";
import { CapturedIo } from "../training/capture-io.ts";

const VARIABLE = "CLICKPIPE_TEST_EMPTY_SEED";

describe("cli - warnings of a training file", () => {
  let directory = "";
  let file = "";
  let saved: string | undefined;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-training-warnings-"));
    file = join(directory, "training.yaml");
    // No snapshots and no trained model: each command stops soon after loading the file.
    await writeFile(
      file,
      [
        `features: ${join(directory, "customer_features")}`,
        "train: { from: 1997-06-30, to: 1997-06-30 }",
        "validate: { from: 1997-09-30, to: 1997-09-30 }",
        "horizon: 90d",
        `out: ${join(directory, "models")}`,
        `seed: \${${VARIABLE}}`,
        "",
      ].join("\n"),
    );
    saved = process.env[VARIABLE];
    process.env[VARIABLE] = "";
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env[VARIABLE];
    else process.env[VARIABLE] = saved;
    await rm(directory, { recursive: true, force: true });
  });

  const warning = () =>
    `seed (${file}:6:1): warning: environment variable ${VARIABLE} is set but empty, so seed is left out and its default 42 applies. Set ${VARIABLE} to a value, or write \${${VARIABLE}:-} to leave it out on purpose.\n`;

  it("train prints it once", async () => {
    const io = new CapturedIo();
    expect(await runTrain([file], io)).toBe(1);
    expect(io.err.split(warning()).length - 1, io.err).toBe(1);
  });

  it("score prints it once", async () => {
    const io = new CapturedIo();
    expect(await runScore([file, "--snapshot", "1997-09-30"], io)).toBe(1);
    expect(io.err.split(warning()).length - 1, io.err).toBe(1);
  });
});
