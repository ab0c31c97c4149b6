// The last W3C `#Fields:` directive before an offset of a file: what a tailer resuming a W3C log in its middle reads first.
import type { FileHandle } from "node:fs/promises";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { fieldsDirectiveAt, isFieldsDirective } from "./access-log-w3c.ts";

/** "#Fields:"'s length; its case does not matter (isFieldsDirective). */
const DIRECTIVE_BYTES = 8;
const BYTE_ORDER_MARK = Buffer.from([0xef, 0xbb, 0xbf]);
/** Bytes read at a time, backwards from the offset. */
const BLOCK_BYTES = 64 * 1024;
/** A directive line longer than this is cut here (IIS's longest has about 30 fields). */
const MAX_DIRECTIVE_BYTES = 16 * 1024;

/**
 * The text of the last line before `offset` that is a `#Fields:` directive (isFieldsDirective: any case, after a byte
 * order mark or not), or undefined when there is none. Only lines starting at or after `from` (a line's
 * start) are looked at: a caller that looked before `from` already scans each byte once.
 */
export async function lastFieldsDirective(handle: FileHandle, offset: number, blockBytes = BLOCK_BYTES, from = 0): Promise<string | undefined> {
  const block = Buffer.allocUnsafe(blockBytes + DIRECTIVE_BYTES);
  // Each block overlaps the next one back by the directive's length, so one cut by a block boundary is still found.
  for (let end = offset; end > from; ) {
    const start = Math.max(from, end - blockBytes);
    const length = Math.min(end + DIRECTIVE_BYTES, offset) - start;
    const { bytesRead } = await handle.read(block, 0, length, start);
    const view = block.subarray(0, bytesRead);
    for (let at = view.lastIndexOf(0x23 /* # */); at >= 0; at = at > 0 ? view.lastIndexOf(0x23, at - 1) : -1) {
      if (!fieldsDirectiveAt(view, at)) continue;
      const position = start + at;
      if (await startsLine(handle, position)) return lineAt(handle, position, offset);
    }
    end = start;
  }
  return undefined;
}

/**
 * Whether the line at `position` starts there, or after a byte order mark that starts it: the reader drops a mark at
 * any line's start (`cat` of logs saved with one puts one mid-file).
 */
async function startsLine(handle: FileHandle, position: number): Promise<boolean> {
  const before = await bytesAt(handle, Math.max(0, position - 4), Math.min(4, position));
  if (before.length === 0 || before[before.length - 1] === 0x0a) return true;
  if (before.length < 3 || !before.subarray(before.length - 3).equals(BYTE_ORDER_MARK)) return false;
  return before.length === 3 || before[0] === 0x0a;
}

async function bytesAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const bytes = Buffer.alloc(length);
  const { bytesRead } = await handle.read(bytes, 0, length, position);
  return bytes.subarray(0, bytesRead);
}

async function lineAt(handle: FileHandle, position: number, limit: number): Promise<string> {
  const bytes = Buffer.allocUnsafe(Math.min(MAX_DIRECTIVE_BYTES, limit - position));
  const { bytesRead } = await handle.read(bytes, 0, bytes.length, position);
  const newline = bytes.subarray(0, bytesRead).indexOf(0x0a);
  const line = bytes.subarray(0, newline < 0 ? bytesRead : newline).toString("utf8");
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/**
 * lastFieldsDirective of the file a gzip holds, `offset` counted in its decompressed bytes: a tailer that resumes in
 * a log that rotation compressed meanwhile. A gzip cannot be read backwards, so it is inflated once more (once per
 * resume: the reader then has its directive); a damaged gzip gives the directives before the damage.
 */
export async function lastFieldsDirectiveInGzip(handle: FileHandle, offset: number): Promise<string | undefined> {
  // Read to its end: a read stream of a FileHandle destroyed early (a break out of the loop) closes the handle, which
  // the tailer goes on reading.
  const gunzip = pipeline(handle.createReadStream({ start: 0, autoClose: false }), createGunzip(), () => undefined);
  let found: string | undefined;
  /** The current line's bytes while it may be a directive (no longer than MAX_DIRECTIVE_BYTES). */
  let line: Buffer[] = [];
  let lineBytes = 0;
  /** The current line is known to be no directive: its bytes are not kept. */
  let other = false;
  let inflated = 0;
  try {
    for await (const piece of gunzip as AsyncIterable<Buffer>) {
      const part = piece.subarray(0, Math.max(0, offset - inflated));
      inflated += part.length;
      for (let from = 0; from <= part.length; ) {
        const newline = part.indexOf(0x0a, from);
        const end = newline < 0 ? part.length : newline;
        if (!other && lineBytes < MAX_DIRECTIVE_BYTES) {
          const bytes = part.subarray(from, Math.min(end, from + MAX_DIRECTIVE_BYTES - lineBytes));
          line.push(bytes);
          lineBytes += bytes.length;
          // A byte order mark may start the line (the reader drops it at any line's start).
          const head = lineBytes >= DIRECTIVE_BYTES + BYTE_ORDER_MARK.length || newline >= 0 ? Buffer.concat(line) : undefined;
          const mark = head !== undefined && head.subarray(0, BYTE_ORDER_MARK.length).equals(BYTE_ORDER_MARK) ? BYTE_ORDER_MARK.length : 0;
          if (head !== undefined && !fieldsDirectiveAt(head, mark)) other = true;
          else if (head !== undefined) line = [head];
        }
        if (newline < 0) break;
        if (!other && lineBytes >= DIRECTIVE_BYTES) {
          const text = Buffer.concat(line).toString("utf8").replace(/^\uFEFF/, "");
          found = text.endsWith("\r") ? text.slice(0, -1) : text;
        }
        line = [];
        lineBytes = 0;
        other = false;
        from = newline + 1;
      }
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code?.startsWith("Z_") !== true) throw error;
  }
  return found;
}

/**
 * The last `#Fields:` line before each chunk of one open file, for a W3C reader that has none: a log without any was
 * searched back to its start again for every chunk (quadratic in its size). What was searched is kept (per generation
 * of the file) and carried on by each published chunk's lines, so each byte is looked at once; a gzip, which cannot be
 * read backwards, is inflated once for it.
 */
export class FieldsLookBack {
  /** The last directive before `end` in the file's `generation`. */
  private scan: { generation: number; end: number; directive: string | undefined } | undefined;

  constructor(
    private readonly handle: FileHandle,
    private readonly compressed: boolean,
    private readonly blockBytes = BLOCK_BYTES,
  ) {}

  /** The last `#Fields:` line before byte `start` (a line's start) of the file's `generation`. */
  async before(generation: number, start: number): Promise<string | undefined> {
    const scan = this.scan?.generation === generation && this.scan.end <= start ? this.scan : undefined;
    if (scan?.end === start) return scan.directive;
    let directive: string | undefined;
    if (this.compressed) directive = await lastFieldsDirectiveInGzip(this.handle, start);
    else directive = (await lastFieldsDirective(this.handle, start, this.blockBytes, scan?.end ?? 0)) ?? scan?.directive;
    this.scan = { generation, end: start, directive };
    return directive;
  }

  /** The chunk [start, end) of `lines` was read: the scan goes on past it when it had reached `start`. */
  passed(generation: number, start: number, end: number, lines: readonly { text: string }[]): void {
    const scan = this.scan;
    if (scan === undefined || scan.generation !== generation || scan.end !== start) return;
    const directive = lines.findLast((line) => isFieldsDirective(line.text))?.text;
    this.scan = { generation, end, directive: directive ?? scan.directive };
  }
}
