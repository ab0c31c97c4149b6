// Starts Debian's `prometheus` with a rendered config and temporary storage, and stops it cleanly (npm run monitor, tests).
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROMETHEUS_TEMPLATE, renderPrometheusConfig } from "./prometheus-config.ts";

export const DEFAULT_PROMETHEUS_PORT = 9090;
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

export interface StartPrometheusOptions {
  /** host:port of each worker's /metrics endpoint, all targets of the job clickpipe. */
  targets: readonly string[];
  /** Listen port: a number uses exactly that port; 0 a free one; omitted: 9090 when free, else a free one. */
  port?: number;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Prometheus duration, e.g. "1s"; default the template's (5s). */
  scrapeInterval?: string;
  /** The prometheus executable; default $PROMETHEUS_BIN or `prometheus` on PATH. */
  binary?: string;
}

export interface RunningPrometheus {
  /** Base URL of the web UI and HTTP API on this machine, e.g. http://127.0.0.1:9090 (also when it listens on 0.0.0.0). */
  url: string;
  /** The address it listens on (--host), e.g. 127.0.0.1 or 0.0.0.0. */
  host: string;
  port: number;
  /** Temporary directory holding prometheus.yml and the TSDB; removed by stop(). */
  directory: string;
  configFile: string;
  /** Resolves with the exit code (or signal) when the process ends for any reason. */
  exited: Promise<number | NodeJS.Signals | null>;
  /** Terminates Prometheus (SIGTERM, then SIGKILL) and removes the temporary directory. */
  stop(): Promise<void>;
  /**
   * Kills Prometheus (SIGKILL) and removes the temporary directory at once, for a process about to exit (an 'exit'
   * listener cannot wait for stop()): otherwise Prometheus outlives it, scraping and holding its port and storage.
   */
  stopNow(): void;
}

/** Raised when the prometheus executable is not installed. */
export class PrometheusMissingError extends Error {
  constructor(binary: string) {
    super(`${binary} not found: install Debian's package (apt-get install prometheus) or set PROMETHEUS_BIN to the executable`);
    this.name = "PrometheusMissingError";
  }
}

export async function startPrometheus(options: StartPrometheusOptions): Promise<RunningPrometheus> {
  const host = options.host ?? "127.0.0.1";
  const port = await choosePort(host, options.port);
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-prometheus-"));
  const configFile = join(directory, "prometheus.yml");
  const template = await readFile(PROMETHEUS_TEMPLATE, "utf8");
  await writeFile(configFile, renderPrometheusConfig(template, { targets: options.targets, scrapeInterval: options.scrapeInterval }));
  const binary = options.binary ?? process.env.PROMETHEUS_BIN ?? "prometheus";
  const child = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(directory, "data")}`,
      `--web.listen-address=${urlHost(host)}:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  const keepLog = (chunk: Buffer) => {
    log = (log + chunk.toString("utf8")).slice(-4000);
  };
  child.stdout?.on("data", keepLog);
  child.stderr?.on("data", keepLog);
  const exited = exitOf(child);
  const url = `http://${urlHost(loopbackFor(host))}:${port}`;
  const removeDirectory = () => rm(directory, { recursive: true, force: true });
  try {
    await waitReady(url, exited, () => log);
  } catch (error) {
    child.kill("SIGKILL");
    await exited.catch(() => undefined);
    await removeDirectory();
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new PrometheusMissingError(binary);
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    url,
    host,
    port,
    directory,
    configFile,
    exited,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const killTimer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(killTimer);
        }
        await removeDirectory();
      })();
      return stopping;
    },
    stopNow() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** `host` as a URL or listen address takes it: an IPv6 address in brackets. */
export function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Where this machine reaches a listener on `host`: a wildcard address is no address to connect to (nor to give Grafana). */
export function loopbackFor(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

/** `requested` as given; undefined: the default port when it is free, else any free port. */
async function choosePort(host: string, requested: number | undefined): Promise<number> {
  if (requested !== undefined && requested !== 0) return requested;
  if (requested === undefined && (await listenable(host, DEFAULT_PROMETHEUS_PORT)) !== undefined) return DEFAULT_PROMETHEUS_PORT;
  const free = await listenable(host, 0);
  if (free === undefined) throw new Error(`no free port on ${host}`);
  return free;
}

/** The port a listener got on host:port, or undefined when it could not listen there. */
function listenable(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, host, () => {
      const address = server.address();
      const got = typeof address === "object" && address !== null ? address.port : undefined;
      server.close(() => resolve(got));
    });
  });
}

function exitOf(child: ChildProcess): Promise<number | NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(signal ?? code));
  });
}

/** Polls /-/ready until Prometheus answers 200; fails early when the process exits. */
async function waitReady(url: string, exited: Promise<number | NodeJS.Signals | null>, log: () => string): Promise<void> {
  let exit: { value: number | NodeJS.Signals | null } | undefined;
  let spawnError: unknown;
  exited.then(
    (value) => (exit = { value }),
    (error: unknown) => (spawnError = error),
  );
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (spawnError !== undefined) throw spawnError;
    if (exit !== undefined) throw new Error(`prometheus exited (${String(exit.value)}) before it was ready:\n${log()}`);
    try {
      const response = await fetch(`${url}/-/ready`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`prometheus was not ready at ${url} after ${READY_TIMEOUT_MS} ms:\n${log()}`);
}
