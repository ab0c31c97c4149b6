// Runs the real `clickpipe` command (bin/clickpipe.js) in a child process, as a user would.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { format } from "node:util";
import { afterEach } from "vitest";
import { main } from "../../src/cli/main.ts";

export const CLICKPIPE_BIN = fileURLToPath(new URL("../../bin/clickpipe.js", import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, options: { timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLICKPIPE_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 90_000);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Runs `main(args)` in this process, as bin/clickpipe.js does (`process.exitCode = await main(argv)`), with what it
 * writes through console.log/error and process.stdout/stderr captured: for command-line parsing (--help, usage
 * errors), where a child process per case cost ≈ 0.5–1 s of startup and module loading (train and score load
 * TensorFlow.js) and tested nothing more. The error listeners main() adds to stdout and stderr are removed again.
 */
export async function runCliInProcess(args: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const saved = { log: console.log, error: console.error, out: process.stdout.write, err: process.stderr.write };
  const listeners = { out: process.stdout.listeners("error"), err: process.stderr.listeners("error") };
  console.log = (...parts: unknown[]) => void (stdout += `${format(...parts)}\n`);
  console.error = (...parts: unknown[]) => void (stderr += `${format(...parts)}\n`);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, signal: null, stdout, stderr };
  } finally {
    Object.assign(console, { log: saved.log, error: saved.error });
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    for (const listener of process.stdout.listeners("error")) if (!listeners.out.includes(listener)) process.stdout.off("error", listener as never);
    for (const listener of process.stderr.listeners("error")) if (!listeners.err.includes(listener)) process.stderr.off("error", listener as never);
  }
}

export interface CliProcess {
  child: ChildProcess;
  /** Resolves with the exit code (or the signal) and everything the process printed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>;
  output(): string;
  /** Resolves true once the output matches `pattern`, false if the process exits first. */
  printed(pattern: RegExp): Promise<boolean>;
}

/**
 * Spawns `clickpipe <args>` as a user would, for a test that watches its output while it runs; in the repository's
 * root unless `cwd` says where (relative paths in a pipeline file are relative to it).
 */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, options: { cwd?: string } = {}): CliProcess {
  const child = spawn(process.execPath, [CLICKPIPE_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, output })),
  );
  const printed = (pattern: RegExp) =>
    new Promise<boolean>((resolve) => {
      const check = () => {
        if (!pattern.test(output)) return;
        child.stdout!.off("data", check);
        child.stderr!.off("data", check);
        resolve(true);
      };
      child.stdout!.on("data", check);
      child.stderr!.on("data", check);
      void exited.then(() => resolve(pattern.test(output)));
      check();
    });
  return { child, exited, output: () => output, printed };
}

/** Whether the process printed `pattern` within `ms` (false also when it exited first). */
export function printedWithin(cli: CliProcess, pattern: RegExp, ms = 8_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([cli.printed(pattern), late]).finally(() => clearTimeout(timer));
}

/**
 * For the tests of a describe block that start `clickpipe` processes in a scratch folder: `folder()` makes the test's
 * folder (`<tmp>/<prefix>…`), `track(cli)` keeps a process; after each test the processes still running are killed
 * (SIGKILL) and the folder removed.
 */
export function cliScratchEachTest(prefix: string): { folder: () => Promise<string>; track: (cli: CliProcess) => CliProcess } {
  const running: CliProcess[] = [];
  let directory: string | undefined;
  afterEach(async () => {
    for (const { child } of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
    directory = undefined;
  });
  return {
    folder: async () => (directory = await mkdtemp(join(tmpdir(), prefix))),
    track: (cli) => {
      running.push(cli);
      return cli;
    },
  };
}
