// `clickpipe run` tailing a growing access log is SIGKILLed after a chunk's JetStream ack and before its position is
// written (CLICKPIPE_CRASH_AT=tail-after-ack), then restarted while lines keep coming: the stream holds every line of
// the log exactly once, events and dead letters alike.
import { appendFile, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { TailPositionStore } from "../../src/ingest/tailer-position.ts";
import { accessLogLine, accessLogText } from "../helpers/access-log-lines.ts";
import { writeAccessLogPipeline } from "../helpers/access-log-pipeline.ts";
import { spawnCli, cliScratchEachTest } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { countStreamContent } from "../helpers/stream-content.ts";
import { waitFor } from "../helpers/wait-for.ts";

/** A numbered access-log line, or, every fifth, garbage that becomes a dead letter. */
const logLine = (n: number) => (n % 5 === 0 ? `garbage line ${n}` : accessLogLine(n, "crash-test"));
const linesOf = (from: number, to: number) => accessLogText(from, to, logLine);




describe("clickpipe run: a tailer killed between a chunk's ack and its position write", () => {
  const scratch = cliScratchEachTest("clickpipe-tail-crash-");

  it("re-sends that chunk under its ids after the restart, though the log grew: every line once in the stream", async () => {
    const natsUrl = inject("natsUrl");
    const directory = await scratch.folder();
    const logPath = join(directory, "access.log");
    const stream = uniqueStreamName("TAILCRASH");
    const out = join(directory, "out");
    let written = 50;
    await writeFile(logPath, linesOf(0, written));
    const pipeline = await writeAccessLogPipeline(join(directory, "p.yaml"), {
      name: "tailcrash",
      natsUrl,
      stream,
      paths: [logPath],
      format: "combined",
      pollInterval: "50ms",
      sinkPath: out,
    });
    const store = new TailPositionStore(join(out, "_checkpoints", "tailcrash", "sources", "0-accessLog"));

    // Five lines (one of them garbage) every 20 ms, while the tailer runs, is killed and restarts.
    let appending = true;
    const appender = (async () => {
      while (appending) {
        await appendFile(logPath, linesOf(written, written + 5));
        written += 5;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    // The first chunk is the log as written above; the second, lines appended since: killed after its ack.
    const first = spawnCli(["run", pipeline, "--worker-id", "first"], { CLICKPIPE_CRASH_AT: "tail-after-ack@2" });
    scratch.track(first);
    const killed = await first.exited;
    expect(killed.signal, killed.output).toBe("SIGKILL");
    const inflight = (await store.load(logPath))?.inflight;
    // The log grows past the chunk in flight before the restart reads it again.
    const writtenAtKill = written;
    await waitFor("lines appended after the kill", async () => written >= writtenAtKill + 20, 10_000, 20);
    expect((await stat(logPath)).size).toBeGreaterThan(inflight?.end ?? 0);

    const second = spawnCli(["run", pipeline, "--worker-id", "second"]);
    scratch.track(second);
    const resumedAt = written;
    await waitFor("lines appended after the restart", async () => written >= resumedAt + 30, 10_000, 20);
    appending = false;
    await appender;
    await waitFor(`the tailer to reach the end of ${logPath}`, async () => (await store.load(logPath))?.offset === (await stat(logPath)).size, 10_000, 20);
    second.child.kill("SIGINT");
    expect((await second.exited).code, second.output()).toBe(0);

    // The oracle: each line of the log, counted by its content in the stream (an event by its url, a dead letter by its raw line).
    const counts = await countStreamContent(natsUrl, stream, (event) => event.url as string);
    const lines = (await readFile(logPath, "utf8")).split("\n").filter((line) => line !== "");
    expect(lines.length).toBe(written);
    const keys = lines.map((_, n) => (n % 5 === 0 ? logLine(n) : `/page/${n}`));
    expect(keys.filter((key) => counts.get(key) !== 1).map((key) => `${key} x${counts.get(key) ?? 0}`)).toEqual([]);
    expect(counts.size).toBe(written);
    // The restart re-sent the chunk in flight, said so, and left nothing in flight when stopped.
    expect(inflight, "the chunk in flight at the kill is in the position").toBeDefined();
    expect(second.output()).toMatch(/re-sending bytes \d+-\d+, in flight when the tailer stopped, under the same ids/);
    expect((await store.load(logPath))?.inflight).toBeUndefined();
  });
});
