// An HTTP collector's claim on the port it listens on: `<state directory>/port-<port>@<host>.lock` (a SourceClaim).
import { hostname } from "node:os";
import { join } from "node:path";
import type { LockHolder } from "../runtime/lock-file.ts";
import type { SourceClaimSeries } from "../metrics/registry.ts";
import { SourceClaim } from "./source-claim.ts";

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
  /** The source's clickpipe_source_claims series. */
  series?: SourceClaimSeries;
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
export class PortClaim extends SourceClaim {
  constructor(options: PortClaimOptions) {
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, "_");
    super({
      ...options,
      lockFile: join(options.stateDirectory, `port-${options.port}@${host}.lock`),
      waitNote: ` (port ${options.port}); retrying every second`,
      lostNote: `closing port ${options.port} and standing by`,
    });
  }
}
