// The one launcher of real nats-server processes for every integration test: own servers, the shared test URL, unique stream names.
import { appendFileSync } from "node:fs";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const DEFAULT_TEST_NATS_URL = "nats://127.0.0.1:4222";
const READY_TIMEOUT_MS = 15_000;
const PROBE_TIMEOUT_MS = 1_500;

export type NatsServerOptions = { jetstream?: boolean; port?: number; storeDir?: string };

export type RunningNatsServer = {
  url: string;
  port: number;
  storeDir: string;
  /** Terminates the server and removes the store directory the helper created. */
  stop(): Promise<void>;
  /** Sends a signal (default SIGKILL: a crash) without cleaning up, so restart() can bring it back. */
  kill(signal?: NodeJS.Signals): void;
  /** Starts the server again on the same port and store directory (killing it first when it still runs). */
  restart(): Promise<void>;
};

/** Spawns `nats-server -js -a 127.0.0.1 -p <port> -sd <dir>` and resolves once it reports ready. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<RunningNatsServer> {
  const jetstream = options.jetstream ?? true;
  const port = options.port ?? (await freePort());
  const ownsStoreDir = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), "clickpipe-nats-")));
  const args = ["-a", "127.0.0.1", "-p", String(port), ...(jetstream ? ["-js", "-sd", storeDir] : [])];

  let child = await spawnReady(args);
  let stopped = false;

  const waitExit = (proc: ChildProcess) =>
    proc.exitCode !== null || proc.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => proc.once("exit", () => resolve()));

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    kill(signal: NodeJS.Signals = "SIGKILL") {
      child.kill(signal);
    },
    async restart() {
      if (stopped) throw new Error("nats-server was stopped; start a new one instead of restarting");
      child.kill("SIGKILL");
      await waitExit(child);
      child = await spawnReady(args);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      unregisterChild(child);
      child.kill("SIGTERM");
      const killTimer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await waitExit(child);
      clearTimeout(killTimer);
      if (ownsStoreDir) await rm(storeDir, { recursive: true, force: true });
    },
  };
}

let startedForTests: RunningNatsServer | undefined;

/** NATS_URL (or nats://127.0.0.1:4222) when a JetStream server answers there, else a server started for this process. */
export async function natsUrlForTests(): Promise<string> {
  const candidate = process.env.NATS_URL || DEFAULT_TEST_NATS_URL;
  if (await answersWithJetStream(candidate)) return candidate;
  startedForTests ??= await startNatsServer();
  return startedForTests.url;
}

/** Stops the server natsUrlForTests() started, if any (global teardown). */
export async function stopNatsServerForTests(): Promise<void> {
  const server = startedForTests;
  startedForTests = undefined;
  await server?.stop();
}

/**
 * Set by the integration project's global setup: the file where uniqueStreamName records every name it hands out, so
 * that the teardown deletes the streams and KV buckets this run made on a shared server (≈ 50 streams, 90 MB per run otherwise).
 */
export const TEST_STREAM_NAMES_FILE = "CLICKPIPE_TEST_STREAM_NAMES_FILE";

/** A JetStream-valid stream name no other test (or earlier run) uses. */
export function uniqueStreamName(prefix = "TEST"): string {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`.toUpperCase();
  const namesFile = process.env[TEST_STREAM_NAMES_FILE];
  if (namesFile) appendFileSync(namesFile, `${name}\n`);
  return name;
}

/** True when a NATS server at `url` sends an INFO line advertising JetStream within a short timeout. */
export function answersWithJetStream(url: string): Promise<boolean> {
  let host: string;
  let port: number;
  try {
    const parsed = new URL(url.includes("://") ? url : `nats://${url}`);
    host = parsed.hostname || "127.0.0.1";
    port = Number(parsed.port || 4222);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let received = "";
    const finish = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish(false), PROBE_TIMEOUT_MS);
    socket.on("error", () => finish(false));
    socket.on("data", (chunk) => {
      received += chunk.toString("utf8");
      const end = received.indexOf("\r\n");
      if (end === -1) return;
      const line = received.slice(0, end);
      if (!line.startsWith("INFO ")) return finish(false);
      try {
        finish((JSON.parse(line.slice(5)) as { jetstream?: boolean }).jetstream === true);
      } catch {
        finish(false);
      }
    });
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const liveChildren = new Set<ChildProcess>();
function unregisterChild(child: ChildProcess) {
  liveChildren.delete(child);
}
// A test runner that exits without teardown must not leave servers behind.
process.once("exit", () => {
  for (const child of liveChildren) child.kill("SIGKILL");
});

/**
 * Spawns nats-server and resolves when its log says "Server is ready"; rejects with its output otherwise. The
 * server is killed when this process exits. CLICKPIPE_CLUSTER_LOG names a file that gets every server's output;
 * `onLog` gets it too, for as long as the server runs.
 */
export function spawnReady(args: string[], onLog?: (chunk: Buffer) => void): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn("nats-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`nats-server ${args.join(" ")} did not start: ${reason}\n${log.slice(-2000)}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    const onOutput = (chunk: Buffer) => {
      if (process.env.CLICKPIPE_CLUSTER_LOG) appendFileSync(process.env.CLICKPIPE_CLUSTER_LOG, chunk);
      onLog?.(chunk);
      if (settled) return;
      log += chunk.toString("utf8");
      if (log.includes("Server is ready")) {
        settled = true;
        clearTimeout(timer);
        // Stop buffering the log: a cluster node keeps printing route and RAFT messages.
        log = "";
        liveChildren.add(child);
        child.once("exit", () => liveChildren.delete(child));
        resolve(child);
      }
    };
    child.stdout?.on("data", onOutput);
    child.stderr?.on("data", onOutput);
    child.once("error", (error) => fail(`${error.message} (is nats-server installed and on PATH?)`));
    child.once("exit", (code, signal) => fail(`exited with ${signal ?? code}`));
  });
}
