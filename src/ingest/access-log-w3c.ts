// W3C Extended Log File Format reader (IIS, Amazon CloudFront): the last `#Fields:` directive names each line's columns.
//
// What a line means, per the documents:
// - W3C WD-logfile-960323 and Microsoft's W3C logging (learn.microsoft.com/windows/win32/http/w3c-logging,
//   [MS-WMLOG] 2.2): lines starting with "#" are directives; `#Fields:` lists the columns of the entries after it, and
//   a later `#Fields:` (IIS writes one again when it restarts or its logging is reconfigured) replaces it. Values are
//   separated by single spaces, "-" is an empty value, date and time are UTC.
// - IIS writes a user agent's spaces as "+" (`Mozilla/5.0+(Windows+NT+10.0)`): cs(User-Agent) has "+" read as a space.
//   A referrer is a URL, which has no spaces, so cs(Referer) is kept as written.
// - Amazon CloudFront standard logs (docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logs-reference.html):
//   entries are tab-separated (the `#Fields:` line itself is space-separated), and CloudFront URL-encodes the user
//   agent (`Mozilla/5.0%20(Windows%20NT%2010.0)`): a tab-separated line has cs(User-Agent) percent-decoded once.
// sc-bytes is every byte sent (headers included), the nearest field to combined's body bytes.
import type { AccessLineRead, AccessLineReader, AccessRecord } from "./access-log.ts";
import { dashToNull, joinQuery, tooLargeLine } from "./access-log.ts";
import { RecordLine } from "./access-log-record-line.ts";

type W3cKind = "date" | "time" | "ip" | "user" | "method" | "stem" | "query" | "uri" | "protocol" | "status" | "bytes" | "referrer" | "userAgent";

/** Field names as written in `#Fields:` (compared in lower case); others are read past. */
const W3C_FIELDS: Record<string, W3cKind> = {
  date: "date",
  time: "time",
  "c-ip": "ip",
  "cs-username": "user",
  "cs-method": "method",
  "cs-uri-stem": "stem",
  "cs-uri-query": "query",
  "cs-uri": "uri",
  "cs-version": "protocol",
  // CloudFront's cs-protocol is the scheme (http, https); cs-protocol-version is HTTP/1.1, HTTP/2.0.
  "cs-protocol-version": "protocol",
  "sc-status": "status",
  "sc-bytes": "bytes",
  "cs(referer)": "referrer",
  "cs(user-agent)": "userAgent",
};

/**
 * Whether a line is a `#Fields:` directive as the reader takes one: the name in any case, after a byte order mark or
 * not (the reader drops one at any line's start: a file's, or mid-file where logs saved with one were concatenated). `publish --sort-by-time`, publish's pieces and a resumed tailer find directives by the same rule.
 */
export function isFieldsDirective(line: string): boolean {
  return FIELDS_DIRECTIVE.test(line);
}

const FIELDS_DIRECTIVE = /^\uFEFF?#Fields:/i;
const FIELDS_BYTES = Buffer.from("#fields:");

/** Whether `bytes` hold `#Fields:` (any case) at `at`: isFieldsDirective for a line of bytes that starts there. */
export function fieldsDirectiveAt(bytes: Uint8Array, at: number): boolean {
  if (at + FIELDS_BYTES.length > bytes.length) return false;
  for (let index = 0; index < FIELDS_BYTES.length; index++) {
    // ASCII letters differ from their capitals by 0x20 alone; "#" and ":" are compared as they are.
    const byte = bytes[at + index];
    if ((byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte) !== FIELDS_BYTES[index]) return false;
  }
  return true;
}

/** Where each kind is among the columns of the current `#Fields:`; -1 when it lacks it. */
type Columns = Record<W3cKind, number> & { count: number; names: string[] };

/** The columns of a `#Fields:` directive, or what it lacks. */
export function columnsOf(directive: string): Columns | string {
  const names = directive.slice("#Fields:".length).trim().split(/\s+/).filter((name) => name !== "");
  const columns = { count: names.length, names } as Columns;
  for (const kind of Object.values(W3C_FIELDS)) columns[kind] = -1;
  names.forEach((name, index) => {
    const kind = W3C_FIELDS[name.toLowerCase()];
    if (kind !== undefined) columns[kind] = index;
  });
  const missing: string[] = ["date", "time", "c-ip", "sc-status"].filter((name) => columns[W3C_FIELDS[name]] < 0);
  if (columns.stem < 0 && columns.uri < 0) missing.push("cs-uri-stem (or cs-uri)");
  if (missing.length > 0) return `the #Fields directive lacks ${missing.join(", ")}`;
  return columns;
}

/** A reader of one W3C log: its state is the last `#Fields:` read, so each file (or tailed path) needs its own. */
export function compileW3cReader(): AccessLineReader {
  let columns: Columns | string = "no #Fields directive before this line (IIS and CloudFront write one at the top of every file)";
  const line = new RecordLine();
  const dates = new DateCache();
  const read = (raw: string): AccessLineRead => {
    const tooLarge = tooLargeLine(raw);
    if (tooLarge !== undefined) return tooLarge;
    const unterminated = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
    // A file written with a UTF-8 byte order mark has it before its first directive.
    const text = unterminated.charCodeAt(0) === 0xfeff ? unterminated.slice(1) : unterminated;
    if (text.charCodeAt(0) === 0x23 /* # */) {
      if (isFieldsDirective(text)) columns = columnsOf(text);
      return { ok: false, code: "skipped", reason: "a W3C directive" };
    }
    if (text.trim() === "") return { ok: false, reason: "empty line" };
    if (typeof columns === "string") return { ok: false, reason: columns };
    const cloudFront = text.includes("\t");
    const values = text.split(cloudFront ? "\t" : " ");
    if (values.length !== columns.count) {
      return { ok: false, reason: `expected ${columns.count} ${cloudFront ? "tab" : "space"}-separated values (as #Fields names), found ${values.length}` };
    }
    const record = recordOf(values, columns, cloudFront, dates);
    return typeof record === "string" ? { ok: false, reason: record } : line.hold(record);
  };
  return Object.assign(read, { needsDirective: () => typeof columns === "string" && columns.startsWith("no #Fields") });
}

function recordOf(values: string[], columns: Columns, cloudFront: boolean, dates: DateCache): AccessRecord | string {
  const value = (index: number): string | null => (index < 0 ? null : dashToNull(values[index]));
  const ip = value(columns.ip);
  if (ip === null) return "the client address (c-ip) is -";
  const status = values[columns.status];
  if (!/^\d{3}$/.test(status)) return `sc-status "${status}" is not a 3-digit status`;
  const ts = dates.time(values[columns.date], values[columns.time]);
  if (Number.isNaN(ts)) return `date and time "${values[columns.date]} ${values[columns.time]}" are not a valid yyyy-mm-dd hh:mm:ss`;
  const stem = value(columns.stem);
  const path = columns.uri >= 0 ? value(columns.uri) : stem === null ? null : joinQuery(stem, value(columns.query));
  const bytes = value(columns.bytes);
  if (bytes !== null && !/^\d+$/.test(bytes)) return `sc-bytes "${bytes}" is not a byte count`;
  const userAgent = value(columns.userAgent);
  return {
    ip,
    ident: null,
    user: value(columns.user),
    ts,
    method: value(columns.method),
    path,
    protocol: value(columns.protocol),
    status: Number(status),
    bytes: bytes === null ? 0 : Number(bytes),
    referrer: columns.referrer < 0 ? undefined : value(columns.referrer),
    userAgent: columns.userAgent < 0 ? undefined : userAgent === null ? null : cloudFront ? percentDecoded(userAgent) : userAgent.replaceAll("+", " "),
  };
}

/** CloudFront's percent-encoding undone once; a malformed escape leaves the value as written. */
function percentDecoded(value: string): string {
  if (!value.includes("%")) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Consecutive entries share their date: its midnight (UTC) is computed once per date. */
class DateCache {
  private date = "";
  private midnight = Number.NaN;

  time(date: string, time: string): number {
    if (date !== this.date) {
      this.date = date;
      const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
      this.midnight = match === null ? Number.NaN : validDate(Number(match[1]), Number(match[2]), Number(match[3]));
    }
    const clock = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?$/.exec(time);
    if (clock === null) return Number.NaN;
    const [hours, minutes, seconds] = [Number(clock[1]), Number(clock[2]), Number(clock[3])];
    if (hours > 23 || minutes > 59 || seconds > 60) return Number.NaN;
    const fraction = clock[4] === undefined ? 0 : Math.round(Number(clock[4]) * 1000);
    return this.midnight + ((hours * 60 + minutes) * 60 + seconds) * 1000 + fraction;
  }
}

/** Epoch ms of the date's 00:00 UTC, NaN for a date that does not exist (2023-02-30). */
function validDate(year: number, month: number, day: number): number {
  const ms = Date.UTC(year, month - 1, day);
  const back = new Date(ms);
  return back.getUTCMonth() === month - 1 && back.getUTCDate() === day ? ms : Number.NaN;
}
