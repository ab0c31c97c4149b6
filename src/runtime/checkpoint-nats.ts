// Checkpoints in a NATS KV bucket: the document in chunks, its metadata committed by compare-and-swap, and the pipeline lock.
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { createHash, randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import {
  DEFAULT_LOCK_STALE_AFTER_MS,
  StaleCheckpointError,
  holderIsGone,
  type Checkpoint,
  type CheckpointMeta,
  type LockHolder,
  lostLockError,
  newLockHolder,
  documentHead,
  documentSegments,
  type LockOptions,
  type StateJson,
} from "./checkpoint.ts";
import type { CheckpointStore, HeldCheckpointLock } from "./checkpoint-store.ts";
import { crashIfInjected } from "./fault-injection.ts";
import { locksHeldInThisProcess } from "./lock-file.ts";
import { messageBytesWithin } from "../transport/connection.ts";
import { sampleServerClock, serverTimeNow, type ServerClock } from "../transport/server-clock.ts";
import { inParallel } from "./in-parallel.ts";

const META_KEY = "checkpoint";
const LOCK_KEY = "lock";
/** A scratch key, written by a stand-by only to learn the NATS server's time now (sampleServerClock). */
const CLOCK_KEY = "clock";
/** Half the server's default max_payload (1 MiB): a chunk plus its headers always fits one message. */
export const DEFAULT_CHUNK_BYTES = 512 * 1024;
/** Chunk puts and gets in flight at once: enough to fill the link, few enough to bound memory and acks. */
const CHUNKS_IN_FLIGHT = 8;

/** One written copy of a checkpoint document: `state.<epoch>.<token>.<index>` keys, checked by length and sha256. */
export interface ChunkSet {
  epoch: number;
  /** Unique per commit attempt: two workers racing for one epoch never overwrite each other's chunks. */
  token: string;
  chunks: number;
  chunkBytes: number;
  bytes: number;
  sha256: string;
}

/** The metadata key's value: small and bounded, whatever the size of the state (pending renames live in the document). */
interface CommittedMeta extends Omit<Checkpoint<unknown>, "state" | "pending"> {
  document: ChunkSet;
}

interface LockValue extends LockHolder {
  /** The holder's host clock at its last heartbeat: for people reading the bucket; staleness reads the server's stamp. */
  heartbeatAt: number;
}

/** The bucket of a pipeline's checkpoints: one per pipeline name on a NATS server, as the directory is one per name in a lake. */
/**
 * `clickpipe_ckpt_<checkpoint name>`. A task of a partitioned pipeline checkpoints as `<pipeline>.<task>` and bucket
 * names allow no dot, so the dot becomes `__` (a pipeline name is letters, digits, `_` and `-`).
 */
export function checkpointBucketName(checkpointName: string): string {
  return `clickpipe_ckpt_${checkpointName.replaceAll(".", "__")}`;
}

/**
 * Stores checkpoints in the KV bucket `clickpipe_ckpt_<pipeline>` (history 1). A commit writes the document's
 * chunks under keys of its own, then moves the `checkpoint` key to them by compare-and-swap on the revision it
 * read, and only when that key names an older epoch: each epoch is committed by exactly one worker and a fenced-out
 * zombie cannot overwrite a newer checkpoint. Chunk sets that can no longer be committed are purged afterwards.
 */
export class NatsCheckpointStore implements CheckpointStore {
  private constructor(
    readonly bucket: string,
    private readonly kv: KV,
    private readonly manager: JetStreamManager,
    private readonly chunkBytes: number,
  ) {}

  static async open(
    connection: NatsConnection,
    pipelineName: string,
    options: { chunkBytes?: number; replicas?: number } = {},
  ): Promise<NatsCheckpointStore> {
    const bucket = checkpointBucketName(pipelineName);
    const kv = await new Kvm(connection).create(bucket, { history: 1, replicas: options.replicas ?? 1 });
    const chunkBytes = messageBytesWithin(options.chunkBytes ?? DEFAULT_CHUNK_BYTES, connection.info?.max_payload);
    return new NatsCheckpointStore(bucket, kv, await jetstreamManager(connection), chunkBytes);
  }

  /** The store when its bucket exists, else undefined (without creating the bucket, unlike open). */
  static async openExisting(connection: NatsConnection, pipelineName: string, options: { replicas?: number } = {}): Promise<NatsCheckpointStore | undefined> {
    try {
      await (await jetstreamManager(connection)).streams.info(`KV_${checkpointBucketName(pipelineName)}`);
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return undefined;
      throw error;
    }
    return NatsCheckpointStore.open(connection, pipelineName, options);
  }

  get location(): string {
    return `nats kv ${this.bucket}`;
  }

  get lockLocation(): string {
    return `nats kv ${this.bucket} key ${LOCK_KEY}`;
  }

  /** Nothing to do: chunk sets of commits that never completed are purged by the next commit (prune). */
  async discardUncommitted(): Promise<void> {}

  async lastEpoch(): Promise<number | undefined> {
    return (await this.readMeta())?.meta.epoch;
  }

  async loadMeta(): Promise<CheckpointMeta | undefined> {
    const observed = await this.readMeta();
    if (observed === undefined) return undefined;
    const { document: _document, ...meta } = observed.meta;
    return meta;
  }

  async load<P>(): Promise<Checkpoint<P> | undefined> {
    for (;;) {
      const observed = await this.readMeta();
      if (observed === undefined) return undefined;
      const bytes = await getChunks(this.kv, observed.meta.document);
      if (bytes !== undefined) return JSON.parse(bytes.toString("utf8")) as Checkpoint<P>;
      // Purged between reading the metadata and its chunks: a newer epoch was committed, read again.
      if ((await this.readMeta())?.revision === observed.revision) {
        throw new Error(`checkpoint epoch ${observed.meta.epoch} in ${this.location} lacks chunks of its document`);
      }
    }
  }

  async commit<P>(checkpoint: Omit<Checkpoint<P>, "state">, stateJson: StateJson): Promise<void> {
    const { epoch } = checkpoint;
    let current = await this.readMeta();
    if (current !== undefined && current.meta.epoch >= epoch) throw staleError(epoch, current.meta);
    // The same document as the directory store's file; the state arrives serialized, captured before later events.
    const document = await putChunks(this.kv, { epoch, token: randomBytes(6).toString("hex") }, documentSegments(documentHead(checkpoint), stateJson), this.chunkBytes);
    crashIfInjected("checkpoint-written", epoch);
    const { format, pipeline, stream, streamCreated, position, workerId, committedAt, lineage, partitions, settings } = checkpoint;
    const meta = JSON.stringify({ format, pipeline, stream, streamCreated, epoch, position, workerId, committedAt, lineage, partitions, settings, document } satisfies CommittedMeta);
    for (;;) {
      try {
        if (current === undefined) await this.kv.create(META_KEY, meta);
        else await this.kv.update(META_KEY, meta, current.revision);
        break;
      } catch (error) {
        const now = await this.readMeta();
        // Our write landed; only its acknowledgement was lost.
        if (now?.meta.document.token === document.token) break;
        if (now !== undefined && now.meta.epoch >= epoch) {
          await this.purgeSet(document);
          throw staleError(epoch, now.meta);
        }
        if (now?.revision === current?.revision) {
          await this.purgeSet(document).catch(() => undefined);
          throw error;
        }
        // Another worker committed an older epoch meanwhile: ours is still the next, swap against its revision.
        current = now;
      }
    }
    // The replaced set is purged by name: a listing may miss keys while other workers purge theirs concurrently.
    if (current !== undefined) await this.purgeSet(current.meta.document);
    await this.prune(document);
  }

  /**
   * Takes the pipeline's lock: a `lock` key created only when absent, naming this holder, refreshed by compare-and-swap
   * as a heartbeat. While a live worker holds it, waits (stands by). It is taken over, by a swap on the revision seen
   * so that one taker wins, when its holder died in this host's boot and pid namespace (holderIsGone: not a container
   * sharing the host's name), its last write is older than staleAfterMs by the NATS server's clock, or its revision did
   * not change for staleAfterMs of this process's clock.
   *
   * Why not the holder's heartbeatAt against this host's clock: that adds the skew between the two hosts. A stand-by
   * on a host staleAfterMs ahead took a live holder's lock (the holder was fenced: exactly-once held, but work
   * thrashed); one behind waited for a dead holder until the revision rule caught up. So, as the partition leases
   * (partition-leases.ts, serverAgeMs): the lock's age is the server's stamp of its last write (`created`) against the
   * server's time now, learnt from the stamp of this stand-by's own write to a scratch key (CLOCK_KEY, read back until
   * a replica returns that write: sampleServerClock) and carried forward by performance.now() from that put's ack
   * (ages come out short by at most its round trip, never long).
   * That keeps the quick takeover of a holder long dead on another host at a fresh start, which the revision rule
   * alone (no history here yet) would delay by staleAfterMs. The sample is taken again each staleAfterMs, so the drift
   * of this monotonic clock against the server's does not add up over a long stand-by. `now` (this host's clock) only
   * feeds the heartbeatAt and acquiredAt written, for people reading the bucket.
   */
  async acquireLock(options: LockOptions): Promise<HeldCheckpointLock | undefined> {
    const staleAfterMs = options.staleAfterMs ?? DEFAULT_LOCK_STALE_AFTER_MS;
    const now = options.now ?? Date.now;
    const holder = newLockHolder(options.workerId, now());
    const value = () => JSON.stringify({ ...holder, heartbeatAt: now() } satisfies LockValue);
    let lock: NatsCheckpointLock | undefined;
    const taken = (revision: number, tookOverFrom?: LockHolder) =>
      (lock = new NatsCheckpointLock(this.kv, this.lockLocation, holder, revision, { staleAfterMs, now, onLost: options.onLost }, tookOverFrom));
    let announced = false;
    let seen: { revision: number; since: number } | undefined;
    let serverClock: ServerClock | undefined;
    // Held here from before the key names it (the lock keeps it so): another store of this process that reads the key
    // before its create or swap is acknowledged here must not take our pid with this token for an earlier process's.
    locksHeldInThisProcess.add(holder.token);
    try {
      for (;;) {
        if (options.signal?.aborted) return undefined;
        const created = await this.kv.create(LOCK_KEY, value()).catch(() => undefined);
        if (created !== undefined) return taken(created);
        const entry = await this.kv.get(LOCK_KEY);
        if (!isPut(entry)) continue; // released meanwhile
        const current = parseLockValue(entry);
        if (seen?.revision !== entry.revision) seen = { revision: entry.revision, since: performance.now() };
        let stale = holderIsGone(current, holder) || performance.now() - seen.since > staleAfterMs;
        if (!stale) {
          // A failed sample (NATS away, or no replica returned the write) leaves the revision and dead-holder rules.
          if (serverClock === undefined || performance.now() - serverClock.at > staleAfterMs) {
            serverClock = (await sampleServerClock(this.kv, CLOCK_KEY).catch(() => undefined)) ?? serverClock;
          }
          // Aged now, though read before the clock was sampled: a heartbeat since makes the swap below fail on its revision.
          stale = serverClock !== undefined && serverTimeNow(serverClock) - entry.created.getTime() > staleAfterMs;
        }
        if (stale) {
          const swapped = await this.kv.update(LOCK_KEY, value(), entry.revision).catch(() => undefined);
          if (swapped !== undefined) return taken(swapped, current);
          continue;
        }
        if (!announced) options.onWait?.(current);
        announced = true;
        await delay(Math.min(1_000, staleAfterMs / 4), undefined, { signal: options.signal }).catch(() => undefined);
      }
    } finally {
      if (lock === undefined) locksHeldInThisProcess.delete(holder.token);
    }
  }

  async clear(): Promise<void> {
    await this.kv.destroy();
  }

  private async readMeta(): Promise<{ meta: CommittedMeta; revision: number } | undefined> {
    const entry = await this.kv.get(META_KEY);
    return isPut(entry) ? { meta: entry.json<CommittedMeta>(), revision: entry.revision } : undefined;
  }

  /**
   * Purges every listed chunk set other than the committed one whose epoch is not above it (those of crashed or
   * fenced writers): such a set can never be committed (a commit needs an older epoch in the metadata), so this is
   * safe while zombies still write theirs.
   */
  private async prune(committed: ChunkSet): Promise<void> {
    const sets = new Map<string, Pick<ChunkSet, "epoch" | "token">>();
    // The chunk subjects from one stream info request: kv.keys() reads them through a consumer that waits for the
    // messages counted at its start, and waited about 30 s when another worker purged its set meanwhile (racing commits).
    const prefix = `$KV.${this.bucket}.`;
    const info = await this.manager.streams.info(`KV_${this.bucket}`, { subjects_filter: `${prefix}state.>` });
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const [, epoch, token] = subject.slice(prefix.length).split(".");
      sets.set(`${epoch}.${token}`, { epoch: Number(epoch), token });
    }
    for (const set of sets.values()) {
      if (set.epoch < committed.epoch || (set.epoch === committed.epoch && set.token !== committed.token)) await this.purgeSet(set);
    }
  }

  /** A stream purge by subject leaves no delete markers behind, unlike kv.delete: the bucket does not grow per commit. */
  private async purgeSet(set: Pick<ChunkSet, "epoch" | "token">): Promise<void> {
    await this.manager.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.state.${set.epoch}.${set.token}.>` });
  }
}

/** A held lock in the bucket: a heartbeat swaps in a fresh value and notices when another worker took it over. */
class NatsCheckpointLock implements HeldCheckpointLock {
  private readonly timer: NodeJS.Timeout;
  private lostTo: LockHolder | undefined | null = null;
  private beating = false;

  constructor(
    private readonly kv: KV,
    private readonly location: string,
    readonly holder: LockHolder,
    private revision: number,
    private readonly options: { staleAfterMs: number; now: () => number; onLost?: (holder: LockHolder | undefined) => void },
    readonly tookOverFrom?: LockHolder,
  ) {
    this.timer = setInterval(() => void this.heartbeat(), Math.max(50, Math.floor(options.staleAfterMs / 4)));
    this.timer.unref();
    locksHeldInThisProcess.add(holder.token);
  }

  get held(): boolean {
    return this.lostTo === null;
  }

  async verify(): Promise<void> {
    if (this.held) {
      const entry = await this.kv.get(LOCK_KEY);
      const current = isPut(entry) ? parseLockValue(entry) : undefined;
      if (current?.token !== this.holder.token) this.lose(current);
    }
    if (!this.held) {
      throw lostLockError(this.holder, this.location, this.lostTo);
    }
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    if (!this.held) return;
    this.lostTo = undefined;
    try {
      const entry = await this.kv.get(LOCK_KEY).catch(() => null);
      if (isPut(entry) && parseLockValue(entry).token === this.holder.token) {
        await this.kv.delete(LOCK_KEY, { previousSeq: entry.revision }).catch(() => undefined);
      }
    } finally {
      // Only once the key is deleted: until then another store in this process must not take it for an earlier one's.
      locksHeldInThisProcess.delete(this.holder.token);
    }
  }

  private async heartbeat(): Promise<void> {
    if (!this.held || this.beating) return;
    this.beating = true;
    try {
      const value = JSON.stringify({ ...this.holder, heartbeatAt: this.options.now() } satisfies LockValue);
      this.revision = await this.kv.update(LOCK_KEY, value, this.revision);
    } catch {
      // A failed swap means another writer, or only a slow or broken connection: look before giving the lock up.
      const entry = await this.kv.get(LOCK_KEY).catch(() => undefined);
      if (entry === undefined) return;
      const current = isPut(entry) ? parseLockValue(entry) : undefined;
      if (current?.token === this.holder.token) this.revision = entry!.revision;
      else this.lose(current);
    } finally {
      this.beating = false;
    }
  }

  private lose(holder: LockHolder | undefined): void {
    if (!this.held) return;
    clearInterval(this.timer);
    locksHeldInThisProcess.delete(this.holder.token);
    this.lostTo = holder;
    this.options.onLost?.(holder);
  }
}

/**
 * Writes `segments` (never concatenated: a state may be hundreds of MiB) as `state.<epoch>.<token>.<index>` chunks
 * of chunkBytes, CHUNKS_IN_FLIGHT at a time, and returns their description with the sha256 of all bytes.
 */
export async function putChunks(
  kv: KV,
  set: Pick<ChunkSet, "epoch" | "token">,
  segments: readonly Uint8Array[],
  chunkBytes: number,
): Promise<ChunkSet> {
  const hash = createHash("sha256");
  let bytes = 0;
  for (const segment of segments) {
    hash.update(segment);
    bytes += segment.byteLength;
  }
  const chunks = Math.max(1, Math.ceil(bytes / chunkBytes));
  await inParallel(chunks, CHUNKS_IN_FLIGHT, async (index) => {
    await kv.put(chunkKey(set, index), sliceSegments(segments, index * chunkBytes, Math.min(bytes, (index + 1) * chunkBytes)));
  });
  return { ...set, chunks, chunkBytes, bytes, sha256: hash.digest("hex") };
}

/** The bytes of a chunk set, or undefined when a chunk is gone (purged); throws when they do not match its sha256. */
export async function getChunks(kv: KV, set: ChunkSet): Promise<Buffer | undefined> {
  const bytes = Buffer.allocUnsafe(set.bytes);
  let missing = false;
  await inParallel(set.chunks, CHUNKS_IN_FLIGHT, async (index) => {
    if (missing) return;
    const entry = await kv.get(chunkKey(set, index));
    if (!isPut(entry)) {
      missing = true;
      return;
    }
    const expected = Math.min(set.chunkBytes, set.bytes - index * set.chunkBytes);
    if (entry.value.byteLength !== expected) throw corruptError(set, `chunk ${index} has ${entry.value.byteLength} bytes, expected ${expected}`);
    bytes.set(entry.value, index * set.chunkBytes);
  });
  if (missing) return undefined;
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== set.sha256) throw corruptError(set, `sha256 ${sha256}, expected ${set.sha256}`);
  return bytes;
}

function chunkKey(set: Pick<ChunkSet, "epoch" | "token">, index: number): string {
  return `state.${set.epoch}.${set.token}.${index}`;
}

/** Bytes [start, end) of the segments laid end to end: a view when they lie in one segment, else a copy. */
function sliceSegments(segments: readonly Uint8Array[], start: number, end: number): Uint8Array {
  let offset = 0;
  let index = 0;
  while (index < segments.length && offset + segments[index].byteLength <= start) offset += segments[index++].byteLength;
  if (index < segments.length && end <= offset + segments[index].byteLength) return segments[index].subarray(start - offset, end - offset);
  const out = new Uint8Array(end - start);
  let written = 0;
  for (; index < segments.length && written < out.length; index++) {
    const segment = segments[index];
    const from = Math.max(0, start + written - offset);
    const part = segment.subarray(from, Math.min(segment.byteLength, from + out.length - written));
    out.set(part, written);
    written += part.byteLength;
    offset += segment.byteLength;
  }
  return out;
}

function isPut(entry: KvEntry | null | undefined): entry is KvEntry {
  return entry !== null && entry !== undefined && entry.operation === "PUT";
}

/** A value caught half-written cannot exist in KV, but a foreign or older value may lack fields: it then ages out. */
function parseLockValue(entry: KvEntry): LockValue {
  try {
    const value = entry.json<Partial<LockValue>>();
    return { workerId: "?", token: "?", pid: -1, host: "?", acquiredAt: 0, heartbeatAt: 0, ...value };
  } catch {
    return { workerId: "?", token: "?", pid: -1, host: "?", acquiredAt: 0, heartbeatAt: 0 };
  }
}

function staleError(epoch: number, winner: CommittedMeta): StaleCheckpointError {
  return new StaleCheckpointError(
    `checkpoint epoch ${epoch} is stale: worker ${winner.workerId} already committed epoch ${winner.epoch}`,
  );
}

function corruptError(set: ChunkSet, detail: string): Error {
  return new Error(`checkpoint epoch ${set.epoch} (chunks ${set.token}) is corrupt: ${detail}`);
}
