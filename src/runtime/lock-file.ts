// An exclusive lock file naming its holder (host, pid, process start, boot, pid namespace), kept fresh by a heartbeat
// (its mtime): the pipeline's checkpoint lock (checkpoint.ts) and the sources' claims (ingest/source-claim.ts: a
// tailer's position file, a collector's port).
import { randomBytes } from "node:crypto";
import { open, readFile, rename, stat, unlink, utimes } from "node:fs/promises";
import { countsPidsAsThis, processGone, processProbe, sameKernel, thisProcessIdentity, type ProcessIdentity, type ProcessProbe } from "./process-identity.ts";

/**
 * What the lock file says about its holder: its process (process-identity.ts) and this acquisition. processStart (a
 * live process with the holder's pid but another start time got that pid after the holder died), bootId and
 * pidNamespace are absent where /proc is not, and in locks of earlier versions.
 */
export interface LockHolder extends ProcessIdentity {
  workerId: string;
  /** Unique per process and acquisition: two processes with the same worker id are still two holders. */
  token: string;
  acquiredAt: number;
}

/** Another holder's lock whose heartbeat is older than this is taken over, unless CLICKPIPE_LOCK_STALE_MS says. */
export const DEFAULT_LOCK_STALE_AFTER_MS = 30_000;

/** CLICKPIPE_LOCK_STALE_MS when it is a positive number. */
export function lockStaleFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = Number(env.CLICKPIPE_LOCK_STALE_MS);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * Tokens of the locks this process holds now: lock files (HeldLockFile: the checkpoint lock, source claims), the KV
 * store's lock and lease tables. A holder with this process's pid and one of them is alive here, not an earlier
 * process that had our pid: two stores, sources or tables of one resource in one process are two holders.
 */
export const locksHeldInThisProcess = new Set<string>();

/** This process as a lock holder: the worker id plus a random token that tells its lock from any later one. */
export function newLockHolder(workerId: string, acquiredAt: number): LockHolder {
  return { workerId, token: randomBytes(8).toString("hex"), acquiredAt, ...thisProcessIdentity() };
}

/**
 * A holder whose process is gone left its lock behind (kill -9): take it over at once instead of waiting for its
 * heartbeat to go stale. Judged by pid only for a holder of this host, kernel boot and pid namespace
 * (countsPidsAsThis): a container sharing the host's name counts pids of its own, where its live holder's pid is absent
 * here or another process's, and taking its lock made two workers commit one pipeline. Any other holder, and one
 * written by a version that did not record its boot and namespace, is left to the caller's staleness rule (false):
 * waiting out a heartbeat costs staleAfterMs once, a wrong takeover costs exactly-once. So a container restarted after
 * a kill -9 (a new pid namespace) takes its earlier incarnation's lock over at once only when the kernel gave the new
 * namespace the dead one's number (countsPidsAsThis says why that is safe). In this pid namespace,
 * the same pid as ours with a token that is neither `self`'s nor one of `heldHere` (the locks this process holds) is
 * an earlier process that had our pid; a live process with the holder's pid that started at another time than the
 * holder's process got the pid after it.
 */
export function holderIsGone(
  holder: LockHolder,
  self: LockHolder,
  probe: ProcessProbe = processProbe,
  heldHere: ReadonlySet<string> = locksHeldInThisProcess,
): boolean {
  if (!countsPidsAsThis(holder, self)) return false;
  if (holder.pid === self.pid) return holder.token !== self.token && !heldHere.has(holder.token);
  return processGone(holder.pid, holder.processStart, probe);
}

/**
 * Whether `previous`, the holder whose lock `self` took over, may still be a live process of this host holding what it
 * held there (a port): one on this host not judged gone (holderIsGone: a stalled holder, or one not judged by pid, as
 * a container on the host's network with a pid namespace of its own). Not when the lock was free (undefined), nor for
 * a holder of another host, nor for one of another boot with this host's name (another machine of this name, or this
 * one before a reboot): ports belong to a kernel, so no process of another boot binds one of ours, and a port in use
 * is something else's, to be reported as at a fresh start. A boot id missing on either side (an earlier version's
 * lock, no /proc) tells nothing: the host name decides.
 */
export function mayStillHoldHere(previous: LockHolder | undefined, self: LockHolder, probe: ProcessProbe = processProbe): previous is LockHolder {
  if (previous === undefined || previous.host !== self.host) return false;
  const anotherBoot = previous.bootId !== undefined && self.bootId !== undefined && previous.bootId !== self.bootId;
  return !anotherBoot && !holderIsGone(previous, self, probe);
}

/** Creates `file` with `content` unless it exists (O_EXCL): false when it does. */
export async function createExclusive(file: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, "wx");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/** The lock file's holder and heartbeat (mtime); undefined when there is no lock file. */
export async function readLock(file: string): Promise<{ holder: LockHolder; mtimeMs: number } | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(file, "utf8"), stat(file)]);
    return { holder: parseHolder(text), mtimeMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** A lock file caught between create and write (or left so by a crash) names an unknown holder; its mtime ages. */
function parseHolder(text: string): LockHolder {
  try {
    return JSON.parse(text) as LockHolder;
  } catch {
    return { workerId: "?", token: "?", pid: -1, host: "?", acquiredAt: 0 };
  }
}

/**
 * What a stand-by saw of a lock file over its attempts (takeLockFile's `observed`): the holder's token and heartbeat
 * (mtime) as last read, and when they were first read so (performance.now()).
 */
export interface LockObservation {
  seen?: { token: string; mtimeMs: number; since: number };
}

/**
 * One attempt at the lock file: creates it naming `holder`, or removes it first when its holder is gone or its
 * heartbeat is stale. Returns the live holder that keeps it otherwise.
 *
 * Stale, without `observed`: the heartbeat (mtime) is older than staleAfterMs by `now`. With `observed` (kept by the
 * caller across attempts), a lock that may be another host's: the holder's heartbeat sets the mtime from its own host's
 * clock (utimes), so `now` minus it adds the skew between the hosts: a stand-by staleAfterMs ahead took a live holder's
 * lock, one behind never took a dead one's. So the mtime is compared with `now` only for a holder on this kernel
 * (sameKernel: the same host name and boot, so one clock); any other holder's lock, a namesake host's and one of
 * another boot included (this machine's before a reboot cannot be told from another machine's with its name), is
 * stale once its token and mtime stayed the same for staleAfterMs of this process's monotonic clock, over attempts.
 * A holder long dead on another host is thus taken over staleAfterMs after the stand-by first looks, not at once:
 * shared storage offers no clock of its own to age the mtime by.
 *
 * Taken, `replaced` names the holder whose lock this attempt removed (gone or stale); absent when the file was free.
 */
export async function takeLockFile(
  file: string,
  holder: LockHolder,
  options: { staleAfterMs: number; now: () => number; observed?: LockObservation },
): Promise<{ taken: true; replaced?: LockHolder } | { taken: false; holder: LockHolder }> {
  // Held here from before the file names it (the caller's HeldLockFile keeps it so): another holder in this process
  // that reads it in between must not take our pid with this token for an earlier process's.
  locksHeldInThisProcess.add(holder.token);
  let taken = false;
  let replaced: LockHolder | undefined;
  try {
    for (;;) {
      if (await createExclusive(file, JSON.stringify(holder))) {
        taken = true;
        return replaced === undefined ? { taken: true } : { taken: true, replaced };
      }
      const current = await readLock(file);
      if (current === undefined) continue; // released meanwhile
      const gone = holderIsGone(current.holder, holder);
      if (!gone && !isStale(current, holder, options)) return { taken: false, holder: current.holder };
      replaced = current.holder;
      // Renaming first means that of several takers at once only one removes the old lock.
      await rename(file, `${file}.stale-${holder.token}`).catch(() => undefined);
      await unlink(`${file}.stale-${holder.token}`).catch(() => undefined);
    }
  } finally {
    if (!taken) locksHeldInThisProcess.delete(holder.token);
  }
}

/** takeLockFile's staleness rule for a holder that is not known gone. */
function isStale(
  current: { holder: LockHolder; mtimeMs: number },
  self: LockHolder,
  options: { staleAfterMs: number; now: () => number; observed?: LockObservation },
): boolean {
  const { observed, staleAfterMs } = options;
  if (observed === undefined || sameKernel(current.holder, self)) return options.now() - current.mtimeMs > staleAfterMs;
  const { token } = current.holder;
  const { mtimeMs } = current;
  if (observed.seen?.token !== token || observed.seen.mtimeMs !== mtimeMs) observed.seen = { token, mtimeMs, since: performance.now() };
  return performance.now() - observed.seen.since > staleAfterMs;
}

/** A held lock file: a heartbeat refreshes its mtime and notices when another holder took it over. */
export class HeldLockFile {
  private readonly timer: NodeJS.Timeout;
  /** null while held; who took it over (undefined: unknown, or released) once not. */
  protected lostTo: LockHolder | undefined | null = null;

  constructor(
    readonly file: string,
    readonly holder: LockHolder,
    staleAfterMs: number,
    private readonly onLost?: (holder: LockHolder | undefined) => void,
  ) {
    this.timer = setInterval(() => void this.heartbeat(), Math.max(50, Math.floor(staleAfterMs / 4)));
    this.timer.unref();
    locksHeldInThisProcess.add(holder.token);
  }

  /** False once a heartbeat or verify() found another holder (or no lock file). */
  get held(): boolean {
    return this.lostTo === null;
  }

  /** Throws unless the lock file still names this holder. */
  async verify(): Promise<void> {
    if (!(await this.stillHeld())) {
      const to = this.lostTo ? ` to ${describeHolder(this.lostTo)}` : "";
      throw new Error(`${describeHolder(this.holder)} lost the lock ${this.file}${to}`);
    }
  }

  /** Stops the heartbeat and removes the lock file if it is still ours. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    if (!this.held) return;
    try {
      const current = await readLock(this.file);
      if (current?.holder.token === this.holder.token) await unlink(this.file).catch(() => undefined);
      this.lostTo = undefined;
    } finally {
      // Only once the file is gone: until then another holder in this process must not take it for an earlier one's.
      locksHeldInThisProcess.delete(this.holder.token);
    }
  }

  /** Reads the lock file: false (and onLost) when it no longer names this holder. */
  protected async stillHeld(): Promise<boolean> {
    if (this.held) {
      const current = await readLock(this.file);
      if (current?.holder.token !== this.holder.token) this.lose(current?.holder);
    }
    return this.held;
  }

  private async heartbeat(): Promise<void> {
    if (!this.held) return;
    const current = await readLock(this.file);
    if (current?.holder.token !== this.holder.token) return this.lose(current?.holder);
    const now = new Date();
    await utimes(this.file, now, now).catch(() => undefined);
  }

  private lose(holder: LockHolder | undefined): void {
    if (!this.held) return;
    clearInterval(this.timer);
    locksHeldInThisProcess.delete(this.holder.token);
    this.lostTo = holder;
    this.onLost?.(holder);
  }
}

/** "worker w (pid 12 on host)", for messages. */
export function describeHolder(holder: LockHolder): string {
  return `worker ${holder.workerId} (pid ${holder.pid} on ${holder.host})`;
}
