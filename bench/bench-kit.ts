// Shared benchmark helpers: a lean counting OperatorContext, CPU and heap measurement, JSON-printing child processes.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ClickEvent } from "../src/events/event.ts";
import { Metrics } from "../src/metrics/registry.ts";
import type { OperatorContext, SessionRecord } from "../src/runtime/operator.ts";
import type { Row } from "../src/sinks/table.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Counts what operators emit and keeps nothing, so a benchmark measures the operator and not the collection. */
export class CountingContext implements OperatorContext {
  readonly metrics = new Metrics();
  rows = 0;
  lateEvents = 0;
  sessions = 0;
  /** Forwards sessions (and their watermarks) to a downstream consumer when set. */
  onSession: ((session: SessionRecord) => void) | undefined;
  onSessionWatermark: ((watermark: number) => void) | undefined;

  emit(_table: string, _row: Row): void {
    this.rows++;
  }
  late(_event: ClickEvent, _watermarkAtArrival: number, _reason: string): void {
    this.lateEvents++;
  }
  duplicate(_event: ClickEvent): void {}
  emitSession(session: SessionRecord): void {
    this.sessions++;
    this.onSession?.(session);
  }
  emitSessionWatermark(watermark: number): void {
    this.onSessionWatermark?.(watermark);
  }
  now(): number {
    return Date.now();
  }
}

/** CPU seconds (user + system, all threads) since `before`. */
export function cpuSecondsSince(before: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

/** Heap in use after a full collection; needs `node --expose-gc` (NaN without it). */
export function settledHeapBytes(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return Number.NaN;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const kept: unknown[] = [];

/**
 * Keeps values reachable up to this call: V8 frees a local after its last use, so an input that is not used after
 * a heap measurement would be freed inside it and shrink the delta.
 */
export function keepAlive(...values: unknown[]): void {
  kept.push(values);
  kept.length = 0;
}

export function log(line: string): void {
  console.error(line);
}

export interface ChildOptions {
  /** Extra flags for node before `--import tsx` (e.g. --expose-gc). */
  nodeFlags?: string[];
  env?: Record<string, string>;
  /** The child prints one JSON document; by default its last line, with `wholeOutput` all of stdout. */
  wholeOutput?: boolean;
  /** The child is killed after this long (default BENCH_CHILD_TIMEOUT_S or 600 s): one hung section must not hang the run. */
  timeoutMs?: number;
  /** Working directory (default: this checkout); another source tree's scripts run from their own. */
  cwd?: string;
}

/** Runs a bench script in a fresh Node process (stderr passed through) and parses the JSON it prints. */
export function runJsonChild<T>(script: string, args: string[] = [], options: ChildOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeFlags ?? []), "--import", "tsx", script, ...args], {
      cwd: options.cwd ?? ROOT,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...options.env },
    });
    const timeoutMs = options.timeoutMs ?? Number(process.env.BENCH_CHILD_TIMEOUT_S ?? 600) * 1000;
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL") return reject(new Error(`${script} was killed after ${timeoutMs / 1000} s`));
      if (code !== 0) return reject(new Error(`${script} exited with ${code}`));
      try {
        resolve(JSON.parse(options.wholeOutput === true ? output : output.trim().split("\n").pop()!) as T);
      } catch (error) {
        reject(new Error(`${script}: unreadable output: ${String(error)}`));
      }
    });
  });
}

/** Whether a section runs: BENCH_ONLY=a,b runs only those, BENCH_SKIP=a,b leaves those out. */
export function sectionEnabled(name: string): boolean {
  const only = process.env.BENCH_ONLY;
  if (only !== undefined && only !== "" && !only.split(",").includes(name)) return false;
  const skip = process.env.BENCH_SKIP ?? "";
  return !skip.split(",").includes(name);
}

/** The p-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Peak resident set of this process, bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
