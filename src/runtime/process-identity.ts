// Who this process is, as a lock's holder (lock-file.ts) and a rewrite temporary's writer (sinks/part-temporaries.ts)
// record it: host, pid, start time, kernel boot and pid namespace, read from /proc; and whether another process so
// recorded can be looked at from here by its pid.
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";

/**
 * A process on a host, told from a later one with its pid by its start time. Its pid means something only to a process
 * of the same kernel boot and pid namespace: containers that share a host's name (host networking) each count pids of
 * their own, so the boot and the namespace are recorded too.
 */
export interface ProcessIdentity {
  host: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); undefined where there is no /proc. */
  processStart?: string;
  /** The first 8 hex digits of /proc/sys/kernel/random/boot_id: this kernel since its boot; undefined without it. */
  bootId?: string;
  /** The inode of /proc/self/ns/pid: the pid namespace the pid is counted in; undefined without it. */
  pidNamespace?: string;
}

/** This process (the same for each of its threads). */
export function thisProcessIdentity(): ProcessIdentity {
  const processStart = processStartOf(process.pid);
  const bootId = readOrUndefined(() => /^[0-9a-f]{8}/.exec(readFileSync("/proc/sys/kernel/random/boot_id", "latin1"))?.[0]);
  const pidNamespace = readOrUndefined(() => /^pid:\[(\d+)\]$/.exec(readlinkSync("/proc/self/ns/pid"))?.[1]);
  return {
    host: hostname(),
    pid: process.pid,
    ...(processStart !== undefined && { processStart }),
    ...(bootId !== undefined && { bootId }),
    ...(pidNamespace !== undefined && { pidNamespace }),
  };
}

/**
 * Whether `other` runs on this kernel since its boot: the same host name and boot id, both known. Then its wall clock
 * is this process's (one per kernel: containers share it), which the host name alone does not say: two machines can
 * have one name, and another boot id of this name may be another machine's as well as this one's before a reboot.
 */
export function sameKernel(other: Pick<ProcessIdentity, "host" | "bootId">, self: Pick<ProcessIdentity, "host" | "bootId">): boolean {
  return self.bootId !== undefined && other.host === self.host && other.bootId === self.bootId;
}

/**
 * Whether `other`'s pid is one of this process's pids: the same host, kernel boot and pid namespace, all three known.
 * Anything else (another container with the host's name, another boot, a record that lacks them) is not judged by pid.
 * The kernel gives a pid namespace's number to a new namespace once the old one is gone (a container restarted after
 * kill -9 often gets its predecessor's): every process of the old one is gone then, and its pids say so (dead, or
 * reused by a process that started at another time).
 */
export function countsPidsAsThis(
  other: Pick<ProcessIdentity, "host" | "bootId" | "pidNamespace">,
  self: Pick<ProcessIdentity, "host" | "bootId" | "pidNamespace">,
): boolean {
  return sameKernel(other, self) && self.pidNamespace !== undefined && other.pidNamespace === self.pidNamespace;
}

/** Field 22 (starttime) of /proc/<pid>/stat; undefined without /proc or once the process is gone. */
export function processStartOf(pid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses: count from the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so field 22 is fields[19].
  return fields[19];
}

/** Whether a process with `pid` runs in this pid namespace (one of another user's counts: kill answers EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** What a judge of another process asks about a pid of this pid namespace: whether it runs, and when it started. */
export interface ProcessProbe {
  alive: (pid: number) => boolean;
  /** undefined: not known. */
  startOf: (pid: number) => string | undefined;
}

export const processProbe: ProcessProbe = { alive: processAlive, startOf: processStartOf };

/**
 * Whether the process recorded as `pid` of this pid namespace, started at `processStart`, is gone: no process has the
 * pid, or the one that has it started at another time (the pid was reused). A start not known on either side tells
 * nothing: then only a dead pid says so.
 */
export function processGone(pid: number, processStart: string | undefined, probe: ProcessProbe): boolean {
  if (!probe.alive(pid)) return true;
  if (processStart === undefined) return false;
  const started = probe.startOf(pid);
  return started !== undefined && started !== processStart;
}

function readOrUndefined(read: () => string | undefined): string | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
