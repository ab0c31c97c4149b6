// A tailer's exclusive claim on the position file of one tailed path: `<position file>.lock` (a SourceClaim), so that
// one process at a time reads that path.
import type { SourceClaimSeries } from "../metrics/registry.ts";
import { SourceClaim } from "./source-claim.ts";

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
  /** The source's clickpipe_source_claims series. */
  series?: SourceClaimSeries;
  /** The source's key and `instance` when it has one: a holder on another host then has this host's instance too. */
  instance?: { place: string; name: string };
}

/**
 * A standby worker on the same host (or a second `clickpipe run` of the same file) would tail the same log into the
 * same position file. The claim lets one of them read: the others stand by and take over from the saved position when
 * its process is gone or its heartbeat is stale. It depends on nothing but the position file, so tailers on other hosts
 * all read when each has a file of its own: its own folder (sink path), or its own `instance` in a shared one
 * (TailPositionStore.fileOf).
 */
export class TailClaim extends SourceClaim {
  private readonly path: string;
  private readonly say: (line: string) => void;

  constructor(options: TailClaimOptions) {
    super({
      ...options,
      lockFile: `${options.positionFile}.lock`,
      name: `access log ${options.path}`,
      lostNote: "standing by",
      // With an instance the claim is one host's: a holder elsewhere was given the same name, and this host's log is not read.
      ...(options.instance && {
        otherHostNote:
          `Another host runs instance ${options.instance.name}, so this host's log at that path is not read (and a takeover would resume ` +
          `from that host's position): give each host its own ${options.instance.place}.instance`,
      }),
    });
    this.path = options.path;
    this.say = options.log;
  }

  /** SourceClaim.take, saying so when it ends standing by: the tailer resumes from the saved position at once. */
  override async take(): Promise<boolean> {
    if (!(await super.take())) return false;
    if (this.standingBy) {
      this.say(`access log ${this.path}: took over ${this.lockFile}; resuming from the saved position`);
      this.tookOver();
    }
    return true;
  }
}
