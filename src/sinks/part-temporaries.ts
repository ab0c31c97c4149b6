// The temporary files a part's rewrite (forget, a worker erasing forgotten people) writes beside the part: their names,
// which say who writes them, and whether one was abandoned by a process killed mid-rewrite (recovery deletes those).
import { countsPidsAsThis, processGone, thisProcessIdentity, type ProcessIdentity, type ProcessProbe } from "../runtime/process-identity.ts";

/**
 * Who writes a temporary (process-identity.ts): its host, pid, start, boot and pid namespace are in the temporary's name,
 * so its host is the host's name with the characters a file name has no place for replaced.
 */
export type TemporaryWriter = ProcessIdentity;

/** This process as a writer of temporaries (the same for each of its threads). */
export function thisProcessAsWriter(): TemporaryWriter {
  const identity = thisProcessIdentity();
  // As in port claims' file names: a host name's other characters have no place in one.
  return { ...identity, host: identity.host.replace(/[^A-Za-z0-9.-]/g, "_") };
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
    if (!countsPidsAsThis({ host, bootId, pidNamespace }, self)) return oldEnough;
    const pid = Number(pidText);
    const start = startText === "0" ? undefined : startText;
    if (pid === self.pid) return start !== undefined && self.processStart !== undefined && start !== self.processStart;
    return processGone(pid, start, probe);
  }
  const namespaceless = NAMESPACELESS_TEMPORARY_NAME.exec(name);
  if (namespaceless !== null) return namespaceless[1] === self.host && oldEnough;
  return HOSTLESS_TEMPORARY_NAME.test(name) && oldEnough;
}
