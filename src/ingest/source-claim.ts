// A source's exclusive claim on something only one process on a host may use at a time: a tailer's position file
// (tailer-claim.ts), a collector's port (port-claim.ts). A lock file as the pipeline's checkpoint lock has
// (src/runtime/lock-file.ts): every worker of a pipeline runs its sources, standing by or not, so a standby worker on
// the same host runs the same tailers and collectors, and the claim lets one of them work while the others wait.
import { mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname } from "node:path";
import type { SourceClaimSeries } from "../metrics/registry.ts";
import {
  DEFAULT_LOCK_STALE_AFTER_MS,
  HeldLockFile,
  describeHolder,
  lockStaleFromEnv,
  newLockHolder,
  takeLockFile,
  type LockHolder,
} from "../runtime/lock-file.ts";

export interface SourceClaimOptions {
  lockFile: string;
  /** What the log lines name: `access log /var/log/nginx/access.log`, `sources[0] (http)`. */
  name: string;
  workerId: string;
  log: (line: string) => void;
  /** Ends the standing-by line after "holds <lock file>", e.g. ` (port 8080); retrying every second`. */
  waitNote?: string;
  /**
   * Ends the standing-by line when the holder is on another host, where this claim is meant to be one host's (a tailer
   * with an `instance`): the sentence that says what is wrong and its fix.
   */
  otherHostNote?: string;
  /** What the source does once its claim was taken over, ending the line that says so: `standing by`. */
  lostNote: string;
  /** Called once a heartbeat or verify() finds that another holder took the claim over. */
  onLost?: (holder: LockHolder | undefined) => void;
  /** A claim whose heartbeat is older than this is taken over: CLICKPIPE_LOCK_STALE_MS, else 30 s. */
  staleAfterMs?: number;
  now?: () => number;
  /** The source's clickpipe_source_claims series, told this claim's state at each change. */
  series?: SourceClaimSeries;
}

/**
 * Taken without waiting: the caller tries again at its own pace (a tailer at each poll, a collector every second).
 * A holder whose process is gone (same host, boot and pid namespace: its pid dead, or reused by a later process) or
 * whose heartbeat is older than staleAfterMs is taken over. Standing by is logged once per holder waited for.
 */
export class SourceClaim {
  readonly lockFile: string;
  private readonly staleAfterMs: number;
  private readonly now: () => number;
  private lock: HeldLockFile | undefined;
  /** The token of the holder this source said it stands by for ("" for an unknown one); undefined when not standing by. */
  private announced: string | undefined;

  constructor(private readonly options: SourceClaimOptions) {
    this.lockFile = options.lockFile;
    this.staleAfterMs = options.staleAfterMs ?? lockStaleFromEnv() ?? DEFAULT_LOCK_STALE_AFTER_MS;
    this.now = options.now ?? Date.now;
  }

  /** True while this source holds the claim (a heartbeat may find it taken over meanwhile: then false). */
  get held(): boolean {
    return this.lock?.held === true;
  }

  /** True when a take() said it stands by (or the claim was lost) and tookOver() has not been called since. */
  get standingBy(): boolean {
    return this.announced !== undefined;
  }

  /** Takes the claim unless a live holder keeps it; never waits. True when this source holds it (already, or now). */
  async take(): Promise<boolean> {
    if (this.held) return true;
    await mkdir(dirname(this.lockFile), { recursive: true });
    const holder = newLockHolder(this.options.workerId, this.now());
    // Two sources in one process claiming one file are two holders: the held one's token is in locksHeldInThisProcess.
    const taken = await takeLockFile(this.lockFile, holder, { staleAfterMs: this.staleAfterMs, now: this.now });
    const { name, log } = this.options;
    if (!taken.taken) {
      if (this.announced !== taken.holder.token) {
        const otherHost = this.options.otherHostNote !== undefined && taken.holder.host !== hostname() ? `. ${this.options.otherHostNote}` : "";
        log(`${name}: standing by: ${describeHolder(taken.holder)} holds ${this.lockFile}${this.options.waitNote ?? ""}${otherHost}`);
        this.announced = taken.holder.token;
      }
      this.report();
      return false;
    }
    this.lock = new HeldLockFile(this.lockFile, holder, this.staleAfterMs, (to) => {
      // Standing by from here on, for the holder this line names (not named again) or an unknown one.
      this.announced = to?.token ?? "";
      log(`${name}: lost ${this.lockFile}${to ? ` to ${describeHolder(to)}` : ""}; ${this.options.lostNote}`);
      this.report();
      this.options.onLost?.(to);
    });
    this.report();
    return true;
  }

  /** Ends standing by, once the source works again (it says so in its own words). */
  tookOver(): void {
    if (this.announced !== undefined) this.options.series?.tookOver();
    this.announced = undefined;
    this.report();
  }

  /**
   * Active once held and no longer standing by (a collector that took the claim over stands by until it listens);
   * standby while standing by; neither before the first try and once released.
   */
  private report(): void {
    this.options.series?.set(this, this.standingBy ? "standby" : this.held ? "active" : undefined);
  }

  /** Throws unless the lock file still names this source. */
  async verify(): Promise<void> {
    if (this.lock === undefined) throw new Error(`${this.options.name}: ${this.lockFile} is not claimed`);
    await this.lock.verify();
  }

  /** Removes the lock file if it is still this source's: a source standing by takes over at its next try. */
  async release(): Promise<void> {
    await this.lock?.release();
    this.lock = undefined;
    // Released: counted in neither state (the source is stopping).
    this.options.series?.set(this, undefined);
  }
}
