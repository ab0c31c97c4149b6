// Follows one configured log path: reads appended lines, finishes a rotated file (or its gzip) before the new one, restarts after truncation.
import { open, readdir, stat, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CompressedCopyError, compressedChunks, findCompressedCopy } from "./tailer-compressed.ts";
import { splitCompleteLines, type TailLine } from "./tailer-lines.ts";
import { FINGERPRINT_BYTES, HEAD_BYTES, positionHash, type TailPosition, type TailPositionStore } from "./tailer-position.ts";
import type { NumberedLine, TailPublisher } from "./tailer-publisher.ts";

/** Bytes read (and published as one chunk) at a time; also the longest line kept whole. */
export const TAIL_CHUNK_BYTES = 1024 * 1024;
/**
 * How long a file renamed away by rotation is still read once it stops growing: nginx and Apache write into the
 * renamed file until logrotate's postrotate tells them to reopen (or the copy is compressed), and those lines belong
 * to it. Filebeat's close_inactive plays the same part.
 */
export const ROTATED_GRACE_MS = 5_000;

interface OpenFile {
  handle: FileHandle;
  position: TailPosition;
}

/** A gzip that holds the rest of the file a position was saved for, and its name for the log. */
interface CompressedFile extends OpenFile {
  name: string;
}

export interface TailedPathOptions {
  path: string;
  store: TailPositionStore;
  /** Where the chunks go (a TailPublisher): only its publish is used. */
  publisher: Pick<TailPublisher, "publish">;
  log: (line: string) => void;
  now: () => number;
  /** Polled between chunks: true ends the current read after the chunk in flight. */
  stopping: () => boolean;
  chunkBytes?: number;
  /** ROTATED_GRACE_MS unless set (tests). */
  rotatedGraceMs?: number;
}

/**
 * Why the position is written only after JetStream acknowledged the chunk, and why batch ids and event ids come from
 * the file: the tailer publishes into the stream, it does not feed operators, so the worker's checkpoint cannot hold
 * its offset. Writing (file identity, offset, line number) after the ack means a crash never skips a line; a crash
 * between the ack and the write re-reads the same chunk, whose batches get the same Nats-Msg-Ids
 * (`tail:<dev>:<ino>:<generation>:<start>-<end>:<partition>:<n>`), so JetStream stores them once within its 2-minute
 * duplicate window, and whose events get the same event_ids (line number + line, as `clickpipe publish` of the same
 * file gives), so the worker's event_id dedupe drops what is older than that window or was chunked differently.
 */
export class TailedPath {
  private current: OpenFile | undefined;
  /** Read before `current`: the rest of the file read last, which rotation compressed while the tailer was stopped. */
  private compressed: CompressedFile | undefined;
  /** Processing time the renamed-away current file last grew (undefined while it is still at the path). */
  private rotatedGrewAt: number | undefined;
  private readonly buffer: Buffer;

  constructor(private readonly options: TailedPathOptions) {
    this.buffer = Buffer.allocUnsafe(options.chunkBytes ?? TAIL_CHUNK_BYTES);
  }

  get path(): string {
    return this.options.path;
  }

  /**
   * Reopens the file of the saved position: still at the path, renamed beside it by rotation while we were down, or
   * compressed after that (logrotate's `compress` without `delaycompress` gzips `access.log.1` and removes it).
   * While the tailer runs it holds the file open, so a rename, a gzip and the removal take nothing from it.
   */
  async restore(): Promise<void> {
    const { path, store, log } = this.options;
    const saved = await store.load(path);
    if (saved === undefined) return;
    if ((await identityOf(path)) === saved.file) {
      this.current = { handle: await open(path, "r"), position: saved };
      return;
    }
    const rotated = await findByIdentity(dirname(path), saved.file);
    if (rotated !== undefined) {
      log(`access log ${path}: finishing ${rotated} (rotated while stopped) from byte ${saved.offset}`);
      this.current = { handle: await open(rotated, "r"), position: saved };
      return;
    }
    // Without a head (nothing read yet, or a position of an earlier version) no gzip can be told to be that file.
    const compressed = saved.head === undefined ? undefined : await findCompressedCopy(path, saved.head, saved.headBytes ?? 0);
    if (compressed !== undefined) {
      log(`access log ${path}: finishing ${compressed} (rotated and compressed while stopped) from byte ${saved.offset} of the file it holds`);
      this.compressed = { handle: await open(compressed, "r"), position: saved, name: compressed };
      return;
    }
    log(`access log ${path}: the file read last (${saved.file}, byte ${saved.offset}) is gone; reading ${path} from its start`);
  }

  /** Publishes every complete line available now, following a rotation to the new file. */
  async poll(): Promise<void> {
    const { path } = this.options;
    if (this.compressed !== undefined && !(await this.finishCompressed())) return;
    if (this.current === undefined && !(await this.openAtStart())) return;
    while (this.current !== undefined && !this.options.stopping()) {
      const read = await this.readAvailable(false);
      const atPath = await identityOf(path);
      if (atPath === this.current.position.file || this.options.stopping()) {
        this.rotatedGrewAt = undefined;
        return;
      }
      // Renamed away or deleted: the writer may still append to it until it reopens the path. Follow it until it has
      // not grown for the grace period (the new file waits meanwhile, read from its start after), then finish it.
      const now = this.options.now();
      if (this.rotatedGrewAt === undefined || read > 0) this.rotatedGrewAt = now;
      if (now - this.rotatedGrewAt < (this.options.rotatedGraceMs ?? ROTATED_GRACE_MS)) return;
      // It stopped growing, so its unterminated last line is complete.
      await this.readAvailable(true);
      await this.current.handle.close();
      this.current = undefined;
      this.rotatedGrewAt = undefined;
      if (atPath === undefined || !(await this.openAtStart())) return;
    }
  }

  async close(): Promise<void> {
    await this.compressed?.handle.close();
    this.compressed = undefined;
    await this.current?.handle.close();
    this.current = undefined;
  }

  /**
   * Publishes the lines of the gzip after the saved position, saving the position after each chunk as for any file;
   * false when stopping cut it short. A failed publish throws (the next poll inflates the gzip again up to the saved
   * position); a gzip that cannot give the rest is left, said so, for the new file.
   */
  private async finishCompressed(): Promise<boolean> {
    const compressed = this.compressed!;
    const { path, log, stopping } = this.options;
    try {
      for await (const chunk of compressedChunks(compressed.handle, compressed.name, compressed.position, this.buffer.length)) {
        const { start, split, fingerprint, head, headBytes } = chunk;
        compressed.position = await this.publishChunk(compressed.position, start, split.lines, split.consumed, { fingerprint, head, headBytes });
        if (stopping()) return false;
      }
    } catch (error) {
      if (!(error instanceof CompressedCopyError)) throw error;
      log(`access log ${path}: ${error.message}; the lines after byte ${compressed.position.offset} are lost, reading ${path}`);
    }
    await compressed.handle.close();
    this.compressed = undefined;
    return true;
  }

  /** Publishes one chunk's lines under ids from their place in the file, then saves the position just past them. */
  private async publishChunk(
    position: TailPosition,
    start: number,
    chunkLines: readonly TailLine[],
    consumed: number,
    after: Pick<TailPosition, "fingerprint" | "head" | "headBytes">,
  ): Promise<TailPosition> {
    const firstLineNumber = position.lineNumber + 1;
    const lines: NumberedLine[] = chunkLines.map((line, index) => ({ text: line.text, lineNumber: firstLineNumber + index }));
    const end = start + consumed;
    await this.options.publisher.publish(`tail:${position.file}:${position.generation}:${start}-${end}`, lines, this.options.now());
    const next = { ...position, offset: end, lineNumber: position.lineNumber + lines.length, ...after };
    await this.options.store.save(next);
    return next;
  }

  private async openAtStart(): Promise<boolean> {
    const { path } = this.options;
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
    const file = identityFromStat(await handle.stat({ bigint: true }));
    this.current = { handle, position: { format: 1, path, file, generation: 0, offset: 0, lineNumber: 0, fingerprint: "" } };
    await this.options.store.save(this.current.position);
    return true;
  }

  /** Publishes the complete lines after the position; returns the bytes consumed. */
  private async readAvailable(final: boolean): Promise<number> {
    const current = this.current!;
    const { position, handle } = current;
    const size = Number((await handle.stat({ bigint: true })).size);
    const rewritten =
      size < position.offset ||
      (await fingerprintAt(handle, position.offset)) !== position.fingerprint ||
      (position.head !== undefined && (await headOf(handle, position.headBytes ?? 0)) !== position.head);
    if (rewritten) {
      // copytruncate (or truncate and refill): the bytes from 0 are new lines of a new generation of the same file.
      this.options.log(`access log ${this.options.path}: truncated or replaced (was at byte ${position.offset}); reading from its start`);
      current.position = { ...position, generation: position.generation + 1, offset: 0, lineNumber: 0, fingerprint: "", head: undefined, headBytes: undefined };
      await this.options.store.save(current.position);
    }
    let consumed = 0;
    while (!this.options.stopping()) {
      const start = current.position.offset;
      const { bytesRead } = await handle.read(this.buffer, 0, this.buffer.length, start);
      if (bytesRead === 0) return consumed;
      const full = bytesRead === this.buffer.length;
      const split = splitCompleteLines(this.buffer, bytesRead, start, { final: final && !full, full });
      if (split.lines.length === 0) return consumed;
      consumed += split.consumed;
      const end = start + split.consumed;
      const after = {
        fingerprint: await fingerprintAt(handle, end),
        ...(current.position.headBytes === HEAD_BYTES ? {} : { head: await headOf(handle, Math.min(HEAD_BYTES, end)), headBytes: Math.min(HEAD_BYTES, end) }),
      };
      current.position = await this.publishChunk(current.position, start, split.lines, split.consumed, after);
    }
    return consumed;
  }
}

/** Hash of the file's first `length` bytes. */
async function headOf(handle: FileHandle, length: number): Promise<string> {
  const bytes = Buffer.alloc(length);
  const { bytesRead } = await handle.read(bytes, 0, length, 0);
  return positionHash(bytes.subarray(0, bytesRead));
}

/** Hash of the bytes just before `offset` ("" at 0): unchanged unless the file was rewritten under us. */
async function fingerprintAt(handle: FileHandle, offset: number): Promise<string> {
  if (offset === 0) return "";
  const length = Math.min(FINGERPRINT_BYTES, offset);
  const bytes = Buffer.alloc(length);
  const { bytesRead } = await handle.read(bytes, 0, length, offset - length);
  return positionHash(bytes.subarray(0, bytesRead));
}

function identityFromStat(stats: { dev: bigint; ino: bigint }): string {
  return `${stats.dev}:${stats.ino}`;
}

async function identityOf(path: string): Promise<string | undefined> {
  try {
    return identityFromStat(await stat(path, { bigint: true }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** A file in `directory` with the given identity (logrotate renames `access.log` to `access.log.1` in place). */
async function findByIdentity(directory: string, identity: string): Promise<string | undefined> {
  for (const name of await readdir(directory)) {
    const candidate = join(directory, name);
    if ((await identityOf(candidate).catch(() => undefined)) === identity) return candidate;
  }
  return undefined;
}
