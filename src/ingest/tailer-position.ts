// The durable position of one tailed log path: which file (device + inode), how far (byte offset, line number).
import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { instanceKey } from "./tailer-instance.ts";

/** Bytes before the offset a position keeps a hash of (TailPosition.fingerprint). */
export const FINGERPRINT_BYTES = 64;
/** Bytes of a file's start its position keeps a hash of (TailPosition.head). */
export const HEAD_BYTES = 1024;

/** The hash a position keeps of some bytes of its file (head, fingerprint). */
export function positionHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64url").slice(0, 22);
}

export interface TailPosition {
  format: 1;
  /** The configured path this position belongs to. */
  path: string;
  /** Identity of the file being read: `<dev>:<ino>` (it survives a rename, so rotation can be told apart). */
  file: string;
  /** Bumped when the same file is truncated (copytruncate): its bytes from 0 are new lines. */
  generation: number;
  /** Offset just past the last line whose batch JetStream acknowledged. */
  offset: number;
  /** Lines of this file (generation) acknowledged so far: the line number of the line ending at `offset`. */
  lineNumber: number;
  /** Hash of up to 64 bytes before `offset`: tells a truncated-and-refilled file from one that only grew. */
  fingerprint: string;
  /**
   * Hash of the file's first `headBytes` bytes (up to 1 KiB): a new file that got a deleted one's inode (ext4 reuses
   * them) and holds as many bytes by now is told apart by its start, which the tail fingerprint misses when log lines
   * end alike. Absent in positions of earlier versions.
   */
  head?: string;
  headBytes?: number;
  /**
   * Hash of the file's first line (its bytes, newline included), part of its batch ids (batchIdPrefix) so that a new
   * file that got a rotated one's inode does not take that file's ids: JetStream would drop its chunks that cover the
   * same bytes as duplicates within its 2-minute window. "" from the file's opening until its first chunk is published
   * (the first line may still be incomplete when the file is opened); a file's first line never changes, so every read
   * of that chunk, after a restart too, gives the same hash. Absent in positions of earlier versions: their files keep
   * the ids those versions gave them (a chunk re-sent after the upgrade is still stored once).
   */
  lineage?: string;
  /**
   * Set while the rest of a file that was truncated (copytruncate) or replaced under its inode is read from its rotated
   * copy, and the rotated files after that: the file (`<dev>:<ino>`) and the generation it is read under from its
   * start once they are done, so its new lines get batch ids of their own, not those of the lines before.
   */
  replaced?: { file: string; generation: number };
  /**
   * The chunk being published, saved (fsynced) before it is sent: a write-ahead of the extent [offset, end). A crash
   * after JetStream's ack and before the position moves past it would otherwise re-read from `offset` to wherever the
   * file ends by the restart, a chunk with another `end`, so other batch ids, and JetStream would store its lines again
   * (the worker drops events it has by event_id, but not dead letters). Re-sending exactly this extent with the same
   * receivedAt gives the same lines, ids and dead-letter bytes. Absent between chunks and in earlier versions' positions.
   */
  inflight?: InflightChunk;
}

export interface InflightChunk {
  /** Offset just past the chunk's last line. */
  end: number;
  /** Hash of up to 64 bytes before `end`: the file still holds the bytes that were sent (see `fingerprint`). */
  fingerprint: string;
  /** Processing time the chunk was first published with: its events' and dead letters' received_at. */
  receivedAt: number;
}

/** The position without a chunk in flight: once the chunk is acknowledged, or when what it was read from is gone. */
export function withoutInflight(position: TailPosition): TailPosition {
  const { inflight: _inflight, ...settled } = position;
  return settled;
}

/**
 * The Nats-Msg-Id prefix of the batches of a chunk: `tail:<dev>:<ino>:<lineage>:<generation>:<start>-<end>` (then
 * `:<partition|dlq>:<n>`, TailPublisher), or `tail:<dev>:<ino>:<generation>:<start>-<end>` for a position without a
 * lineage (saved by an earlier version). A tailer with an `instance` (tailer-instance.ts) starts it `tail@<instance>:`:
 * a device and inode number mean nothing across hosts (machines cloned from one image have the same ones), so two
 * hosts' chunks of the same extent with the same first line would otherwise share ids, and JetStream keep one host's.
 */
export function batchIdPrefix(position: Pick<TailPosition, "file" | "generation" | "lineage">, start: number, end: number, instance?: string): string {
  const lineage = position.lineage === undefined ? "" : `${position.lineage}:`;
  const source = instance === undefined ? "tail" : `tail@${instance}`;
  return `${source}:${position.file}:${lineage}${position.generation}:${start}-${end}`;
}

/**
 * One JSON file per configured path under the source's state directory, replaced atomically:
 * `access-log-<hash of the path>.json`, or `access-log-<hash of the path>@<instance>.json` for a tailer with an
 * `instance` (one position per host reading a log at that path, where the folder is shared between hosts).
 */
export class TailPositionStore {
  private readonly instance: string | undefined;

  constructor(
    private readonly directory: string,
    instance?: string,
  ) {
    this.instance = instance === undefined ? undefined : instanceKey(instance);
  }

  fileOf(path: string): string {
    const instance = this.instance === undefined ? "" : `@${this.instance}`;
    return join(this.directory, `access-log-${createHash("sha256").update(path).digest("hex").slice(0, 16)}${instance}.json`);
  }

  async load(path: string): Promise<TailPosition | undefined> {
    let text: string;
    try {
      text = await readFile(this.fileOf(path), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    const position = JSON.parse(text) as TailPosition;
    return position.format === 1 && position.path === path ? position : undefined;
  }

  /** Write a temporary file, fsync, rename over, fsync the folder: a crash leaves the old or the new position. */
  async save(position: TailPosition): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    const file = this.fileOf(position.path);
    const temporary = `${file}.${process.pid}.tmp`;
    const handle = await open(temporary, "w");
    try {
      await handle.writeFile(JSON.stringify(position));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
    const directory = await open(this.directory, "r");
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }
}
