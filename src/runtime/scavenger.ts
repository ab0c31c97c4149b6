// V8's scavenger for a worker process: on its main thread alone where cores are few.
//
// A worker's main thread allocates ≈ 2 GB per million events (JSON.parse's records, the message texts), and V8
// empties its young generation ≈ 150 times per million. By default every such scavenge is parallel: V8 wakes its
// helper threads and the main thread waits for them to join. On two cores that nats-server, the Parquet encoder threads
// and the mining thread share, the helpers wait for a core themselves and take the main thread's when they get one.
// Measured there (bench/OPTIMIZATIONS.md, session 19): drains 3.4% faster, faster in 6 of 6 pairs, the main thread's
// wait for a core 0.75 → 0.55 s and the other threads' CPU −0.35 s. With more cores a parallel scavenge shortens the
// pauses instead, so this applies on two cores or fewer, and never over the process's own choice: a
// `--parallel-scavenge` or `--no-parallel-scavenge` on its command line or in NODE_OPTIONS is left as it is.
//
// V8 reads the setting at every scavenge, so setting it once the process runs takes effect from the next one
// (Node 20's V8 does not freeze its flags after start; tests/runtime/scavenger.test.ts checks it in a child process).
import { availableParallelism } from "node:os";
import { setFlagsFromString } from "node:v8";

/** Cores up to which a worker process scavenges on its main thread alone. */
export const SERIAL_SCAVENGE_MAX_CORES = 2;

export interface ScavengeSetting {
  cores: number;
  /** The process's node flags (process.execArgv) and NODE_OPTIONS, where a user's own choice would be. */
  execArgv: readonly string[];
  nodeOptions: string | undefined;
}

/** Whether to turn V8's parallel scavenge off: few cores, and no choice of the user's to keep. */
export function serialScavengeWanted(setting: ScavengeSetting): boolean {
  if (setting.cores > SERIAL_SCAVENGE_MAX_CORES) return false;
  const chosen = (flag: string) => /^--(no-)?parallel[-_]scavenge(=|$)/.test(flag);
  return !setting.execArgv.some(chosen) && !(setting.nodeOptions ?? "").split(/\s+/).some(chosen);
}

let applied: boolean | undefined;

/** Applies serialScavengeWanted to this process once (later calls return the first answer); true when now serial. */
export function tuneScavenger(
  setting: ScavengeSetting = { cores: availableParallelism(), execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS },
): boolean {
  if (applied === undefined) {
    applied = serialScavengeWanted(setting);
    if (applied) setFlagsFromString("--no-parallel-scavenge");
  }
  return applied;
}
