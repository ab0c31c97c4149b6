// Two web servers, each with its own log at the same configured path, each running a `clickpipe run` worker of one
// pipeline file whose sink path (and so the tailers' state folder) they share: with `instance` set per host, both
// tail their own log (the worker standing by for the pipeline's lock too), and the stream holds every line of both
// logs once. The hosts are two working directories: `paths: [access.log]` is relative, so each worker reads its own.
import { appendFile, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { TailPositionStore } from "../../src/ingest/tailer-position.ts";
import { freePort } from "../../src/transport/local-server.ts";
import { accessLogLine, accessLogText } from "../helpers/access-log-lines.ts";
import { writeAccessLogPipeline } from "../helpers/access-log-pipeline.ts";
import { printedWithin, spawnCli, cliScratchEachTest } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { countStreamContent } from "../helpers/stream-content.ts";
import { waitFor } from "../helpers/wait-for.ts";

/** Host A logs requests /page/0 …, host B /page/10000 …: the stream's urls tell whose line each event is. */
const HOST_B_FIRST = 10_000;
const linesOf = (from: number, to: number) => accessLogText(from, to, (n) => accessLogLine(n, "instances-test"));

describe("clickpipe run: workers on two hosts tailing each host's log at one path", () => {
  const scratch = cliScratchEachTest("zztail-run-instances-");

  it("each host's tailer reads its own log under its instance, and the stream holds every line of both once", async () => {
    const natsUrl = inject("natsUrl");
    const directory = await scratch.folder();
    const stream = uniqueStreamName("ZZTAIL");
    const out = join(directory, "shared-lake");
    const hosts = { a: join(directory, "host-a"), b: join(directory, "host-b") };
    await mkdir(hosts.a);
    await mkdir(hosts.b);
    const written = { a: 150, b: HOST_B_FIRST + 90 };
    await writeFile(join(hosts.a, "access.log"), linesOf(0, written.a));
    await writeFile(join(hosts.b, "access.log"), linesOf(HOST_B_FIRST, written.b));
    // One file deployed to both hosts: the host's name and metrics port come from its environment.
    const pipelineFile = await writeAccessLogPipeline(join(directory, "pipeline.yaml"), {
      name: "instances",
      natsUrl,
      stream,
      paths: ["access.log"],
      instance: "${WEB_HOST}",
      pollInterval: "50ms",
      sinkPath: out,
      metricsPort: "${METRICS_PORT}",
    });
    const stateDirectory = join(out, "_checkpoints", "instances", "sources", "0-accessLog");
    const caughtUp = (host: "a" | "b") =>
      waitFor(
        `host ${host}'s tailer to reach the end of its log`,
        async () => (await new TailPositionStore(stateDirectory, `web-${host}`).load("access.log"))?.offset === (await stat(join(hosts[host], "access.log"))).size,
        15_000,
        25,
      );

    const a = spawnCli(["run", pipelineFile, "--worker-id", "a"], { WEB_HOST: "web-a", METRICS_PORT: String(await freePort()) }, { cwd: hosts.a });
    scratch.track(a);
    expect(await printedWithin(a, /tailing access\.log \(combined\) as instance web-a/), a.output()).toBe(true);
    await caughtUp("a");
    // Host B's worker stands by for the pipeline's lock, and tails its own log all the same.
    const b = spawnCli(["run", pipelineFile, "--worker-id", "b"], { WEB_HOST: "web-b", METRICS_PORT: String(await freePort()) }, { cwd: hosts.b });
    scratch.track(b);
    expect(await printedWithin(b, /tailing access\.log \(combined\) as instance web-b/), b.output()).toBe(true);
    await caughtUp("b");

    // Both logs keep growing.
    for (let round = 0; round < 10; round++) {
      await appendFile(join(hosts.a, "access.log"), linesOf(written.a, written.a + 7));
      written.a += 7;
      await appendFile(join(hosts.b, "access.log"), linesOf(written.b, written.b + 5));
      written.b += 5;
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    await caughtUp("a");
    await caughtUp("b");
    for (const worker of [a, b]) expect(worker.output()).not.toMatch(/access log .*standing by/);

    // The oracle: the urls of both logs' lines, each counted once in the stream.
    const counts = await countStreamContent(natsUrl, stream, (event) => event.url as string);
    const expected = new Map<string, number>();
    for (const [host, first] of [["a", 0], ["b", HOST_B_FIRST]] as const) {
      const lines = (await readFile(join(hosts[host], "access.log"), "utf8")).split("\n").filter((line) => line !== "");
      expect(lines.length).toBe(written[host] - first);
      for (let n = first; n < written[host]; n++) expected.set(`/page/${n}`, 1);
    }
    expect(counts).toEqual(expected);

    for (const worker of [a, b]) worker.child.kill("SIGINT");
    expect((await a.exited).code, a.output()).toBe(0);
    expect((await b.exited).code, b.output()).toBe(0);
  });
});
