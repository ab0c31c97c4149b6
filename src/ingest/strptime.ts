// `--map 'ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M)'`: a date-time pattern of %-codes, read as DuckDB's strptime reads
// it. Pure: a pattern in, a function from text to a local wall-clock time (and the offset, when the pattern has %z) out.
import { daysInMonth } from "../events/time.ts";

export class StrptimePatternError extends Error {
  override name = "StrptimePatternError";
}

/**
 * A value read by a pattern: the wall-clock time as epoch milliseconds as if it were UTC, and the offset east of UTC
 * in milliseconds when the pattern has %z (undefined: the time is local, in --timezone).
 */
export type StrptimeResult = { ok: true; wallMs: number; offsetMs: number | undefined } | { ok: false; problem: string };

export interface StrptimePattern {
  readonly pattern: string;
  /** Whether the pattern reads an offset (%z): then --timezone does not apply to it. */
  readonly readsOffset: boolean;
  parse(text: string): StrptimeResult;
}

type Field = "year" | "month" | "day" | "hour" | "hour12" | "minute" | "second" | "fraction" | "ampm" | "weekday" | "offset";

interface CodeSpec {
  field: Field;
  /** What the code reads, for messages ("the month (1–2 digits)"). */
  what: string;
  /** Digits read at most (greedy, at least one), for numeric codes. */
  digits?: number;
  /** Names read, for %b, %B, %a, %A, %p: index + `base` is the value. */
  names?: readonly string[];
  base?: number;
  /** A numeric value's range. */
  min?: number;
  max?: number;
}

const MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];
const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

/**
 * The codes, as DuckDB's strptime reads them: numbers take 1 to `digits` digits (so %m reads "1" and "01" alike, and
 * %-m is %m), names any case; a weekday name is read but not checked against the date, as DuckDB does.
 */
const CODES: Readonly<Record<string, CodeSpec>> = {
  Y: { field: "year", what: "the year (4 digits)", digits: 4 },
  y: { field: "year", what: "the year (2 digits)", digits: 2 },
  m: { field: "month", what: "the month (1–2 digits)", digits: 2, min: 1, max: 12 },
  d: { field: "day", what: "the day (1–2 digits)", digits: 2, min: 1, max: 31 },
  H: { field: "hour", what: "the hour (0–23)", digits: 2, min: 0, max: 23 },
  I: { field: "hour12", what: "the hour (1–12)", digits: 2, min: 1, max: 12 },
  M: { field: "minute", what: "the minute (0–59)", digits: 2, min: 0, max: 59 },
  S: { field: "second", what: "the second (0–59)", digits: 2, min: 0, max: 59 },
  f: { field: "fraction", what: "the fraction of a second (1–6 digits)", digits: 6 },
  g: { field: "fraction", what: "the milliseconds (1–3 digits)", digits: 3 },
  p: { field: "ampm", what: "AM or PM", names: ["am", "pm"], base: 0 },
  b: { field: "month", what: "a month's abbreviation (Jan–Dec)", names: MONTHS.map((name) => name.slice(0, 3)), base: 1 },
  h: { field: "month", what: "a month's abbreviation (Jan–Dec)", names: MONTHS.map((name) => name.slice(0, 3)), base: 1 },
  B: { field: "month", what: "a month's name (January–December)", names: MONTHS, base: 1 },
  a: { field: "weekday", what: "a weekday's abbreviation (Sun–Sat)", names: WEEKDAYS.map((name) => name.slice(0, 3)), base: 0 },
  A: { field: "weekday", what: "a weekday's name (Sunday–Saturday)", names: WEEKDAYS, base: 0 },
  z: { field: "offset", what: "an offset (+HH:MM, +HHMM, +HH or Z)" },
};

/** The codes a pattern may use, for messages and the README. */
export const STRPTIME_CODES = "%Y %y %m %d %H %I %M %S %f %g %p %b %h %B %a %A %z %T (= %H:%M:%S) %% and %-m %-d %-H %-I %-M %-S %-y (as %m …)";

const NO_DASH_FORM = new Set(["p", "b", "h", "B", "a", "A", "z", "f", "g", "Y", "T", "%"]);

type Token = { literal: string } | { whitespace: true } | { code: string; spec: CodeSpec };

/**
 * Compiles a pattern; throws StrptimePatternError naming the problem and its fix. A pattern must read a year; the
 * month and day default to 1 and the time to 00:00:00, as in DuckDB.
 */
export function compileStrptime(pattern: string): StrptimePattern {
  const tokens = tokensOf(pattern);
  const fields = new Map<Field, string>();
  for (const token of tokens) {
    if (!("code" in token)) continue;
    const earlier = fields.get(token.spec.field);
    if (earlier !== undefined) throw new StrptimePatternError(`pattern "${pattern}" reads ${token.spec.what} twice (%${earlier} and %${token.code})`);
    fields.set(token.spec.field, token.code);
  }
  if (fields.size === 0) throw new StrptimePatternError(`pattern "${pattern}" has no %-codes: write the date-time's shape, e.g. %d/%m/%Y %H:%M`);
  if (!fields.has("year")) throw new StrptimePatternError(`pattern "${pattern}" reads no year: add %Y (4 digits) or %y (2 digits)`);
  if (fields.has("day") && !fields.has("month")) throw new StrptimePatternError(`pattern "${pattern}" reads a day but no month: add %m, %b or %B`);
  if (fields.has("hour12") !== fields.has("ampm")) {
    throw new StrptimePatternError(
      fields.has("ampm")
        ? `pattern "${pattern}" reads AM/PM (%p) but no 12-hour clock hour: use %I with %p (%H is the 24-hour clock)`
        : `pattern "${pattern}" reads a 12-hour clock hour (%I) but no AM/PM: add %p, or use %H for the 24-hour clock`,
    );
  }
  if (fields.has("hour") && fields.has("hour12")) throw new StrptimePatternError(`pattern "${pattern}" reads the hour twice (%H and %I)`);
  return { pattern, readsOffset: fields.has("offset"), parse: (text) => parseWith(tokens, text) };
}

function tokensOf(pattern: string): Token[] {
  const tokens: Token[] = [];
  let literal = "";
  const flush = () => {
    if (literal !== "") tokens.push({ literal });
    literal = "";
  };
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index];
    if (/\s/.test(char)) {
      flush();
      if (!("whitespace" in (tokens.at(-1) ?? {}))) tokens.push({ whitespace: true });
      continue;
    }
    if (char !== "%") {
      literal += char;
      continue;
    }
    let code = pattern[index + 1];
    const dashed = code === "-";
    if (dashed) code = pattern[index + 2];
    const written = `%${dashed ? "-" : ""}${code ?? ""}`;
    if (code === undefined) throw new StrptimePatternError(`pattern "${pattern}" ends in "${written}": a % starts a code (write %% for a % sign)`);
    index += dashed ? 2 : 1;
    if (dashed && NO_DASH_FORM.has(code)) throw new StrptimePatternError(`pattern "${pattern}": ${written} is not a code (write %${code})`);
    if (code === "%") literal += "%";
    else if (code === "T") {
      flush();
      tokens.push({ code: "H", spec: CODES.H }, { literal: ":" }, { code: "M", spec: CODES.M }, { literal: ":" }, { code: "S", spec: CODES.S });
    } else {
      const spec = Object.hasOwn(CODES, code) ? CODES[code] : undefined;
      if (spec === undefined) throw new StrptimePatternError(`pattern "${pattern}": ${written} is not a code it reads (codes: ${STRPTIME_CODES})`);
      flush();
      tokens.push({ code, spec });
    }
  }
  flush();
  return tokens;
}

function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** A value is read from its first to its last character that is not whitespace (as DuckDB does); the rest must match. */
function parseWith(tokens: readonly Token[], text: string): StrptimeResult {
  let at = 0;
  let end = text.length;
  while (at < end && isSpace(text.charCodeAt(at))) at++;
  while (end > at && isSpace(text.charCodeAt(end - 1))) end--;
  let year = 0;
  let month = 1;
  let day = 1;
  let hour = 0;
  let pm: boolean | undefined;
  let minute = 0;
  let second = 0;
  let millisecond = 0;
  let offsetMs: number | undefined;
  const expected = (what: string) => ({ ok: false as const, problem: at >= end ? `it ends where ${what} should be` : `expected ${what} at "${text.slice(at, end)}"` });
  for (const token of tokens) {
    if ("literal" in token) {
      if (!text.startsWith(token.literal, at) || at + token.literal.length > end) return expected(`"${token.literal}"`);
      at += token.literal.length;
      continue;
    }
    if ("whitespace" in token) {
      if (at >= end || !isSpace(text.charCodeAt(at))) return expected("a space");
      while (at < end && isSpace(text.charCodeAt(at))) at++;
      continue;
    }
    const { spec, code } = token;
    if (spec.field === "offset") {
      const offset = offsetAt(text, at, end);
      if (offset === undefined) return expected(spec.what);
      offsetMs = offset.offsetMs;
      at = offset.next;
      continue;
    }
    if (spec.names !== undefined) {
      const index = nameAt(text, at, end, spec.names);
      if (index === -1) return expected(spec.what);
      at += spec.names[index].length;
      const value = index + (spec.base ?? 0);
      if (spec.field === "month") month = value;
      else if (spec.field === "ampm") pm = value === 1;
      continue;
    }
    const start = at;
    let value = 0;
    while (at < end && at - start < spec.digits! && isDigit(text.charCodeAt(at))) value = value * 10 + text.charCodeAt(at++) - 48;
    if (at === start) return expected(spec.what);
    if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
      return { ok: false, problem: `${spec.what.replace(/ \(.*\)$/, "")} ${text.slice(start, at)} is not ${spec.min}–${spec.max}` };
    }
    switch (spec.field) {
      case "year":
        // %y as POSIX and DuckDB read it: 69–99 are 1969–1999, 00–68 are 2000–2068.
        year = code === "y" ? (value >= 69 ? 1900 + value : 2000 + value) : value;
        break;
      case "month":
        month = value;
        break;
      case "day":
        day = value;
        break;
      case "hour":
      case "hour12":
        hour = value;
        break;
      case "minute":
        minute = value;
        break;
      case "second":
        second = value;
        break;
      case "fraction": {
        const digits = at - start;
        millisecond = digits <= 3 ? value * 10 ** (3 - digits) : Math.floor(value / 10 ** (digits - 3));
        break;
      }
      default:
        break;
    }
  }
  if (at < end) return { ok: false, problem: `"${text.slice(at, end)}" is left over after the pattern` };
  if (pm !== undefined) hour = (hour % 12) + (pm ? 12 : 0);
  // Before 1969 every instant is before 1970 in any zone: no event time.
  if (year < 1969) return { ok: false, problem: `the year ${year} is before 1970 (event times start at 1970-01-01)` };
  if (day > daysInMonth(year, month)) return { ok: false, problem: `${year}-${pad(month)}-${pad(day)} is not a calendar date` };
  return { ok: true, wallMs: Date.UTC(year, month - 1, day, hour, minute, second, millisecond), offsetMs };
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}

/** The longest of `names` at `at`, any case (so "May" is not cut short by a shorter name), or -1. */
function nameAt(text: string, at: number, end: number, names: readonly string[]): number {
  let found = -1;
  for (let index = 0; index < names.length; index++) {
    const name = names[index];
    if (at + name.length > end || (found !== -1 && name.length <= names[found].length)) continue;
    if (text.slice(at, at + name.length).toLowerCase() === name) found = index;
  }
  return found;
}

/** `+HH:MM`, `+HHMM`, `+HH` or `Z` at `at`: the offset east of UTC and where it ends. */
function offsetAt(text: string, at: number, end: number): { offsetMs: number; next: number } | undefined {
  const sign = text[at];
  if (sign === "Z" || sign === "z") return { offsetMs: 0, next: at + 1 };
  if (sign !== "+" && sign !== "-") return undefined;
  const digits = (from: number) => (from + 2 <= end && isDigit(text.charCodeAt(from)) && isDigit(text.charCodeAt(from + 1)) ? Number(text.slice(from, from + 2)) : -1);
  const hours = digits(at + 1);
  if (hours < 0 || hours > 23) return undefined;
  let next = at + 3;
  let minutes = 0;
  const colon = text[next] === ":";
  const afterColon = colon ? next + 1 : next;
  const read = digits(afterColon);
  if (read >= 0) {
    if (read > 59) return undefined;
    minutes = read;
    next = afterColon + 2;
  } else if (colon) return undefined;
  const total = (hours * 60 + minutes) * 60_000;
  return { offsetMs: sign === "-" ? -total : total, next };
}
