// `clickpipe validate`: exit codes, one line per error, and `--print` output that validates again.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runValidate } from "../../src/cli/validate.ts";

function capture(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (text: string) => out.push(text) }, stderr: { write: (text: string) => err.push(text) }, env },
    stdout: () => out.join(""),
    stderr: () => err.join(""),
  };
}

async function pipelineFile(text: string): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-validate-"));
  const file = join(directory, "p.yaml");
  await writeFile(file, text);
  return file;
}

describe("cli validate", () => {
  it("exits 0 and summarises a valid pipeline", async () => {
    const run = capture({ CLICKPIPE_PSEUDONYM_KEY: "test-key" });
    expect(await runValidate(["pipelines/web.yaml"], run.io)).toBe(0);
    expect(run.stdout()).toBe(
      "ok: web (4 operators: sessionize, sequencePatterns, basket, churnFeatures; 2 sources: http, accessLog; " +
        "2 sinks: parquet, nats; metrics on 0.0.0.0:9464)\n",
    );
    expect(run.stderr()).toBe("");
  });

  it("exits 1 and prints each error on its own line with file, line and column", async () => {
    const file = await pipelineFile("name: bad\nnats:\n  url: x\noperators:\n  - type: sessionize\n    gap: 5 minutes\nsinks: []\nmetrix: {}\n");
    const run = capture();
    expect(await runValidate([file], run.io)).toBe(1);
    const lines = run.stderr().trimEnd().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(new RegExp(`^nats\\.stream \\(${file}:2:1\\): missing required key "stream"\\.`));
    expect(lines[1]).toMatch(new RegExp(`^operators\\[0\\]\\.gap \\(${file}:6:5\\): expected a duration like "30m"`));
    expect(lines[2]).toMatch(new RegExp(`^sinks \\(${file}:7:1\\): needs at least 1 entry\\.`));
    expect(lines[3]).toMatch(new RegExp(`^metrix \\(${file}:8:1\\): unknown key "metrix"\\. Did you mean "metrics"\\?`));
    expect(run.stdout()).toBe("");
  });

  it("exits 1 for a missing file, naming it", async () => {
    const run = capture();
    expect(await runValidate(["pipelines/no-such.yaml"], run.io)).toBe(1);
    expect(run.stderr()).toBe("pipelines/no-such.yaml: no such file. Check the path (pipelines/*.yaml holds examples).\n");
  });

  it("exits 2 with the usage for no file, two files or an unknown flag", async () => {
    for (const argv of [[], ["a.yaml", "b.yaml"], ["a.yaml", "--pretty"]]) {
      const run = capture();
      expect(await runValidate(argv, run.io)).toBe(2);
      expect(run.stderr()).toContain("usage: clickpipe validate <pipeline.yaml> [--print]");
    }
  });

  it("--print writes only YAML to stdout, with variables expanded and durations as text, and it validates again", async () => {
    const run = capture({ CLICKPIPE_OUT: "/lake", CLICKPIPE_METRICS_PORT: "9500" });
    expect(await runValidate(["pipelines/demo.yaml", "--print"], run.io)).toBe(0);
    const printed = run.stdout();
    expect(printed).toContain("path: /lake\n");
    expect(printed).toContain("  port: 9500\n");
    expect(printed).toContain("    gap: 30m\n");
    expect(printed).toContain("  interval: 5s\n");
    expect(printed).not.toContain("1800000");
    expect(run.stderr()).toMatch(/^ok: demo /);

    const again = capture();
    expect(await runValidate([await pipelineFile(printed), "--print"], again.io)).toBe(0);
    expect(again.stdout()).toBe(printed);
  });
});
