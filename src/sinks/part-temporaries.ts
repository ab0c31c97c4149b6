// The temporary files a part's rewrite (forget, a worker erasing forgotten people) writes beside the part: their names,
// which say who writes them, and whether one was abandoned by a process killed mid-rewrite (recovery deletes those).
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { processStartOf } from "../runtime/lock-file.ts";

/**
 * Who writes a temporary: a process on a host, told from a later one with its pid by its start time (ticks since boot).
 * Its pid means something only to a process of the same kernel boot and pid namespace: containers that share a host's
 * name (host networking) each have pids of their own, so the boot and the namespace are in the name too.
 */
export interface TemporaryWriter {
  host: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat; undefined where there is no /proc. */
  processStart?: string;
  /** The first 8 hex digits of /proc/sys/kernel/random/boot_id: this kernel since its boot; undefined without it. */
  bootId?: string;
  /** The inode of /proc/self/ns/pid: the pid namespace the pid is counted in; undefined without it. */
  pidNamespace?: string;
}

/** This process as a writer of temporaries (the same for each of its threads). */
export function thisProcessAsWriter(): TemporaryWriter {
  const processStart = processStartOf(process.pid);
  const bootId = readOrUndefined(() => /^[0-9a-f]{8}/.exec(readFileSync("/proc/sys/kernel/random/boot_id", "latin1"))?.[0]);
  const pidNamespace = readOrUndefined(() => /^pid:\[(\d+)\]$/.exec(readlinkSync("/proc/self/ns/pid"))?.[1]);
  return {
    // As in port claims' file names: a host name's other characters have no place in one.
    host: hostname().replace(/[^A-Za-z0-9.-]/g, "_"),
    pid: process.pid,
    ...(processStart !== undefined && { processStart }),
    ...(bootId !== undefined && { bootId }),
    ...(pidNamespace !== undefined && { pidNamespace }),
  };
}

function readOrUndefined(read: () => string | undefined): string | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/**
 * `<part>.<pid>-<process start>-<boot>-<pid namespace>-<thread>-<call>@<host>.tmp`: unique per process incarnation,
 * thread and call (no two rewrites write into one file), and it says who writes it, for recovery to judge
 * (temporaryAbandoned). A start, boot or namespace of 0: not known.
 */
export function temporaryPartName(part: string, writer: TemporaryWriter, threadId: number, call: number): string {
  return `${part}.${writer.pid}-${writer.processStart ?? 0}-${writer.bootId ?? 0}-${writer.pidNamespace ?? 0}-${threadId}-${call}@${writer.host}.tmp`;
}

const TEMPORARY_NAME = /^.+\.parquet\.(\d+)-(\d+)-([0-9a-f]+)-(\d+)-\d+-\d+@([A-Za-z0-9._-]+)\.tmp$/;
/** The name of the version before the boot and the namespace were in it: `<part>.<pid>-<start>-<thread>-<call>@<host>.tmp`. */
const NAMESPACELESS_TEMPORARY_NAME = /^.+\.parquet\.\d+-\d+-\d+-\d+@([A-Za-z0-9._-]+)\.tmp$/;
/** The name versions before the writer's start and host were in it gave a temporary: `<part>.<pid>-<thread>-<call>.tmp`. */
const HOSTLESS_TEMPORARY_NAME = /^.+\.parquet\.\d+-\d+-\d+\.tmp$/;

/**
 * A temporary whose writer cannot be looked at from here (another pid namespace or boot of this host, an older name) is
 * abandoned once unchanged this long: a live rewrite writes its temporary in one go, fsyncs and renames it at once, so
 * only a stopped process leaves its temporary minutes old (and then its rename fails: the part stays as it was).
 */
export const UNJUDGED_TEMPORARY_ABANDONED_AFTER_MS = 10 * 60_000;

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

/** Whether `name` has one of the forms of a rewrite's temporary (temporaryAbandoned says whether it is abandoned). */
export function isTemporaryPartName(name: string): boolean {
  return TEMPORARY_NAME.test(name) || NAMESPACELESS_TEMPORARY_NAME.test(name) || HOSTLESS_TEMPORARY_NAME.test(name);
}

/**
 * Whether the file named `name`, last modified `ageMs` ago, is a rewrite's temporary that nobody can be writing any
 * more. One of this host, boot and pid namespace: its writer's process is gone (killed mid-rewrite), or is an earlier
 * one with the same pid (a container restarted with it, a pid reused: another start time). False for any other name,
 * for a temporary of another host (the sink path on shared storage: its processes are not seen here, and another
 * host's worker may be rewriting that part right now), and for one of a live process (a `forget`, another worker, this
 * process's own encoder threads) or whose writer cannot be told from a live one (no start time known). One of this
 * host whose pid means nothing here (another pid namespace: a container with the host's name; another boot; not known)
 * and the older name forms (the one before the namespace was in it, and the hostless one, which may be another host's
 * older version's) are abandoned once UNJUDGED_TEMPORARY_ABANDONED_AFTER_MS old.
 */
export function temporaryAbandoned(name: string, self: TemporaryWriter, probe: ProcessProbe, ageMs: number): boolean {
  const oldEnough = ageMs > UNJUDGED_TEMPORARY_ABANDONED_AFTER_MS;
  const named = TEMPORARY_NAME.exec(name);
  if (named !== null) {
    const [, pidText, startText, bootId, pidNamespace, host] = named;
    if (host !== self.host) return false;
    const samePids = self.bootId !== undefined && self.pidNamespace !== undefined && bootId === self.bootId && pidNamespace === self.pidNamespace;
    if (!samePids) return oldEnough;
    const pid = Number(pidText);
    const start = startText === "0" ? undefined : startText;
    if (pid === self.pid) return start !== undefined && self.processStart !== undefined && start !== self.processStart;
    if (!probe.alive(pid)) return true;
    const running = start === undefined ? undefined : probe.startOf(pid);
    return running !== undefined && running !== start;
  }
  const namespaceless = NAMESPACELESS_TEMPORARY_NAME.exec(name);
  if (namespaceless !== null) return namespaceless[1] === self.host && oldEnough;
  return HOSTLESS_TEMPORARY_NAME.test(name) && oldEnough;
}
