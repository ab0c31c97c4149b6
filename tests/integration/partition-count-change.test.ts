// Changing nats.partitions of a partitioned pipeline that has run: the worker refuses before any of its tasks reads,
// so the lake (Parquet parts and checkpoints) stays byte for byte as the last run left it, and the message names the
// fix; with the old count back the pipeline goes on with the events published meanwhile. Checkpoints written before
// the counts were recorded still resume, and their customer stage's state still refuses a changed count.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { crashInput, lakeRows, writePipelineFile } from "./crash-harness.ts";

const natsUrl = inject("natsUrl");
const LEASE_ENV = { CLICKPIPE_LEASE_STALE_MS: "6000" };

/** Every file under `root` (parts, markers, checkpoints) with its size and modification time. */
async function filesOf(root: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    files.push(`${relative(root, path)} ${info.size} ${info.mtimeMs}`);
  }
  return files.sort();
}

/** Rewrites every checkpoint document as clickpipe wrote it before checkpoints recorded the partition counts. */
async function forgetRecordedCounts(out: string): Promise<void> {
  for (const entry of await readdir(join(out, "_checkpoints"), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/^checkpoint-\d+\.json$/.test(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    const { partitions, ...document } = JSON.parse(await readFile(path, "utf8")) as { partitions?: unknown };
    expect(partitions).toBeDefined();
    await writeFile(path, JSON.stringify(document));
  }
}

/** Two page views 10 minutes apart per visitor, on a day long after the first input's: one session each. */
function laterVisits(visitors: string[]): string {
  return visitors
    .flatMap((visitor, index) => {
      const start = Date.parse("2031-03-01T10:00:00Z") + index * 3_600_000;
      return [0, 600_000].map((offset, step) =>
        JSON.stringify({ type: "page_view", ts: new Date(start + offset).toISOString(), anon_id: visitor, event_id: `${visitor}-${step}`, url: `https://shop.example/p/${step}` }),
      );
    })
    .join("\n") + "\n";
}

/** The sessions of visitors whose id starts with `prefix` (DuckDB reads BIGINT columns as JSON strings). */
function sessionsOf(rows: string[], prefix: string): { visitor_id: string; pageview_count: number; event_count: number; duration_ms: number }[] {
  return rows
    .map((row) => JSON.parse(row) as { visitor_id: string; pageview_count: number; event_count: number; duration_ms: string | number; retracted: boolean })
    .filter((row) => row.visitor_id.startsWith(prefix) && !row.retracted)
    .map(({ visitor_id, pageview_count, event_count, duration_ms }) => ({ visitor_id, pageview_count, event_count, duration_ms: Number(duration_ms) }))
    .sort((a, b) => a.visitor_id.localeCompare(b.visitor_id));
}

describe("a partitioned pipeline whose nats.partitions changed", () => {
  const stream = uniqueStreamName("REPART");
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-repartition-"));
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
    // The pipelines' lease buckets, shared by name on this server: the next run starts without old leases.
    const connection = await connect({ servers: natsUrl });
    try {
      const manager = await jetstreamManager(connection);
      for (const bucket of ["KV_clickpipe_leases_repart", "KV_clickpipe_leases_repart_sessions"]) await manager.streams.delete(bucket).catch(() => undefined);
      await manager.streams.delete(stream).catch(() => undefined);
    } finally {
      await connection.close();
    }
  });

  it("refuses before any task commits, leaves the lake as it was, and goes on once the count is back", { timeout: 180_000 }, async () => {
    const out = join(directory, "repart");
    // One pipeline file (repart.yaml), rewritten with the count each step runs with.
    const pipelineWith = (partitions: number) => writePipelineFile(directory, { name: "repart", natsUrl, stream, out, interval: "300ms", partitions });
    const twoFile = await pipelineWith(2);
    const input = join(directory, "input.ndjson");
    await writeFile(input, crashInput(150, 2, 31).join("\n") + "\n");
    const published = await runCli(["publish", input, "--pipeline", twoFile]);
    expect(published.code, published.stderr).toBe(0);
    const first = await runCli(["run", twoFile, "--drain", "--worker-id", "solo"], LEASE_ENV);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("customers-0 (finished)");

    // Later events, still published on two partitions: events tasks that ran under a new count would take them.
    const later = join(directory, "later.ndjson");
    const visitors = ["repart-a", "repart-b", "repart-c", "repart-d", "repart-e", "repart-f"];
    await writeFile(later, laterVisits(visitors));
    const publishedLater = await runCli(["publish", later, "--pipeline", twoFile]);
    expect(publishedLater.code, publishedLater.stderr).toBe(0);
    const rowsBefore = await lakeRows(out);
    const filesBefore = await filesOf(out);
    expect(rowsBefore.sessions.length).toBeGreaterThan(100);
    expect(sessionsOf(rowsBefore.sessions, "repart-")).toEqual([]);

    const fourFile = await pipelineWith(4);
    for (const mode of [["--drain"], []]) {
      const refused = await runCli(["run", fourFile, ...mode, "--worker-id", "solo"], LEASE_ENV, { timeoutMs: 60_000 });
      // Nothing written: no part, no marker, no checkpoint (not even a task's recovery epoch).
      expect(await filesOf(out), refused.stderr).toEqual(filesBefore);
      expect(await lakeRows(out)).toEqual(rowsBefore);
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr).toContain(
        "was written for 2 events partitions, but nats.partitions is now 4: a running pipeline cannot be repartitioned " +
          "(each visitor's state lives in the partition its events went to). Set nats.partitions: 2 again, or drain this " +
          "pipeline and run 4 partitions under a new pipeline name and stream.",
      );
      // Refused before any task started, so none forwarded records to the customer stage either.
      expect(refused.stderr).not.toMatch(/runs (events|customers|dlq)/);
    }

    // Checkpoints from before the counts were recorded: the customer stage's state still tells its count, before any
    // task starts, and they still resume under the count they ran with (below).
    await forgetRecordedCounts(out);
    const legacyFiles = await filesOf(out);
    const refusedLegacy = await runCli(["run", fourFile, "--drain", "--worker-id", "solo"], LEASE_ENV, { timeoutMs: 60_000 });
    expect(await filesOf(out), refusedLegacy.stderr).toEqual(legacyFiles);
    expect(refusedLegacy.code, refusedLegacy.stderr).toBe(1);
    expect(refusedLegacy.stderr).toMatch(/the checkpoint of task customers-0 \(\S+\) was written for 2 events partitions, but nats.partitions is now 4/);

    // The fix the message names: the old count again. The later events make one session per visitor (oracle above).
    const resumed = await runCli(["run", await pipelineWith(2), "--drain", "--worker-id", "solo"], LEASE_ENV);
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = await lakeRows(out);
    expect(sessionsOf(after.sessions, "repart-")).toEqual(
      visitors.map((visitor_id) => ({ visitor_id, pageview_count: 2, event_count: 2, duration_ms: 600_000 })),
    );
    // What the first run wrote is still there, unchanged.
    for (const row of rowsBefore.sessions) expect(after.sessions).toContain(row);
  });

  it("refuses a pipeline without customer-level operators too (no customers task to notice)", { timeout: 120_000 }, async () => {
    const out = join(directory, "repart_sessions");
    const file = (partitions: number) =>
      [
        "name: repart_sessions",
        "nats:",
        `  url: ${natsUrl}`,
        `  stream: ${stream}`,
        `  partitions: ${partitions}`,
        "operators:",
        "  - type: sessionize",
        "sinks:",
        "  - type: parquet",
        `    path: ${out}`,
        "checkpoint:",
        "  interval: 300ms",
      ].join("\n") + "\n";
    const twoFile = join(directory, "repart_sessions_2.yaml");
    const threeFile = join(directory, "repart_sessions_3.yaml");
    await writeFile(twoFile, file(2));
    await writeFile(threeFile, file(3));
    // The stream holds the first test's events on partitions 0 and 1.
    const first = await runCli(["run", twoFile, "--drain", "--worker-id", "solo"], LEASE_ENV);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).not.toContain("customers-0");
    const rowsBefore = await lakeRows(out);
    const filesBefore = await filesOf(out);
    expect(rowsBefore.sessions.length).toBeGreaterThan(100);

    const refused = await runCli(["run", threeFile, "--drain", "--worker-id", "solo"], LEASE_ENV, { timeoutMs: 60_000 });
    expect(await filesOf(out), refused.stderr).toEqual(filesBefore);
    expect(await lakeRows(out)).toEqual(rowsBefore);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toContain("was written for 2 events partitions, but nats.partitions is now 3");
    expect(refused.stderr).toContain("Set nats.partitions: 2 again");

    // A live run with a source refuses before the source starts: its lines would go onto the new partitions.
    const log = join(directory, "access.log");
    await writeFile(log, '203.0.113.9 - - [05/Dec/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 12 "-" "Mozilla/5.0"\n'.repeat(5));
    const liveFile = join(directory, "repart_sessions_live.yaml");
    await writeFile(liveFile, file(3).replace("operators:\n", `sources:\n  - type: accessLog\n    paths: [${log}]\n    format: combined\noperators:\n`));
    const connection = await connect({ servers: natsUrl });
    try {
      const manager = await jetstreamManager(connection);
      const messagesBefore = (await manager.streams.info(stream)).state.messages;
      const refusedLive = await runCli(["run", liveFile, "--worker-id", "solo"], LEASE_ENV, { timeoutMs: 60_000 });
      expect(refusedLive.code, refusedLive.stderr).toBe(1);
      expect(refusedLive.stderr).toContain("was written for 2 events partitions, but nats.partitions is now 3");
      expect((await manager.streams.info(stream)).state.messages).toBe(messagesBefore);
      expect(await filesOf(out)).toEqual(filesBefore); // no tailer position either
    } finally {
      await connection.close();
    }
  });
});
