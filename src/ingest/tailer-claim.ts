// A tailer's exclusive claim on the position file of one tailed path: `<position file>.lock`, a lock file as the
// pipeline's checkpoint lock has (src/runtime/lock-file.ts), so that one process at a time reads that path.
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import {
  DEFAULT_LOCK_STALE_AFTER_MS,
  HeldLockFile,
  describeHolder,
  lockStaleFromEnv,
  newLockHolder,
  takeLockFile,
} from "../runtime/lock-file.ts";

/** Tokens of the claims held in this process: two tailers of one position file in one process are two holders. */
const heldInThisProcess = new Set<string>();

export interface TailClaimOptions {
  /** The position file claimed; its lock is `<positionFile>.lock`. */
  positionFile: string;
  /** The tailed path, for the log. */
  path: string;
  workerId: string;
  log: (line: string) => void;
  /** A claim whose heartbeat is older than this is taken over: CLICKPIPE_LOCK_STALE_MS, else 30 s. */
  staleAfterMs?: number;
  now?: () => number;
}

/**
 * Every worker of a pipeline runs its sources, standing by or not, so a standby worker on the same host (or a second
 * `clickpipe run` of the same file) would tail the same log into the same position file. The claim lets one of them
 * read: the others stand by, saying once whose claim they wait for, and take over when its process is gone (same
 * host) or its heartbeat is older than staleAfterMs. It depends on nothing but the position file's folder, so tailers
 * on other hosts (each tailing its own logs into its own folder) all read.
 */
export class TailClaim {
  readonly lockFile: string;
  private readonly staleAfterMs: number;
  private readonly now: () => number;
  private lock: HeldLockFile | undefined;
  /** The token of the holder this tailer said it stands by for. */
  private announced: string | undefined;

  constructor(private readonly options: TailClaimOptions) {
    this.lockFile = `${options.positionFile}.lock`;
    this.staleAfterMs = options.staleAfterMs ?? lockStaleFromEnv() ?? DEFAULT_LOCK_STALE_AFTER_MS;
    this.now = options.now ?? Date.now;
  }

  /** True while this tailer holds the claim (a heartbeat may find it taken over meanwhile: then false). */
  get held(): boolean {
    return this.lock?.held === true;
  }

  /**
   * Takes the claim unless a live holder keeps it; never waits. True when this tailer holds it (already, or now).
   * Standing by is logged once per holder waited for.
   */
  async take(): Promise<boolean> {
    if (this.held) return true;
    await mkdir(dirname(this.lockFile), { recursive: true });
    const holder = newLockHolder(this.options.workerId, this.now());
    const taken = await takeLockFile(this.lockFile, holder, {
      staleAfterMs: this.staleAfterMs,
      now: this.now,
      heldHere: heldInThisProcess,
    });
    const { path, log } = this.options;
    if (!taken.taken) {
      if (this.announced !== taken.holder.token) {
        log(`access log ${path}: standing by: ${describeHolder(taken.holder)} holds ${this.lockFile}`);
        this.announced = taken.holder.token;
      }
      return false;
    }
    heldInThisProcess.add(holder.token);
    this.lock = new HeldLockFile(this.lockFile, holder, this.staleAfterMs, (to) => {
      heldInThisProcess.delete(holder.token);
      log(`access log ${path}: lost ${this.lockFile}${to ? ` to ${describeHolder(to)}` : ""}; standing by`);
    });
    if (this.announced !== undefined) log(`access log ${path}: took over ${this.lockFile}; resuming from the saved position`);
    this.announced = undefined;
    return true;
  }

  /** Throws unless the lock file still names this tailer: checked before each position is saved. */
  async verify(): Promise<void> {
    if (this.lock === undefined) throw new Error(`access log ${this.options.path}: ${this.lockFile} is not claimed`);
    await this.lock.verify();
  }

  /** Removes the lock file if it is still this tailer's (a clean stop): a standby takes over at its next poll. */
  async release(): Promise<void> {
    if (this.lock !== undefined) heldInThisProcess.delete(this.lock.holder.token);
    await this.lock?.release();
    this.lock = undefined;
  }
}
