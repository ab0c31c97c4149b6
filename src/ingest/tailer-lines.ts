// Splitting bytes read from a growing log file into complete lines, with the file offset just past each one.
import { isUtf8 } from "node:buffer";

export interface TailLine {
  /** The line without its "\n" (and without a "\r" before it). */
  text: string;
  /** File offset of the line's first byte. */
  start: number;
  /** File offset just past the line's newline (or past its last byte for a final or over-long line). */
  end: number;
}

export interface SplitLines {
  lines: TailLine[];
  /** Bytes of the input that the lines cover; the rest is an incomplete line to read again later. */
  consumed: number;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Complete lines of `bytes[0, length)`, read at file offset `base`. Bytes after the last newline are left for the
 * next read (a writer may be halfway through the line), except when `final` (a rotated file will not grow) or when
 * the buffer holds no newline at all while full (`full`): a line longer than the read buffer becomes one line of its
 * own, so a file without newlines cannot stall the tailer or grow memory without bound.
 */
export function splitCompleteLines(bytes: Buffer, length: number, base: number, options: { final: boolean; full: boolean }): SplitLines {
  const lines: TailLine[] = [];
  let lineStart = 0;
  for (let newline = bytes.indexOf(NEWLINE, 0); newline !== -1 && newline < length; newline = bytes.indexOf(NEWLINE, lineStart)) {
    lines.push(lineOf(bytes, lineStart, newline, base, newline + 1));
    lineStart = newline + 1;
  }
  const rest = length - lineStart;
  if (rest > 0 && (options.final || (options.full && lineStart === 0))) {
    lines.push(lineOf(bytes, lineStart, length, base, length));
    lineStart = length;
  }
  return { lines, consumed: lineStart };
}

function lineOf(bytes: Buffer, from: number, to: number, base: number, next: number): TailLine {
  const textEnd = to > from && bytes[to - 1] === CARRIAGE_RETURN && next === to + 1 ? to - 1 : to;
  const text = bytes.toString("utf8", from, textEnd);
  // A line that is not UTF-8 is read as Latin-1, byte for byte, as `clickpipe publish` reads it (publish-lines.ts).
  const line = text.includes("\uFFFD") && !isUtf8(bytes.subarray(from, textEnd)) ? bytes.toString("latin1", from, textEnd) : text;
  return { text: line, start: base + from, end: base + next };
}
