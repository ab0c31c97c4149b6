// Runs the real `clickpipe` command (bin/clickpipe.js) in a child process, as a user would.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";

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
