// `clickpipe forget` on a running worker: from the next second on, the person's rows never reach the lake.
import { DuckDBInstance } from "@duckdb/node-api";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { CLICKPIPE_BIN, REPO_ROOT, runCli, spawnCli } from "../helpers/cli.ts";
import { freePort, uniqueStreamName } from "../helpers/nats-server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { addTombstones } from "../../src/runtime/tombstones.ts";

const view = (anon: string, user: string, ts: string, id: string) =>
  JSON.stringify({ type: "page_view", ts, anon_id: anon, user_id: user, url: "/p", event_id: id });

/** Every temporary folder the tests made, removed after them. */
const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

/** A sessionize-only pipeline `name` on a stream of its own under a new directory; `checkpoint.interval` and metrics when given. */
async function sessionizePipeline(name: string, interval?: string, metricsPort?: number): Promise<{ directory: string; pipeline: string; out: string }> {
  const directory = await mkdtemp(join(tmpdir(), `clickpipe-${name}-`));
  directories.push(directory);
  const out = join(directory, "out");
  const pipeline = join(directory, "p.yaml");
  const lines = [`name: ${name}`, "nats:", `  url: ${inject("natsUrl")}`, `  stream: ${uniqueStreamName(name.toUpperCase())}`];
  lines.push("operators:", "  - type: sessionize", "sinks:", "  - type: parquet", `    path: ${out}`);
  if (interval !== undefined) lines.push("checkpoint:", `  interval: ${interval}`);
  if (metricsPort !== undefined) lines.push("metrics:", `  port: ${metricsPort}`, "  host: 127.0.0.1");
  await writeFile(pipeline, lines.join("\n"));
  return { directory, pipeline, out };
}

/** The sum of a metric's series (every label set) a worker serves on `port`; 0 while it does not answer. */
async function metricSum(port: number, name: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.text(), () => "");
  let sum = 0;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))) sum += Number(match[1]);
  return sum;
}

/** The user_id of the lake's session rows that `where` keeps (default: current, not retracted), sorted. */
async function sessionUsers(out: string, where = "NOT retracted"): Promise<unknown[]> {
  const db = await (await DuckDBInstance.create(":memory:")).connect();
  try {
    const reader = await db.runAndReadAll(`SELECT user_id FROM read_parquet('${out}/sessions/**/*.parquet') WHERE ${where} ORDER BY user_id`);
    return reader.getRowObjectsJson();
  } finally {
    db.closeSync();
  }
}

describe("clickpipe forget on a live worker", () => {
  it("drops a forgotten person's sessions that were still open when forget ran", async () => {
    const { directory, pipeline } = await sessionizePipeline("forgetlive", "300ms");
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
    // The live worker emitted both sessions and committed bob's (every 300 ms) before it is stopped.
    await waitFor("the live worker to commit bob's session", async () => (await sessionUsers(join(directory, "out")).catch(() => [])).length > 0, 30_000);
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

  it("erases the person's rows the worker had made but not committed yet when forget ran, dead letters included", async () => {
    // Nothing is committed before the SIGINT: every row stays buffered until then.
    const metricsPort = await freePort();
    const { directory, pipeline, out } = await sessionizePipeline("forgetbuffered", "1h", metricsPort);
    const emitted = () => metricSum(metricsPort, "clickpipe_sessions_emitted_total");
    const worker = spawnCli(["run", pipeline]);
    expect(await worker.printed(/starting forgetbuffered/), worker.output()).toBe(true);
    // Alice's session closes (a later event moves the watermark past it) and her bad record is dead-lettered: both
    // become rows in the worker's buffers, not yet committed.
    const input = join(directory, "input.ndjson");
    const bad = JSON.stringify({ type: "page_view", ts: "2026-01-05T10:05:00Z", anon_id: "a1", user_id: "alice" });
    await writeFile(
      input,
      [view("a1", "alice", "2026-01-05T10:00:00Z", "e1"), view("b1", "bob", "2026-01-05T10:01:00Z", "e2"), bad, view("c1", "carol", "2026-01-05T14:00:00Z", "e3")].join("\n") + "\n",
    );
    expect((await runCli(["publish", input, "--pipeline", pipeline])).code).toBe(0);
    // Alice's and bob's sessions are emitted (buffered rows) and the bad record dead-lettered before forget runs.
    await waitFor("both sessions and the dead letter", async () => (await emitted()) >= 2 && (await metricSum(metricsPort, "clickpipe_events_invalid_total")) >= 1, 30_000, 50);

    const forget = await runCli(["forget", "alice", "--pipeline", pipeline]);
    expect(forget.code, forget.stderr).toBe(0);
    expect(forget.stdout).toContain("no rows name this person: nothing removed"); // nothing of hers was committed yet
    expect(await worker.printed(/tombstones changed/), worker.output()).toBe(true);
    // Rolled back to its first checkpoint, it reads the input again and emits bob's session a second time.
    await waitFor("bob's session emitted again after the rollback", async () => (await emitted()) >= 3, 30_000, 50);
    worker.child.kill("SIGINT");
    const stopped = await worker.exited;
    expect(stopped.code, stopped.output).toBe(0);

    expect(await sessionUsers(out)).toEqual([{ user_id: "bob" }]);
    const db = await (await DuckDBInstance.create(":memory:")).connect();
    const invalid = await db.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${out}/invalid_events/**/*.parquet')`).catch(() => undefined);
    expect(invalid === undefined ? 0 : invalid.getRowObjectsJson()[0].n).toBe(0);
    db.closeSync();
  });

  it("a worker erases the person from parts committed after forget listed them (tombstones newer than its checkpoint)", async () => {
    const { directory, pipeline, out } = await sessionizePipeline("forgetlate");
    const input = join(directory, "input.ndjson");
    await writeFile(input, [view("a1", "alice", "2026-01-05T10:00:00Z", "e1"), view("b1", "bob", "2026-01-05T10:01:00Z", "e2")].join("\n") + "\n");
    expect((await runCli(["publish", input, "--pipeline", pipeline])).code).toBe(0);
    expect((await runCli(["run", pipeline, "--drain"])).code).toBe(0);
    // The commit above landed just before the tombstones were written, as a live worker's commit may land after
    // forget listed the files: only the tombstones are recorded, no part is rewritten.
    await addTombstones(out, "forgetlate", [{ id: "alice", kind: "user_id", forgottenAt: Date.now() }]);
    const again = await runCli(["run", pipeline, "--drain"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("tombstones: erased 1 rows naming forgotten people from 1 parts committed since they changed");
    expect(await sessionUsers(out, "true")).toEqual([{ user_id: "bob" }]);
    // Recorded in the checkpoint: the next start does not scan the parts again.
    const checkpoints = (await readdir(join(out, "_checkpoints", "forgetlate"))).filter((name) => /^checkpoint-\d+\.json$/.test(name)).sort();
    expect(await readFile(join(out, "_checkpoints", "forgetlate", checkpoints.at(-1)!), "utf8")).toMatch(/"_tombstones":\d/);
  });
});
