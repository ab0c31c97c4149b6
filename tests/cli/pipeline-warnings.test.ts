// Every command that loads a pipeline file says, once on stderr, which key a set-but-empty variable left out, as run does.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";

const WARNING = "environment variable CLICKPIPE_TEST_EMPTY is set but empty, so redactEmails is left out and its default true applies";

describe("cli - warnings of a pipeline file", () => {
  let directory = "";
  let file = "";
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-pipeline-warnings-"));
    file = join(directory, "p.yaml");
    // No NATS answers at port 1 and no metrics section: each command stops soon after loading the file.
    await writeFile(
      file,
      [
        "name: t",
        "nats:",
        "  url: nats://127.0.0.1:1",
        "  stream: CLICKPIPE_WARNINGS",
        "ingest:",
        "  privacy:",
        "    redactEmails: ${CLICKPIPE_TEST_EMPTY}",
        "sinks:",
        "  - type: parquet",
        `    path: ${join(directory, "lake")}`,
        "",
      ].join("\n"),
    );
    await writeFile(join(directory, "events.ndjson"), '{"event_id":"e1","user_id":"u1","type":"page_view","ts":"2026-01-01T00:00:00Z"}\n');
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  const commands: Array<[string, () => string[]]> = [
    ["publish", () => ["publish", join(directory, "events.ndjson"), "--pipeline", file]],
    ["monitor --pipeline", () => ["monitor", "--pipeline", file]],
    ["generate --pipeline", () => ["generate", "--visitors", "1", "--days", "1", "--pipeline", file]],
    ["forget", () => ["forget", "u1", "--pipeline", file]],
  ];
  it.each(commands)("%s prints a key left out by a set-but-empty variable once on stderr", async (_, args) => {
    const result = await runCli(args(), { CLICKPIPE_NO_BUNDLE: "1", CLICKPIPE_TEST_EMPTY: "" }, { timeoutMs: 60_000 });
    expect(result.stderr.split(WARNING).length - 1, result.stderr).toBe(1);
    expect(result.stderr).toContain(`ingest.privacy.redactEmails (${file}:7:5): warning: ${WARNING}`);
  });
});
