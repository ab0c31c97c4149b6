// `clickpipe run`'s servers: each says once where it listens.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/transport/local-server.ts";
import { spawnCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "clickpipe-listeners-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function pipelineFile(name: string, lines: string[]): Promise<{ file: string; stream: string }> {
  const file = join(directory, `${name}.yaml`);
  const stream = uniqueStreamName("LISTENERS");
  const head = [`name: ${name}`, "nats:", `  url: ${inject("natsUrl")}`, `  stream: ${stream}`, "ingest:", "  pages: all"];
  const tail = ["operators:", "  - type: sessionize", "sinks:", "  - type: parquet", `    path: ${join(directory, name)}`, "checkpoint:", "  interval: 500ms"];
  await writeFile(file, [...head, ...lines, ...tail].join("\n"));
  return { file, stream };
}

describe("clickpipe run - its listeners", () => {
  it("says once that the collector listens and once where the metrics are", async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const { file, stream } = await pipelineFile("live", [
      "sources:",
      "  - type: http",
      `    port: ${port}`,
      "    host: 127.0.0.1",
      "    writeKeys: [secret-key]",
      "metrics:",
      `  port: ${metricsPort}`,
      "  host: 127.0.0.1",
    ]);
    const first = spawnCli(["run", file]);
    try {
      expect(await first.printed(/metrics on /)).toBe(true);
    } finally {
      first.child.kill("SIGTERM");
    }
    const { code, output } = await first.exited;
    expect(code).toBe(0);
    expect(output.split("\n").filter((line) => /listening|metrics on/.test(line))).toEqual([
      `http collector listening on http://127.0.0.1:${port} (stream ${stream})`,
      `metrics on http://127.0.0.1:${metricsPort}/metrics`,
    ]);
  });
});
