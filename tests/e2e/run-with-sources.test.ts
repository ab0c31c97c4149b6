// `clickpipe run` starts the pipeline's sources: events posted to the HTTP collector and lines appended to a tailed
// access log end up in the sessions table.
import { DuckDBInstance } from "@duckdb/node-api";
import { spawn } from "node:child_process";
import { appendFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/transport/local-server.ts";
import { writeAccessLogPipeline } from "../helpers/access-log-pipeline.ts";
import { CLICKPIPE_BIN, REPO_ROOT, runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("clickpipe run with sources", () => {
  it("says when a tailed log does not exist yet, and reads it once it appears", async () => {
    // "tailing <path>" alone was all it said, as if it read lines: pipelines/web.yaml on a machine without nginx.
    const natsUrl = inject("natsUrl");
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-sources-missing-"));
    try {
      const logFile = join(directory, "logs", "access.log");
      const pipeline = join(directory, "p.yaml");
      await writeAccessLogPipeline(pipeline, {
        name: "missing-log",
        natsUrl,
        stream: uniqueStreamName("MISSINGLOG"),
        paths: [logFile],
        format: "combined",
        pollInterval: "100ms",
        operators: ["sessionize"],
        sinkPath: join(directory, "out"),
      });
      const child = spawn(process.execPath, [CLICKPIPE_BIN, "run", pipeline], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let [stdout, stderr] = ["", ""];
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      try {
        await waitFor(async () => stderr.includes("starting missing-log"), 30_000);
        expect(stderr).toContain(`${logFile} does not exist yet: sources[0] waits for it and reads it once it appears`);
        await mkdir(join(directory, "logs"));
        await writeFile(logFile, '10.1.2.3 - - [05/Jan/2026:11:00:00 +0000] "GET /x HTTP/1.1" 200 10 "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"\n');
        await new Promise((resolve) => setTimeout(resolve, 1500));
      } finally {
        child.kill("SIGINT");
      }
      expect(await exited, stderr).toBe(0);
      // The line was read: the run's summary counts it.
      expect(stdout).toMatch(/^missing-log: 1 events?, /m);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("collects over HTTP and from a tailed log, then a drain writes their sessions", async () => {
    const natsUrl = inject("natsUrl");
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-sources-"));
    try {
      const port = await freePort();
      const logFile = join(directory, "access.log");
      await writeFile(logFile, "");
      const pipeline = join(directory, "p.yaml");
      await writeAccessLogPipeline(pipeline, {
        name: "sources",
        natsUrl,
        stream: uniqueStreamName("SOURCES"),
        collector: { port, writeKeys: ["secret-key"] },
        paths: [logFile],
        format: "combined",
        pollInterval: "100ms",
        operators: ["sessionize"],
        sinkPath: join(directory, "out"),
        checkpointInterval: "500ms",
      });
      const child = spawn(process.execPath, [CLICKPIPE_BIN, "run", pipeline], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      await waitFor(async () => stderr.includes("http collector listening"), 30_000);

      // Two visitors over HTTP: one with two page views 10 minutes apart (one session), one with a single page view.
      const events = [
        { type: "page_view", ts: "2026-01-05T10:00:00Z", anon_id: "v1", url: "/a", event_id: "h1" },
        { type: "page_view", ts: "2026-01-05T10:10:00Z", anon_id: "v1", url: "/b", event_id: "h2" },
        { type: "page_view", ts: "2026-01-05T10:05:00Z", anon_id: "v2", url: "/a", event_id: "h3" },
      ];
      const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-write-key": "secret-key" },
        body: JSON.stringify(events),
      });
      expect(response.status).toBe(200);
      // One log visitor with two requests a minute apart.
      await appendFile(
        logFile,
        '10.1.2.3 - - [05/Jan/2026:11:00:00 +0000] "GET /x HTTP/1.1" 200 10 "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"\n' +
          '10.1.2.3 - - [05/Jan/2026:11:01:00 +0000] "GET /y HTTP/1.1" 200 10 "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"\n',
      );
      await waitFor(async () => stderr.includes("tailing"), 5_000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      child.kill("SIGINT");
      expect(await exited).toBe(0);

      const drain = await runCli(["run", pipeline, "--drain"]);
      expect(drain.code, drain.stderr).toBe(0);
      const db = await (await DuckDBInstance.create(":memory:")).connect();
      const reader = await db.runAndReadAll(
        `SELECT event_count::INTEGER AS events, pageview_count::INTEGER AS views, page_path
         FROM read_parquet('${join(directory, "out")}/sessions/**/*.parquet') WHERE NOT retracted ORDER BY start_ts`,
      );
      expect(reader.getRowObjectsJson()).toEqual([
        { events: 2, views: 2, page_path: ["/a", "/b"] },
        { events: 1, views: 1, page_path: ["/a"] },
        { events: 2, views: 2, page_path: ["/x", "/y"] },
      ]);
      db.closeSync();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
