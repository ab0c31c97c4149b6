// `clickpipe forget` on a running worker: from the next second on, the person's rows never reach the lake.
import { DuckDBInstance } from "@duckdb/node-api";
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { CLICKPIPE_BIN, REPO_ROOT, runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const view = (anon: string, user: string, ts: string, id: string) =>
  JSON.stringify({ type: "page_view", ts, anon_id: anon, user_id: user, url: "/p", event_id: id });

describe("clickpipe forget on a live worker", () => {
  it("drops a forgotten person's sessions that were still open when forget ran", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-forget-live-"));
    const pipeline = join(directory, "p.yaml");
    await writeFile(
      pipeline,
      [
        "name: forgetlive",
        "nats:",
        `  url: ${inject("natsUrl")}`,
        `  stream: ${uniqueStreamName("FORGETLIVE")}`,
        "operators:",
        "  - type: sessionize",
        "sinks:",
        "  - type: parquet",
        `    path: ${join(directory, "out")}`,
        "checkpoint:",
        "  interval: 300ms",
      ].join("\n"),
    );
    const first = join(directory, "first.ndjson");
    await writeFile(first, [view("a1", "alice", "2026-01-05T10:00:00Z", "e1"), view("b1", "bob", "2026-01-05T10:01:00Z", "e2")].join("\n") + "\n");
    expect((await runCli(["publish", first, "--pipeline", pipeline])).code).toBe(0);

    const child = spawn(process.execPath, [CLICKPIPE_BIN, "run", pipeline], { cwd: REPO_ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const deadline = Date.now() + 30_000;
    while (!stderr.includes("starting forgetlive") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

    // Both sessions are open (the watermark has not passed their end + gap) when alice is forgotten.
    const forget = await runCli(["forget", "alice", "--pipeline", pipeline]);
    expect(forget.code, forget.stderr).toBe(0);
    const reloadDeadline = Date.now() + 10_000;
    while (!stderr.includes("tombstones changed") && Date.now() < reloadDeadline) await new Promise((r) => setTimeout(r, 100));
    expect(stderr).toContain("tombstones changed");

    // A later event moves the watermark past both sessions, so the live worker emits them.
    const second = join(directory, "second.ndjson");
    await writeFile(second, view("c1", "carol", "2026-01-05T14:00:00Z", "e3") + "\n");
    expect((await runCli(["publish", second, "--pipeline", pipeline])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 2000));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect((await runCli(["run", pipeline, "--drain"])).code).toBe(0);

    const db = await (await DuckDBInstance.create(":memory:")).connect();
    const reader = await db.runAndReadAll(
      `SELECT user_id FROM read_parquet('${join(directory, "out")}/sessions/**/*.parquet') WHERE NOT retracted ORDER BY user_id`,
    );
    expect(reader.getRowObjectsJson()).toEqual([{ user_id: "bob" }, { user_id: "carol" }]);
    db.closeSync();
  });
});
