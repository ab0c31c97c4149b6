// The last W3C `#Fields:` directive before an offset of a file: what a tailer resuming a W3C log in its middle reads first.
import type { FileHandle } from "node:fs/promises";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";

const DIRECTIVE = Buffer.from("#Fields:");
/** Bytes read at a time, backwards from the offset. */
const BLOCK_BYTES = 64 * 1024;
/** A directive line longer than this is cut here (IIS's longest has about 30 fields). */
const MAX_DIRECTIVE_BYTES = 16 * 1024;

/** The text of the last line before `offset` that starts with `#Fields:`, or undefined when there is none. */
export async function lastFieldsDirective(handle: FileHandle, offset: number, blockBytes = BLOCK_BYTES): Promise<string | undefined> {
  const block = Buffer.allocUnsafe(blockBytes + DIRECTIVE.length);
  // Each block overlaps the next one back by the directive's length, so one cut by a block boundary is still found.
  for (let end = offset; end > 0; ) {
    const start = Math.max(0, end - blockBytes);
    const length = Math.min(end + DIRECTIVE.length, offset) - start;
    const { bytesRead } = await handle.read(block, 0, length, start);
    const view = block.subarray(0, bytesRead);
    for (let at = view.lastIndexOf(DIRECTIVE); at >= 0; at = at > 0 ? view.lastIndexOf(DIRECTIVE, at - 1) : -1) {
      const position = start + at;
      const atLineStart = position === 0 || (at > 0 ? view[at - 1] === 0x0a : await newlineAt(handle, position - 1));
      if (atLineStart) return lineAt(handle, position, offset);
    }
    end = start;
  }
  return undefined;
}

async function newlineAt(handle: FileHandle, position: number): Promise<boolean> {
  const one = Buffer.alloc(1);
  await handle.read(one, 0, 1, position);
  return one[0] === 0x0a;
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
          const head = lineBytes >= DIRECTIVE.length || newline >= 0 ? Buffer.concat(line) : undefined;
          if (head !== undefined && !head.subarray(0, DIRECTIVE.length).equals(DIRECTIVE)) other = true;
          else if (head !== undefined) line = [head];
        }
        if (newline < 0) break;
        if (!other && lineBytes >= DIRECTIVE.length) {
          const text = Buffer.concat(line).toString("utf8");
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
