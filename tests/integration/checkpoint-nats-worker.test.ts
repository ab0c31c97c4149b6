// `checkpoint.store: kv` end to end: the same lake as the directory store, after kill -9s too, and no resume across streams.
import { DuckDBInstance } from "@duckdb/node-api";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NatsCheckpointStore } from "../../src/runtime/checkpoint-nats.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { crashInput, drainWithKills, filesEndingWith, lakeRows, publishAndDrain, rowCounts, sleep, writePipelineFile } from "./crash-harness.ts";

const natsUrl = inject("natsUrl");

describe("checkpoint.store: kv", () => {
  const stream = uniqueStreamName("CKPTKV");
  let directory: string;
  let baselineOut: string;

  /** A crash-harness pipeline file switched to the kv store; a unique name gives it a bucket of its own. */
  async function kvPipelineFile(out: string, name: string, onStream = stream, interval?: string): Promise<string> {
    const file = await writePipelineFile(directory, { name, natsUrl, stream: onStream, out, interval });
    await appendFile(file, "  store: kv\n");
    return file;
  }

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-ckpt-kv-"));
    baselineOut = join(directory, "directory-store");
    const baselineFile = await writePipelineFile(directory, { name: "kvbase", natsUrl, stream, out: baselineOut });
    await publishAndDrain(directory, baselineFile, crashInput(600, 4, 33));
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("drains to the same Parquet rows as the directory store, with no checkpoint directory", async () => {
    const out = join(directory, "kv-store");
    const name = uniqueStreamName("kvdrain").toLowerCase();
    const drained = await runCli(["run", await kvPipelineFile(out, name), "--drain"]);
    expect(drained.code, drained.stderr).toBe(0);
    const expected = await lakeRows(baselineOut);
    expect(expected.sessions.length, JSON.stringify(rowCounts(expected))).toBeGreaterThan(300);
    expect(await lakeRows(out)).toEqual(expected);
    expect(await filesEndingWith(out, [".json"])).toEqual([]);
    // A second drain resumes at the end from the bucket: nothing more to read, no row added.
    const again = await runCli(["run", await kvPipelineFile(out, name), "--drain"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming \S+ at \S+ sequence \d+/);
    expect(await lakeRows(out)).toEqual(expected);
  });

  it("loses and duplicates no row across kill -9s mid-drain", { timeout: 180_000 }, async () => {
    const out = join(directory, "kv-killed");
    const name = uniqueStreamName("kvkill").toLowerCase();
    // Checkpoints every 50 ms: a fast machine drains this input in well under a second, and each run must commit one
    // of its own before it is killed, else it may finish first and the test sees a single kill.
    const file = await kvPipelineFile(out, name, stream, "50ms");
    const connection = await connect({ servers: natsUrl });
    const store = await NatsCheckpointStore.open(connection, name);
    /** Resolves once the bucket holds a checkpoint of an epoch above `epoch`. */
    const committedPast = async (epoch: number) => {
      while (((await store.load())?.epoch ?? 0) <= epoch) await sleep(20);
    };
    let outcome: { kills: number; resumedAt: number[] };
    try {
      outcome = await drainWithKills(file, 15, async (worker, kills) => {
        if (kills >= 4) return false;
        // Kill after this run committed a checkpoint of its own (so the next run resumes further on; waiting for
        // progress, not a fixed time, keeps this meaningful on a slow machine), at a moment spread over mid-batch,
        // mid-commit and the final flush.
        const claimed = Number(/\(epoch (\d+)\)/.exec(worker.output())![1]);
        await Promise.race([committedPast(claimed), worker.exited]);
        await Promise.race([sleep(kills * 30), worker.exited]);
        return true;
      });
    } finally {
      await connection.close();
    }
    const { kills, resumedAt } = outcome;
    expect(kills, `resumed at ${resumedAt.join(", ")}`).toBeGreaterThanOrEqual(2);
    expect(new Set(resumedAt).size, `resumed at ${resumedAt.join(", ")}`).toBeGreaterThanOrEqual(2);
    expect(await lakeRows(out)).toEqual(await lakeRows(baselineOut));
    expect(await filesEndingWith(out, [".inprogress"])).toEqual([]);
  });

  it("refuses a checkpoint taken from a stream of another name, and reads a stream created again under its name from its first message", async () => {
    const name = uniqueStreamName("kvbind").toLowerCase();
    const own = uniqueStreamName("CKPTKV_OWN");
    const out = join(directory, "kv-bound");
    const linesOf = (visitor: string) =>
      [1, 2, 3].map((n) => JSON.stringify({ type: "page_view", ts: `2025-03-01T10:0${n}:00Z`, anon_id: visitor, url: `/p${n}`, event_id: `${visitor}${n}` })).join("\n") + "\n";
    const firstInput = join(directory, "own.ndjson");
    await writeFile(firstInput, linesOf("first"));
    const ownFile = await kvPipelineFile(out, name, own);
    expect((await runCli(["publish", firstInput, "--pipeline", ownFile])).code).toBe(0);
    const first = await runCli(["run", ownFile, "--drain"]);
    expect(first.code, first.stderr).toBe(0);

    // Its position counts the first stream's messages: under another stream's name the pipeline stops, naming the fix.
    const otherStream = uniqueStreamName("CKPTKV_OTHER");
    const otherOut = join(directory, "kv-other");
    const refused = await runCli(["run", await kvPipelineFile(otherOut, name, otherStream), "--drain"]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toContain(
      `nats.stream is ${otherStream}, but the checkpoint in nats kv clickpipe_ckpt_${name} was taken from stream ${own} (through its sequence 1): ` +
        `its position counts ${own}'s messages and its state holds what they left open. Set nats.stream: ${own} again, or run the new setting as a new pipeline`,
    );

    // The same name, deleted and created again (a wiped server), is another stream: read from its first message.
    const connection = await connect({ servers: natsUrl });
    try {
      await (await jetstreamManager(connection)).streams.delete(own);
    } finally {
      await connection.close();
    }
    const input = join(directory, "other.ndjson");
    await writeFile(input, linesOf("solo"));
    const againFile = await kvPipelineFile(otherOut, name, own);
    expect((await runCli(["publish", input, "--pipeline", againFile])).code).toBe(0);
    const second = await runCli(["run", againFile, "--drain"]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(new RegExp(`belongs to stream ${own} \\(created [^)]+\\); starting ${own} from its first message`));
    expect(second.stderr).toMatch(new RegExp(`starting ${name} at ${own} sequence 1 `));
    // One session of the three page views, none of the first stream's.
    const db = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      const sessions = await db.runAndReadAll(`SELECT visitor_id, pageview_count FROM read_parquet('${otherOut}/sessions/**/*.parquet')`);
      expect(sessions.getRows()).toEqual([["solo", 3]]);
    } finally {
      db.closeSync();
    }
  });
});
