// An HTTP collector's claim on the port it listens on: `<state directory>/port-<port>@<host>.lock`, a lock file as a
// tailer's claim and the pipeline's checkpoint lock have (src/runtime/lock-file.ts).
import { mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import {
  DEFAULT_LOCK_STALE_AFTER_MS,
  HeldLockFile,
  describeHolder,
  lockStaleFromEnv,
  newLockHolder,
  takeLockFile,
  type LockHolder,
} from "../runtime/lock-file.ts";

/** Tokens of the claims held in this process (see takeLockFile's heldHere). */
const heldInThisProcess = new Set<string>();

export interface PortClaimOptions {
  /** The source's state directory (`<sink path>/_checkpoints/<pipeline>/sources/<i>-http`). */
  stateDirectory: string;
  port: number;
  workerId: string;
  /** What listens, for the log: `sources[0] (http)`. */
  name: string;
  log: (line: string) => void;
  /** Called once a heartbeat finds that another worker took the claim over. */
  onLost?: (holder: LockHolder | undefined) => void;
  /** A claim whose heartbeat is older than this is taken over: CLICKPIPE_LOCK_STALE_MS, else 30 s. */
  staleAfterMs?: number;
  now?: () => number;
}

/**
 * Every worker of a pipeline runs its sources, so a standby worker on the same host runs the same collector on the
 * same port, which the kernel gives to one of them. The claim tells a port held by a worker of this pipeline (stand by
 * and take it over once that worker is gone) from one held by anything else (stop, naming the key, as before).
 *
 * Who claims: the claim lives in the source's state directory, which only workers of the same pipeline (same sink
 * path, pipeline name and source index) share, so a copy of the file under another name, another pipeline or any
 * other program never finds it. Its name carries the host because a port belongs to a host while the state directory
 * may be shared between hosts (a sink path on shared storage, as the file checkpoint store needs for a standby on
 * another host): a collector on another host is not in the way of this one.
 *
 * The claim is taken before the port is bound, not after: two workers started at once then agree through O_EXCL on
 * which one binds, where binding first would let the loser look for a claim the winner has not written yet, and stop.
 */
export class PortClaim {
  readonly lockFile: string;
  private readonly staleAfterMs: number;
  private readonly now: () => number;
  private lock: HeldLockFile | undefined;
  /** The token of the holder this collector said it stands by for. */
  private announced: string | undefined;

  constructor(private readonly options: PortClaimOptions) {
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, "_");
    this.lockFile = join(options.stateDirectory, `port-${options.port}@${host}.lock`);
    this.staleAfterMs = options.staleAfterMs ?? lockStaleFromEnv() ?? DEFAULT_LOCK_STALE_AFTER_MS;
    this.now = options.now ?? Date.now;
  }

  /** True while this collector holds the claim (a heartbeat may find it taken over meanwhile: then false). */
  get held(): boolean {
    return this.lock?.held === true;
  }

  /** True when a take() said it stands by and no take() has succeeded since. */
  get standingBy(): boolean {
    return this.announced !== undefined;
  }

  /**
   * Takes the claim unless a live holder keeps it (its process is alive and its heartbeat fresh); never waits. True
   * when this collector holds it (already, or now). Standing by is logged once per holder waited for.
   */
  async take(): Promise<boolean> {
    if (this.held) return true;
    await mkdir(this.options.stateDirectory, { recursive: true });
    const holder = newLockHolder(this.options.workerId, this.now());
    const taken = await takeLockFile(this.lockFile, holder, {
      staleAfterMs: this.staleAfterMs,
      now: this.now,
      heldHere: heldInThisProcess,
    });
    const { name, log } = this.options;
    if (!taken.taken) {
      if (this.announced !== taken.holder.token) {
        log(`${name}: standing by: ${describeHolder(taken.holder)} holds ${this.lockFile} (port ${this.options.port}); retrying every second`);
        this.announced = taken.holder.token;
      }
      return false;
    }
    heldInThisProcess.add(holder.token);
    this.lock = new HeldLockFile(this.lockFile, holder, this.staleAfterMs, (to) => {
      heldInThisProcess.delete(holder.token);
      // Standing by from here on, for the holder named in this line (not said again) or an unknown one.
      this.announced = to?.token ?? "";
      log(`${name}: lost ${this.lockFile}${to ? ` to ${describeHolder(to)}` : ""}; closing port ${this.options.port} and standing by`);
      this.options.onLost?.(to);
    });
    return true;
  }

  /** Forgets that this collector stood by (logged "took over" once it listens). */
  tookOver(): void {
    this.announced = undefined;
  }

  /** Removes the lock file if it is still this collector's: a standby takes the port over at its next try. */
  async release(): Promise<void> {
    if (this.lock !== undefined) heldInThisProcess.delete(this.lock.holder.token);
    await this.lock?.release();
    this.lock = undefined;
  }
}
