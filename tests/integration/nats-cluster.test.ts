// A 3-node NATS cluster with an R3 stream loses its stream leader (kill -9) during `clickpipe run --drain`: nothing is lost.
import { readFile, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsCluster, type RunningNatsCluster } from "../helpers/nats-cluster.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { crashInput, filesEndingWith, lakeRows, publishAndDrain, rowCounts, sleep, spawnWorker, writePipelineFile } from "./crash-harness.ts";

const NAME = "cluster";

/** writePipelineFile's pipeline with `nats.replicas: 3`, so that `publish` creates the stream replicated on every node. */
async function writeReplicatedPipelineFile(directory: string, options: { natsUrl: string; stream: string; out: string }) {
  const file = await writePipelineFile(directory, { name: NAME, ...options });
  const text = await readFile(file, "utf8");
  await writeFile(file, text.replace(`  stream: ${options.stream}\n`, `  stream: ${options.stream}\n  replicas: 3\n`));
  return file;
}

async function highestEpoch(directory: string): Promise<number> {
  const names = await readdir(directory).catch(() => [] as string[]);
  return Math.max(0, ...names.map((name) => Number(/^checkpoint-(\d+)\.json$/.exec(name)?.[1] ?? 0)));
}

/** The stream position of the highest committed checkpoint in `directory`. */
async function committedPosition(directory: string): Promise<number> {
  const checkpoint = JSON.parse(await readFile(join(directory, `checkpoint-${String(await highestEpoch(directory)).padStart(10, "0")}.json`), "utf8"));
  return (checkpoint as { position: number }).position;
}

async function streamReplicas(
  url: string,
  stream: string,
): Promise<{ replicas: number; leader?: string; followers: string[]; lastSequence: number; bytes: number }> {
  const connection = await connect({ servers: url.split(",") });
  try {
    const info = await (await jetstreamManager(connection)).streams.info(stream);
    return {
      replicas: info.config.num_replicas,
      leader: info.cluster?.leader,
      followers: (info.cluster?.replicas ?? []).map((peer) => peer.name).sort(),
      lastSequence: info.state.last_seq,
      bytes: info.state.bytes,
    };
  } finally {
    await connection.close();
  }
}

describe("3-node NATS cluster, R3 stream, stream leader killed during run --drain", () => {
  const stream = uniqueStreamName("CLUSTER");
  let cluster: RunningNatsCluster;
  let directory: string;
  let baselineOut: string;

  beforeAll(async () => {
    cluster = await startNatsCluster();
    directory = await mkdtemp(join(tmpdir(), "clickpipe-cluster-"));
    baselineOut = join(directory, "baseline");
    const baselineFile = await writeReplicatedPipelineFile(directory, { natsUrl: cluster.url, stream, out: baselineOut });
    await publishAndDrain(directory, baselineFile, crashInput(2500, 6, 77));
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("creates the stream with nats.replicas copies, one on each node", async () => {
    const { replicas, leader, followers } = await streamReplicas(cluster.url, stream);
    expect(replicas).toBe(3);
    expect([leader, ...followers].sort()).toEqual(cluster.nodes.map((node) => node.name).sort());
  });

  it("finishes by itself on the surviving nodes and writes exactly the no-fault tables", { timeout: 120_000 }, async () => {
    const out = join(directory, "leader-killed");
    const file = await writeReplicatedPipelineFile(directory, { natsUrl: cluster.url, stream, out });
    const checkpoints = join(out, "_checkpoints", NAME);
    const worker = spawnWorker(file, ["--drain"]);
    expect(await worker.printed(/starting \S+ at \S+ sequence 1 \(epoch \d+\)/), worker.output()).toBe(true);
    const claimed = Number(/\(epoch (\d+)\)/.exec(worker.output())![1]);
    // Mid-run: the first checkpoint with events is committed and the worker has not finished.
    while ((await highestEpoch(checkpoints)) <= claimed && worker.child.exitCode === null) await sleep(20);
    const leader = await cluster.streamLeader(stream);
    expect(leader, "the stream has a leader").toBeDefined();
    expect(worker.child.exitCode, `the worker finished before the kill:\n${worker.output()}`).toBeNull();
    const { lastSequence, bytes } = await streamReplicas(cluster.url, stream);
    // More than twice the worker's 8 MiB prefetch: it must read from the surviving nodes after the kill.
    expect(bytes).toBeGreaterThan(16 * 1024 * 1024);
    await leader!.kill("SIGKILL");
    const positionAtKill = await committedPosition(checkpoints);

    const finished = await worker.exited;
    expect(finished.code, finished.output).toBe(0);
    expect(finished.output).toContain(`drained ${stream} through sequence ${lastSequence}`);
    // Mid-run: the kill came before the worker had committed the stream's end.
    expect(positionAtKill).toBeLessThan(lastSequence);
    const expected = await lakeRows(baselineOut);
    expect(rowCounts(expected).sessions, "the baseline has sessions").toBeGreaterThan(0);
    expect(await lakeRows(out)).toEqual(expected);
    expect(await filesEndingWith(out, [".inprogress", ".tmp"])).toEqual([]);
  });
});
