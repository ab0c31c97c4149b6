// V8's scavenger for a draining worker process: on its main thread alone where cores are few.
//
// A worker's main thread allocates ≈ 2 GB per million events (JSON.parse's records, the message texts), and V8
// empties its young generation ≈ 150 times per million. By default every such scavenge is parallel: V8 wakes its
// helper threads and the main thread waits for them to join. On two cores that nats-server, the Parquet encoder threads
// and the mining thread share, the helpers wait for a core themselves and take the main thread's when they get one.
// Measured there in drains (bench/OPTIMIZATIONS.md, session 19): 2.7% faster, faster in 7 of 8 pairs, the main thread's
// wait for a core 0.76 → 0.55 s and the other threads' CPU −0.43 s. A live worker keeps V8's default: at half the
// drain's rate its p99 latency from publish to the operators was 588–935 ms with serial scavenges against 181–387 ms
// with parallel ones (3 alternating pairs). With more cores a parallel scavenge only shortens pauses, so this applies
// on two cores or fewer, and never over the process's own `--parallel-scavenge` or `--no-parallel-scavenge`.
//
// V8 reads the setting at every scavenge, so setting it once the process runs takes effect from the next one
// (Node 20's V8 does not freeze its flags after start; tests/runtime/scavenger.test.ts checks it in a child process).
import { availableParallelism } from "node:os";
import { setFlagsFromString } from "node:v8";

/** Cores up to which a worker process scavenges on its main thread alone. */
export const SERIAL_SCAVENGE_MAX_CORES = 2;

export interface ScavengeSetting {
  /** The worker drains (`run --drain`): throughput counts, not latency. */
  drain: boolean;
  cores: number;
  /** The process's node flags (process.execArgv), where a user's own choice would be (NODE_OPTIONS cannot hold it). */
  execArgv: readonly string[];
}

/** Whether to turn V8's parallel scavenge off: a drain, few cores, and no choice of the user's to keep. */
export function serialScavengeWanted(setting: ScavengeSetting): boolean {
  if (!setting.drain || setting.cores > SERIAL_SCAVENGE_MAX_CORES) return false;
  return !setting.execArgv.some((flag) => /^--(no-)?parallel[-_]scavenge(=|$)/.test(flag));
}

let serial = false;

/**
 * Turns parallel scavenges off for the rest of the process when serialScavengeWanted says so; true when they are off.
 * Process-wide and never turned back on: a process runs one drain, or tests run several workers in one process.
 */
export function tuneScavenger(drain: boolean, setting: Omit<ScavengeSetting, "drain"> = { cores: availableParallelism(), execArgv: process.execArgv }): boolean {
  if (!serial && serialScavengeWanted({ drain, ...setting })) {
    setFlagsFromString("--no-parallel-scavenge");
    serial = true;
  }
  return serial;
}
