// Loading a pipeline file for a command (run): its warnings are handed to the command's log, once.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipelineOrThrow } from "../../src/cli/load-config.ts";

describe("cli load-config", () => {
  it("hands each warning to the command's log, once, and returns the config", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-load-config-"));
    try {
      const file = join(directory, "p.yaml");
      await writeFile(file, "name: t\nnats:\n  url: ${NATS_URL}\n  stream: S\nsinks:\n  - type: parquet\n    path: ./out\n");
      const logged: string[] = [];
      const config = await loadPipelineOrThrow(file, { NATS_URL: "" }, (line) => logged.push(line));
      expect(config.nats.url).toBe("nats://127.0.0.1:4222");
      expect(logged).toEqual([
        `nats.url (${file}:3:3): warning: environment variable NATS_URL is set but empty, so url is left out and its default "nats://127.0.0.1:4222" applies. Set NATS_URL to a value, or write \${NATS_URL:-} to leave it out on purpose.`,
      ]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
