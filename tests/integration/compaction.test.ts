// Compaction in a worker on a real nats-server: repeated drains merge their parts, the tables stay exactly the rows
// of a run without compaction, and a kill -9 at each merge step of the commit protocol loses and duplicates nothing.
import { cp, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { crashInput, drainWithKills, filesEndingWith, lakeRows, publishAndDrain, rowCounts, spawnWorker, writePipelineFile } from "./crash-harness.ts";

/** Drains before the one that merges: with minParts 3 and one part per drain, the fourth drain's checkpoint merges three. */
const ROUNDS_BEFORE = 3;
const COMPACTION = "{ minParts: 3, targetRows: 100000 }";

describe("compaction - repeated drains with a real nats-server", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("ZZCOMPACT");
  let directory: string;
  let chunks: string[];
  const files: Record<string, string> = {};

  async function pipelineFile(key: string, options: { name: string; compaction: string; store?: "kv" }): Promise<string> {
    // interval 1h: a drain commits once, at its end, so each drain adds exactly one part per partition it writes.
    files[key] = await writePipelineFile(directory, {
      name: options.name,
      natsUrl,
      stream,
      out: join(directory, key),
      interval: "1h",
      compaction: options.compaction,
      checkpointStore: options.store,
    });
    return files[key];
  }

  async function publish(chunk: number): Promise<void> {
    const published = await runCli(["publish", chunks[chunk], "--pipeline", files.off]);
    expect(published.code, published.stderr).toBe(0);
  }

  async function drain(key: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
    const drained = await runCli(["run", files[key], "--drain"], env);
    expect(drained.code, drained.stderr).toBe(0);
  }

  /** The parts of the one invalid_events partition (dead letters are stamped with today's publish time). */
  async function invalidEventParts(key: string): Promise<string[]> {
    const table = join(directory, key, "invalid_events");
    const partitions = await readdir(table);
    expect(partitions).toHaveLength(1);
    return (await readdir(join(table, partitions[0]))).sort();
  }

  const kvName = uniqueStreamName("ZZCOMPACTKV").toLowerCase();

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "zzcompact-"));
    const lines = crashInput(300, 3, 41);
    // Four chunks, each with dead letters (the garbage lines crashInput mixes in every ~1000 lines).
    const size = Math.ceil(lines.length / (ROUNDS_BEFORE + 1));
    chunks = [];
    for (let chunk = 0; chunk <= ROUNDS_BEFORE; chunk++) {
      const part = lines.slice(chunk * size, (chunk + 1) * size);
      expect(part.some((line) => line.startsWith("not json"))).toBe(true);
      chunks.push(join(directory, `chunk-${chunk}.ndjson`));
      await writeFile(chunks[chunk], part.join("\n") + "\n");
    }
    await pipelineFile("off", { name: "cmpoff", compaction: "off" });
    await pipelineFile("on", { name: "cmp", compaction: COMPACTION });
    await pipelineFile("kv", { name: kvName, compaction: COMPACTION, store: "kv" });
    for (let round = 0; round < ROUNDS_BEFORE; round++) {
      await publish(round);
      await Promise.all(["off", "on", "kv"].map((key) => drain(key)));
    }
    // Nothing merged yet: three parts each, the same as without compaction.
    expect(await invalidEventParts("off")).toHaveLength(3);
    expect(await invalidEventParts("on")).toHaveLength(3);
    // The crash runs start from copies of this lake (its directory checkpoint store included).
    for (const step of STEPS) {
      await cp(join(directory, "on"), join(directory, stepKey(step)), { recursive: true });
      await pipelineFile(stepKey(step), { name: "cmp", compaction: COMPACTION });
    }
    await publish(ROUNDS_BEFORE);
    await drain("off");
  }, 240_000);

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("merges the three parts of earlier drains into one and reads as exactly the rows of a run without compaction", async () => {
    await drain("on");
    const off = await invalidEventParts("off");
    const on = await invalidEventParts("on");
    expect(off).toHaveLength(4);
    // The fourth drain's epoch e: its own part, and the merge of the three before, named after e with a c infix.
    const epoch = /^part-cmp-(\d{10})-0000\.parquet$/.exec(on[0])?.[1];
    expect(on).toEqual([`part-cmp-${epoch}-0000.parquet`, `part-cmp-${epoch}-c0000.parquet`]);
    const expected = await lakeRows(join(directory, "off"));
    expect(expected.invalid_events.length, JSON.stringify(rowCounts(expected))).toBeGreaterThan(3);
    expect(await lakeRows(join(directory, "on"))).toEqual(expected);
    expect(await filesEndingWith(join(directory, "on"), [".inprogress"])).toEqual([]);
  });

  it("with the kv checkpoint store: a kill -9 between the merged part's rename and the deletes, then a restart", async () => {
    const crashed = spawnWorker(files.kv, ["--drain"], { CLICKPIPE_CRASH_AT: "merge-renamed@1" });
    const crash = await crashed.exited;
    expect(crash.signal, crash.output).toBe("SIGKILL");
    // Mid-step: the merged part is in place and its inputs still there (a reader would count their rows twice).
    expect((await invalidEventParts("kv")).filter((name) => name.endsWith(".parquet"))).toHaveLength(5);
    await drain("kv");
    expect(await invalidEventParts("kv")).toHaveLength(2);
    expect(await lakeRows(join(directory, "kv"))).toEqual(await lakeRows(join(directory, "off")));
    expect(await filesEndingWith(join(directory, "kv"), [".inprogress"])).toEqual([]);
  });

  for (const step of STEPS) {
    it.concurrent(`recovers the same tables after a kill -9 at ${step.crashAt} (${step.after})`, async ({ expect }) => {
      const out = join(directory, stepKey(step));
      const crashed = spawnWorker(files[stepKey(step)], ["--drain"], { CLICKPIPE_CRASH_AT: step.crashAt });
      const crash = await crashed.exited;
      expect(crash.signal, crash.output).toBe("SIGKILL");
      const parts = await invalidEventParts(stepKey(step));
      expect(parts.filter((name) => name.endsWith(".inprogress")).length, parts.join(" ")).toBe(step.inProgress);
      expect(parts.filter((name) => name.endsWith(".parquet")).length, parts.join(" ")).toBe(step.committed);
      const restarted = await runCli(["run", files[stepKey(step)], "--drain"]);
      expect(restarted.code, restarted.stderr).toBe(0);
      expect(await lakeRows(out)).toEqual(await lakeRows(join(directory, "off")));
      expect(await filesEndingWith(out, [".inprogress"])).toEqual([]);
      // An uncommitted merge is planned again by the restart's checkpoint; a committed one is finished by recovery.
      expect(await invalidEventParts(stepKey(step))).toHaveLength(2);
    });
  }
});

interface Step {
  crashAt: string;
  after: string;
  /** In the folder right after the crash: in-progress files and committed parts. */
  inProgress: number;
  committed: number;
}

const STEPS: Step[] = [
  { crashAt: "merge-prepared@1", after: "the merged part is fsynced, before the checkpoint", inProgress: 2, committed: 3 },
  { crashAt: "merge-checkpointed@1", after: "the checkpoint commits, the epoch's part renamed, the merged part not", inProgress: 1, committed: 4 },
  { crashAt: "merge-renamed@1", after: "the merged part is renamed, before any input is deleted", inProgress: 0, committed: 5 },
  { crashAt: "merge-deleted:1@1", after: "one input of three is deleted", inProgress: 0, committed: 4 },
];

function stepKey(step: Step): string {
  return `crash-${step.crashAt.replace(/[^a-z0-9]/g, "-")}`;
}

// The live, partitioned and kill runs below are independent (streams and folders of their own): they run side by side.
describe("compaction - a live worker, a partitioned pipeline, kills at random moments", () => {
  const natsUrl = inject("natsUrl");

  it.concurrent("a live worker merges its checkpoints' parts while it runs, and its dead letters read as every one exactly once", async ({ expect }) => {
    const stream = uniqueStreamName("ZZCOMPACTLIVE");
    const directory = await mkdtemp(join(tmpdir(), "zzcompact-live-"));
    try {
      const out = join(directory, "live");
      const file = await writePipelineFile(directory, { name: "cmplive", natsUrl, stream, out, interval: "100ms", compaction: "{ minParts: 3 }" });
      const worker = spawnWorker(file);
      expect(await worker.printed(/starting \S+ at \S+ sequence 1 /)).toBe(true);
      // Six publishes of bad lines, each waited for until it is committed: six checkpoints with a part each.
      const table = join(out, "invalid_events");
      let lines = 0;
      for (let round = 0; round < 6; round++) {
        const input = join(directory, `bad-${round}.ndjson`);
        await writeFile(input, Array.from({ length: 5 }, (_, index) => `not json ${round}-${index}`).join("\n") + "\n");
        const published = await runCli(["publish", input, "--pipeline", file]);
        expect(published.code, published.stderr).toBe(0);
        lines += 5;
        for (let wait = 0; wait < 100 && (await committedRows(table)) < lines; wait++) await sleep(100);
      }
      // The last parts may wait for another checkpoint to be merged; a few are enough.
      for (let wait = 0; wait < 50 && !(await partNames(table)).some((name) => name.includes("-c0000")); wait++) await sleep(100);
      worker.child.kill("SIGTERM");
      expect((await worker.exited).code).toBe(0);
      const names = await partNames(table);
      expect(names.some((name) => /^part-cmplive-\d{10}-c0000\.parquet$/.test(name)), names.join(" ")).toBe(true);
      expect(names.length).toBeLessThan(6);
      const rows = (await lakeRows(out)).invalid_events.map((row) => (JSON.parse(row) as { raw: string }).raw).sort();
      expect(rows).toEqual(Array.from({ length: 6 }, (_, round) => Array.from({ length: 5 }, (_, index) => `not json ${round}-${index}`)).flat().sort());
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it.concurrent("a partitioned pipeline's tasks each merge only their own parts: the tables equal the same drains' without compaction", async ({ expect }) => {
    const stream = uniqueStreamName("ZZCOMPACTPART");
    const directory = await mkdtemp(join(tmpdir(), "zzcompact-partitioned-"));
    try {
      const files = {
        // Names of this run: the teardown deletes their lease buckets (KV_clickpipe_leases_<name>) with the streams.
        off: await writePipelineFile(directory, { name: uniqueStreamName("cmppoff").toLowerCase(), natsUrl, stream, out: join(directory, "off"), partitions: 2, interval: "100ms", compaction: "off" }),
        on: await writePipelineFile(directory, { name: uniqueStreamName("cmpp").toLowerCase(), natsUrl, stream, out: join(directory, "on"), partitions: 2, interval: "100ms", compaction: "{ minParts: 2 }" }),
      };
      const lines = crashInput(200, 2, 7);
      const size = Math.ceil(lines.length / 3);
      for (let round = 0; round < 3; round++) {
        const input = join(directory, `chunk-${round}.ndjson`);
        await writeFile(input, lines.slice(round * size, (round + 1) * size).join("\n") + "\n");
        const published = await runCli(["publish", input, "--pipeline", files.off]);
        expect(published.code, published.stderr).toBe(0);
        for (const file of [files.off, files.on]) {
          const drained = await runCli(["run", file, "--drain"]);
          expect(drained.code, drained.stderr).toBe(0);
        }
      }
      const merged = (await filesEndingWith(join(directory, "on"), [".parquet"])).filter((path) => /-c\d{4}\.parquet$/.test(path));
      expect(merged.length).toBeGreaterThan(0);
      // Writers are the tasks (part-cmpp_events_0_<hash>-…, part-cmpp_dlq_<hash>-…): a folder holds several.
      const writers = new Set((await filesEndingWith(join(directory, "on"), [".parquet"])).map((path) => /part-(\w+)-\d{10}-/.exec(path)?.[1]));
      expect(writers.size).toBeGreaterThan(2);
      expect(await lakeRows(join(directory, "on"))).toEqual(await lakeRows(join(directory, "off")));
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it.concurrent("kill -9 at random moments of a drain that merges at nearly every checkpoint loses and duplicates no row: every table equals the no-fault run without compaction", { timeout: 180_000 }, async ({ expect }) => {
    const stream = uniqueStreamName("ZZCOMPACTKILL");
    const directory = await mkdtemp(join(tmpdir(), "zzcompact-kill-"));
    try {
      const baselineOut = join(directory, "baseline");
      const baselineFile = await writePipelineFile(directory, { name: "cmpkillbase", natsUrl, stream, out: baselineOut, compaction: "off" });
      await publishAndDrain(directory, baselineFile, crashInput(800, 4, 23));

      const out = join(directory, "killed");
      // Checkpoints every 50 ms and minParts 2: nearly every checkpoint merges, so kills land in and around merges.
      const file = await writePipelineFile(directory, { name: "cmpkill", natsUrl, stream, out, interval: "50ms", compaction: "{ minParts: 2, targetRows: 3000 }" });
      let next = 17;
      const random = () => ((next = (next * 1103515245 + 12345) % 2147483648) / 2147483648);
      const { kills } = await drainWithKills(file, 20, async (worker, killed) => {
        if (killed >= 5) return false;
        await Promise.race([worker.printed(/resuming|starting/), worker.exited]);
        await Promise.race([sleep(150 + Math.round(random() * 400)), worker.exited]);
        return true;
      });
      expect(kills).toBeGreaterThanOrEqual(2);
      const merged = (await filesEndingWith(out, [".parquet"])).filter((path) => /-c\d{4}\.parquet$/.test(path));
      expect(merged.length).toBeGreaterThan(0);
      expect(await filesEndingWith(out, [".inprogress"])).toEqual([]);
      const expected = await lakeRows(baselineOut);
      expect(expected.sessions.length, JSON.stringify(rowCounts(expected))).toBeGreaterThan(300);
      expect(await lakeRows(out)).toEqual(expected);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

async function partNames(table: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(table, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile() && entry.name.endsWith(".parquet")) names.push(entry.name);
  }
  return names;
}

/** Rows of the table's committed parts, read by DuckDB (0 before the first). */
async function committedRows(table: string): Promise<number> {
  if ((await partNames(table)).length === 0) return 0;
  const lake = await lakeRows(join(table, "..")).catch(() => ({}) as Record<string, string[]>);
  return lake.invalid_events?.length ?? 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
