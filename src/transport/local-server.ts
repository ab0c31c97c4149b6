// Finds a NATS server for local runs: the configured URL when it answers, else a nats-server started on a free port.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface LocalNats {
  url: string;
  /** Present when this process started the server. */
  started?: { process: ChildProcess; storeDir: string; stop(): Promise<void> };
}

export class NatsServerMissingError extends Error {
  constructor() {
    super(
      "nothing answers at the NATS URL and nats-server is not installed.\n" +
        "Install it (Debian/Ubuntu: sudo apt-get install nats-server; or https://docs.nats.io/running-a-nats-service/introduction/installation),\n" +
        "or point NATS_URL at a running nats-server started with -js (JetStream).",
    );
    this.name = "NatsServerMissingError";
  }
}

/** True when a TCP connection to the URL's host and port opens within the timeout. */
export async function natsAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  const { hostname, port } = new URL(url.replace(/^nats:/, "http:"));
  return new Promise((resolve) => {
    const socket = connectTcp({ host: hostname || "127.0.0.1", port: Number(port) || 4222 });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function natsServerInstalled(): boolean {
  return spawnSync("nats-server", ["--version"], { stdio: "ignore" }).status === 0;
}

/**
 * Starts `nats-server -js` on a free loopback port and waits until it answers. Its JetStream store is `storeDir`, kept
 * when it stops, or a temporary folder removed when it stops.
 */
export async function startLocalNatsServer(options: { storeDir?: string } = {}): Promise<NonNullable<LocalNats["started"]> & { url: string }> {
  if (!natsServerInstalled()) throw new NatsServerMissingError();
  const port = await freePort();
  const temporary = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), "clickpipe-nats-")));
  if (!temporary) await mkdir(storeDir, { recursive: true });
  const child = spawn("nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], { stdio: "ignore" });
  const url = `nats://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await natsAnswers(url, 300))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }
      // The temporary store is ours: a server that never started must not leave it behind.
      if (temporary) await rm(storeDir, { recursive: true, force: true });
      throw new Error(`nats-server did not start on port ${port}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    if (temporary) await rm(storeDir, { recursive: true, force: true });
  };
  return { url, process: child, storeDir, stop };
}

/** The URL when it answers; otherwise a nats-server of our own (or NatsServerMissingError), storing in `storeDir`. */
export async function ensureLocalNats(url: string, options: { storeDir?: string } = {}): Promise<LocalNats> {
  if (await natsAnswers(url)) return { url };
  const started = await startLocalNatsServer(options);
  return { url: started.url, started };
}
