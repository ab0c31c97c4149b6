// Two `clickpipe run` workers of one pipeline on one host tail the same access log into the same position file: only
// the first reads and publishes, the second stands by; after `kill -9` of the first, while lines keep being appended,
// the second takes over from the saved position and the stream holds every line of the log exactly once.
import { appendFile, readFile, stat, writeFile } from "node:fs/promises";
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

const linesOf = (from: number, to: number) => accessLogText(from, to, (n) => accessLogLine(n, "standby-test"));





/** clickpipe_events_received_total{source="access_log"} of the worker serving metrics on `port` (0 when absent). */
async function accessLogReceived(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const match = /^clickpipe_events_received_total\{source="access_log"\} (\d+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}

describe("clickpipe run: two workers tailing one log on one host", () => {
  const scratch = cliScratchEachTest("clickpipe-tailer-standby-");

  it("only one publishes; after kill -9 of it the other takes over and the stream holds every line once", async () => {
    const natsUrl = inject("natsUrl");
    const directory = await scratch.folder();
    const logPath = join(directory, "access.log");
    const stream = uniqueStreamName("STANDBY");
    const out = join(directory, "out");
    let written = 200;
    await writeFile(logPath, linesOf(0, written));
    // One pipeline, two files that differ only in the metrics port (as the README says to run a standby on one host).
    const pipelineFile = (name: string, metricsPort: number) =>
      writeAccessLogPipeline(join(directory, name), {
        name: "standby",
        natsUrl,
        stream,
        paths: [logPath],
        format: "combined",
        pollInterval: "50ms",
        sinkPath: out,
        metricsPort,
      });
    const portA = await freePort();
    const portB = await freePort();
    const store = new TailPositionStore(join(out, "_checkpoints", "standby", "sources", "0-accessLog"));
    const caughtUp = () =>
      waitFor(`the tailer to reach the end of ${logPath}`, async () => (await store.load(logPath))?.offset === (await stat(logPath)).size, 10_000, 20);

    const a = spawnCli(["run", await pipelineFile("a.yaml", portA), "--worker-id", "a"]);
    scratch.track(a);
    expect(await printedWithin(a, /tailing /), a.output()).toBe(true);
    await caughtUp();
    const b = spawnCli(["run", await pipelineFile("b.yaml", portB), "--worker-id", "b"]);
    scratch.track(b);
    // Soft: without the claim the checks below say what a second tailer does to the stream.
    expect.soft(await printedWithin(b, /access log .*: standing by: worker a \(pid \d+ on .*\) holds .*\.json\.lock/), b.output()).toBe(true);
    expect(await printedWithin(b, /tailing /), b.output()).toBe(true);

    // Lines keep coming; only the holder reads them.
    let appending = true;
    let paused = false;
    const appender = (async () => {
      while (appending) {
        if (!paused) {
          await appendFile(logPath, linesOf(written, written + 7));
          written += 7;
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    await waitFor("lines appended while both run", async () => written >= 400, 10_000, 20);

    // kill -9 between two chunks (caught up, so the metrics below count what each worker read; a kill between a chunk's
    // ack and its position write is tailer-crash-after-ack.test.ts's), then keep appending.
    paused = true;
    await new Promise((resolve) => setTimeout(resolve, 30));
    await caughtUp();
    const writtenAtKill = written;
    // Only the holder read them (a standby worker serves no metrics: it does not hold the pipeline's lock).
    expect(await accessLogReceived(portA)).toBe(writtenAtKill);
    a.child.kill("SIGKILL");
    const killedAt = Date.now();
    paused = false;
    expect.soft(await printedWithin(b, /access log .*: took over .*\.lock; resuming from the saved position/), b.output()).toBe(true);
    expect.soft(Date.now() - killedAt).toBeLessThan(5_000);
    const target = written + 150;
    await waitFor("lines appended after the takeover", async () => written >= target, 10_000, 20);
    appending = false;
    await appender;
    await caughtUp();
    // The standby read nothing before it took over, and from then on every line after the saved position.
    expect(await printedWithin(b, /metrics on /), b.output()).toBe(true);
    expect(await accessLogReceived(portB)).toBe(written - writtenAtKill);

    // The oracle: the paths of the log's lines, counted in the stream.
    const counts = await countStreamContent(natsUrl, stream, (event) => event.url as string);
    const lines = (await readFile(logPath, "utf8")).split("\n").filter((line) => line !== "");
    expect(lines.length).toBe(written);
    const missing = lines.map((_, n) => `/page/${n}`).filter((url) => counts.get(url) !== 1);
    expect(missing.map((url) => `${url} x${counts.get(url) ?? 0}`)).toEqual([]);
    expect(counts.size).toBe(written);

    // A clean stop releases the claim.
    b.child.kill("SIGINT");
    expect((await b.exited).code, b.output()).toBe(0);
    await expect(stat(`${store.fileOf(logPath)}.lock`)).rejects.toThrow(/ENOENT/);
  });
});
