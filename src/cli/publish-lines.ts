// The line side of `clickpipe publish`: a file read in chunks of lines, each line parsed and handed to a RecordPublisher.
// Free of NATS imports, so the publish worker thread starts fast.
import { isAscii } from "node:buffer";
import { createHash, type Hash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { compileAccessLineReader } from "../ingest/access-log.ts";
import { compileCsvMapping } from "../ingest/csv.ts";
import type { IngestCounts, RecordPublisher } from "../ingest/record-publisher.ts";

export interface PublishLinesOptions {
  format: string;
  map?: string;
  delimiter?: string;
  sortByTime?: boolean;
  receivedAt?: number;
}

interface PreparedLine {
  line: string;
  lineNumber: number;
  ts: number;
}

/** Publishes every line of a file as one record, in file order or sorted by event time (stable). */
export async function publishLines(publisher: RecordPublisher, lines: string[], options: PublishLinesOptions): Promise<IngestCounts> {
  if (options.sortByTime !== true) return publishLineChunks(publisher, [lines], options);
  const handle = lineHandler(publisher, options, options.receivedAt ?? Date.now());
  const ordered: PreparedLine[] = lines.map((line, index) => ({ line, lineNumber: index + 1, ts: handle.timeOf(line, index + 1) }));
  // Records without a readable time keep their place at the front: they are rejected anyway.
  ordered.sort((a, b) => a.ts - b.ts || a.lineNumber - b.lineNumber);
  for (const item of ordered) {
    const wait = handle.publish(item.line, item.lineNumber);
    if (wait !== undefined) await wait;
  }
  return publisher.flush();
}

/** Publishes the lines of consecutive chunks of one file in file order; line numbers run on across chunks. */
export async function publishLineChunks(
  publisher: RecordPublisher,
  chunks: Iterable<string[]> | AsyncIterable<string[]>,
  options: PublishLinesOptions,
  afterChunk?: () => Promise<void> | void,
): Promise<IngestCounts> {
  const handle = lineHandler(publisher, options, options.receivedAt ?? Date.now());
  let lineNumber = 0;
  for await (const lines of chunks) {
    for (let index = 0; index < lines.length; index++) {
      // Awaiting only when asked (backpressure): an await per line costs about as much as parsing it.
      const wait = handle.publish(lines[index], ++lineNumber);
      if (wait !== undefined) await wait;
    }
    if (afterChunk !== undefined) await afterChunk();
  }
  return publisher.flush();
}

interface LineHandler {
  publish(line: string, lineNumber: number): Promise<void> | void;
  timeOf(line: string, lineNumber: number): number;
}

function lineHandler(publisher: RecordPublisher, options: PublishLinesOptions, receivedAt: number): LineHandler {
  const format = options.format;
  if (format === "ndjson" || format === "json") {
    return {
      publish: (line) => publisher.publishJsonLine(line, receivedAt),
      timeOf: (line) => jsonTime(line),
    };
  }
  if (format === "csv") {
    const mapping = compileCsvMapping(options.map ?? "", { delimiter: options.delimiter });
    return {
      publish: async (line, lineNumber) => {
        const mapped = mapping.map(line, lineNumber);
        if (mapped === undefined) return; // header line
        if (!mapped.ok) return publisher.rejectLine(line, `unparseable_line: ${mapped.reason}`, receivedAt);
        return publisher.publishJsonValue(mapped.record, line, receivedAt);
      },
      timeOf: (line, lineNumber) => {
        const mapped = mapping.map(line, lineNumber);
        return mapped !== undefined && mapped.ok ? timeValue(mapped.record.ts) : Number.NEGATIVE_INFINITY;
      },
    };
  }
  const read = compileAccessLineReader(format);
  return {
    publish: (line, lineNumber) => {
      const accessLine = read(line);
      if (!accessLine.ok) return publisher.rejectLine(line, `unparseable_line: ${accessLine.reason}`, receivedAt);
      return publisher.publishAccessLine(accessLine, line, lineNumber, receivedAt);
    },
    timeOf: (line) => {
      const accessLine = read(line);
      return accessLine.ok ? accessLine.ts : Number.NEGATIVE_INFINITY;
    },
  };
}

function jsonTime(line: string): number {
  try {
    const value = JSON.parse(line) as { ts?: unknown };
    return timeValue(value?.ts);
  } catch {
    return Number.NEGATIVE_INFINITY;
  }
}

function timeValue(ts: unknown): number {
  if (typeof ts === "number" && Number.isFinite(ts)) return ts;
  if (typeof ts === "string") {
    const parsed = Date.parse(ts);
    if (Number.isFinite(parsed)) return parsed;
  }
  return Number.NEGATIVE_INFINITY;
}

/** Lines of a text file: LF or CRLF; a final newline does not make an empty record, other empty lines do. */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Bytes read per file read; a longer line grows the buffer. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** SHA-256 of the file's first `size` bytes. */
export async function digestOf(file: FileHandle, size: number): Promise<Buffer> {
  const digest = createHash("sha256");
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let position = 0; position < size; ) {
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, size - position), position);
    if (bytesRead === 0) break;
    digest.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return digest.digest();
}

/**
 * The lines (as splitLines cuts them) of the file's first `size` bytes, in chunks of about CHUNK_BYTES, each cut after
 * a newline byte, which never occurs inside a UTF-8 sequence, so every chunk decodes on its own. `digest` sees every
 * byte read.
 */
export async function* lineChunks(file: FileHandle, size: number, digest: Hash, chunkBytes = CHUNK_BYTES): AsyncGenerator<string[]> {
  let buffer = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(size, 1)));
  /** Bytes of an unfinished line carried over at the start of `buffer`. */
  let carried = 0;
  for (let position = 0; position < size; ) {
    if (carried === buffer.length) buffer = Buffer.concat([buffer, Buffer.allocUnsafe(buffer.length)]);
    const { bytesRead } = await file.read(buffer, carried, Math.min(buffer.length - carried, size - position), position);
    if (bytesRead === 0) break;
    digest.update(buffer.subarray(carried, carried + bytesRead));
    position += bytesRead;
    const end = carried + bytesRead;
    const lastNewline = buffer.lastIndexOf(0x0a, end - 1);
    if (lastNewline < 0) {
      carried = end;
      continue;
    }
    yield linesOf(buffer.subarray(0, lastNewline + 1));
    buffer.copyWithin(0, lastNewline + 1, end);
    carried = end - lastNewline - 1;
  }
  if (carried > 0) yield linesOf(buffer.subarray(0, carried));
}

/** The lines of a piece of a file that ends after a newline (or at the end of the file): splitLines without a RegExp. */
export function linesOf(bytes: Buffer): string[] {
  // ASCII is Latin-1, and decoding Latin-1 is several times faster than UTF-8.
  const text = isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8");
  const lines = text.split("\n");
  // Only a line ended by "\n" can end in a CR of a CRLF; a last line without a newline keeps its CR, as in splitLines.
  const terminated = lines.length - 1;
  if (lines[lines.length - 1] === "") lines.pop();
  for (let index = 0; index < terminated; index++) {
    const line = lines[index];
    if (line.charCodeAt(line.length - 1) === 13) lines[index] = line.slice(0, -1);
  }
  return lines;
}

export async function allLines(chunks: AsyncIterable<string[]>): Promise<string[]> {
  const lines: string[] = [];
  for await (const chunk of chunks) for (const line of chunk) lines.push(line);
  return lines;
}
