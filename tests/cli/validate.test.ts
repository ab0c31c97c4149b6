// `clickpipe validate`: exit codes, one line per error, and `--print` output that validates again, secrets redacted.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
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

/** Temporary folders of this file's tests, removed when they are done. */
const scratch: string[] = [];
afterAll(async () => {
  for (const directory of scratch) await rm(directory, { recursive: true, force: true });
});

async function pipelineFile(text: string): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-validate-"));
  scratch.push(directory);
  const file = join(directory, "p.yaml");
  await writeFile(file, text);
  return file;
}

describe("cli validate", () => {
  it("exits 0 with a warning on stderr for a key left out because its variable is set but empty", async () => {
    const file = await pipelineFile("name: t\nnats:\n  url: ${NATS_URL}\n  stream: S\nsinks:\n  - type: parquet\n    path: ./out\n");
    const run = capture({ NATS_URL: "" });
    expect(await runValidate([file], run.io)).toBe(0);
    expect(run.stdout()).toBe("ok: t (no operators; no sources; 1 sink: parquet; no metrics server)\n");
    expect(run.stderr()).toBe(
      `nats.url (${file}:3:3): warning: environment variable NATS_URL is set but empty, so url is left out and its default "nats://127.0.0.1:4222" applies. Set NATS_URL to a value, or write \${NATS_URL:-} to leave it out on purpose.\n`,
    );
  });

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

  it("exits 1 for a nats.duplicateWindow beyond 7d, naming the key, its line and the range", async () => {
    const file = await pipelineFile("name: p\nnats:\n  stream: S\n  duplicateWindow: 14d\nsinks: [{ type: parquet, path: x }]\n");
    const run = capture();
    expect(await runValidate([file], run.io)).toBe(1);
    expect(run.stderr()).toMatch(new RegExp(`^nats\\.duplicateWindow \\(${file}:4:3\\): 14d is longer than 7d\\. Use 1s to 7d`));
  });

  it("exits 1 for an accessLog instance that cannot name a file, naming the key, its line and what to write", async () => {
    const source = (instance: string) =>
      `name: p\nnats:\n  stream: S\nsources:\n  - type: accessLog\n    paths: [/var/log/nginx/access.log]\n    instance: ${instance}\nsinks: [{ type: parquet, path: x }]\n`;
    const bad = await pipelineFile(source('"web 1"'));
    const run = capture();
    expect(await runValidate([bad], run.io)).toBe(1);
    expect(run.stderr()).toBe(
      `sources[0].instance (${bad}:7:5): "web 1" holds " ": an instance has only letters, digits, ".", "_" and "-". ` +
        'Write a stable name of the host whose logs these are, such as web-1, or a variable each host sets, such as "${CLICKPIPE_INSTANCE}" (letters, digits, ., _ and -, at most 128).\n',
    );
    // The usual form: the host's name from the environment, quoted so that an empty variable is an error, not a key
    // left out (which would share one position between the hosts).
    const good = await pipelineFile(source('"${HOSTNAME}"'));
    const ok = capture({ HOSTNAME: "web-1" });
    expect(await runValidate([good, "--print"], ok.io)).toBe(0);
    expect(ok.stdout()).toContain("    instance: web-1\n");
    const unset = capture({ HOSTNAME: "" });
    expect(await runValidate([good], unset.io)).toBe(1);
    expect(unset.stderr()).toMatch(new RegExp(`^sources\\[0\\]\\.instance \\(${good}:7:5\\): an instance cannot be empty\\. Write a stable name`));
  });

  it("exits 1 for a missing file, naming it", async () => {
    const run = capture();
    expect(await runValidate(["pipelines/no-such.yaml"], run.io)).toBe(1);
    expect(run.stderr()).toBe("pipelines/no-such.yaml: no such file. Check the path (pipelines/*.yaml holds examples).\n");
  });

  it("exits 1 for a training file, saying what it is and which command reads it, not listing its keys as unknown", async () => {
    const run = capture();
    expect(await runValidate(["pipelines/training/churn.yaml"], run.io)).toBe(1);
    expect(run.stderr()).toBe(
      "pipelines/training/churn.yaml: this is a training file (clickpipe train/score read it), not a pipeline. " +
        "Train with `clickpipe train pipelines/training/churn.yaml`; a pipeline file has name:, nats:, operators: and sinks: (pipelines/*.yaml).\n",
    );
    expect(run.stdout()).toBe("");
  });

  it("still lists a pipeline's wrong keys when it has operators beside a key a training file has", async () => {
    const file = await pipelineFile("name: p\nnats: { stream: S }\nmodels: [logistic]\noperators: [{ type: sessionize }]\nsinks: [{ type: parquet, path: ./out }]\n");
    const run = capture();
    expect(await runValidate([file], run.io)).toBe(1);
    expect(run.stderr()).toMatch(new RegExp(`^models \\(${file}:3:1\\): unknown key "models"\\.`));
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

  it("--print leaves every secret out of its YAML; the printed file is refused until they are filled in", async () => {
    const secrets = ["collector-write-key", "nats-password", "visitor-hash-key", "url-password"];
    const file = await pipelineFile(
      [
        "name: secret",
        "nats:",
        "  url: nats://ops:url-password@127.0.0.1:4222",
        "  stream: SECRET",
        "  user: ops",
        "  password: nats-password",
        "ingest:",
        "  visitorKey: visitor-hash-key",
        "sources:",
        "  - type: http",
        "    writeKeys: [collector-write-key, \"${CLICKPIPE_WRITE_KEY}\"]",
        "sinks:",
        "  - type: parquet",
        "    path: ./out",
      ].join("\n") + "\n",
    );
    const run = capture({ CLICKPIPE_WRITE_KEY: "env-write-key" });
    expect(await runValidate([file, "--print"], run.io)).toBe(0);
    const printed = run.stdout();
    for (const secret of [...secrets, "env-write-key"]) expect(printed).not.toContain(secret);
    expect(printed).toContain("  url: nats://ops:<redacted>@127.0.0.1:4222\n");
    expect(printed).toContain("  password: <redacted>\n");
    expect(printed).toContain('    writeKeys: [ <redacted>, "${CLICKPIPE_WRITE_KEY}" ]\n');

    const printedFile = await pipelineFile(printed);
    const again = capture({ CLICKPIPE_WRITE_KEY: "env-write-key" });
    expect(await runValidate([printedFile], again.io)).toBe(1);
    const lines = again.stderr().trimEnd().split("\n");
    expect(lines.map((line) => line.slice(0, line.indexOf(" ")))).toEqual(["nats.url", "nats.password", "ingest.visitorKey", "sources[0].writeKeys[0]"]);
    for (const line of lines) expect(line).toContain('"<redacted>" stands for a secret that `clickpipe validate --print` left out');

    const filledIn = capture({ CLICKPIPE_WRITE_KEY: "env-write-key" });
    const restored = printed
      .replace("ops:<redacted>@", "ops:url-password@")
      .replace("password: <redacted>", "password: nats-password")
      .replace("visitorKey: <redacted>", "visitorKey: visitor-hash-key")
      .replace("[ <redacted>,", "[ collector-write-key,");
    expect(await runValidate([await pipelineFile(restored)], filledIn.io)).toBe(0);
  });
});
