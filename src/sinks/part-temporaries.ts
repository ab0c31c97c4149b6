// The temporary files a part's rewrite (forget, a worker erasing forgotten people) writes beside the part: their names,
// which say who writes them, and whether one was abandoned by a process killed mid-rewrite (recovery deletes those).
import { hostname } from "node:os";
import { processStartOf } from "../runtime/lock-file.ts";

/** Who writes a temporary: a process on a host, told from a later one with its pid by its start time (ticks since boot). */
export interface TemporaryWriter {
  host: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat; undefined where there is no /proc. */
  processStart?: string;
}

/** This process as a writer of temporaries (the same for each of its threads). */
export function thisProcessAsWriter(): TemporaryWriter {
  const processStart = processStartOf(process.pid);
  // As in port claims' file names: a host name's other characters have no place in one.
  return { host: hostname().replace(/[^A-Za-z0-9.-]/g, "_"), pid: process.pid, ...(processStart !== undefined && { processStart }) };
}

/**
 * `<part>.<pid>-<process start>-<thread>-<call>@<host>.tmp`: unique per process incarnation, thread and call (no two
 * rewrites write into one file), and it says who writes it, for recovery to judge (temporaryAbandoned). A start of 0:
 * not known.
 */
export function temporaryPartName(part: string, writer: TemporaryWriter, threadId: number, call: number): string {
  return `${part}.${writer.pid}-${writer.processStart ?? 0}-${threadId}-${call}@${writer.host}.tmp`;
}

const TEMPORARY_NAME = /^.+\.parquet\.(\d+)-(\d+)-\d+-\d+@([A-Za-z0-9._-]+)\.tmp$/;
/** The name versions before the writer's start and host were in it gave a temporary: `<part>.<pid>-<thread>-<call>.tmp`. */
const HOSTLESS_TEMPORARY_NAME = /^.+\.parquet\.(\d+)-\d+-\d+\.tmp$/;

/** What recovery asks about a process of this host: whether it runs, and when it started (undefined: not known). */
export interface ProcessProbe {
  alive: (pid: number) => boolean;
  startOf: (pid: number) => string | undefined;
}

/** Whether a process with `pid` runs on this host (one of another user's counts: kill answers EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

export const processProbe: ProcessProbe = { alive: processAlive, startOf: processStartOf };

/**
 * Whether the file named `name` is a rewrite's temporary that nobody can be writing any more: its writer's process is
 * gone from this host (killed mid-rewrite), or is an earlier one with the same pid (a container restarted with it, a
 * pid reused: another start time). False for any other name, for a temporary of another host (the sink path on shared
 * storage: its processes are not seen here, and another host's worker may be rewriting that part right now), and for
 * one of a live process (a `forget`, another worker, this process's own encoder threads) or whose writer cannot be
 * told from a live one (no start time known). A temporary in the older name form, which names no host, is taken for
 * this host's: it was written by a version before this one.
 */
export function temporaryAbandoned(name: string, self: TemporaryWriter, probe: ProcessProbe): boolean {
  const named = TEMPORARY_NAME.exec(name);
  if (named !== null) {
    const [, pidText, startText, host] = named;
    if (host !== self.host) return false;
    const pid = Number(pidText);
    const start = startText === "0" ? undefined : startText;
    if (pid === self.pid) return start !== undefined && self.processStart !== undefined && start !== self.processStart;
    if (!probe.alive(pid)) return true;
    const running = start === undefined ? undefined : probe.startOf(pid);
    return running !== undefined && running !== start;
  }
  const hostless = HOSTLESS_TEMPORARY_NAME.exec(name);
  if (hostless === null) return false;
  const pid = Number(hostless[1]);
  // This process writes only names of the form above: one of its pid in the older form is an earlier process's.
  return pid === self.pid || !probe.alive(pid);
}
