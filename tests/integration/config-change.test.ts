// A data engineer edits a pipeline file and runs it again from its checkpoint: a change the restored state cannot
// follow (a basket window's size, the stream) stops `run` before it writes anything, naming the key, both values and
// the fix; a change it can follow (minConfidence) applies from there on and is said, as is an operator added. Rules
// are checked against hand-counted baskets with DuckDB.
import { DuckDBInstance } from "@duckdb/node-api";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCli, spawnCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { sleep } from "./crash-harness.ts";

const natsUrl = inject("natsUrl");

/** Every file under `root` (parts, checkpoints) with its size and modification time; the lock comes and goes. */
async function filesOf(root: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name === "lock") continue;
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    files.push(`${relative(root, path)} ${info.size} ${info.mtimeMs}`);
  }
  return files.sort();
}

/** Rewrites every checkpoint document as clickpipe wrote it before checkpoints recorded their settings. */
async function forgetRecordedSettings(out: string): Promise<void> {
  for (const entry of await readdir(join(out, "_checkpoints"), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/^checkpoint-\d+\.json$/.test(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    const { settings, ...document } = JSON.parse(await readFile(path, "utf8")) as { settings?: unknown };
    expect(settings).toBeDefined();
    await writeFile(path, JSON.stringify(document));
  }
}

function purchase(ts: string, order: string, skus: string[]): string {
  return JSON.stringify({ type: "purchase", ts, anon_id: `v-${order}`, order_id: order, event_id: `e-${order}`, revenue: 10, items: skus.map((sku) => ({ sku })) });
}

describe("a pipeline file changed between runs", () => {
  const stream = uniqueStreamName("ZZCFG");
  let directory: string;
  let out: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "zzcfg-change-"));
    out = join(directory, "lake");
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
    // Buckets named by these tests' pipelines, on a server other runs share.
    const connection = await connect({ servers: natsUrl });
    try {
      const manager = await jetstreamManager(connection);
      for (const bucket of ["KV_clickpipe_ckpt_cfgchange", "KV_clickpipe_leases_cfgparts"]) await manager.streams.delete(bucket).catch(() => undefined);
    } finally {
      await connection.close();
    }
  });

  /** cfgchange.yaml: a basket operator (and optionally sessionize) over `stream`, with the settings a step runs with. */
  async function pipelineFile(
    settings: { window?: string; minConfidence?: number; stream?: string; sessionize?: boolean; name?: string; partitions?: number; collector?: boolean; store?: "kv"; lake?: string } = {},
  ): Promise<string> {
    const name = settings.name ?? "cfgchange";
    const file = join(directory, `${name}.yaml`);
    await writeFile(
      file,
      [
        `name: ${name}`,
        "nats:",
        `  url: ${natsUrl}`,
        `  stream: ${settings.stream ?? stream}`,
        ...(settings.partitions === undefined ? [] : [`  partitions: ${settings.partitions}`]),
        ...(settings.collector ? ["sources:", "  - type: http", "    port: 0", "    host: 127.0.0.1", "    writeKeys: [cfgchange-key]"] : []),
        "operators:",
        "  - type: basket",
        `    window: ${settings.window ?? "1d"}`,
        "    minSupport: 0.01",
        `    minConfidence: ${settings.minConfidence ?? 0.5}`,
        "    outOfOrderness: 1m",
        "    allowedLateness: 1h",
        ...(settings.sessionize ? ["  - type: sessionize"] : []),
        "sinks:",
        "  - type: parquet",
        `    path: ${settings.lake ?? join(directory, name === "cfgchange" ? "lake" : name)}`,
        "checkpoint:",
        "  interval: 200ms",
        ...(settings.store === undefined ? [] : [`  store: ${settings.store}`]),
      ].join("\n") + "\n",
    );
    return file;
  }

  /** A live run until its events are in, then SIGINT: the checkpoint keeps the windows the watermark left open. */
  async function liveRun(file: string): Promise<string> {
    const worker = spawnCli(["run", file]);
    expect(await worker.printed(/(starting|resuming) cfgchange at/)).toBe(true);
    await sleep(1_500);
    worker.child.kill("SIGINT");
    const { code, output } = await worker.exited;
    expect(code, output).toBe(0);
    return output;
  }

  async function rules(): Promise<string[]> {
    const db = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      const reader = await db.runAndReadAll(
        `SELECT strftime(window_start, '%Y-%m-%d') || '..' || strftime(window_end, '%Y-%m-%d') || ' ' || antecedent || ' -> ' || consequent || ' ' || printf('%.3f', confidence)
         FROM read_parquet('${out}/basket_rules/**/*.parquet') ORDER BY 1`,
      );
      return reader.getRows().map((row) => String(row[0]));
    } finally {
      db.closeSync();
    }
  }

  it("refuses a window or stream the checkpoint cannot follow, leaving the lake as it was; applies minConfidence from there on", { timeout: 180_000 }, async () => {
    // Day 1 closes in the first run (watermark 03-02 08:59 > its end + 1h); day 2 stays open with one order.
    const first = join(directory, "first.ndjson");
    await writeFile(
      first,
      [
        purchase("2026-03-01T10:00:00Z", "o1", ["A", "B"]),
        purchase("2026-03-01T11:00:00Z", "o2", ["A", "B"]),
        purchase("2026-03-01T12:00:00Z", "o3", ["A", "C"]),
        purchase("2026-03-02T09:00:00Z", "o4", ["A", "B"]),
      ].join("\n") + "\n",
    );
    expect((await runCli(["publish", first, "--pipeline", await pipelineFile()])).code).toBe(0);
    expect(await liveRun(await pipelineFile())).toMatch(/4 events, .* committed through sequence 1 /);

    // Checkpoints from before settings were recorded resume as before, and record them from then on.
    await forgetRecordedSettings(out);
    expect(await liveRun(await pipelineFile())).toMatch(/resuming cfgchange at \S+ sequence 2 /);

    const second = join(directory, "second.ndjson");
    await writeFile(
      second,
      [
        purchase("2026-03-02T10:00:00Z", "o5", ["A", "B"]),
        purchase("2026-03-02T11:00:00Z", "o6", ["B", "C"]),
        purchase("2026-03-03T12:00:00Z", "o7", ["A", "B"]),
      ].join("\n") + "\n",
    );
    expect((await runCli(["publish", second, "--pipeline", await pipelineFile()])).code).toBe(0);
    const filesBefore = await filesOf(out);
    expect(await rules()).toEqual(["2026-03-01..2026-03-02 A -> B 0.667", "2026-03-01..2026-03-02 B -> A 1.000", "2026-03-01..2026-03-02 C -> A 1.000"]);

    // The open day-2 window holds o4 by 1d bounds; 12h windows would put o5 and o6 in a window beside it.
    const checkpoint = join(out, "_checkpoints", "cfgchange");
    for (const mode of [["--drain"], []]) {
      const refused = await runCli(["run", await pipelineFile({ window: "12h" }), ...mode], {}, { timeoutMs: 60_000 });
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr).toContain(
        `operators[0].window is 12h, but the checkpoint in ${checkpoint} was written with 1d: its open windows hold orders ` +
          "by the old bounds, and windows of the new size would overlap the ones already written. Set operators[0].window: 1d " +
          "again, or run the new setting as a new pipeline: another `name` and another sinks[0].path (it reads the stream from its first message).",
      );
      expect(await filesOf(out), refused.stderr).toEqual(filesBefore);
    }

    // Another stream's sequence numbers would place the checkpoint's position in other messages.
    const otherStream = uniqueStreamName("ZZCFG_OTHER");
    const refusedStream = await runCli(["run", await pipelineFile({ stream: otherStream }), "--drain"], {}, { timeoutMs: 60_000 });
    expect(refusedStream.code, refusedStream.stderr).toBe(1);
    expect(refusedStream.stderr).toContain(
      `nats.stream is ${otherStream}, but the checkpoint in ${checkpoint} was taken from stream ${stream} (through its sequence 1): ` +
        `its position counts ${stream}'s messages and its state holds what they left open. Set nats.stream: ${stream} again,`,
    );
    expect(await filesOf(out), refusedStream.stderr).toEqual(filesBefore);

    // minConfidence is read when a window is written: the open day 2 and day 3 get 0.9. An operator added is said.
    const applied = await runCli(["run", await pipelineFile({ minConfidence: 0.9, sessionize: true }), "--drain"]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stderr).toContain(
      `operators[0].minConfidence changed from 0.5 to 0.9 since the checkpoint in ${checkpoint}: it applies to what is written from ${stream} sequence 2 on`,
    );
    expect(applied.stderr).toContain(
      `operators[1] (sessionize) is new to the checkpoint in ${checkpoint}: it starts with empty state at ${stream} sequence 2 and never sees the events before it`,
    );
    // Day 2: {A,B} {A,B} {B,C}: A→B 2/2, C→B 1/1 (B→A 2/3 is under 0.9); day 3: {A,B}. Day 1 stays as written with 0.5.
    expect(await rules()).toEqual([
      "2026-03-01..2026-03-02 A -> B 0.667",
      "2026-03-01..2026-03-02 B -> A 1.000",
      "2026-03-01..2026-03-02 C -> A 1.000",
      "2026-03-02..2026-03-03 A -> B 1.000",
      "2026-03-02..2026-03-03 C -> B 1.000",
      "2026-03-03..2026-03-04 A -> B 1.000",
      "2026-03-03..2026-03-04 B -> A 1.000",
    ]);

    // The checkpoint stays in its directory: a kv store without it would start over into the same lake and, its epochs
    // counted from 1 again, name parts like the committed ones.
    const filesAfter = await filesOf(out);
    const refusedStore = await runCli(["run", await pipelineFile({ minConfidence: 0.9, sessionize: true, store: "kv" }), "--drain"], {}, { timeoutMs: 60_000 });
    expect(refusedStore.code, refusedStore.stderr).toBe(1);
    expect(refusedStore.stderr).toContain(
      `checkpoint.store is kv, but the pipeline's checkpoint is in ${checkpoint} (checkpoint.store: directory), through ${stream} sequence 2: ` +
        "started without it, the pipeline would read the stream again into the same lake, writing its rows a second time and parts over the committed ones. " +
        "Set checkpoint.store: directory again, or run the new setting as a new pipeline",
    );
    expect(await filesOf(out)).toEqual(filesAfter);

    // Renamed, the pipeline has no checkpoint and would write the lake's basket tables again from the first message.
    const renamed = await runCli(["run", await pipelineFile({ name: "cfgrenamed", lake: out, minConfidence: 0.9, sessionize: true }), "--drain"], {}, { timeoutMs: 60_000 });
    expect(renamed.code, renamed.stderr).toBe(1);
    expect(renamed.stderr).toContain(
      `pipeline cfgchange wrote the basket_rules and cross_sell, sessions tables of ${out} from stream ${stream} (its checkpoint in ${checkpoint}, through sequence 2), ` +
        "and cfgrenamed, which has no checkpoint, would write them again from the stream's first message. If the pipeline was renamed, set name: cfgchange again; " +
        "to run both, give this one another sinks[0].path.",
    );
    expect(await filesOf(out)).toEqual(filesAfter);
  });

  it("refuses before any task of a partitioned pipeline starts when its customer stage's window changed", { timeout: 180_000 }, async () => {
    const partitionedStream = uniqueStreamName("ZZCFG_PART");
    const lake = join(directory, "cfgparts");
    const input = join(directory, "parts.ndjson");
    await writeFile(input, [purchase("2026-03-01T10:00:00Z", "p1", ["A", "B"]), purchase("2026-03-01T11:00:00Z", "p2", ["A", "B"])].join("\n") + "\n");
    const file = (window: string) => pipelineFile({ name: "cfgparts", stream: partitionedStream, partitions: 2, sessionize: true, window });
    expect((await runCli(["publish", input, "--pipeline", await file("1d")])).code).toBe(0);
    const first = await runCli(["run", await file("1d"), "--drain", "--worker-id", "solo"], { CLICKPIPE_LEASE_STALE_MS: "6000" });
    expect(first.code, first.stderr).toBe(0);
    const filesBefore = await filesOf(lake);
    const refused = await runCli(["run", await file("2d"), "--drain", "--worker-id", "solo"], { CLICKPIPE_LEASE_STALE_MS: "6000" }, { timeoutMs: 60_000 });
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toContain(
      `operators[0].window is 2d, but the checkpoint in ${join(lake, "_checkpoints", "cfgparts.customers-0")} was written with 1d: its open windows hold orders by the old bounds`,
    );
    // Refused before any task started: the events tasks forwarded and committed nothing either.
    expect(refused.stderr).not.toMatch(/runs (events|customers|dlq)/);
    expect(await filesOf(lake)).toEqual(filesBefore);
  });

  it("refuses a changed stream before a live run's collector takes events into it", { timeout: 60_000 }, async () => {
    const collectorStream = uniqueStreamName("ZZCFG_SRC");
    const input = join(directory, "src.ndjson");
    await writeFile(input, purchase("2026-03-01T10:00:00Z", "s1", ["A"]) + "\n");
    const file = await pipelineFile({ name: "cfgsrc", stream: collectorStream });
    expect((await runCli(["publish", input, "--pipeline", file])).code).toBe(0);
    expect((await runCli(["run", file, "--drain"])).code).toBe(0);
    const movedStream = uniqueStreamName("ZZCFG_SRC_MOVED");
    const refused = await runCli(["run", await pipelineFile({ name: "cfgsrc", stream: movedStream, collector: true })], {}, { timeoutMs: 30_000 });
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toContain(`nats.stream is ${movedStream}, but the checkpoint in ${join(directory, "cfgsrc", "_checkpoints", "cfgsrc")} was taken from stream ${collectorStream}`);
    expect(refused.stderr).not.toContain("http collector listening");
    const connection = await connect({ servers: natsUrl });
    try {
      // Nothing created the new stream: no event went where the pipeline will not read.
      await expect((await jetstreamManager(connection)).streams.info(movedStream)).rejects.toThrow(/stream not found/);
    } finally {
      await connection.close();
    }
  });
});
