// Two `clickpipe run` workers of one pipeline on one host, both with an HTTP collector on the same port: the second
// stands by for the port instead of stopping, and after `kill -9` of the first it serves the port, so events posted
// before and after the kill all reach the stream.
import { stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/transport/local-server.ts";
import { printedWithin, spawnCli, cliScratchEachTest } from "../helpers/cli.ts";
import { countStreamContent } from "../helpers/stream-content.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";


/** POSTs page views with the given event ids; the collector's status. */
async function post(port: number, ids: string[]): Promise<number> {
  const events = ids.map((id, n) => ({ type: "page_view", ts: "2026-01-05T10:00:00Z", anon_id: `v${n}`, url: `/${id}`, event_id: id }));
  const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-write-key": "secret-key" },
    body: JSON.stringify(events),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Each event id in the stream, with how often it is there. */
async function idsInStream(stream: string): Promise<Map<string, number>> {
  return countStreamContent(inject("natsUrl"), stream, (event) => event.event_id as string);
}

describe("clickpipe run: two workers with a collector on one port on one host", () => {
  const scratch = cliScratchEachTest("clickpipe-collector-standby-");

  it("the second stands by for the port and serves it once the first is killed (-9)", async () => {
    const directory = await scratch.folder();
    const stream = uniqueStreamName("PORTSTANDBY");
    const port = await freePort();
    const out = join(directory, "out");
    // One file for both workers, as a systemd unit and its standby on one host would run it.
    const file = join(directory, "p.yaml");
    await writeFile(
      file,
      [
        "name: portstandby",
        "nats:",
        `  url: ${inject("natsUrl")}`,
        `  stream: ${stream}`,
        "ingest:",
        "  pages: all",
        "sources:",
        "  - type: http",
        `    port: ${port}`,
        "    host: 127.0.0.1",
        "    writeKeys: [secret-key]",
        "sinks:",
        "  - type: parquet",
        `    path: ${out}`,
      ].join("\n"),
    );

    const a = spawnCli(["run", file, "--worker-id", "a"]);
    scratch.track(a);
    expect(await printedWithin(a, /http collector listening on /), a.output()).toBe(true);
    const b = spawnCli(["run", file, "--worker-id", "b"]);
    scratch.track(b);
    const claim = join(out, "_checkpoints", "portstandby", "sources", "0-http", `port-${port}@${hostname()}.lock`);
    expect(
      await printedWithin(b, /sources\[0\] \(http\): standing by: worker a \(pid \d+ on [^)]+\) holds .*port-\d+@.+\.lock/),
      b.output(),
    ).toBe(true);
    // It keeps running (it stands by for the pipeline's lock too), and does not listen.
    expect(await printedWithin(b, /standing by: worker a .* holds .*_checkpoints.*lock$/m), b.output()).toBe(true);
    expect(b.child.exitCode, b.output()).toBe(null);
    expect(b.output()).not.toMatch(/listening/);

    const before = Array.from({ length: 5 }, (_, n) => `before-${n}`);
    expect(await post(port, before)).toBe(200);

    a.child.kill("SIGKILL");
    const killedAt = Date.now();
    expect(await printedWithin(b, new RegExp(`http collector listening on http://127\\.0\\.0\\.1:${port} `)), b.output()).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(b.output()).toMatch(/sources\[0\] \(http\): took over .*port-\d+@.+\.lock/);
    const after = Array.from({ length: 5 }, (_, n) => `after-${n}`);
    expect(await post(port, after)).toBe(200);

    const counts = await idsInStream(stream);
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries([...before, ...after].map((id) => [id, 1])));

    // A clean stop releases the claim.
    b.child.kill("SIGINT");
    expect((await b.exited).code, b.output()).toBe(0);
    await expect(stat(claim)).rejects.toThrow(/ENOENT/);
  }, 30_000);
});
