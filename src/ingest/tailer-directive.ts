// The last W3C `#Fields:` directive before an offset of a file: what a tailer resuming a W3C log in its middle reads first.
import type { FileHandle } from "node:fs/promises";

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
