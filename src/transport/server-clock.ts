// The NATS server's clock, read off the stamp it gives a write: KV entries' `created` times are the server's (on a
// cluster, the bucket stream leader's), so ages computed against a sample of that clock carry no host's clock skew.
import type { KV } from "@nats-io/kv";

/** The NATS server's time `stamp` (ms since the epoch) at the moment `at` of this process's performance.now(). */
export interface ServerClock {
  stamp: number;
  at: number;
}

/** How often sampleServerClock reads its write back (10 ms apart) before it gives up: a replica applies a write in milliseconds. */
const SAMPLE_READS = 200;

/**
 * Writes `key` of `kv` (a scratch key) and reads the server's stamp of that write back. A KV get is a direct get, which
 * any replica of an R3 bucket answers, one that has not applied this write yet too: its answer is then an earlier
 * write (or none), whose stamp is no time now (ages against it come out long: a live holder looked dead). So the read
 * is repeated until it holds this write or a later one; a later one (another process's since) was stamped before the
 * read's answer, which then is its moment. Throws when no read returned it.
 */
export async function sampleServerClock(kv: KV, key: string): Promise<ServerClock> {
  const revision = await kv.put(key, "");
  const ackedAt = performance.now();
  for (let attempt = 1; ; attempt++) {
    const entry = await kv.get(key);
    if (entry !== null && entry.revision >= revision) return { stamp: entry.created.getTime(), at: entry.revision === revision ? ackedAt : performance.now() };
    if (attempt === SAMPLE_READS) throw new Error(`${attempt} reads of KV key ${key} did not return its write (revision ${revision})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The server's time now by a sample: its stamp carried forward by this process's monotonic clock (short, never long). */
export function serverTimeNow(clock: ServerClock): number {
  return clock.stamp + (performance.now() - clock.at);
}
