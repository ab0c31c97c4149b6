// What `clickpipe publish` reads from a gzip (logrotate's `compress`, CloudFront's `.gz` files): its decompressed bytes,
// streamed in order, every member of a multi-member file (`cat a.gz b.gz`), and where it is damaged if it is.
import type { FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import type { ByteStream } from "./publish-lines.ts";

/** Decompressed bytes held ahead of the reader, at most, while no read waits: memory stays constant. */
const AHEAD_BYTES = 1024 * 1024;
/**
 * Compressed bytes handed to zlib at a time. zlib reports damage at the end of the write that meets it (bytesWritten:
 * the writes taken before), and drops the output of its last pass before the error (at most its 16 KiB chunk): the
 * bytes from there are inflated again one at a time (recoveredTail), so nothing zlib could decompress is lost and the
 * byte named is the first zlib refused. A truncated gzip loses nothing either: its error comes after all its input.
 */
const INPUT_BYTES = 16 * 1024;

/** A gzip's first two bytes (RFC 1952), whatever the file is called. */
export function isGzip(start: Uint8Array): boolean {
  return start.length >= 2 && start[0] === 0x1f && start[1] === 0x8b;
}

/** A gzip that ends early or holds bytes that are no gzip: what was decompressed before it is all there is. */
export class GzipDamageError extends Error {
  override name = "GzipDamageError";

  constructor(
    /** Compressed bytes zlib had taken without complaint: the byte (from 0) it refused, or the end of a truncated one. */
    readonly offset: number,
    readonly compressedBytes: number,
    readonly decompressedBytes: number,
    zlibMessage: string,
  ) {
    const truncated = offset >= compressedBytes && /unexpected end/.test(zlibMessage);
    const what = truncated ? `ends in the middle of gzip data at byte ${offset}` : `holds damaged gzip data, found by zlib at byte ${offset} of ${compressedBytes}`;
    super(`${what} (zlib: ${zlibMessage}): only the complete lines of the ${decompressedBytes} bytes decompressed before it were published`);
  }
}

/**
 * The decompressed bytes of a gzip (a file or bytes in memory) as a ByteStream whose reads fill the requested length
 * until the end, as a file's do: the pieces cut from it, and so the batch ids, are those of the decompressed file.
 */
export class GzipInput implements ByteStream {
  /** Why the bytes ended early (set before the read that returns 0): a GzipDamageError, or an I/O error's. */
  failure: Error | undefined;
  private readonly gunzip = createGunzip();
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private decompressed = 0;
  private ended = false;
  private wanted = 0;
  private wake: (() => void) | undefined;

  constructor(source: FileHandle | Buffer, compressedBytes: number) {
    // The handle stays open (autoClose false): publish closes it, as for a file it reads itself.
    const input = Buffer.isBuffer(source) ? Readable.from(bufferPieces(source)) : source.createReadStream({ start: 0, autoClose: false, highWaterMark: INPUT_BYTES });
    // 'data' as it comes, not an async iterator: a destroyed stream's buffered output would be lost with the error.
    this.gunzip.on("data", (piece: Buffer) => {
      this.pending.push(piece);
      this.pendingBytes += piece.length;
      this.decompressed += piece.length;
      if (this.pendingBytes >= Math.max(this.wanted, AHEAD_BYTES)) this.gunzip.pause();
      this.notify();
    });
    // Its own 'end' and 'error', not pipeline's callback: that comes once the input is written, before zlib reports
    // a truncated end.
    this.gunzip.once("end", () => this.end(undefined));
    this.gunzip.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code?.startsWith("Z_") !== true) return this.end(this.unreadable(error));
      const offset = this.gunzip.bytesWritten;
      // A truncated gzip's error comes at its end, after all its output.
      if (offset >= compressedBytes) return this.end(new GzipDamageError(offset, compressedBytes, this.decompressed, error.message));
      const delivered = this.decompressed;
      recoveredTail(source, offset, compressedBytes, delivered).then(
        (tail) => {
          this.pending.push(tail.output);
          this.pendingBytes += tail.output.length;
          this.decompressed += tail.output.length;
          this.end(new GzipDamageError(tail.refusedAt, compressedBytes, this.decompressed, error.message));
        },
        () => this.end(new GzipDamageError(offset, compressedBytes, this.decompressed, error.message)),
      );
    });
    input.once("error", (error: Error) => {
      this.end(this.unreadable(error));
      this.gunzip.destroy();
    });
    input.pipe(this.gunzip);
  }

  async read(target: Buffer, offset: number, length: number): Promise<number> {
    this.wanted = length;
    while (this.pendingBytes < length && !this.ended) {
      this.gunzip.resume();
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    this.wanted = 0;
    let copied = 0;
    while (copied < length && this.pending.length > 0) {
      const piece = this.pending[0];
      const taken = piece.copy(target, offset + copied, 0, Math.min(piece.length, length - copied));
      copied += taken;
      if (taken === piece.length) this.pending.shift();
      else this.pending[0] = piece.subarray(taken);
    }
    this.pendingBytes -= copied;
    if (!this.ended && this.pendingBytes < AHEAD_BYTES) this.gunzip.resume();
    return copied;
  }

  /** The file could not be read on (an I/O error): said as a damaged gzip is. */
  private unreadable(error: Error): Error {
    return new Error(`could not be read to its end (${error.message}): only the complete lines of the ${this.decompressed} bytes decompressed before it were published`);
  }

  private end(failure: Error | undefined): void {
    if (this.ended) return;
    this.failure = failure;
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * What zlib dropped with the error it met in the write starting at compressed byte `offset`: the gzip inflated again
 * from its start, the bytes from `offset` one at a time so that the write that fails holds only the byte zlib refuses.
 * `output`: the bytes decompressed after the first `delivered`, at most about one zlib pass (16 KiB) of them;
 * `refusedAt`: the byte zlib refused.
 */
async function recoveredTail(source: FileHandle | Buffer, offset: number, compressedBytes: number, delivered: number): Promise<{ output: Buffer; refusedAt: number }> {
  const gunzip = createGunzip();
  const kept: Buffer[] = [];
  let total = 0;
  gunzip.on("data", (piece: Buffer) => {
    const fresh = piece.subarray(Math.max(0, Math.min(piece.length, delivered - total)));
    total += piece.length;
    if (fresh.length > 0) kept.push(fresh);
  });
  let failed = false;
  const failure = new Promise<void>((resolve) =>
    gunzip.once("error", () => {
      failed = true;
      resolve();
    }),
  );
  const readAt = async (at: number, length: number): Promise<Buffer> => {
    if (Buffer.isBuffer(source)) return source.subarray(at, at + length);
    const bytes = Buffer.alloc(length);
    const { bytesRead } = await source.read(bytes, 0, length, at);
    return bytes.subarray(0, bytesRead);
  };
  const write = (bytes: Buffer) => Promise.race([new Promise<void>((resolve) => gunzip.write(bytes, () => resolve())), failure]);
  for (let at = 0; at < offset && !failed; at += INPUT_BYTES) await write(await readAt(at, Math.min(INPUT_BYTES, offset - at)));
  // zlib met the damage within the write from `offset`: its bytes one at a time.
  const suspect = await readAt(offset, Math.min(INPUT_BYTES, compressedBytes - offset));
  for (let index = 0; index < suspect.length && !failed; index++) await write(suspect.subarray(index, index + 1));
  if (!failed) gunzip.end();
  await Promise.race([failure, new Promise<void>((resolve) => gunzip.once("end", () => resolve()))]);
  gunzip.destroy();
  return { output: Buffer.concat(kept), refusedAt: gunzip.bytesWritten };
}

function* bufferPieces(bytes: Buffer): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += INPUT_BYTES) yield bytes.subarray(at, at + INPUT_BYTES);
}

/** Whether a file (or bytes read from a pipe) is a gzip, by its magic bytes, not its name. */
export async function startsAsGzip(source: FileHandle | Buffer): Promise<boolean> {
  if (Buffer.isBuffer(source)) return isGzip(source);
  const start = Buffer.alloc(2);
  const { bytesRead } = await source.read(start, 0, 2, 0);
  return isGzip(start.subarray(0, bytesRead));
}

/**
 * How many bytes a gzip file of `compressedBytes` holds, at least, from its last four bytes (`trailer`, RFC 1952's
 * ISIZE: the size of the last member's input mod 2^32): publish chooses its parse threads by it, as a plain file's by
 * its size, so that a 5 MB gzip of a 150 MB log is parsed on several threads. It is a lower bound, never a guess
 * above the truth for an intact file: ISIZE counts the last member only (`cat a.gz b.gz` holds more) and wraps at
 * 4 GiB (a 4.1 GiB member says 0.1 GiB), so it can only come out smaller than what the file holds. Hence the max with
 * the compressed size, the other lower bound (deflate grows incompressible data by a few bytes per 64 KiB block
 * only): a wrapped ISIZE, or a small last member after big ones, falls back to choosing by the compressed size, as
 * before. No ratio bound multiplies the compressed size: logs compress 5-30×, but a bound that big would start
 * threads for a gzip of a JPEG, and one that safe (about 1) is what the compressed size gives. A truncated or
 * damaged gzip's last bytes are no ISIZE and may say up to 4 GiB: threads then start for little, which changes no
 * batch, id or order of stored events (they are the same on any number of threads), only start-up time.
 */
export function gzipSizeLowerBound(compressedBytes: number, trailer: Uint8Array): number {
  // A gzip has at least a 10-byte header and an 8-byte trailer.
  if (compressedBytes < 18 || trailer.length !== 4) return compressedBytes;
  const isize = trailer[0] + trailer[1] * 2 ** 8 + trailer[2] * 2 ** 16 + trailer[3] * 2 ** 24;
  return Math.max(compressedBytes, isize);
}

/** gzipSizeLowerBound of a gzip file of `compressedBytes`, reading its last four bytes. */
export async function gzipFileSizeLowerBound(file: FileHandle, compressedBytes: number): Promise<number> {
  if (compressedBytes < 18) return compressedBytes;
  const trailer = Buffer.alloc(4);
  const { bytesRead } = await file.read(trailer, 0, 4, compressedBytes - 4);
  return gzipSizeLowerBound(compressedBytes, trailer.subarray(0, bytesRead));
}

/**
 * What publish reads from a file of `size` bytes (or from bytes read from a pipe): the file itself, or for a gzip its
 * decompressed stream, whose size is unknown (Infinity).
 */
export function publishInput(source: FileHandle | Buffer, size: number, gzip: boolean): { source: FileHandle | Buffer | GzipInput; size: number } {
  return gzip ? { source: new GzipInput(source, size), size: Number.POSITIVE_INFINITY } : { source, size };
}

/** The message of what ended a gzip early, if anything did. */
export function inputFailure(source: FileHandle | Buffer | GzipInput): string | undefined {
  return source instanceof GzipInput ? source.failure?.message : undefined;
}
