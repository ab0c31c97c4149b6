// `validate --print`: the effective config as YAML that validates back to the same config, durations written as text,
// secrets redacted (references kept) and refused by validation until they are filled in.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parsePipelineText } from "../../src/config/load.ts";
import { pipelineSchema } from "../../src/config/pipeline.ts";
import { printPipeline } from "../../src/config/print.ts";
import { withDurationsAsText } from "../../src/config/schema-walk.ts";

const text = `name: printed
nats:
  stream: \${STREAM:-PRINTED}
sources:
  - type: accessLog
    paths: [a.log]
    pollInterval: 1500ms
operators:
  - type: sessionize
    gap: 45m
  - type: sequencePatterns
    window: 2h
    every: 30m
sinks:
  - type: parquet
    path: ./out
checkpoint:
  interval: 90s
`;

function loaded(source: string, env: Record<string, string> = {}) {
  const result = parsePipelineText(source, "print.yaml", { CLICKPIPE_PSEUDONYM_KEY: "test-key", ...env });
  if (!result.ok) throw new Error(result.errors.map((error) => `${error.path}: ${error.message}`).join("\n"));
  return result;
}

function load(source: string, env: Record<string, string> = {}) {
  return loaded(source, env).config;
}

/** Every secret the schema knows, written in the file as text, and one write key and the token as references. */
const withSecrets = `name: secrets
nats:
  url: nats://alice:url-password@10.0.0.1:4222,tls://url-token@10.0.0.2:4222
  stream: SECRETS
  user: alice
  password: nats-password
ingest:
  visitorKey: visitor-hash-key
sources:
  - type: http
    writeKeys: [literal-write-key, "\${CLICKPIPE_WRITE_KEY}", "\${OTHER_WRITE_KEY:-default-write-key}"]
sinks:
  - type: parquet
    path: ./out
`;
const withToken = withSecrets.replace("  user: alice\n  password: nats-password\n", "  token: ${NATS_TOKEN}\n");
const secretEnv = { CLICKPIPE_WRITE_KEY: "env-write-key", NATS_TOKEN: "env-token" };

describe("config print", () => {
  it("prints durations back as text in their largest exact unit, defaults included", () => {
    const printed = parse(printPipeline(load(text)));
    expect(printed.nats).toEqual({ url: "nats://127.0.0.1:4222", stream: "PRINTED", partitions: 1, customerPartitions: 1, replicas: 1, duplicateWindow: "2m" });
    expect(printed.sources[0].pollInterval).toBe("1500ms");
    expect(printed.operators[0]).toMatchObject({ gap: "45m", maxDuration: "12h", outOfOrderness: "1m", allowedLateness: "1h" });
    expect(printed.operators[1]).toMatchObject({ window: "2h", every: "30m" });
    expect(printed.checkpoint).toEqual({ interval: "90s", store: "directory" });
  });

  it("re-validates to exactly the same config", () => {
    const config = load(text);
    expect(load(printPipeline(config))).toEqual(config);
  });

  it("re-validates every example pipeline to the same config (with its secrets' variables set)", async () => {
    const { readdir, readFile } = await import("node:fs/promises");
    // web.yaml's write key is `${CLICKPIPE_WRITE_KEY:-…}`: printed with its default redacted, it needs the variable.
    const env = { CLICKPIPE_WRITE_KEY: "set-write-key" };
    for (const file of (await readdir("pipelines")).filter((name) => name.endsWith(".yaml"))) {
      const { config, textBeforeExpansion } = loaded(await readFile(`pipelines/${file}`, "utf8"), env);
      expect(load(printPipeline(config, textBeforeExpansion), env), file).toEqual(config);
    }
  });

  it("redacts every secret written in the file and keeps every other value as it was", () => {
    const { config, textBeforeExpansion } = loaded(withSecrets, secretEnv);
    const text = printPipeline(config, textBeforeExpansion);
    for (const secret of ["url-password", "url-token", "nats-password", "visitor-hash-key", "literal-write-key", "env-write-key", "default-write-key"]) {
      expect(text).not.toContain(secret);
    }
    const printed = parse(text);
    // Hand-written oracle: the password of a server URL goes, its user and host stay; a user name is no secret.
    expect(printed.nats).toEqual({
      url: "nats://alice:<redacted>@10.0.0.1:4222,tls://<redacted>@10.0.0.2:4222",
      stream: "SECRETS",
      partitions: 1,
      replicas: 1,
      duplicateWindow: "2m",
      customerPartitions: 1,
      user: "alice",
      password: "<redacted>",
    });
    expect(printed.ingest.visitorKey).toBe("<redacted>");
    // A reference names no secret and prints as written; a default is a secret in the file.
    expect(printed.sources[0].writeKeys).toEqual(["<redacted>", "${CLICKPIPE_WRITE_KEY}", "${OTHER_WRITE_KEY:-<redacted>}"]);
    // Everything else is the config as it is, durations as text: only the five values above differ.
    const unredacted = withDurationsAsText(pipelineSchema, config) as Record<string, Record<string, unknown> & { writeKeys?: unknown }[]>;
    expect(printed).toEqual({
      ...unredacted,
      nats: printed.nats,
      ingest: { ...unredacted.ingest, visitorKey: "<redacted>" },
      sources: [{ ...unredacted.sources[0], writeKeys: printed.sources[0].writeKeys }],
    });
  });

  it("prints a token given as a reference as the reference, which validates again to the same config", () => {
    const { config, textBeforeExpansion } = loaded(withToken.replace(/literal-write-key, |, "\$\{OTHER_WRITE_KEY:-default-write-key\}"/g, ""), secretEnv);
    const text = printPipeline(config, textBeforeExpansion);
    expect(parse(text).nats.token).toBe("${NATS_TOKEN}");
    expect(text).not.toContain("env-token");
    // The secrets written in the file stay redacted: with them back the config is the same.
    const filledIn = text
      .replace("alice:<redacted>@", "alice:url-password@")
      .replace("//<redacted>@", "//url-token@")
      .replace("visitorKey: <redacted>", "visitorKey: visitor-hash-key");
    expect(load(filledIn, secretEnv)).toEqual(config);
  });

  it("refuses a printed file until its redacted secrets are filled in, naming each one's key and line", () => {
    const { config, textBeforeExpansion } = loaded(withSecrets, secretEnv);
    const text = printPipeline(config, textBeforeExpansion);
    const result = parsePipelineText(text, "printed.yaml", secretEnv);
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors;
    const lineOf = (needle: string) => text.split("\n").findIndex((line) => line.includes(needle)) + 1;
    expect(errors.map(({ path, line }) => ({ path, line }))).toEqual([
      { path: "nats.url", line: lineOf("url:") },
      { path: "nats.password", line: lineOf("password:") },
      { path: "ingest.visitorKey", line: lineOf("visitorKey:") },
      { path: "sources[0].writeKeys[0]", line: lineOf("writeKeys:") },
      { path: "sources[0].writeKeys[2]", line: lineOf("writeKeys:") },
    ]);
    expect(errors[0].message).toBe('"<redacted>" stands for a secret that `clickpipe validate --print` left out');
    // With OTHER_WRITE_KEY set, its reference no longer falls back to the redacted default.
    const otherSet = parsePipelineText(text, "printed.yaml", { ...secretEnv, OTHER_WRITE_KEY: "k" });
    expect(otherSet.ok ? [] : otherSet.errors.map((error) => error.path)).not.toContain("sources[0].writeKeys[2]");
  });

  it("leaves omitted optional sections out", () => {
    const printed = parse(printPipeline(load(text)));
    expect(Object.keys(printed)).toEqual(["name", "nats", "ingest", "sources", "operators", "sinks", "checkpoint"]);
  });
});
