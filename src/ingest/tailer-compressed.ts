// The rest of a rotated log read from its gzip: logrotate's `compress` (no delaycompress) replaced the file mid-read.
import { createReadStream } from "node:fs";
import { readdir, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { type SplitLines, splitCompleteLines } from "./tailer-lines.ts";
import { FINGERPRINT_BYTES, HEAD_BYTES, positionHash, type TailPosition } from "./tailer-position.ts";

/** The gzip cannot give the lines after the position (not the file it names, or corrupt): they are lost, and said so. */
export class CompressedCopyError extends Error {
  override name = "CompressedCopyError";

  constructor(
    message: string,
    /** It holds fewer bytes than the position's offset: nothing in it is unread (a copy taken before the tailer read on). */
    readonly endsBeforeOffset = false,
  ) {
    super(message);
  }
}

/** One chunk of the decompressed file and what the position becomes once it is acknowledged. */
export interface CompressedChunk {
  /** Decompressed offset of the chunk's first byte. */
  start: number;
  split: SplitLines;
  /** TailPosition.fingerprint at start + split.consumed. */
  fingerprint: string;
  head: string;
  headBytes: number;
  /** For the chunk at byte 0: the hash of the file's first line (TailPosition.lineage). */
  firstLine?: string;
}

/**
 * A gzip beside `path` (a name that begins with its file name and ends in ".gz": access.log.1.gz, access.log-20261205.gz)
 * whose decompressed first `headBytes` bytes hash to `head`: the file a position was saved for, compressed by rotation.
 * Its inode is new, so only its content can tell; the most recently modified candidates are tried first.
 */
export async function findCompressedCopy(path: string, head: string, headBytes: number): Promise<string | undefined> {
  const directory = dirname(path);
  const prefix = basename(path);
  const candidates: { file: string; modified: number }[] = [];
  for (const name of await readdir(directory)) {
    if (!name.startsWith(prefix) || !name.endsWith(".gz")) continue;
    const file = join(directory, name);
    const modified = await stat(file).then((stats) => (stats.isFile() ? stats.mtimeMs : undefined), () => undefined);
    if (modified !== undefined) candidates.push({ file, modified });
  }
  candidates.sort((a, b) => b.modified - a.modified);
  for (const { file } of candidates) {
    const start = await decompressedStart(file, headBytes);
    if (start !== undefined && start.length === headBytes && positionHash(start) === head) return file;
  }
  return undefined;
}

/** The first `length` decompressed bytes of a gzip (fewer when it holds fewer); undefined when it is no gzip. */
export async function decompressedStart(file: string, length: number): Promise<Buffer | undefined> {
  const pieces: Buffer[] = [];
  let collected = 0;
  const gunzip = pipeline(createReadStream(file), createGunzip(), () => undefined);
  try {
    for await (const piece of gunzip as AsyncIterable<Buffer>) {
      pieces.push(piece);
      collected += piece.length;
      // Leaving the loop destroys the streams: only the first blocks are ever inflated.
      if (collected >= length) break;
    }
  } catch {
    return undefined;
  }
  return Buffer.concat(pieces).subarray(0, length);
}

/**
 * The complete lines of the decompressed gzip after `position` (whose offset and fingerprint are checked first), in
 * the chunks TailedPath's reads of the uncompressed file would give (`chunkBytes` at a time from the offset, the last
 * line complete without its newline, as a rotated file's): the same lines, line numbers and, for a re-sent chunk, the
 * same batch ids. A gzip cannot be read from an offset, so the bytes before it are inflated and dropped. The chunk in
 * flight at a crash (TailPosition.inflight) is given whole first, as TailedPath re-reads it from an uncompressed file.
 */
export async function* compressedChunks(handle: FileHandle, name: string, position: TailPosition, chunkBytes: number): AsyncGenerator<CompressedChunk> {
  const offset = position.offset;
  if (offset === 0 && position.fingerprint !== "") throw new CompressedCopyError(`${name} does not hold the lines before byte 0 the position saw`);
  /** End of the chunk in flight at a crash, until it is given: the first chunk ends there (though chunkBytes changed). */
  let inflightEnd = position.inflight?.end;
  const buffer = Buffer.allocUnsafe(Math.max(chunkBytes, (inflightEnd ?? 0) - offset));
  let filled = 0;
  let start = offset;
  let inflated = 0;
  let head: Buffer = Buffer.alloc(0);
  /** The (up to) FINGERPRINT_BYTES bytes before `start`. */
  let before: Buffer = Buffer.alloc(0);
  /** Bytes the chunk being gathered holds when whole. */
  const limit = () => (inflightEnd === undefined ? chunkBytes : inflightEnd - start);
  const chunkOf = (final: boolean): CompressedChunk => {
    // The chunk in flight: its last line was one when it was sent (a final or over-long line), so it is one now.
    const resent = inflightEnd !== undefined && filled === inflightEnd - start;
    if (resent) inflightEnd = undefined;
    const split = splitCompleteLines(buffer, filled, start, resent ? { final: true, full: false } : { final: final && filled < chunkBytes, full: filled === chunkBytes });
    before = lastBytes(Buffer.concat([before, buffer.subarray(Math.max(0, split.consumed - FINGERPRINT_BYTES), split.consumed)]), FINGERPRINT_BYTES);
    const end = start + split.consumed;
    const headBytes = Math.min(HEAD_BYTES, end);
    const firstLine = start === 0 && split.lines.length > 0 ? { firstLine: positionHash(buffer.subarray(0, split.lines[0].end)) } : {};
    const chunk = { start, split, fingerprint: end === 0 ? "" : positionHash(before), head: positionHash(head.subarray(0, headBytes)), headBytes, ...firstLine };
    buffer.copy(buffer, 0, split.consumed, filled);
    filled -= split.consumed;
    start = end;
    return chunk;
  };
  // The handle stays open (autoClose false): a later poll reads the gzip again though logrotate removed it meanwhile.
  const gunzip = pipeline(handle.createReadStream({ start: 0, autoClose: false }), createGunzip(), () => undefined);
  try {
    for await (const piece of gunzip as AsyncIterable<Buffer>) {
      if (head.length < HEAD_BYTES) head = Buffer.concat([head, piece.subarray(0, HEAD_BYTES - head.length)]);
      let at = 0;
      if (inflated < offset) {
        at = Math.min(piece.length, offset - inflated);
        before = lastBytes(Buffer.concat([before, piece.subarray(Math.max(0, at - FINGERPRINT_BYTES), at)]), FINGERPRINT_BYTES);
        inflated += at;
        if (inflated < offset) continue;
        if (positionHash(before) !== position.fingerprint) throw new CompressedCopyError(`${name} holds other bytes before byte ${offset} than the file read`);
      }
      inflated += piece.length - at;
      while (at < piece.length) {
        const whole = limit();
        const taken = Math.min(piece.length - at, whole - filled);
        piece.copy(buffer, filled, at, at + taken);
        filled += taken;
        at += taken;
        // A full buffer always yields a line (an over-long one is cut), so it never stays full.
        if (filled === whole) yield chunkOf(false);
      }
    }
  } catch (error) {
    if (error instanceof CompressedCopyError || (error as NodeJS.ErrnoException).code?.startsWith("Z_") !== true) throw error;
    // A damaged gzip: the complete lines inflated before the damage still go out.
    if (inflated > offset && filled > 0) {
      const chunk = chunkOf(false);
      if (chunk.split.lines.length > 0) yield chunk;
    }
    throw new CompressedCopyError(`${name} cannot be decompressed past byte ${inflated} (${(error as Error).message})`);
  }
  if (inflated < offset) throw new CompressedCopyError(`${name} holds ${inflated} bytes, fewer than the ${offset} already read`, true);
  // Copied before the tailer read the chunk in flight (and before the truncation): all it holds after offset was sent.
  if (inflightEnd !== undefined) throw new CompressedCopyError(`${name} holds ${inflated} bytes, fewer than the ${inflightEnd} sent before a crash`, true);
  // The rotated file is complete: its unterminated last line is a line.
  while (filled > 0) yield chunkOf(true);
}

function lastBytes(bytes: Buffer, count: number): Buffer {
  return bytes.length <= count ? bytes : bytes.subarray(bytes.length - count);
}
