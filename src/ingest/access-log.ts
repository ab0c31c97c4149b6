// Access-log line parser: a log format (combined, common, nginx log_format, Apache LogFormat) compiled once into a RegExp.
import { COMBINED_FORMAT, COMMON_FORMAT, type FieldKind, type FormatToken, tokenizeLogFormat } from "./access-log-format.ts";
import { isUtf8 } from "node:buffer";
import { LocalTimeZone } from "./local-time-zone.ts";
import { CADDY_FIELDS, caddyOtherLogger, compileJsonLogReader, isJsonLogFormat, jsonFieldsOfNginxFormat } from "./access-log-json.ts";
import { AccessLineHead } from "./access-log-line-head.ts";
import { compileW3cReader } from "./access-log-w3c.ts";
import { MAX_EVENT_BYTES } from "../events/decode.ts";

export { LogFormatError } from "./access-log-format.ts";

export interface AccessRecord {
  /** Client address as logged: IPv4, IPv6 or a host name (old NCSA logs). */
  ip: string;
  ident: string | null;
  user: string | null;
  /** Request time, epoch milliseconds (UTC). */
  ts: number;
  /** null when the request line is not `METHOD target [HTTP/x]` (e.g. "-" or TLS bytes sent to a plain port). */
  method: string | null;
  /** Request target with its query string. */
  path: string | null;
  protocol: string | null;
  status: number;
  /** Body bytes; "-" (Apache's way of writing 0) is 0. */
  bytes: number;
  /** "-" → null; undefined when the format has no referrer field. */
  referrer?: string | null;
  /** "-" (header absent) → null; undefined when the format has no user-agent field. */
  userAgent?: string | null;
}

export type ParseResult = { ok: true; record: AccessRecord } | { ok: false; reason: string };
export type LogLineParser = (line: string) => ParseResult;

/** What the page filter and --sort-by-time need of a line, read (with the checks every line must pass) before the rest. */
export interface AccessHead {
  ts: number;
  method: string | null;
  path: string | null;
  protocol: string | null;
  status: number;
}

/** A line that matched its format and passed the checks on its head; `record()` reads the rest of it. */
export interface AccessLine extends Readonly<AccessHead> {
  readonly ok: true;
  /** The line's whole record, a new object. */
  record(): AccessRecord;
}

/**
 * A line that is no page view: `code` says too_large for one over the 32 KiB event limit, skipped for a line that is
 * no record at all (a W3C directive such as `#Fields: …`, a Caddy entry of another logger), which is neither counted
 * as read nor dead-lettered; else it is unparseable.
 */
export type AccessLineRead = AccessLine | { ok: false; reason: string; code?: "too_large" | "skipped" };
/**
 * Reads one line; the AccessLine it returns is reused by the next call, so take what you need before that. A reader
 * with `needsDirective` keeps state between lines (W3C's `#Fields:`): true while it has read no such directive, so a
 * tailer that resumes in the middle of a file feeds it the file's last directive before the resumed position first.
 */
export type AccessLineReader = ((line: string) => AccessLineRead) & { readonly needsDirective?: () => boolean };

const QUOTED = String.raw`([^"\\]*(?:\\.[^"\\]*)*)`;
const TYPED_PATTERNS: Partial<Record<FieldKind, string>> = {
  status: String.raw`(\d{3})`,
  bytes: String.raw`(\d+|-)`,
  timeLocal: String.raw`(\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})`,
  timeIso: String.raw`(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))`,
  timeMsec: String.raw`(\d+(?:\.\d+)?)`,
  timeSec: String.raw`(\d+)`,
  pathOnly: String.raw`([^\s?]+)`,
};
const FIELD_DESCRIPTIONS: Partial<Record<FieldKind, string>> = {
  status: "a 3-digit status",
  bytes: "a byte count or -",
  timeLocal: "a time like 17/May/2015:10:05:03 +0000",
  timeIso: "an ISO 8601 time with offset",
  timeMsec: "epoch seconds with milliseconds",
  timeSec: "epoch seconds",
  pathOnly: "a path without query",
};

interface CompiledField {
  kind: FieldKind;
  name: string;
  /** Inside "…": backslash escapes are decoded. */
  quoted: boolean;
}

interface CompiledPiece {
  source: string;
  describe: string;
}

/** Compiles a format once; the returned parser never throws. Throws LogFormatError for a bad format. */
export function compileLogFormat(format: "combined" | "common" | "w3c" | "caddy" | (string & {}), options: AccessLogOptions = {}): LogLineParser {
  const read = compileAccessLineReader(format, options);
  return (line) => {
    const result = read(line);
    return result.ok ? { ok: true, record: result.record() } : result;
  };
}

/** How a format's lines are read beyond the format itself. */
export interface AccessLogOptions {
  /**
   * The IANA zone of Caddy's zoneless `wall` times (`publish --timezone`, the tailer's `timeZone`); absent: UTC, as
   * Caddy writes them without `time_local`. Other formats' times carry their offset or are UTC: they ignore it.
   */
  timeZone?: string;
}

/**
 * compileLogFormat in two steps: the reader checks a line and reads its head, and builds the record only when asked,
 * so a line the page filter leaves out costs no record. Throws LogFormatError for a bad format, UnknownTimeZoneError
 * for a time zone Intl does not know.
 */
export function compileAccessLineReader(format: "combined" | "common" | "w3c" | "caddy" | (string & {}), options: AccessLogOptions = {}): AccessLineReader {
  if (format === "w3c") return compileW3cReader();
  if (format === "caddy") return compileJsonLogReader(CADDY_FIELDS, caddyOtherLogger, options.timeZone === undefined ? undefined : new LocalTimeZone(options.timeZone));
  if (isJsonLogFormat(format)) return compileJsonLogReader(jsonFieldsOfNginxFormat(format));
  const text = format === "combined" ? COMBINED_FORMAT : format === "common" ? COMMON_FORMAT : format;
  const tokens = tokenizeLogFormat(text);
  const fields: CompiledField[] = [];
  const pieces = tokens.map((token, index) => compilePiece(tokens, index, fields));
  const lineRegex = new RegExp(`^${pieces.map((piece) => piece.source).join("")}$`);
  const line = new MatchedLine(fields);
  const prefixes: RegExp[] = [];
  return (raw) => {
    const tooLarge = tooLargeLine(raw);
    if (tooLarge !== undefined) return tooLarge;
    const text = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
    const match = lineRegex.exec(text);
    if (match === null) return { ok: false, reason: diagnose(text, pieces, prefixes) };
    return line.read(match);
  };
}

/** An event is at most 32 KiB (its url twice, as url and page item): a longer line is too large before any parse. */
export function tooLargeLine(raw: string): AccessLineRead | undefined {
  if (raw.length * 3 <= MAX_EVENT_BYTES || Buffer.byteLength(raw) <= MAX_EVENT_BYTES) return undefined;
  return { ok: false, code: "too_large", reason: `line is ${Buffer.byteLength(raw)} bytes, over the ${MAX_EVENT_BYTES}-byte limit per event` };
}

function compilePiece(tokens: FormatToken[], index: number, fields: CompiledField[]): CompiledPiece {
  const token = tokens[index];
  if (token.type === "literal") return { source: escapeRegExp(token.text), describe: `'${token.text}'` };
  const before = tokens[index - 1];
  const after = tokens[index + 1];
  const opens = before?.type === "literal" ? before.text[before.text.length - 1] : undefined;
  const closes = after?.type === "literal" ? after.text[0] : undefined;
  const quoted = opens === '"' && closes === '"';
  fields.push({ kind: token.kind, name: token.name, quoted });
  // %U%q: the path stops at "?", and Apache's %q brings its own "?" (or nothing).
  if (token.kind === "query") {
    return { source: before?.type === "field" ? String.raw`(\?\S*|)` : String.raw`(\S*)`, describe: `${token.name} (a query string)` };
  }
  const typed = TYPED_PATTERNS[token.kind];
  if (typed !== undefined) return { source: typed, describe: `${token.name} (${FIELD_DESCRIPTIONS[token.kind]})` };
  if (quoted) return { source: QUOTED, describe: `${token.name} (a quoted value)` };
  if (opens === "[" && closes === "]") return { source: String.raw`([^\]]*)`, describe: `${token.name} (a value in brackets)` };
  // nginx writes one value per upstream tried, as "a, b" (the next server) and "a : b" (an internal redirect).
  if (token.name.startsWith("$upstream_") && (after === undefined || closes === " ")) {
    return { source: String.raw`(\S+(?:(?:, | : )\S+)*)`, describe: `${token.name} (one value per upstream)` };
  }
  // A field ends at a space; before any other separator (or another field) let backtracking find the end.
  if (after === undefined || closes === " ") return { source: String.raw`(\S+)`, describe: `${token.name} (a value without spaces)` };
  return { source: String.raw`(\S*?)`, describe: `${token.name}` };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Which field gives each part of the record. Fields are read in format order and a later one overwrites an earlier
 * one, so for most kinds the last field of the kind is the one that counts; request, method, path, query and protocol
 * depend on each other (an invalid request line changes nothing) and are read in order.
 */
interface FieldLayout {
  ip: number;
  time: number;
  status: number;
  request: readonly number[];
  /** -1 when the format has no such field. */
  ident: number;
  user: number;
  bytes: number;
  referrer: number;
  userAgent: number;
}

const REQUEST_KINDS: ReadonlySet<FieldKind> = new Set<FieldKind>(["request", "method", "pathWithQuery", "pathOnly", "query", "protocol"]);
const TIME_KINDS: ReadonlySet<FieldKind> = new Set<FieldKind>(["timeLocal", "timeIso", "timeMsec", "timeSec"]);

/** Field indexes are 0-based; capture groups 1-based. tokenizeLogFormat has refused a format without ip, time or status. */
function layoutOf(fields: readonly CompiledField[]): FieldLayout {
  const last = (matches: (kind: FieldKind) => boolean) => fields.findLastIndex((field) => matches(field.kind));
  return {
    ip: last((kind) => kind === "ip"),
    time: last((kind) => TIME_KINDS.has(kind)),
    status: last((kind) => kind === "status"),
    request: fields.flatMap((field, index) => (REQUEST_KINDS.has(field.kind) ? [index] : [])),
    ident: last((kind) => kind === "ident"),
    user: last((kind) => kind === "user"),
    bytes: last((kind) => kind === "bytes"),
    referrer: last((kind) => kind === "referrer"),
    userAgent: last((kind) => kind === "userAgent"),
  };
}

/** The reader's one AccessLine: each read overwrites it with the next line's head. */
class MatchedLine extends AccessLineHead {
  private match: RegExpExecArray | null = null;
  private readonly layout: FieldLayout;
  private readonly times = new TimeCache();

  constructor(private readonly fields: readonly CompiledField[]) {
    super();
    this.layout = layoutOf(fields);
  }

  /** Reads the head of a matched line and checks it: this line, or why it is rejected. */
  read(match: RegExpExecArray): AccessLineRead {
    const { layout } = this;
    this.match = match;
    this.ts = this.timeOf(layout.time);
    // `\d{3}`: the status is always a typed field.
    this.status = Number(match[layout.status + 1]);
    this.readRequest(layout.request);
    if (Number.isNaN(this.ts)) return { ok: false, reason: "the time is not a valid date" };
    if (this.ts < 0) return { ok: false, reason: "the time is before 1970" };
    if (this.fieldValue(layout.ip) === "-") return { ok: false, reason: "the client address is -" };
    return this;
  }

  override record(): AccessRecord {
    const { layout } = this;
    return {
      ip: this.fieldValue(layout.ip),
      ident: layout.ident < 0 ? null : dashToNull(this.fieldValue(layout.ident)),
      user: layout.user < 0 ? null : dashToNull(this.fieldValue(layout.user)),
      ts: this.ts,
      method: this.method,
      path: this.path,
      protocol: this.protocol,
      status: this.status,
      bytes: layout.bytes < 0 ? 0 : bytesOf(this.fieldValue(layout.bytes)),
      referrer: layout.referrer < 0 ? undefined : dashToNull(this.fieldValue(layout.referrer)),
      userAgent: layout.userAgent < 0 ? undefined : dashToNull(this.fieldValue(layout.userAgent)),
    };
  }

  private readRequest(request: readonly number[]): void {
    this.method = null;
    this.path = null;
    this.protocol = null;
    let pathOnly: string | null = null;
    let query: string | null = null;
    for (const field of request) {
      const value = this.fieldValue(field);
      switch (this.fields[field].kind) {
        case "request":
          splitRequestLine(value, this);
          break;
        case "method":
          this.method = dashToNull(value);
          break;
        case "pathWithQuery":
          this.path = dashToNull(value);
          break;
        case "pathOnly":
          pathOnly = dashToNull(value);
          break;
        case "query":
          query = dashToNull(value);
          break;
        case "protocol":
          this.protocol = dashToNull(value);
          break;
      }
    }
    if (this.path === null && pathOnly !== null) this.path = joinQuery(pathOnly, query);
  }

  private timeOf(field: number): number {
    const value = this.fieldValue(field);
    switch (this.fields[field].kind) {
      case "timeLocal":
        return this.times.clfTime(value);
      case "timeIso":
        return Date.parse(value);
      case "timeMsec":
        return Math.round(Number(value) * 1000);
      default:
        return Number(value) * 1000;
    }
  }

  /** A field's value, escapes decoded when quoted. */
  private fieldValue(field: number): string {
    const raw = (this.match as RegExpExecArray)[field + 1];
    return this.fields[field].quoted ? unescapeLogValue(raw) : raw;
  }
}

/** Body bytes; "-" (Apache's way of writing 0) is 0. */
function bytesOf(value: string): number {
  return value === "-" ? 0 : Number(value);
}

export function dashToNull(value: string): string | null {
  return value === "-" ? null : value;
}

export function joinQuery(path: string, query: string | null): string {
  if (query === null || query === "" || query === "?") return path;
  return query.startsWith("?") ? path + query : `${path}?${query}`;
}

/** `GET /a?b HTTP/1.1`, `GET /a` (HTTP/0.9); anything else ("-", TLS junk) leaves method/path/protocol as they are. */
export function splitRequestLine(request: string, head: AccessHead): void {
  const firstSpace = request.indexOf(" ");
  if (firstSpace <= 0 || !isMethodToken(request, firstSpace)) return;
  const lastSpace = request.lastIndexOf(" ");
  let path: string;
  let protocol: string | null = null;
  if (lastSpace > firstSpace && request.startsWith("HTTP/", lastSpace + 1)) {
    path = request.slice(firstSpace + 1, lastSpace);
    protocol = request.slice(lastSpace + 1);
  } else {
    path = request.slice(firstSpace + 1);
  }
  if (path === "" || path.includes(" ")) return;
  head.method = request.slice(0, firstSpace);
  head.path = path;
  head.protocol = protocol;
}

/** Upper-case letters, "_" and "-" (GET, PROPFIND, M-SEARCH): TLS handshakes and junk are not methods. */
function isMethodToken(request: string, end: number): boolean {
  for (let index = 0; index < end; index++) {
    const code = request.charCodeAt(index);
    const letter = code >= 65 && code <= 90;
    if (!letter && (index === 0 || (code !== 95 && code !== 45))) return false;
  }
  return true;
}

/** Apache writes `\"`, `\\` and `\xhh`; nginx writes `\xhh` for bytes (UTF-8 sequences included). */
/** Bytes nginx escaped as \xHH: UTF-8 when they are, else Latin-1 one character per byte, as publish reads a line. */
function escapedBytesText(bytes: number[]): string {
  const buffer = Buffer.from(bytes);
  return isUtf8(buffer) ? buffer.toString("utf8") : buffer.toString("latin1");
}

export function unescapeLogValue(value: string): string {
  if (!value.includes("\\")) return value;
  let out = "";
  let bytes: number[] = [];
  let index = 0;
  while (index < value.length) {
    const char = value[index];
    const hex = char === "\\" && value[index + 1] === "x" ? value.slice(index + 2, index + 4) : "";
    if (hex.length === 2 && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      index += 4;
      continue;
    }
    if (bytes.length > 0) {
      out += escapedBytesText(bytes);
      bytes = [];
    }
    if (char === "\\" && index + 1 < value.length) {
      const next = value[index + 1];
      out += next === "n" ? "\n" : next === "t" ? "\t" : next;
      index += 2;
      continue;
    }
    out += char;
    index += 1;
  }
  if (bytes.length > 0) out += escapedBytesText(bytes);
  return out;
}

const MONTHS: Record<string, number> = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Consecutive lines usually share their second, and nearly always their day and offset: remember the last conversion
 * and the last day's start, so most lines cost a few character comparisons.
 */
class TimeCache {
  private lastText = "";
  private lastTs = Number.NaN;
  /** `dd/Mon/yyyy:` and `±hhmm` of the last valid time, and the epoch ms of that day's 00:00:00 at that offset. */
  private dayText = "";
  private dayStart = Number.NaN;

  clfTime(text: string): number {
    if (text === this.lastText) return this.lastTs;
    this.lastText = text;
    this.lastTs = this.sameDay(text) ? this.dayStart + timeOfDayMs(text) : this.newDay(text);
    return this.lastTs;
  }

  private sameDay(text: string): boolean {
    const day = this.dayText;
    if (day === "") return false;
    for (let index = 0; index < 12; index++) if (text.charCodeAt(index) !== day.charCodeAt(index)) return false;
    for (let index = 21; index < 26; index++) if (text.charCodeAt(index) !== day.charCodeAt(index)) return false;
    // The clock part must still be a valid time for the cached day start to apply.
    return twoDigits(text, 12) <= 23 && twoDigits(text, 15) <= 59 && twoDigits(text, 18) <= 60;
  }

  private newDay(text: string): number {
    const ts = parseClfTime(text);
    if (!Number.isNaN(ts)) {
      this.dayText = text;
      this.dayStart = ts - timeOfDayMs(text);
    }
    return ts;
  }
}

function timeOfDayMs(text: string): number {
  return ((twoDigits(text, 12) * 60 + twoDigits(text, 15)) * 60 + twoDigits(text, 18)) * 1000;
}

/** `17/May/2015:10:05:03 +0000` (shape already checked by the regex) → epoch ms, NaN when out of range. */
export function parseClfTime(text: string): number {
  const day = twoDigits(text, 0);
  const month = MONTHS[text.slice(3, 6)];
  const year = twoDigits(text, 7) * 100 + twoDigits(text, 9);
  const hour = twoDigits(text, 12);
  const minute = twoDigits(text, 15);
  const second = twoDigits(text, 18);
  const sign = text.charCodeAt(21) === 0x2d ? -1 : 1;
  const offsetMinutes = twoDigits(text, 22) * 60 + twoDigits(text, 24);
  if (month === undefined || day < 1 || day > DAYS_IN_MONTH[month] || hour > 23 || minute > 59 || second > 60) {
    return Number.NaN;
  }
  if (month === 1 && day === 29 && !isLeapYear(year)) return Number.NaN;
  return Date.UTC(year, month, day, hour, minute, second) - sign * offsetMinutes * 60_000;
}

function twoDigits(text: string, at: number): number {
  return (text.charCodeAt(at) - 48) * 10 + (text.charCodeAt(at + 1) - 48);
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Which piece of the format the line stops matching at: only computed for rejected lines. */
function diagnose(line: string, pieces: CompiledPiece[], prefixes: RegExp[]): string {
  if (line.trim() === "") return "empty line";
  let matchedLength = 0;
  for (let count = 1; count <= pieces.length; count++) {
    prefixes[count] ??= new RegExp(`^${pieces.slice(0, count).map((piece) => piece.source).join("")}`);
    const match = prefixes[count].exec(line);
    if (match === null) {
      const previous = count >= 2 ? ` after ${pieces[count - 2].describe}` : "";
      return `expected ${pieces[count - 1].describe}${previous} at column ${matchedLength + 1}`;
    }
    matchedLength = match[0].length;
  }
  return `unexpected text after the last field at column ${matchedLength + 1}`;
}
