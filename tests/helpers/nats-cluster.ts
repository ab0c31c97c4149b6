// A 3-node nats-server cluster with JetStream on loopback (free ports, one store per node) whose nodes can be killed and restarted.
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { randomBytes } from "node:crypto";
import { spawnReady } from "./nats-server.ts";

const JETSTREAM_READY_TIMEOUT_MS = 30_000;
const STARTUP_READY_TIMEOUT_MS = 20_000;
const STARTUP_ATTEMPTS = 3;
const LOG_TAIL_CHARS = 3_000;

export type ClusterNode = {
  /** The server name (`-n`): what stream info reports as leader and replicas. */
  name: string;
  url: string;
  port: number;
  storeDir: string;
  /** True between a start and a kill. */
  running(): boolean;
  /** Sends a signal (default SIGKILL: a crash) without cleaning up, so restart() brings the node back with its store. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the node again on the same ports and store (killing it first when it still runs). */
  restart(): Promise<void>;
};

export type RunningNatsCluster = {
  nodes: ClusterNode[];
  /** Every client URL, comma-separated: what a pipeline file's `nats.url` takes. */
  url: string;
  /** The node leading `stream`'s RAFT group (asked through any running node), or undefined while there is none. */
  streamLeader(stream: string): Promise<ClusterNode | undefined>;
  /** Resolves once the meta leader is elected and a stream with `replicas` copies can be created (and deletes it). */
  waitForJetStream(replicas?: number, timeoutMs?: number): Promise<void>;
  /** Terminates every node and removes the store directories. */
  stop(): Promise<void>;
};

export type NatsClusterOptions = { size?: number; name?: string };

/**
 * Starts `size` (default 3) JetStream nodes routed to each other and waits until an R`size` stream can be created.
 * A cluster that cannot place the stream within STARTUP_READY_TIMEOUT_MS is torn down and started again on fresh ports
 * and stores, up to STARTUP_ATTEMPTS times: CI once saw a new cluster answer "no suitable peers for placement" for
 * 30 s; repeated local starts, with both cores busy or not, never showed it, so a fresh start is the remedy.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<RunningNatsCluster> {
  const failures: string[] = [];
  for (let attempt = 1; attempt <= STARTUP_ATTEMPTS; attempt++) {
    const cluster = await spawnCluster(options);
    try {
      await cluster.waitForJetStream(undefined, STARTUP_READY_TIMEOUT_MS);
      return cluster;
    } catch (error) {
      failures.push(`attempt ${attempt}: ${String(error)}\n${cluster.logTail()}`);
      await cluster.stop();
    }
  }
  throw new Error(`no ${options.size ?? 3}-node cluster became ready in ${STARTUP_ATTEMPTS} attempts:\n${failures.join("\n")}`);
}

async function spawnCluster(options: NatsClusterOptions): Promise<RunningNatsCluster & { logTail(): string }> {
  const size = options.size ?? 3;
  const clusterName = options.name ?? `clickpipe-${randomBytes(3).toString("hex")}`;
  const logs = Array.from({ length: size }, () => "");
  const keepLog = (index: number) => (chunk: Buffer) => {
    logs[index] = (logs[index] + chunk.toString("utf8")).slice(-LOG_TAIL_CHARS);
  };
  const clientPorts = await freePorts(size);
  const routePorts = await freePorts(size);
  const routes = routePorts.map((port) => `nats-route://127.0.0.1:${port}`).join(",");
  const nodes: ClusterNode[] = [];
  const children: (ChildProcess | undefined)[] = [];
  const storeDirs: string[] = [];
  try {
    for (let index = 0; index < size; index++) storeDirs.push(await mkdtemp(join(tmpdir(), `clickpipe-cluster-n${index}-`)));
    const argsOf = (index: number) => [
      "-a", "127.0.0.1",
      "-p", String(clientPorts[index]),
      "-n", `${clusterName}-n${index}`,
      "-js",
      "-sd", storeDirs[index]!,
      "--cluster_name", clusterName,
      "--cluster", `nats://127.0.0.1:${routePorts[index]}`,
      "--routes", routes,
    ];
    // Nodes start together: each waits for its routes, and JetStream needs a quorum of peers to elect a meta leader.
    children.push(...(await Promise.all(Array.from({ length: size }, (_, index) => spawnReady(argsOf(index), keepLog(index))))));
    for (let index = 0; index < size; index++) {
      nodes.push({
        name: `${clusterName}-n${index}`,
        url: `nats://127.0.0.1:${clientPorts[index]}`,
        port: clientPorts[index]!,
        storeDir: storeDirs[index]!,
        running: () => isRunning(children[index]),
        async kill(signal: NodeJS.Signals = "SIGKILL") {
          const child = children[index];
          if (child === undefined) return;
          child.kill(signal);
          await exited(child);
        },
        async restart() {
          const child = children[index];
          if (child !== undefined) {
            child.kill("SIGKILL");
            await exited(child);
          }
          children[index] = undefined;
          children[index] = await spawnReady(argsOf(index), keepLog(index));
        },
      });
    }
  } catch (error) {
    for (const child of children) child?.kill("SIGKILL");
    await Promise.all(storeDirs.map((dir) => rm(dir, { recursive: true, force: true })));
    throw error;
  }

  const url = nodes.map((node) => node.url).join(",");
  const withManager = async <T>(use: (manager: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>): Promise<T> => {
    const servers = nodes.filter((node) => node.running()).map((node) => node.url);
    const connection = await connect({ servers, timeout: 2_000, maxReconnectAttempts: 0 });
    try {
      return await use(await jetstreamManager(connection, { timeout: 2_000 }));
    } finally {
      await connection.close();
    }
  };

  return {
    nodes,
    url,
    async streamLeader(stream) {
      const leader = await withManager(async (manager) => (await manager.streams.info(stream)).cluster?.leader).catch(() => undefined);
      return nodes.find((node) => node.name === leader);
    },
    async waitForJetStream(replicas = size, timeoutMs = JETSTREAM_READY_TIMEOUT_MS) {
      const deadline = performance.now() + timeoutMs;
      const probe = `CLUSTER_READY_${randomBytes(4).toString("hex").toUpperCase()}`;
      let lastError: unknown;
      while (performance.now() < deadline) {
        try {
          await withManager(async (manager) => {
            await manager.streams.add({
              name: probe,
              subjects: [`${probe}.>`],
              retention: RetentionPolicy.Limits,
              storage: StorageType.Memory,
              num_replicas: replicas,
            });
            await manager.streams.delete(probe);
          });
          return;
        } catch (error) {
          // "JetStream system temporarily unavailable" (no meta leader yet) or "insufficient resources" (peers missing).
          lastError = error;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
      throw new Error(`the cluster cannot create an R${replicas} stream after ${timeoutMs} ms: ${String(lastError)}`);
    },
    async stop() {
      await Promise.all(
        children.map(async (child) => {
          if (child === undefined || !isRunning(child)) return;
          child.kill("SIGTERM");
          const killTimer = setTimeout(() => child.kill("SIGKILL"), 5_000);
          await exited(child);
          clearTimeout(killTimer);
        }),
      );
      await Promise.all(storeDirs.map((dir) => rm(dir, { recursive: true, force: true })));
    },
    logTail: () => nodes.map((node, index) => `--- ${node.name}\n${logs[index]}`).join("\n"),
  };
}

function isRunning(child: ChildProcess | undefined): boolean {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

function exited(child: ChildProcess): Promise<void> {
  return isRunning(child) ? new Promise((resolve) => child.once("exit", () => resolve())) : Promise.resolve();
}

/** Distinct free loopback ports, all held open until every one is chosen so that none is handed out twice. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    return typeof address === "object" && address ? address.port : 0;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

