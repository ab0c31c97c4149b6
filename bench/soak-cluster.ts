// Soak step (issue 8): a 3-node NATS cluster with an R3 stream loses a node (kill -9, the stream leader first) several
// times during one `clickpipe run --drain`; each node comes back before the next kill. The lake must equal the no-fault
// run's. Sizes: SOAK_CLUSTER_VISITORS (default 28000, about 1M lines, as the main soak: on faster machines 15000
// drained before the second kill), SOAK_CLUSTER_DAYS (7), SOAK_CLUSTER_KILLS (3).
import { publishAndDrainNoFault } from "./soak-kit.ts";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNatsCluster } from "../tests/helpers/nats-cluster.ts";
import { uniqueStreamName } from "../tests/helpers/nats-server.ts";
import { crashInput, filesEndingWith, lakeRows, sleep, spawnWorker, writePipelineFile } from "../tests/integration/crash-harness.ts";

const NAME = "soakcluster";

async function highestEpoch(directory: string): Promise<number> {
  const names = await readdir(directory).catch(() => [] as string[]);
  return Math.max(0, ...names.map((name) => Number(/^checkpoint-(\d+)\.json$/.exec(name)?.[1] ?? 0)));
}

async function replicatedPipelineFile(directory: string, natsUrl: string, stream: string, out: string): Promise<string> {
  const file = await writePipelineFile(directory, { name: NAME, natsUrl, stream, out });
  const text = await readFile(file, "utf8");
  await writeFile(file, text.replace(`  stream: ${stream}\n`, `  stream: ${stream}\n  replicas: 3\n`));
  return file;
}

/** Returns true when the lake after the node kills equals the no-fault lake and no partial file is left. */
export async function soakCluster(): Promise<boolean> {
  const visitors = Number(process.env.SOAK_CLUSTER_VISITORS ?? 28_000);
  const days = Number(process.env.SOAK_CLUSTER_DAYS ?? 7);
  const kills = Number(process.env.SOAK_CLUSTER_KILLS ?? 3);
  const cluster = await startNatsCluster();
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-soak-cluster-"));
  try {
    const stream = uniqueStreamName("SOAKCLUSTER");
    const baselineOut = join(directory, "baseline");
    const baselineFile = await replicatedPipelineFile(directory, cluster.url, stream, baselineOut);
    const input = join(directory, "input.ndjson");
    const lines = crashInput(visitors, days, 88);
    await writeFile(input, lines.join("\n") + "\n");
    console.log(`cluster soak: ${lines.length} lines, R3 stream on 3 nodes, ${kills} node kills during one drain`);
    await publishAndDrainNoFault(input, baselineFile, "cluster no-fault run");

    const out = join(directory, "faulty");
    const file = await replicatedPipelineFile(directory, cluster.url, stream, out);
    const checkpoints = join(out, "_checkpoints", NAME);
    const started = performance.now();
    const worker = spawnWorker(file, ["--drain"]);
    await worker.printed(/starting \S+ at \S+ sequence \d+ \(epoch \d+\)/);
    let killed = 0;
    let order = cluster.nodes;
    for (; killed < kills && worker.child.exitCode === null; killed++) {
      const before = await highestEpoch(checkpoints);
      while ((await highestEpoch(checkpoints)) <= before && worker.child.exitCode === null) await sleep(20);
      // The stream leader first, then the other nodes in turn, so every node is lost once.
      if (killed === 0) {
        const leader = (await cluster.streamLeader(stream)) ?? cluster.nodes[0]!;
        order = [leader, ...cluster.nodes.filter((node) => node !== leader)];
      }
      const node = order[killed % order.length]!;
      if (worker.child.exitCode !== null) break;
      await node.kill("SIGKILL");
      const killedAt = performance.now();
      const epochAtKill = await highestEpoch(checkpoints);
      while ((await highestEpoch(checkpoints)) <= epochAtKill && worker.child.exitCode === null) await sleep(50);
      console.log(`node ${node.name} killed: next checkpoint ${((performance.now() - killedAt) / 1000).toFixed(1)} s later`);
      await node.restart();
      await cluster.waitForJetStream(3);
      console.log(`node ${node.name} back, R3 streams can be created again`);
    }
    const result = await worker.exited;
    console.log(`cluster faulty run: ${((performance.now() - started) / 1000).toFixed(1)} s with ${killed} node kills, exit ${result.code}`);
    if (result.code !== 0) {
      console.log(result.output.slice(-3000));
      return false;
    }
    if (killed < kills) console.log(`note: the run finished before all ${kills} kills (raise SOAK_CLUSTER_VISITORS)`);
    const expected = await lakeRows(baselineOut);
    const actual = await lakeRows(out);
    const leftovers = await filesEndingWith(out, [".inprogress", ".tmp"]);
    let ok = leftovers.length === 0;
    if (!ok) console.log(`leftover files: ${leftovers.join(", ")}`);
    for (const table of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
      const same = JSON.stringify(actual[table] ?? []) === JSON.stringify(expected[table] ?? []);
      if (!same) ok = false;
      console.log(`${same ? "ok  " : "DIFF"} cluster ${table}: ${(actual[table] ?? []).length} rows (no-fault ${(expected[table] ?? []).length})`);
    }
    return ok;
  } finally {
    await cluster.stop();
    await rm(directory, { recursive: true, force: true });
  }
}
