// JSON-lines access logs: Caddy's structured access log (`caddy`), or nginx's `log_format … escape=json '{…}'` given
// as the log_format string itself, whose "$variable" values say which key holds what.
import { LogFormatError, NGINX_VARIABLES, unquoteNginx, type FieldKind } from "./access-log-format.ts";
import type { AccessHead, AccessLineReader, AccessRecord } from "./access-log.ts";
import { joinQuery, parseClfTime, splitRequestLine, tooLargeLine } from "./access-log.ts";
import { RecordLine } from "./access-log-record-line.ts";
import type { LocalTimeZone } from "./local-time-zone.ts";

/**
 * A key path of the JSON object and what its value means; a later field of the same kind overrides an earlier one.
 * `timeAny` is a time in any of the shapes Caddy's `time_format` writes (epochTimeOf, caddyTimeOf).
 */
export interface JsonField {
  path: readonly string[];
  kind: FieldKind | "timeAny";
}

/** Which lines of a JSON log are entries of another kind: their reason, or undefined for a line to read. */
export type JsonEntryFilter = (object: Record<string, unknown>) => string | undefined;

/**
 * Caddy's JSON access log (caddyserver.com/docs/logging, the `http.log.access` logger): `ts` is epoch seconds with a
 * fraction by default, or another shape of its `time_format` (read by caddyTimeOf), headers are arrays of values (the
 * first counts). `client_ip` (Caddy 2.7+, the client behind trusted proxies) overrides `remote_ip` (the peer, which
 * GoAccess's CADDY format reads).
 */
export const CADDY_FIELDS: readonly JsonField[] = [
  { path: ["ts"], kind: "timeAny" },
  { path: ["request", "remote_ip"], kind: "ip" },
  { path: ["request", "client_ip"], kind: "ip" },
  { path: ["request", "method"], kind: "method" },
  { path: ["request", "uri"], kind: "pathWithQuery" },
  { path: ["request", "proto"], kind: "protocol" },
  { path: ["request", "headers", "Referer"], kind: "referrer" },
  { path: ["request", "headers", "User-Agent"], kind: "userAgent" },
  { path: ["user_id"], kind: "user" },
  { path: ["status"], kind: "status" },
  { path: ["size"], kind: "bytes" },
];

/**
 * Caddy writes every logger's entries as JSON, and a file may hold more than access entries (a `log` whose output is
 * shared, the default logger): a line whose `logger` is not `http.log.access` or `http.log.access.<name>` is no
 * request to count. An `http.log.error` entry even has the request and a status, which would count a failed request
 * twice; a TLS or proxy message would fill the dead letters. They are skipped as W3C directives are: neither read
 * nor dead-lettered. A line without a `logger` key is read.
 */
export const caddyOtherLogger: JsonEntryFilter = (object) => {
  const logger = object.logger;
  if (typeof logger !== "string" || logger === "http.log.access" || logger.startsWith("http.log.access.")) return undefined;
  return `a ${logger} entry, not an access log entry`;
};

/**
 * The fields of an nginx `log_format` whose text is a JSON object (as written for `escape=json`), e.g.
 * `{"time":"$time_iso8601","ip":"$remote_addr","request":"$request","status":$status}`: a value that is exactly one
 * $variable (quoted or not) maps its key path to that variable's meaning; other values are ignored. Throws
 * LogFormatError when the text is no JSON object or lacks a client address, a time or a status.
 */
export function jsonFieldsOfNginxFormat(format: string): JsonField[] {
  const text = unquoteNginx(format.trim());
  let template: unknown;
  try {
    template = JSON.parse(quoteBareVariables(text));
  } catch (error) {
    throw new LogFormatError(`the JSON log_format is not a JSON object once its $variables are quoted: ${(error as Error).message}`);
  }
  if (template === null || typeof template !== "object" || Array.isArray(template)) throw new LogFormatError("the JSON log_format is not a JSON object");
  const fields: JsonField[] = [];
  const walk = (value: unknown, path: string[]) => {
    if (typeof value === "string") {
      const variable = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(value);
      const kind = variable === null ? undefined : NGINX_VARIABLES[variable[1]];
      if (kind !== undefined) fields.push({ path, kind });
    } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, [...path, key]);
    }
  };
  walk(template, []);
  const kinds = new Set(fields.map((field) => field.kind));
  const missing: string[] = [];
  if (!kinds.has("ip")) missing.push('a client address ("$remote_addr")');
  if (![...kinds].some((kind) => kind.startsWith("time"))) missing.push('a time ("$time_iso8601", "$time_local" or "$msec")');
  if (!kinds.has("status")) missing.push('a status ("$status")');
  if (missing.length > 0) throw new LogFormatError(`JSON log_format ${text} lacks ${missing.join(", ")}`);
  return fields;
}

/** Whether a log format string is an nginx log_format's JSON text (`{…}`, or written as nginx's '…' segments). */
export function isJsonLogFormat(format: string): boolean {
  return /^'?\s*\{/.test(format.trim());
}

/** `"status":$status` → `"status":"$status"`: $variables outside JSON strings become strings, so the template parses. */
function quoteBareVariables(text: string): string {
  let out = "";
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (inString) {
      out += char;
      if (char === "\\") out += text[++index] ?? "";
      else if (char === '"') inString = false;
      continue;
    }
    if (char === '"') inString = true;
    const variable = char === "$" ? /^\$(?:\{[A-Za-z0-9_]+\}|[A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(index)) : null;
    if (variable === null) {
      out += char;
      continue;
    }
    out += `"${variable[0]}"`;
    index += variable[0].length - 1;
  }
  return out;
}

/**
 * A reader of JSON-lines access logs with these fields (and lines `otherEntry` names skipped); it keeps no state
 * between lines. `wallZone`: the zone of Caddy's zoneless `wall` times (caddyTimeOf); absent, UTC.
 */
export function compileJsonLogReader(fields: readonly JsonField[], otherEntry?: JsonEntryFilter, wallZone?: LocalTimeZone): AccessLineReader {
  const line = new RecordLine();
  return (raw) => {
    const tooLarge = tooLargeLine(raw);
    if (tooLarge !== undefined) return tooLarge;
    if (raw.trim() === "") return { ok: false, reason: "empty line" };
    let value: unknown;
    try {
      // A file written with a UTF-8 byte order mark has it before its first line, where JSON.parse refuses it.
      value = JSON.parse(raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw);
    } catch (error) {
      return { ok: false, reason: `not JSON: ${(error as Error).message}` };
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) return { ok: false, reason: "not a JSON object" };
    const other = otherEntry?.(value as Record<string, unknown>);
    if (other !== undefined) return { ok: false, code: "skipped", reason: other };
    const record = recordOf(value as Record<string, unknown>, fields, wallZone);
    return typeof record === "string" ? { ok: false, reason: record } : line.hold(record);
  };
}

function recordOf(object: Record<string, unknown>, fields: readonly JsonField[], wallZone: LocalTimeZone | undefined): AccessRecord | string {
  const record: AccessRecord = { ip: "", ident: null, user: null, ts: Number.NaN, method: null, path: null, protocol: null, status: 0, bytes: 0 };
  let pathOnly: string | null = null;
  let query: string | null = null;
  let status: string | undefined;
  for (const { path, kind } of fields) {
    const text = textAt(object, path);
    if (text === undefined) {
      if (kind === "referrer" || kind === "userAgent") record[kind] ??= null;
      continue;
    }
    const value = text === "" || text === "-" ? null : text;
    switch (kind) {
      case "ip":
        if (value !== null) record.ip = value;
        break;
      case "user":
        record.user = value;
        break;
      case "timeLocal":
        record.ts = /^\d{2}\/[A-Za-z]{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$/.test(text) ? parseClfTime(text) : Number.NaN;
        break;
      case "timeIso":
        record.ts = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})$/.test(text) ? validIso(text) : Number.NaN;
        break;
      case "timeMsec":
      case "timeSec":
        record.ts = /^\d+(?:\.\d+)?$/.test(text) ? Math.round(Number(text) * 1000) : Number.NaN;
        break;
      case "timeAny":
        record.ts = caddyTimeOf(text, wallZone);
        break;
      case "status":
        status = text;
        break;
      case "bytes":
        record.bytes = value === null ? 0 : Number(value);
        if (!Number.isSafeInteger(record.bytes) || record.bytes < 0) return `${path.join(".")} "${text}" is not a byte count`;
        break;
      case "request":
        if (value !== null) splitRequestLine(value, record as AccessHead);
        break;
      case "method":
      case "protocol":
        record[kind] = value;
        break;
      case "pathWithQuery":
        record.path = value;
        break;
      case "pathOnly":
        pathOnly = value;
        break;
      case "query":
        query = value;
        break;
      case "referrer":
      case "userAgent":
        record[kind] = value;
        break;
    }
  }
  if (record.path === null && pathOnly !== null) record.path = joinQuery(pathOnly, query);
  if (record.ip === "") return `no client address at ${pathsOf(fields, "ip")}`;
  if (status === undefined || !/^\d{3}$/.test(status)) return status === undefined ? `no status at ${pathsOf(fields, "status")}` : `status "${status}" is not a 3-digit status`;
  record.status = Number(status);
  if (Number.isNaN(record.ts)) return `no valid time at ${pathsOf(fields, "time")}`;
  if (record.ts < 0) return "the time is before 1970";
  return record;
}

/** The value at `path` as text: a string, a number, or an array's first element (Caddy's header lists). */
function textAt(object: Record<string, unknown>, path: readonly string[]): string | undefined {
  let value: unknown = object;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  if (Array.isArray(value)) value = value[0];
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

function pathsOf(fields: readonly JsonField[], kind: string): string {
  return fields.filter((field) => field.kind.startsWith(kind)).map((field) => field.path.join(".")).join(" or ");
}

/**
 * Epoch ms of a time in a shape Caddy's `time_format` writes: a number is epoch seconds (`unix_seconds_float`, the
 * default), milliseconds (`unix_milli_float`) or nanoseconds (`unix_nano`), told apart by size (seconds below 1e11,
 * i.e. before the year 5138; milliseconds below 1e14; microseconds below 1e17; else nanoseconds); text is ISO 8601 /
 * RFC 3339 with its zone (`iso8601`, `rfc3339`, `rfc3339_nano`), `common_log`, or `wall`/`wall_milli`/`wall_nano`
 * (`2006/01/02 15:04:05`), which has no zone: Caddy writes it in UTC, or with `time_local` in the server's zone, which
 * `wallZone` names (absent: UTC). Its spring gap and autumn overlap are resolved as LocalTimeZone does. NaN otherwise.
 */
export function caddyTimeOf(text: string, wallZone?: LocalTimeZone): number {
  if (/^\d+(?:\.\d+)?$/.test(text)) return epochTimeOf(Number(text));
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})$/.test(text)) return validIso(text);
  if (/^\d{2}\/[A-Za-z]{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$/.test(text)) return parseClfTime(text);
  const wall = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$/.exec(text);
  if (wall === null) return Number.NaN;
  // The wall-clock time as if it were UTC's, then moved by the zone's offset at it.
  const wallMs = validIso(`${wall[1]}-${wall[2]}-${wall[3]}T${wall[4]}Z`);
  return wallZone === undefined || Number.isNaN(wallMs) ? wallMs : wallZone.instantOf(wallMs);
}

function epochTimeOf(value: number): number {
  const scale = value < 1e11 ? 1000 : value < 1e14 ? 1 : value < 1e17 ? 1e-3 : 1e-6;
  return Math.round(value * scale);
}

/** Date.parse of an ISO date-time, NaN for a day that does not exist (Date.parse rolls 02-30 over to March). */
function validIso(text: string): number {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return ms;
  const [year, month, day] = text.slice(0, 10).split("-").map(Number);
  const local = /(?:Z|[+-]\d{2}:?\d{2})$/.exec(text)?.[0] ?? "Z";
  const offsetMinutes = local === "Z" ? 0 : (local[0] === "-" ? -1 : 1) * (Number(local.slice(1, 3)) * 60 + Number(local.slice(-2)));
  const wallClock = new Date(ms + offsetMinutes * 60_000);
  return wallClock.getUTCFullYear() === year && wallClock.getUTCMonth() === month - 1 && wallClock.getUTCDate() === day ? ms : Number.NaN;
}
