// Follows one configured log path: reads appended lines; after a rotation, every rotated file newer than the one it
// read (plain or gzip) from its start, then the new file; after copytruncate, the rest of the file from its copy.
import { open, readdir, stat, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { crashIfInjectedAfterTailAck } from "../runtime/fault-injection.ts";
import { CompressedCopyError, compressedChunks, findCompressedCopy } from "./tailer-compressed.ts";
import { splitCompleteLines, type TailLine } from "./tailer-lines.ts";
import {
  batchIdPrefix,
  FINGERPRINT_BYTES,
  HEAD_BYTES,
  positionHash,
  withoutInflight,
  type InflightChunk,
  type TailPosition,
  type TailPositionStore,
} from "./tailer-position.ts";
import { FieldsLookBack } from "./tailer-directive.ts";
import type { NumberedLine, TailPublisher } from "./tailer-publisher.ts";
import { findCopy, rotatedAfter, type FinishedFile, type RotatedFile } from "./tailer-rotated.ts";

/** Bytes read (and published as one chunk) at a time; also the longest line kept whole. */
export const TAIL_CHUNK_BYTES = 1024 * 1024;
/**
 * How long a file renamed away by rotation is still read once it stops growing: nginx and Apache write into the
 * renamed file until logrotate's postrotate tells them to reopen (or the copy is compressed), and those lines belong
 * to it. Filebeat's close_inactive plays the same part.
 */
export const ROTATED_GRACE_MS = 5_000;

/** The file being read. */
interface OpenFile {
  handle: FileHandle;
  /** How far it was read, and the ids of what it publishes: a copy is read under the position of the file it copies. */
  position: TailPosition;
  /** `<dev>:<ino>` of the open file itself (of the `.gz` for a gzip). */
  identity: string;
  /** Its path when it was opened, for the log. */
  name: string;
  /** A gzip: read through its decompressed stream (compressedChunks), to its end. */
  compressed: boolean;
  /**
   * Written by no one any more (a gzip, a copy, a rotated file with a newer one after it): finished at its end, without
   * the grace period.
   */
  complete: boolean;
  /** A copy of a truncated file, read from where the tailer was in that file. */
  copy: boolean;
  /** Where a W3C reader without a `#Fields:` finds the one before a chunk (made when first asked). */
  fieldsLookBack?: FieldsLookBack;
}

export interface TailedPathOptions {
  path: string;
  /** Where its position is kept (the tailer's saves only while it holds the path's claim). */
  store: Pick<TailPositionStore, "load" | "save">;
  /** Where the chunks go (a TailPublisher): only its publish is used. */
  publisher: Pick<TailPublisher, "publish">;
  log: (line: string) => void;
  now: () => number;
  /** Polled between chunks: true ends the current read after the chunk in flight. */
  stopping: () => boolean;
  chunkBytes?: number;
  /** ROTATED_GRACE_MS unless set (tests). */
  rotatedGraceMs?: number;
  /** The source's instance (instanceKey of its `instance`), part of its batch ids (batchIdPrefix); none without. */
  instance?: string;
}

/**
 * Why the position is written only after JetStream acknowledged the chunk, and why batch ids and event ids come from
 * the file: the tailer publishes into the stream, it does not feed operators, so the worker's checkpoint cannot hold
 * its offset. Writing (file identity, offset, line number) after the ack means a crash never skips a line. The chunk's
 * extent is written ahead of its publish (TailPosition.inflight), so a crash between the ack and the write re-reads
 * exactly that chunk, though the file grew meanwhile: its batches get the same Nats-Msg-Ids
 * (`tail:<dev>:<ino>:<lineage>:<generation>:<start>-<end>:<partition>:<n>`, batchIdPrefix; the lineage, a hash of the
 * file's first line, tells a new file that got a rotated one's inode from it), so JetStream stores them once within
 * its 2-minute duplicate window, dead letters included, and its events get the same event_ids (line number + line, as
 * `clickpipe publish` of the same file gives), so the worker's event_id dedupe drops what is older than that window.
 *
 * Files are read one after the other, each to its end: the file of the saved position, then each rotated file newer
 * than it (tailer-rotated.ts says how they are ordered), each from its start, then the file at the path. A new file's
 * position is saved before its first line is read, so a restart in the middle of that chain goes on where it was.
 */
export class TailedPath {
  private reading: OpenFile | undefined;
  /**
   * The file read last, while none is open: the next is the oldest rotated file newer than it, else the path's. Its
   * position's `replaced` is handed on to the files read after it.
   */
  private finished: (FinishedFile & Pick<TailPosition, "replaced">) | undefined;
  /** Processing time the renamed-away file being read last grew (undefined while it is still at the path). */
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
    if (saved.inflight !== undefined) {
      log(`access log ${path}: re-sending bytes ${saved.offset}-${saved.inflight.end}, in flight when the tailer stopped, under the same ids`);
    }
    if ((await identityOf(path)) === saved.file) {
      this.reading = await openFile(path, saved, { compressed: false, complete: false });
      return;
    }
    const rotated = await findByIdentity(dirname(path), saved.file);
    if (rotated !== undefined) {
      // A gzip is found by its own identity when it was read from its start, as a rotated file newer than another.
      const compressed = rotated.endsWith(".gz");
      log(`access log ${path}: finishing ${rotated} (rotated while stopped) from byte ${saved.offset}${compressed ? " of the file it holds" : ""}`);
      this.reading = await openFile(rotated, saved, { compressed, complete: compressed });
      return;
    }
    // Without a head (nothing read yet, or a position of an earlier version) no gzip can be told to be that file.
    const compressed = saved.head === undefined ? undefined : await findCompressedCopy(path, saved.head, saved.headBytes ?? 0);
    if (compressed !== undefined) {
      log(`access log ${path}: finishing ${compressed} (rotated and compressed while stopped) from byte ${saved.offset} of the file it holds`);
      this.reading = await openFile(compressed, saved, { compressed: true, complete: true });
      return;
    }
    log(`access log ${path}: the file read last (${saved.file}, byte ${saved.offset}) is gone; reading ${path} from its start`);
  }

  /** Publishes every complete line available now, going on through rotated files to the one at the path. */
  async poll(): Promise<void> {
    const { path, stopping } = this.options;
    while (!stopping()) {
      if (this.reading === undefined && !(await this.openNext())) return;
      const reading = this.reading!;
      if (reading.compressed) {
        if (!(await this.readCompressed(reading))) return;
      } else {
        const read = await this.readAvailable(false);
        // Its rest is in a copy (copytruncate): that is read now instead.
        if (this.reading !== reading) continue;
        if (stopping()) return;
        if (!reading.complete) {
          if ((await identityOf(path)) === reading.identity) {
            this.rotatedGrewAt = undefined;
            return;
          }
          // Renamed away or deleted: the writer may still append to it until it reopens the path. Follow it until it
          // has not grown for the grace period (the files after it wait meanwhile), then finish it.
          const now = this.options.now();
          if (this.rotatedGrewAt === undefined || read > 0) this.rotatedGrewAt = now;
          if (now - this.rotatedGrewAt < (this.options.rotatedGraceMs ?? ROTATED_GRACE_MS)) return;
        }
        // It stopped growing, so its unterminated last line is complete.
        await this.readAvailable(true);
        if (this.reading !== reading) continue;
        // Cut short by the stop: it is finished after the restart, not skipped.
        if (stopping()) return;
      }
      await this.finish(reading);
    }
  }

  async close(): Promise<void> {
    await this.reading?.handle.close();
    this.reading = undefined;
  }

  /**
   * Publishes the lines of the gzip after the position, saving the position after each chunk as for any file; false
   * when stopping cut it short. A failed publish throws (the next poll inflates the gzip again up to the saved
   * position); a gzip that cannot give the rest is left, said so, for the files after it.
   */
  private async readCompressed(reading: OpenFile): Promise<boolean> {
    const { path, log, stopping } = this.options;
    try {
      for await (const chunk of compressedChunks(reading.handle, reading.name, reading.position, this.buffer.length)) {
        const { start, split, fingerprint, head, headBytes, firstLine } = chunk;
        reading.position = await this.publishChunk(reading.position, start, split.lines, split.consumed, { fingerprint, head, headBytes }, firstLine);
        if (stopping()) return false;
      }
    } catch (error) {
      if (!(error instanceof CompressedCopyError)) throw error;
      if (reading.copy && error.endsBeforeOffset) {
        // copytruncate copied the file before the tailer read past the copy's end (and before the truncation).
        log(`access log ${path}: ${error.message}: every line it holds was read before the truncation`);
      } else {
        log(`access log ${path}: ${error.message}; the lines after byte ${reading.position.offset} are lost`);
      }
    }
    return true;
  }

  /** Closes the file read to its end and remembers what is needed to pick the next one. */
  private async finish(reading: OpenFile): Promise<void> {
    const { mtimeNs } = await reading.handle.stat({ bigint: true });
    await reading.handle.close();
    const { head, headBytes, replaced } = reading.position;
    this.finished = { identity: reading.identity, modifiedNs: mtimeNs, head, headBytes, replaced };
    this.reading = undefined;
    this.rotatedGrewAt = undefined;
  }

  /**
   * Opens what comes after the file finished last: the oldest rotated file newer than it, else the file at the path;
   * false when there is none (yet), or the rotated file went away meanwhile (the next poll looks again).
   */
  private async openNext(): Promise<boolean> {
    const { path, log } = this.options;
    const finished = this.finished;
    if (finished !== undefined) {
      const newer = await rotatedAfter(path, finished);
      for (const [index, rotated] of newer.entries()) {
        if (rotated.compression === "other") {
          log(`access log ${path}: ${rotated.file} is compressed with another program than gzip; its lines are lost`);
          this.finished = { identity: rotated.identity, modifiedNs: rotated.modifiedNs, replaced: finished.replaced };
          continue;
        }
        // A newer rotated file means the server reopened the path since: this one will not grow.
        return this.openRotated(rotated, finished.replaced, index < newer.length - 1);
      }
    }
    return this.openAtStart(path, finished?.replaced);
  }

  private async openRotated(rotated: RotatedFile, replaced: TailPosition["replaced"], complete: boolean): Promise<boolean> {
    const opened = await this.openAtStart(rotated.file, replaced, rotated.compression === "gzip", complete);
    if (opened) this.options.log(`access log ${this.options.path}: reading ${rotated.file} (rotated after the file read before it) from its start`);
    return opened;
  }

  /**
   * Opens `file` (the path's, or a rotated one) to be read from its start and saves that position, with the hash of
   * an uncompressed file's first bytes so that a restart finds it even when it is compressed meanwhile; false when it
   * is gone.
   */
  private async openAtStart(file: string, replaced: TailPosition["replaced"], compressed = false, complete = false): Promise<boolean> {
    const { path, store } = this.options;
    let handle: FileHandle;
    try {
      handle = await open(file, "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
    const identity = identityFromStat(await handle.stat({ bigint: true }));
    // The file a copytruncate chain began with gets a new generation; the files read before it pass the note on.
    const generation = replaced?.file === identity ? replaced.generation : 0;
    const handOn = replaced !== undefined && replaced.file !== identity && file !== path ? { replaced } : {};
    const position: TailPosition = { format: 1, path, file: identity, generation, offset: 0, lineNumber: 0, fingerprint: "", lineage: "", ...handOn };
    // A gzip is found again by its identity: logrotate renames or deletes it, never rewrites it.
    if (!compressed) {
      const start = await headAt(handle);
      if (start.headBytes > 0) Object.assign(position, start);
    }
    await store.save(position);
    this.reading = { handle, position, identity, name: file, compressed, complete: complete || compressed, copy: false };
    this.finished = undefined;
    return true;
  }

  /**
   * The file being read was truncated or replaced under its inode: when a rotated file starts as it did and holds the
   * same bytes before the offset (copytruncate's copy, or the file itself compressed after the new one took its
   * inode), its rest is read from there under the same position, then the rotated files after it, then this file
   * from its start under the next generation. True when that copy is now being read (or holds nothing unread).
   */
  private async switchToCopy(current: OpenFile): Promise<boolean> {
    const { path, log } = this.options;
    const { position } = current;
    const copy = await findCopy(path, position, current.identity);
    if (copy === undefined) return false;
    let handle: FileHandle;
    try {
      handle = await open(copy.file, "r");
    } catch {
      return false;
    }
    const replaced = { file: position.file, generation: position.generation + 1 };
    const { offset } = position;
    if (copy.compression === "none") {
      const size = Number((await handle.stat({ bigint: true })).size);
      if (size >= offset && (await fingerprintAt(handle, offset)) !== position.fingerprint) {
        // The same start but other bytes before the offset: not the file that was read.
        await handle.close();
        return false;
      }
      if (size < offset) {
        // Copied before the tailer read past the copy's end (and before the truncation): nothing in it is unread.
        log(`access log ${path}: truncated or replaced (was at byte ${offset}); ${copy.file}, its copy, holds ${size} bytes, all read`);
        await handle.close();
        await current.handle.close();
        this.reading = undefined;
        this.finished = { identity: copy.identity, modifiedNs: copy.modifiedNs, head: position.head, headBytes: position.headBytes, replaced };
        return true;
      }
    }
    log(`access log ${path}: truncated or replaced (was at byte ${offset}); finishing ${copy.file}, its copy, from that byte`);
    await current.handle.close();
    this.reading = {
      handle,
      position: { ...position, replaced },
      identity: copy.identity,
      name: copy.file,
      compressed: copy.compression === "gzip",
      complete: true,
      copy: true,
    };
    return true;
  }

  /**
   * Publishes one chunk's lines under ids from their place in the file, then saves the position just past them.
   * `firstLine`: the hash of the file's first line, given with the chunk that starts at byte 0; it becomes the
   * position's lineage when that is still to be set ("").
   */
  private async publishChunk(
    position: TailPosition,
    start: number,
    chunkLines: readonly TailLine[],
    consumed: number,
    after: Pick<TailPosition, "fingerprint" | "head" | "headBytes">,
    firstLine: string | undefined,
  ): Promise<TailPosition> {
    const firstLineNumber = position.lineNumber + 1;
    const lines: NumberedLine[] = chunkLines.map((line, index) => ({ text: line.text, lineNumber: firstLineNumber + index }));
    const end = start + consumed;
    const lineage = position.lineage === "" && start === 0 && firstLine !== undefined ? { lineage: firstLine } : {};
    const current = withoutInflight({ ...position, ...lineage });
    const saved = position.inflight;
    const resent = saved !== undefined && saved.end === end && saved.fingerprint === after.fingerprint;
    // A re-sent chunk keeps its received_at, so its dead letters are the same bytes (and the same rows downstream).
    const inflight: InflightChunk = resent ? saved : { end, fingerprint: after.fingerprint, receivedAt: this.options.now() };
    // Written ahead: a crash after the ack re-sends this extent, not a longer one under other ids.
    if (!resent) await this.options.store.save({ ...current, inflight });
    const reading = this.reading;
    // Asked only by a W3C reader that has read no #Fields yet (resumed in the middle of its file, or a file without one).
    const directiveBefore =
      reading === undefined ? undefined : () => (reading.fieldsLookBack ??= new FieldsLookBack(reading.handle, reading.compressed)).before(position.generation, start);
    await this.options.publisher.publish(batchIdPrefix(current, start, end, this.options.instance), lines, inflight.receivedAt, { directiveBefore });
    reading?.fieldsLookBack?.passed(position.generation, start, end, chunkLines);
    crashIfInjectedAfterTailAck();
    const next = { ...current, offset: end, lineNumber: position.lineNumber + lines.length, ...after };
    await this.options.store.save(next);
    return next;
  }

  /** Publishes the complete lines after the position; returns the bytes consumed. */
  private async readAvailable(final: boolean): Promise<number> {
    const current = this.reading!;
    const { position, handle } = current;
    const size = Number((await handle.stat({ bigint: true })).size);
    let rewritten =
      size < position.offset ||
      (await fingerprintAt(handle, position.offset)) !== position.fingerprint ||
      (position.head !== undefined && (await headOf(handle, position.headBytes ?? 0)) !== position.head);
    if (!rewritten && position.inflight !== undefined && !(await holdsExtent(handle, position.inflight, size))) {
      if (current.copy) {
        // copytruncate copied the file before the tailer read the chunk (and before the truncation): every byte the
        // copy holds after the offset was in that chunk, sent already.
        this.options.log(`access log ${this.options.path}: ${current.name}, the copy, holds ${size} bytes, fewer than the ${position.inflight.end} sent; all read`);
        current.position = { ...withoutInflight(position), offset: size, fingerprint: await fingerprintAt(handle, size) };
        return 0;
      }
      // Truncated or replaced below the chunk's end, as for a position beyond the file: its copy, else a new generation.
      rewritten = true;
    }
    if (rewritten) {
      if (await this.switchToCopy(current)) return 0;
      // Truncated and refilled, with no copy of the lines before: the bytes from 0 are new lines of a new generation.
      this.options.log(`access log ${this.options.path}: truncated or replaced (was at byte ${position.offset}); reading from its start`);
      // Its new first line gives the new generation's lineage (also for a position of an earlier version: nothing of
      // this generation was published under that version's ids).
      current.position = { ...withoutInflight(position), generation: position.generation + 1, offset: 0, lineNumber: 0, fingerprint: "", head: undefined, headBytes: undefined, lineage: "" };
      await this.options.store.save(current.position);
    }
    let consumed = 0;
    while (!this.options.stopping()) {
      const start = current.position.offset;
      const { inflight } = current.position;
      // The chunk in flight at a crash is read to its end, not to the file's: the same lines under the same ids. It
      // may be longer than this buffer when chunkBytes was changed since.
      const length = inflight === undefined ? this.buffer.length : inflight.end - start;
      const buffer = length <= this.buffer.length ? this.buffer : Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buffer, 0, length, start);
      // Checked above; the next poll looks at the file again.
      if (inflight !== undefined && bytesRead < length) throw new Error(`${current.name} shrank below byte ${inflight.end} while it was read`);
      if (bytesRead === 0) return consumed;
      const full = bytesRead === this.buffer.length;
      // Its last line was one when it was sent (a final or over-long line), so it is one now.
      const split = splitCompleteLines(buffer, bytesRead, start, inflight === undefined ? { final: final && !full, full } : { final: true, full: false });
      if (split.lines.length === 0) return consumed;
      consumed += split.consumed;
      const end = start + split.consumed;
      const after = {
        fingerprint: await fingerprintAt(handle, end),
        ...(current.position.headBytes === HEAD_BYTES ? {} : { head: await headOf(handle, Math.min(HEAD_BYTES, end)), headBytes: Math.min(HEAD_BYTES, end) }),
      };
      const firstLine = start === 0 ? positionHash(buffer.subarray(0, split.lines[0].end)) : undefined;
      current.position = await this.publishChunk(current.position, start, split.lines, split.consumed, after, firstLine);
    }
    return consumed;
  }
}

async function openFile(file: string, position: TailPosition, kind: Pick<OpenFile, "compressed" | "complete">): Promise<OpenFile> {
  const handle = await open(file, "r");
  const identity = identityFromStat(await handle.stat({ bigint: true }));
  return { handle, position, identity, name: file, ...kind, copy: false };
}

/** TailPosition.head and headBytes of the bytes a file holds now (up to HEAD_BYTES). */
async function headAt(handle: FileHandle): Promise<{ head: string; headBytes: number }> {
  const headBytes = Math.min(HEAD_BYTES, Number((await handle.stat({ bigint: true })).size));
  return { head: await headOf(handle, headBytes), headBytes };
}

/** Hash of the file's first `length` bytes. */
async function headOf(handle: FileHandle, length: number): Promise<string> {
  const bytes = Buffer.alloc(length);
  const { bytesRead } = await handle.read(bytes, 0, length, 0);
  return positionHash(bytes.subarray(0, bytesRead));
}

/** Whether a file of `size` bytes still holds the bytes of the chunk in flight at a crash, as far as their hash tells. */
async function holdsExtent(handle: FileHandle, inflight: InflightChunk, size: number): Promise<boolean> {
  return size >= inflight.end && (await fingerprintAt(handle, inflight.end)) === inflight.fingerprint;
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
