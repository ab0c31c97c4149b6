// Checkpoints: operator state and stream positions committed together, one file per epoch, fenced by link() and a lock.
import { randomBytes } from "node:crypto";
import { link, mkdir, open, readdir, readFile, rm, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crashIfInjected } from "./fault-injection.ts";
import { DEFAULT_LOCK_STALE_AFTER_MS, HeldLockFile, newLockHolder, takeLockFile, type LockHolder, type LockObservation } from "./lock-file.ts";
import { isEncodedJson, utf8Segments, type EncodedJson } from "./utf8-segments.ts";
import type { PartitionCounts } from "./partition-count.ts";
import type { RecordedSettings } from "./config-change.ts";

export interface Checkpoint<PendingCommit = unknown> {
  format: 1;
  pipeline: string;
  stream: string;
  /** When the stream was created: a stream deleted and created again under the same name is another stream. */
  streamCreated: string;
  /** Increases by one per commit; names the Parquet parts of that commit. */
  epoch: number;
  /** Last stream sequence whose effects are in `state` and in the committed Parquet parts. */
  position: number;
  state: Record<string, unknown>;
  /** Parquet renames that this checkpoint commits; recovery finishes them. */
  pending: PendingCommit | undefined;
  workerId: string;
  committedAt: number;
  /**
   * An events task's lineage (a partitioned pipeline's; the worker also keeps it in the state): here a customers task
   * reads it with the metadata alone (loadMeta) instead of parsing a document that may hold tens of MB of state.
   */
  lineage?: string;
  /**
   * A partitioned pipeline's task: the partition counts it ran with, which a worker checks before any task starts
   * (src/runtime/partition-count.ts). Absent from unpartitioned checkpoints and from those written before it was kept.
   */
  partitions?: PartitionCounts;
  /**
   * The settings the state depends on (operators' configs, the sink's path), compared with the config when a worker
   * resumes (src/runtime/config-change.ts). Absent from checkpoints written before it was kept.
   */
  settings?: RecordedSettings;
  /**
   * A partitioned pipeline's task, which reads one subject: a stream sequence, at or past `position`, through which it
   * had read every message of its subject (checked against the stream while it ran). A stream whose limits discarded
   * messages up to it took nothing the task had not read. Absent when it equals `position`, and from older checkpoints.
   */
  readThrough?: number;
}

/** A checkpoint without its state and pending renames: what loadMeta reads. */
export type CheckpointMeta = Omit<Checkpoint<unknown>, "state" | "pending">;

/**
 * A checkpoint's state as JSON text: whole, in pieces to be written one after another (stringifyPiecesInSlices), or
 * already encoded as UTF-8 (encodeInSlices: what the worker hands over).
 */
export type StateJson = string | readonly string[] | EncodedJson;

/** The checkpoint document, `head` + state + "}", as UTF-8 segments; encoded state is taken as it is, not copied. */
export function documentSegments(head: string, stateJson: StateJson): Uint8Array[] {
  const state = isEncodedJson(stateJson) ? stateJson.utf8 : utf8Segments(typeof stateJson === "string" ? [stateJson] : stateJson);
  return [Buffer.from(head, "utf8"), ...state, Buffer.from("}", "utf8")];
}

/** The document's first part: every field but the state, and the state's key. */
export function documentHead(checkpoint: Omit<Checkpoint, "state">): string {
  const { pending, ...meta } = checkpoint;
  return `{${JSON.stringify(meta).slice(1, -1)},"pending":${JSON.stringify(pending ?? null)},"state":`;
}

/** The bytes loadMeta reads at a time: a document's metadata and pending renames fit in the first read. */
const META_READ_BYTES = 64 * 1024;
const STATE_KEY = Buffer.from('"state":');

/**
 * A checkpoint document's metadata, from the start of its file. The document is documentHead + state + "}", and the
 * head's `"state":` is the first in the text: the fields before it are scalars and the pending renames, none of whose
 * keys is "state", and a quote inside a string is escaped. Reads on until that key; a file without it is not a
 * checkpoint document.
 */
export async function readDocumentMeta(path: string): Promise<CheckpointMeta> {
  const handle = await open(path, "r");
  try {
    let head = Buffer.alloc(0);
    for (;;) {
      const chunk = Buffer.allocUnsafe(META_READ_BYTES);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, head.length);
      if (bytesRead === 0) throw new Error(`${path} is not a checkpoint document: it has no "state" key`);
      // The key's bytes may straddle two reads.
      const from = Math.max(0, head.length - STATE_KEY.length + 1);
      head = head.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([head, chunk.subarray(0, bytesRead)]);
      const at = head.indexOf(STATE_KEY, from);
      if (at < 0) continue;
      const { state: _state, pending: _pending, ...meta } = JSON.parse(`${head.toString("utf8", 0, at + STATE_KEY.length)}null}`) as Checkpoint<unknown>;
      return meta;
    }
  } finally {
    await handle.close();
  }
}

/** This worker was fenced out: another worker committed the epoch it tried to commit, or took its lock over. */
export class StaleCheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StaleCheckpointError";
  }
}

export { DEFAULT_LOCK_STALE_AFTER_MS, holderIsGone, newLockHolder, type LockHolder } from "./lock-file.ts";

/** The error a fenced worker gets: which lock it lost, and to whom when known. */
export function lostLockError(holder: LockHolder, location: string, lostTo: LockHolder | undefined | null): StaleCheckpointError {
  return new StaleCheckpointError(
    `worker ${holder.workerId} lost the lock ${location}` +
      (lostTo ? ` to worker ${lostTo.workerId} (pid ${lostTo.pid} on ${lostTo.host})` : ""),
  );
}

export interface LockOptions {
  workerId: string;
  /**
   * A lock not refreshed for this long is taken over. Default 30 s. How its age is judged is the store's: by the NATS
   * server's stamps (kv), by its mtime for a holder on this host and otherwise by this process's clock (directory).
   */
  staleAfterMs?: number;
  /** Waiting for a live holder ends when this aborts (acquire then returns undefined). */
  signal?: AbortSignal;
  /** Called once when the lock is found held by a live worker (this worker stands by). */
  onWait?: (holder: LockHolder) => void;
  /** Called when a heartbeat finds the lock taken over by someone else. */
  onLost?: (holder: LockHolder | undefined) => void;
  /**
   * This host's clock (default Date.now): the times written into the lock (acquiredAt, the kv store's heartbeatAt), and
   * in the directory store what a holder's heartbeat on this host is aged by. Never compared with another host's times.
   */
  now?: () => number;
}

const CHECKPOINT_FILE = /^checkpoint-(\d{10})\.json$/;
/** Older epochs kept beside the newest (for inspection after an incident); the rest are deleted. */
const KEPT_OLD_EPOCHS = 2;

export function checkpointFileName(epoch: number): string {
  return `checkpoint-${String(epoch).padStart(10, "0")}.json`;
}

/**
 * Stores checkpoints in `<sink path>/_checkpoints/<pipeline>/checkpoint-<epoch>.json`. A commit links a fully
 * written temporary file to its epoch's name; link() fails when the name exists, so each epoch is committed by
 * exactly one worker (compare-and-swap on the file system) and a fenced-out zombie cannot overwrite a newer one.
 */
export class DirectoryCheckpointStore {
  readonly directory: string;
  readonly lockFile: string;

  constructor(sinkPath: string, pipelineName: string) {
    this.directory = join(sinkPath, "_checkpoints", pipelineName);
    this.lockFile = join(this.directory, "lock");
  }

  get location(): string {
    return this.directory;
  }

  get lockLocation(): string {
    return this.lockFile;
  }

  /** The epoch of the last committed checkpoint, without reading its state. */
  async lastEpoch(): Promise<number | undefined> {
    return (await this.epochs()).at(-1);
  }

  /** The last committed checkpoint (highest epoch), or undefined when there is none. */
  async load<P>(): Promise<Checkpoint<P> | undefined> {
    return this.readLast(async (path) => JSON.parse(await readFile(path, "utf8")) as Checkpoint<P>);
  }

  /** The last committed checkpoint's metadata: only the start of its file is read. */
  async loadMeta(): Promise<CheckpointMeta | undefined> {
    return this.readLast(readDocumentMeta);
  }

  private async readLast<T>(read: (path: string) => Promise<T>): Promise<T | undefined> {
    for (;;) {
      const epochs = await this.epochs();
      if (epochs.length === 0) return undefined;
      try {
        return await read(join(this.directory, checkpointFileName(epochs[epochs.length - 1])));
      } catch (error) {
        // Pruned between listing and reading: a newer epoch exists, list again.
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
  }

  /**
   * Commits a checkpoint: write a temporary file, fsync, link it to the epoch's name, fsync the directory.
   * Throws StaleCheckpointError when that epoch is already committed (by another worker): nothing is changed.
   */
  async commit<P>(checkpoint: Omit<Checkpoint<P>, "state">, stateJson: StateJson): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    const final = join(this.directory, checkpointFileName(checkpoint.epoch));
    const temporary = join(this.directory, `.${checkpointFileName(checkpoint.epoch)}.${randomBytes(6).toString("hex")}.tmp`);
    const handle = await open(temporary, "wx");
    try {
      // The state arrives serialized: it was captured synchronously, before any later event could change it.
      await writeSegments(handle, documentSegments(documentHead(checkpoint), stateJson));
      await handle.sync();
    } finally {
      await handle.close();
    }
    crashIfInjected("checkpoint-written", checkpoint.epoch);
    try {
      await link(temporary, final);
    } catch (error) {
      // The worker that took the lock (or a task's lease) over discards temporary files when it starts
      // (discardUncommitted): this worker was fenced between its write and its link.
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new StaleCheckpointError(
          `checkpoint epoch ${checkpoint.epoch} is stale: its temporary file was discarded by the worker that took ${this.location} over`,
        );
      }
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const winner = await this.readEpoch(checkpoint.epoch);
      throw new StaleCheckpointError(
        `checkpoint epoch ${checkpoint.epoch} is stale: worker ${winner?.workerId ?? "?"} already committed it`,
      );
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
    await syncDirectory(this.directory);
    await this.prune(checkpoint.epoch);
  }

  /**
   * Takes the pipeline's lock: an exclusive file naming this worker, kept fresh by a heartbeat (its mtime). While a
   * live worker holds it, waits (stands by); it is taken over when its holder died in this host's boot and pid
   * namespace (holderIsGone), its holder on this host's kernel (the same name and boot) let the heartbeat grow older
   * than staleAfterMs, or, for any other holder (another host on shared storage, one with this host's name, one of
   * another boot), its heartbeat did not move for staleAfterMs of this process's clock: the mtime is that host's clock,
   * and comparing it with this one's added their skew (takeLockFile). Returns undefined when the signal aborts the wait.
   */
  async acquireLock(options: LockOptions): Promise<CheckpointLock | undefined> {
    await mkdir(this.directory, { recursive: true });
    const staleAfterMs = options.staleAfterMs ?? DEFAULT_LOCK_STALE_AFTER_MS;
    const now = options.now ?? Date.now;
    const holder = newLockHolder(options.workerId, now());
    const observed: LockObservation = {};
    let announced = false;
    for (;;) {
      if (options.signal?.aborted) return undefined;
      const taken = await takeLockFile(this.lockFile, holder, { staleAfterMs, now, observed });
      if (taken.taken) {
        await this.discardUncommitted();
        return new CheckpointLock(this.lockFile, holder, staleAfterMs, options.onLost, taken.replaced);
      }
      if (!announced) options.onWait?.(taken.holder);
      announced = true;
      await sleep(Math.min(1_000, staleAfterMs / 4), options.signal);
    }
  }

  async clear(): Promise<void> {
    await rm(this.directory, { recursive: true, force: true });
  }

  /**
   * Temporary files of commits that crashed before their link; a fenced zombie's link then fails, as it should. Called
   * by whoever holds the exclusive right to commit: the lock, or a partitioned task's lease.
   */
  async discardUncommitted(): Promise<void> {
    for (const name of await readdir(this.directory).catch(() => [] as string[])) {
      if (name.startsWith(".checkpoint-") && name.endsWith(".tmp")) await unlink(join(this.directory, name)).catch(() => undefined);
    }
  }

  private async epochs(): Promise<number[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const epochs: number[] = [];
    for (const name of names) {
      const match = CHECKPOINT_FILE.exec(name);
      if (match) epochs.push(Number(match[1]));
    }
    return epochs.sort((a, b) => a - b);
  }

  private async readEpoch(epoch: number): Promise<CheckpointMeta | undefined> {
    try {
      return await readDocumentMeta(join(this.directory, checkpointFileName(epoch)));
    } catch {
      return undefined;
    }
  }

  private async prune(committedEpoch: number): Promise<void> {
    for (const epoch of await this.epochs()) {
      if (epoch >= committedEpoch - KEPT_OLD_EPOCHS) break;
      await unlink(join(this.directory, checkpointFileName(epoch))).catch(() => undefined);
    }
  }
}

/** A held pipeline lock: a heartbeat refreshes its mtime and notices when another worker took it over. */
export class CheckpointLock extends HeldLockFile {
  constructor(
    file: string,
    holder: LockHolder,
    staleAfterMs: number,
    onLost?: (holder: LockHolder | undefined) => void,
    readonly tookOverFrom?: LockHolder,
  ) {
    super(file, holder, staleAfterMs, onLost);
  }

  /** Throws StaleCheckpointError unless the lock file still names this holder. */
  override async verify(): Promise<void> {
    if (!(await this.stillHeld())) throw lostLockError(this.holder, this.file, this.lostTo);
  }
}

type Binding = Pick<Checkpoint<unknown>, "pipeline" | "stream" | "streamCreated">;

function sameBinding(a: Binding, b: Binding): boolean {
  return a.pipeline === b.pipeline && a.stream === b.stream && a.streamCreated === b.streamCreated;
}

/** A checkpoint resumes only the pipeline and stream it was taken from. */
export function checkpointMatches(
  checkpoint: Binding,
  binding: { pipeline: string; stream: string; streamCreated: string },
): boolean {
  return sameBinding(checkpoint, binding);
}

export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Writes the segments one after another. */
export async function writeSegments(handle: FileHandle, segments: readonly Uint8Array[]): Promise<void> {
  for (const segment of segments) {
    for (let at = 0; at < segment.length; ) at += (await handle.write(segment, at, segment.length - at)).bytesWritten;
  }
}
