// The line side of `clickpipe publish`: a file read in chunks of lines, each line parsed and handed to a RecordPublisher.
// Free of NATS imports, so the publish worker thread starts fast.
import { isAscii, isUtf8 } from "node:buffer";
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { closestMatch } from "../config/did-you-mean.ts";
import { parseEventTime } from "../events/time.ts";
import { compileAccessLineReader, LogFormatError } from "../ingest/access-log.ts";
import { fieldsDirectiveAt, isFieldsDirective } from "../ingest/access-log-w3c.ts";
import { compileCsvMapping, CsvMappingError, endsInsideQuotes, type CsvMapping, type CsvMapResult } from "../ingest/csv.ts";
import { OrderLineGrouper, type CsvOutput } from "../ingest/csv-orders.ts";
import { UnknownTimeZoneError } from "../ingest/local-time-zone.ts";
import type { IngestCounts, RecordPublisher } from "../ingest/record-publisher.ts";

export interface PublishLinesOptions {
  format: string;
  map?: string;
  delimiter?: string;
  /** CSV: a field holding exactly this text is NULL (`--null NA`). */
  nullText?: string;
  /**
   * CSV: the IANA zone of local date-times (`--timezone`); absent: UTC for strptime, and `:iso` needs an offset.
   * Caddy: the zone of its zoneless `wall` times (written with `time_local`); absent: UTC, as Caddy writes them.
   */
  timeZone?: string;
  sortByTime?: boolean;
  receivedAt?: number;
}

/** A piece of a file: its lines, and the prefix of the batch ids from this piece on (undefined: keep the prefix). */
export interface LineChunk {
  lines: string[];
  msgIdPrefix?: string;
}

interface PreparedLine {
  line: string;
  lineNumber: number;
  ts: number;
  /** A W3C log's last #Fields directive at this line. */
  directive?: string;
}

/**
 * Publishes every line of a file as one record (an order-line CSV: every order as one), in file order or sorted by
 * event time (stable).
 */
export async function publishLines(publisher: RecordPublisher, lines: string[], options: PublishLinesOptions): Promise<IngestCounts> {
  if (options.sortByTime !== true) return publishLineChunks(publisher, [{ lines }], options);
  const receivedAt = options.receivedAt ?? Date.now();
  if (options.format === "csv") return publishCsvSorted(publisher, lines, options, receivedAt);
  const handle = compileRecordHandler(publisher, options, receivedAt);
  // A W3C line is read under the last #Fields directive before it in the file: each line takes its directive along.
  let directive: string | undefined;
  const directiveOf = options.format === "w3c" ? (line: string) => (isFieldsDirective(line) ? (directive = line) : directive) : () => undefined;
  const ordered: PreparedLine[] = lines.map((line, index) => ({ line, lineNumber: index + 1, ts: handle.timeOf(line, index + 1), directive: directiveOf(line) }));
  // Records without a readable time keep their place at the front: they are rejected anyway.
  ordered.sort((a, b) => a.ts - b.ts || a.lineNumber - b.lineNumber);
  let fedDirective: string | undefined;
  for (const item of ordered) {
    if (item.directive !== fedDirective && item.directive !== undefined) {
      handle.readDirective?.(item.directive);
      fedDirective = item.directive;
    }
    const wait = handle.publishRecord(item.line, item.lineNumber);
    if (wait !== undefined) await wait;
  }
  return publisher.flush();
}

/**
 * A CSV file by event time, rejected records first (a record may span lines: each is sorted under its first line). An
 * order-line file's rows are combined into orders in file order, and the orders sorted; other files' records are
 * timed by a mapping of their own and mapped again once sorted, so that only the file's lines are held, not its records.
 */
async function publishCsvSorted(publisher: RecordPublisher, lines: string[], options: PublishLinesOptions, receivedAt: number): Promise<IngestCounts> {
  const compile = () => csvMappingOf(options);
  const mapping = compile();
  const records = csvRecords(lines, options.delimiter);
  if (mapping.orderLines === undefined) {
    const timing = compile();
    const ordered: PreparedLine[] = records.map(({ line, lineNumber }) => {
      const mapped = timing.mapRecord(line, lineNumber);
      return { line, lineNumber, ts: mapped !== undefined && mapped.ok ? timeValue(mapped.record.ts) : Number.NEGATIVE_INFINITY };
    });
    ordered.sort((a, b) => a.ts - b.ts || a.lineNumber - b.lineNumber);
    for (const { line, lineNumber } of ordered) {
      const mapped = mapping.mapRecord(line, lineNumber);
      const wait = mapped === undefined ? undefined : sendCsvOutput(publisher, csvOutput(mapped, line, lineNumber), receivedAt);
      if (wait !== undefined) await wait;
    }
    return publisher.flush();
  }
  const grouper = new OrderLineGrouper(mapping.orderLines);
  const outputs: CsvOutput[] = [];
  for (const { line, lineNumber } of records) outputs.push(...grouper.add(mapping.mapRecord(line, lineNumber), line, lineNumber));
  outputs.push(...grouper.end());
  const timed = outputs.map((output) => ({ output, ts: output.ok ? timeValue(output.record.ts) : Number.NEGATIVE_INFINITY }));
  timed.sort((a, b) => a.ts - b.ts || a.output.lineNumber - b.output.lineNumber);
  for (const { output } of timed) {
    const wait = sendCsvOutput(publisher, output, receivedAt);
    if (wait !== undefined) await wait;
  }
  return { ...(await publisher.flush()), orderLines: { ...grouper.counts } };
}

/** A mapped CSV record as an output, its dead letter's reason naming the (first) physical line it starts on. */
function csvOutput(mapped: CsvMapResult, line: string, lineNumber: number): CsvOutput {
  const raw = mapped.raw ?? line;
  const first = mapped.lineNumber ?? lineNumber;
  const where = `line ${first}`;
  if (!mapped.ok) return { ok: false, reason: `unparseable_line: ${where}: ${mapped.reason}`, raw, lineNumber: first };
  return { ok: true, record: mapped.record, raw, lineNumber: first, where };
}

function sendCsvOutput(publisher: RecordPublisher, output: CsvOutput, receivedAt: number): Promise<void> | void {
  if (!output.ok) return publisher.rejectLine(output.raw, output.reason, receivedAt, output.lineNumber);
  return publisher.publishJsonValue(output.record, output.raw, receivedAt, undefined, output.where, output.lineNumber);
}

/**
 * Publishes the lines of consecutive chunks of one file in file order; line numbers run on across chunks, from
 * `firstLineNumber` (default 1).
 */
export async function publishLineChunks(
  publisher: RecordPublisher,
  chunks: Iterable<LineChunk> | AsyncIterable<LineChunk>,
  options: PublishLinesOptions,
  afterChunk?: () => Promise<void> | void,
  firstLineNumber = 1,
): Promise<IngestCounts> {
  const handle = compileLineHandler(publisher, options, options.receivedAt ?? Date.now());
  let lineNumber = firstLineNumber - 1;
  for await (const { lines, msgIdPrefix } of chunks) {
    if (msgIdPrefix !== undefined) publisher.useMsgIdPrefix(msgIdPrefix);
    for (let index = 0; index < lines.length; index++) {
      // Awaiting only when asked (backpressure): an await per line costs about as much as parsing it.
      const wait = handle.publish(lines[index], ++lineNumber);
      if (wait !== undefined) await wait;
    }
    if (afterChunk !== undefined) await afterChunk();
  }
  const wait = handle.end();
  if (wait !== undefined) await wait;
  const counts = await publisher.flush();
  const orderLines = handle.orderLineCounts?.();
  return orderLines === undefined ? counts : { ...counts, orderLines };
}

export interface LineHandler {
  /** One physical line of the file, in file order (a CSV record may go on over the next lines). */
  publish(line: string, lineNumber: number): Promise<void> | void;
  /** At the end of the file: rejects a CSV record whose quoted field is still open, publishes an order-line file's last order. */
  end(): Promise<void> | void;
  /** An order-line CSV's rows and orders so far. */
  orderLineCounts?(): { rows: number; orders: number };
  /**
   * A W3C log's last `#Fields:` line before a piece of the file that is read apart from the lines before it: it sets
   * the columns, and publishes and counts nothing (it was read, or rejected, where it stands).
   */
  readDirective?(line: string): void;
}

/** How one whole record of a line format (NDJSON, an access log: one line each) is published in any order, and its time. */
export interface RecordHandler {
  publishRecord(record: string, lineNumber: number): Promise<void> | void;
  timeOf(record: string, lineNumber: number): number;
  readDirective?(line: string): void;
}

/** A UTF-8 byte order mark at the start of a file is no part of its first record. */
function withoutByteOrderMark(line: string, lineNumber: number): string {
  return lineNumber === 1 && line.charCodeAt(0) === 0xfeff ? line.slice(1) : line;
}

/** A file's CSV records: its lines, those of a quoted field with newlines joined by "\n", each with its first line. */
export function csvRecords(lines: string[], delimiter: string | undefined): Array<{ line: string; lineNumber: number }> {
  const records: Array<{ line: string; lineNumber: number }> = [];
  const quoting = delimiter !== "whitespace";
  const character = delimiter === undefined || delimiter === "comma" ? "," : delimiter === "tab" || delimiter === "\\t" ? "\t" : delimiter;
  for (let index = 0; index < lines.length; index++) {
    let line = lines[index];
    const lineNumber = index + 1;
    while (quoting && line.includes('"') && endsInsideQuotes(line, character) && index + 1 < lines.length) line = `${line}\n${lines[++index]}`;
    records.push({ line, lineNumber });
  }
  return records;
}

/** How one line of the file becomes a record of `publisher`: the format's parser, compiled once. */
export function compileLineHandler(publisher: RecordPublisher, options: PublishLinesOptions, receivedAt: number): LineHandler {
  if (options.format === "csv") return compileCsvLineHandler(publisher, options, receivedAt);
  const { publishRecord, readDirective } = compileRecordHandler(publisher, options, receivedAt);
  return { publish: publishRecord, end: () => undefined, readDirective };
}

/** The CSV options' mapping (in every thread that parses: the options are all it needs). */
function csvMappingOf(options: PublishLinesOptions): CsvMapping {
  return compileCsvMapping(options.map ?? "", { delimiter: options.delimiter, nullText: options.nullText, timeZone: options.timeZone });
}

function compileCsvLineHandler(publisher: RecordPublisher, options: PublishLinesOptions, receivedAt: number): LineHandler {
  const mapping = csvMappingOf(options);
  if (mapping.orderLines !== undefined) {
    const grouper = new OrderLineGrouper(mapping.orderLines);
    const sendAll = async (outputs: CsvOutput[]): Promise<void> => {
      for (const output of outputs) {
        const wait = sendCsvOutput(publisher, output, receivedAt);
        if (wait !== undefined) await wait;
      }
    };
    // Most rows only join their order: nothing to send, nothing to wait for.
    const send = (outputs: CsvOutput[]) => (outputs.length === 0 ? undefined : sendAll(outputs));
    return {
      publish: (line, lineNumber) => send(grouper.add(mapping.map(line, lineNumber), line, lineNumber)),
      end: () => send([...grouper.add(mapping.end(), "", 0), ...grouper.end()]),
      orderLineCounts: () => ({ ...grouper.counts }),
    };
  }
  /** A mapped record into the stream, or into the dead letters with the (first) physical line it starts on. */
  const send = (mapped: CsvMapResult | undefined, line: string, lineNumber: number): Promise<void> | void => {
    if (mapped === undefined) return; // the header, or a line whose quoted field goes on
    const raw = mapped.raw ?? line;
    const first = mapped.lineNumber ?? lineNumber;
    const where = `line ${first}`;
    if (!mapped.ok) return publisher.rejectLine(raw, `unparseable_line: ${where}: ${mapped.reason}`, receivedAt, first);
    return publisher.publishJsonValue(mapped.record, raw, receivedAt, undefined, where, first);
  };
  return {
    publish: (line, lineNumber) => send(mapping.map(line, lineNumber), line, lineNumber),
    end: () => send(mapping.end(), "", 0),
  };
}

/** NDJSON's and access logs' records: one line each, published in any order (--sort-by-time). */
function compileRecordHandler(publisher: RecordPublisher, options: PublishLinesOptions, receivedAt: number): RecordHandler {
  const format = options.format;
  if (format === "ndjson" || format === "json") {
    const publishRecord = (line: string, lineNumber: number) => publisher.publishJsonLine(withoutByteOrderMark(line, lineNumber), receivedAt, undefined, lineNumber);
    return { publishRecord, timeOf: (line, lineNumber) => jsonTime(withoutByteOrderMark(line, lineNumber)) };
  }
  const read = compileAccessLineReader(format, { timeZone: options.timeZone });
  const publishRecord = (line: string, lineNumber: number) => {
    const accessLine = read(line);
    // A W3C directive or another Caddy logger's entry is no record: neither read nor rejected.
    if (!accessLine.ok) return accessLine.code === "skipped" ? undefined : publisher.rejectLine(line, `${accessLine.code ?? "unparseable_line"}: ${accessLine.reason}`, receivedAt, lineNumber);
    return publisher.publishAccessLine(accessLine, line, lineNumber, receivedAt);
  };
  return {
    publishRecord,
    timeOf: (line) => {
      const accessLine = read(line);
      return accessLine.ok ? accessLine.ts : Number.NEGATIVE_INFINITY;
    },
    readDirective: (line) => void read(line),
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

/**
 * The instant the worker will read from a record's `ts` (parseEventTime), so that sorting orders what it will see.
 * Date.parse read an epoch-ms digit string, an hour-only offset, a comma fraction or a U+2212 minus as NaN (such
 * records went to the front, and a file of digit-string times was not sorted at all), and a time without an offset
 * (rejected) as local time.
 */
function timeValue(ts: unknown): number {
  return parseEventTime(ts) ?? Number.NEGATIVE_INFINITY;
}

/** The --format names; any other --format is an access log's format string. */
export const PUBLISH_FORMAT_NAMES = ["ndjson", "json", "csv", "combined", "common", "w3c", "caddy"];

const FORMAT_CHOICES =
  "--format is ndjson, csv, combined, common, w3c (IIS, CloudFront), caddy (Caddy's JSON access log), or the server's own " +
  `log format: an nginx log_format ('$remote_addr - $remote_user [$time_local] "$request" $status …', or for escape=json ` +
  `its JSON text '{"ip":"$remote_addr","time":"$time_iso8601","request":"$request","status":"$status"}') or an Apache ` +
  `LogFormat ('%h %l %u %t "%r" %>s %b')`;

/**
 * What is wrong with --format (and csv's --map and --delimiter), found before the file is read or NATS is contacted;
 * undefined when nothing is. One word without $variables or %directives is meant as a name, so a misspelt name is
 * called that, not a log format that lacks a client address, a time and a status.
 */
export function publishFormatProblem(options: PublishLinesOptions): string | undefined {
  const format = options.format;
  try {
    if (format === "csv") {
      const mapping = csvMappingOf(options);
      // It would change nothing but the batch ids, and a re-publish with it would store every record again.
      if (options.timeZone !== undefined && !mapping.readsLocalTimes) {
        return (
          "--timezone applies to local date-times, and --map reads none: add a pattern without %z " +
          "(ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M)) or an ISO date-time without an offset (ts=$time:iso), or leave --timezone out"
        );
      }
    } else if (format === "caddy") compileAccessLineReader(format, { timeZone: options.timeZone });
    else if (PUBLISH_FORMAT_NAMES.includes(format)) return undefined;
    else if (!/[$%]/.test(format) && /^\S+$/.test(format.trim())) {
      const suggestion = closestMatch(format.trim(), PUBLISH_FORMAT_NAMES);
      return `unknown --format "${format}"${suggestion === undefined ? ":" : `: did you mean "${suggestion}"?`} ${FORMAT_CHOICES}`;
    } else compileAccessLineReader(format);
    return undefined;
  } catch (error) {
    if (error instanceof CsvMappingError) return error.message;
    if (error instanceof LogFormatError) return `--format: ${error.message}. ${FORMAT_CHOICES}`;
    if (error instanceof UnknownTimeZoneError) return `--timezone ${error.message}: give an IANA zone name such as Europe/London, America/New_York or UTC`;
    throw error;
  }
}

/** Whether lines of this format are access-log lines (prepared in parallel, then completed in order: publish-prepared.ts). */
export function isAccessLogFormat(format: string): boolean {
  return format !== "ndjson" && format !== "json" && format !== "csv";
}

/**
 * The last `#Fields:` line of a piece of a W3C log (isFieldsDirective, after a byte order mark or not), decoded as linesOf decodes it; undefined when
 * it has none. The thread that cuts the file into pieces gives each piece the last one before it, since a line is
 * read under the last directive before it, which may lie in an earlier piece.
 */
export function lastFieldsDirectiveOf(piece: Buffer): string | undefined {
  for (let at = piece.lastIndexOf(0x23 /* # */); at >= 0; at = at === 0 ? -1 : piece.lastIndexOf(0x23, at - 1)) {
    // The reader drops a byte order mark at any line's start (`cat` of logs saved with one puts one mid-file).
    const afterMark = at >= 3 && piece[at - 3] === 0xef && piece[at - 2] === 0xbb && piece[at - 1] === 0xbf;
    const lineStart = at === 0 || piece[at - 1] === 0x0a || (afterMark && (at === 3 || piece[at - 4] === 0x0a));
    if (!lineStart || !fieldsDirectiveAt(piece, at)) continue;
    const newline = piece.indexOf(0x0a, at);
    const line = piece.subarray(at, newline < 0 ? piece.length : newline);
    const text = line.toString(isUtf8(line) ? "utf8" : "latin1");
    return text.endsWith("\r") ? text.slice(0, -1) : text;
  }
  return undefined;
}

/** Lines of a text file: LF or CRLF; a final newline does not make an empty record, other empty lines do. */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * Bytes per piece of a file (one read; a longer line grows the piece): big enough that a piece's fixed costs (a
 * message, a hash) vanish, small enough to spread over threads.
 */
export const CHUNK_BYTES = 4 * 1024 * 1024;

/** A zone's name as Intl resolves it (case, aliases); an unknown one as given (publish refuses it before any id). */
function resolvedTimeZone(name: string): string {
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return name;
  }
}

/** The key of the options that shape what a file's lines become: part of every batch id. */
export function publishOptionsKey(options: PublishLinesOptions): string {
  // --null joins the key only when given, so that files published before it existed keep their batch ids.
  const key: unknown[] = [options.format, options.map, options.delimiter, options.sortByTime === true];
  if (options.nullText !== undefined) key.push(options.nullText);
  // Likewise --timezone (an object: it cannot be taken for a --null text), by its resolved name: "europe/london" and
  // "GB" read as Europe/London and must give its batch ids.
  // Caddy's wall times are UTC without it: --timezone UTC reads what no --timezone reads, and keeps its batch ids.
  const timeZone = options.timeZone === undefined ? undefined : resolvedTimeZone(options.timeZone);
  if (timeZone !== undefined && !(options.format === "caddy" && timeZone === "UTC")) key.push({ timeZone });
  return JSON.stringify(key);
}

/**
 * Batch id prefixes for a file published piece by piece, so the same file with the same options always yields the
 * same batch ids and JetStream stores a re-publish once. A piece's prefix chains the SHA-256 of every piece from the
 * file's start to this one (and the options): the batches named under it hold events of those bytes only, so a batch
 * id can only recur for the same events. The file is read once, with no whole-file hash before the first batch, and
 * each piece may be hashed on the thread that parses it.
 */
export class ChunkIds {
  private chain: Buffer;

  constructor(optionsKey: string) {
    this.chain = createHash("sha256").update(optionsKey).digest();
  }

  /** The prefix for the next piece of the file (pieces in file order). */
  next(piece: Uint8Array): string {
    return this.nextOf(createHash("sha256").update(piece).digest());
  }

  /** next, given the piece's SHA-256. */
  nextOf(pieceDigest: Uint8Array): string {
    this.chain = createHash("sha256").update(this.chain).update(pieceDigest).digest();
    return this.chain.toString("base64url").slice(0, 22);
  }
}

/** Reads up to `length` bytes at file `position` into `target` at `offset`; resolves to the bytes read (0: the end). */
export type ReadAt = (target: Buffer, offset: number, length: number, position: number) => Promise<number>;

/**
 * Bytes read in order from the start, e.g. a gzip's decompressed stream (publish-gzip.ts): each read fills `length`
 * unless the bytes end, as a file's reads do. `failure`: the bytes ended early (damaged): an unfinished last line is
 * no line.
 */
export interface ByteStream {
  read(target: Buffer, offset: number, length: number): Promise<number>;
  readonly failure: Error | undefined;
}

/** What byteChunks reads: a file, bytes in memory, or a stream of bytes (whose size may be Infinity). */
export type PieceSource = FileHandle | Buffer | ByteStream;

function readerOf(source: PieceSource): ReadAt {
  if (Buffer.isBuffer(source)) return async (target, offset, length, position) => source.copy(target, offset, position, position + length);
  if (!("fd" in source)) return (target, offset, length) => source.read(target, offset, length);
  return async (target, offset, length, position) => (await source.read(target, offset, length, position)).bytesRead;
}

function endedEarly(source: PieceSource): boolean {
  return !Buffer.isBuffer(source) && !("fd" in source) && source.failure !== undefined;
}

/** Where byteChunks reads its pieces: a buffer of at least `minimumBytes`. */
export type PieceBuffers = (minimumBytes: number) => Buffer;

/** A new buffer for every piece, with an ArrayBuffer of its own (it can be transferred to another thread). */
export const newPieceBuffers: PieceBuffers = (minimumBytes) => Buffer.allocUnsafeSlow(minimumBytes);

/**
 * `count` buffers of `bytes` (shared between threads when `shared`), handed out in turn; a request for more than
 * `bytes` gets a new buffer. Recycling matters more than it seems: on this project's VMs, touching freshly mapped memory
 * costs about 1 ms per MiB in page faults, as much as parsing a few hundred of its lines (bench/OPTIMIZATIONS.md).
 * byteChunks writes the next piece's first bytes before it yields a piece, so a reader that holds k pieces at once
 * needs k + 2 buffers.
 */
export function recycledPieceBuffers(count: number, bytes: number, shared = false): PieceBuffers {
  const buffers = Array.from({ length: count }, () => (shared ? Buffer.from(new SharedArrayBuffer(bytes)) : Buffer.allocUnsafeSlow(bytes)));
  let next = 0;
  return (minimumBytes) => {
    if (minimumBytes > bytes) return Buffer.allocUnsafeSlow(minimumBytes);
    const buffer = buffers[next];
    next = (next + 1) % count;
    return buffer;
  };
}

/**
 * The first `size` bytes of a file (or of bytes in memory, or of a ByteStream to its end) in pieces of about
 * `chunkBytes`, each cut after its last newline byte, which never occurs inside a UTF-8 sequence, so every piece decodes
 * on its own; a line longer than a piece makes the pieces grow. Pieces are read into `buffers` (by default a new one
 * each).
 */
export async function* byteChunks(source: PieceSource, size: number, chunkBytes = CHUNK_BYTES, buffers = newPieceBuffers): AsyncGenerator<Buffer> {
  const read = readerOf(source);
  const pieceBytes = Math.min(chunkBytes, Math.max(size, 1));
  let buffer = buffers(pieceBytes);
  /** Bytes of an unfinished line carried over at the start of `buffer`. */
  let carried = 0;
  for (let position = 0; position < size; ) {
    if (carried === buffer.length) {
      const grown = buffers(buffer.length * 2);
      buffer.copy(grown, 0, 0, carried);
      buffer = grown;
    }
    const bytesRead = await read(buffer, carried, Math.min(buffer.length - carried, size - position), position);
    if (bytesRead === 0) break;
    position += bytesRead;
    const end = carried + bytesRead;
    const lastNewline = buffer.lastIndexOf(0x0a, end - 1);
    if (lastNewline < 0) {
      carried = end;
      continue;
    }
    const next = buffers(Math.max(pieceBytes, end - lastNewline));
    carried = buffer.copy(next, 0, lastNewline + 1, end);
    yield buffer.subarray(0, lastNewline + 1);
    buffer = next;
  }
  // The bytes after the last newline of a damaged gzip are a line cut anywhere, maybe inside a character.
  if (carried > 0 && !endedEarly(source)) yield buffer.subarray(0, carried);
}

/** The lines (as splitLines cuts them) of byteChunks' pieces, each with its batch id prefix when `ids` is given. */
export async function* lineChunks(source: PieceSource, size: number, ids?: ChunkIds, chunkBytes = CHUNK_BYTES): AsyncGenerator<LineChunk> {
  // A piece is done with once its lines are decoded and it is hashed: two buffers take turns (see recycledPieceBuffers).
  const buffers = recycledPieceBuffers(2, chunkBytes);
  for await (const piece of byteChunks(source, size, chunkBytes, buffers)) yield { lines: linesOf(piece), msgIdPrefix: ids?.next(piece) };
}

/**
 * The index ranges [start, end) of `count` slices of `length` lines (a thread hands a piece over slice by slice);
 * an empty piece is one empty slice. `last`: the slice ends the piece.
 */
export function* sliceRanges(length: number, count: number): Generator<{ start: number; end: number; last: boolean }> {
  const size = Math.max(1, Math.ceil(length / count));
  for (let start = 0; start < length || start === 0; start += size) {
    const end = Math.min(length, start + size);
    yield { start, end, last: end >= length };
  }
}

/** How many lines linesOf finds in a piece: its newlines, and one more for a last line without one. */
export function lineCountOf(piece: Uint8Array): number {
  let count = 0;
  for (let at = piece.indexOf(0x0a); at !== -1; at = piece.indexOf(0x0a, at + 1)) count++;
  return piece.length > 0 && piece[piece.length - 1] !== 0x0a ? count + 1 : count;
}

/** The lines of a piece of a file that ends after a newline (or at the end of the file): splitLines without a RegExp. */
export function linesOf(bytes: Buffer, ascii = isAscii(bytes)): string[] {
  const lines: string[] = [];
  for (const window of lineWindows(bytes, ascii)) for (const line of window.lines) lines.push(line);
  return lines;
}

/** About how many bytes lineWindows decodes at once. */
const LINE_WINDOW_BYTES = 64 * 1024;

/**
 * The lines of a piece (as linesOf cuts them) in windows of about `windowBytes`, each cut after a newline; `end` is
 * the window's end in the piece. Decoding a whole 4 MiB piece at once made a string outside V8's young generation,
 * in freshly mapped memory, which cost 15–17 ms a piece in page faults; windows of 64 KiB are decoded into the young
 * generation, whose memory is reused, at about 2 ms a piece (bench/OPTIMIZATIONS.md).
 */
export function* lineWindows(bytes: Buffer, ascii: boolean, windowBytes = LINE_WINDOW_BYTES): Generator<{ lines: string[]; end: number }> {
  // ASCII is Latin-1, and decoding Latin-1 is several times faster than UTF-8.
  const encoding = ascii ? "latin1" : "utf8";
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.length;
    if (start + windowBytes < bytes.length) {
      const lastNewline = bytes.lastIndexOf(0x0a, start + windowBytes - 1);
      // No newline in the window: it ends after its first line, however long.
      const newline = lastNewline >= start ? lastNewline : bytes.indexOf(0x0a, start + windowBytes);
      if (newline >= 0) end = newline + 1;
    }
    const text = bytes.toString(encoding, start, end);
    const lines = !ascii && text.includes("\uFFFD") && !isUtf8(bytes.subarray(start, end)) ? linesNotAllUtf8(bytes, start, end) : text.split("\n");
    // Only a line ended by "\n" can end in a CR of a CRLF; a last line without a newline keeps its CR, as in splitLines.
    const terminated = lines.length - 1;
    if (lines[terminated] === "") lines.pop();
    for (let index = 0; index < terminated; index++) {
      const line = lines[index];
      if (line.charCodeAt(line.length - 1) === 13) lines[index] = line.slice(0, -1);
    }
    yield { lines, end };
    start = end;
  }
}

/**
 * The lines of bytes [start, end) when some are not UTF-8 (a Latin-1 or Windows-1252 export, a log with raw bytes):
 * those lines are read as Latin-1, one character per byte, so "é" saved as the single byte E9 stays "é" instead of
 * becoming U+FFFD, and no byte is lost (the text encodes back to the same bytes as Latin-1). A newline byte never
 * occurs inside a UTF-8 sequence, so the text's lines and the bytes' lines are the same lines.
 */
function linesNotAllUtf8(bytes: Buffer, start: number, end: number): string[] {
  const lines: string[] = [];
  for (let from = start; from <= end; ) {
    const newline = bytes.indexOf(0x0a, from);
    const to = newline === -1 || newline >= end ? end : newline;
    const line = bytes.subarray(from, to);
    lines.push(line.toString(isUtf8(line) ? "utf8" : "latin1"));
    from = to + 1;
  }
  return lines;
}

/** Every line of the chunks, and the prefix of the last chunk (which names the whole file). */
export async function allLines(chunks: AsyncIterable<LineChunk>): Promise<{ lines: string[]; msgIdPrefix: string | undefined }> {
  const lines: string[] = [];
  let msgIdPrefix: string | undefined;
  for await (const chunk of chunks) {
    for (const line of chunk.lines) lines.push(line);
    msgIdPrefix = chunk.msgIdPrefix ?? msgIdPrefix;
  }
  return { lines, msgIdPrefix };
}
