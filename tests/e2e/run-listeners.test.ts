// `clickpipe run`'s servers: each says once where it listens, and a port another process holds is named by its key.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/transport/local-server.ts";
import { runCli, spawnCli } from "../helpers/cli.ts";
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

/** Holds 127.0.0.1:port as another process would. */
async function holdPort(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

describe("clickpipe run - its listeners", () => {
  it("says once that the collector listens and once where the metrics are; a second run of the file stands by for the port", async () => {
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
      // The same pipeline again on this host: its collector's port is held by a worker of the pipeline, so it stands by
      // (run-collector-standby.test.ts has the takeover); a clean stop while standing by exits 0.
      const second = spawnCli(["run", file]);
      try {
        expect(await second.printed(/sources\[0\] \(http\): standing by: worker .* holds /), second.output()).toBe(true);
      } finally {
        second.child.kill("SIGTERM");
      }
      const { code: secondCode, output: secondOutput } = await second.exited;
      expect(secondCode, secondOutput).toBe(0);
      expect(secondOutput).not.toMatch(/listening|metrics on/);
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

  it("names sources[0].port when a process that is no worker of the pipeline holds the collector's port", async () => {
    const port = await freePort();
    const { file } = await pipelineFile("port-taken", ["sources:", "  - type: http", `    port: ${port}`, "    host: 127.0.0.1", "    writeKeys: [k]"]);
    const holder = await holdPort(port);
    try {
      const result = await runCli(["run", file]);
      expect(result.stderr).toBe(
        `clickpipe run: sources[0] (http): port ${port} on 127.0.0.1 is in use (another clickpipe run or process?): set sources[0].port to a free port\n`,
      );
      expect(result.code).toBe(1);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("names metrics.port when another process holds the metrics port", async () => {
    const metricsPort = await freePort();
    const { file } = await pipelineFile("metrics-taken", ["metrics:", `  port: ${metricsPort}`, "  host: 127.0.0.1"]);
    const holder = await holdPort(metricsPort);
    try {
      const result = await runCli(["run", file, "--drain"]);
      expect(result.stderr).toBe(
        `clickpipe run: metrics: port ${metricsPort} on 127.0.0.1 is in use (another clickpipe run or process?): set metrics.port to a free port\n`,
      );
      expect(result.code).toBe(1);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
