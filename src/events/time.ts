// Event-time parsing: ISO 8601 with an offset (or Z) and epoch milliseconds (number or digit string) to epoch ms.

/**
 * The last millisecond of 9999-12-31 UTC. Later instants (a Date goes on to year 275760) have no YYYY-MM-DD day for
 * the tables' dt partitions: ts 8e15 made `dt=+255479-11-…`.
 */
export const MAX_EPOCH_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const DIGIT_0 = 48;
const DIGIT_9 = 57;

/**
 * Parses an event time. Accepts:
 * - a finite number ≥ 0 of epoch milliseconds (a fraction is truncated: timestamps are whole milliseconds);
 * - a string of 1–16 ASCII digits, read as epoch milliseconds (trackers often send numbers as strings);
 * - an ISO 8601 / RFC 3339 date-time with an offset: `YYYY-MM-DDTHH:MM[:SS[.fraction]](Z|±HH:MM|±HHMM|±HH)`,
 *   `T` may also be `t` or a space. Fractions beyond milliseconds are truncated; second 60 (a leap second)
 *   counts as the first second of the next minute, as Date.UTC does.
 * Returns undefined for anything else, including a date-time without an offset (its instant is unknown),
 * negative instants (before 1970) and instants a Date cannot hold.
 */
export function parseEventTime(value: unknown): number | undefined {
  if (typeof value === "number") {
    if (!(value >= 0 && value <= MAX_EPOCH_MS)) return undefined; // also rejects NaN
    return Math.trunc(value);
  }
  if (typeof value !== "string") return undefined;
  const length = value.length;
  if (length === 0) return undefined;
  if (length <= 16 && isAllDigits(value)) {
    const epochMs = Number(value);
    return epochMs <= MAX_EPOCH_MS ? epochMs : undefined;
  }
  return parseIsoWithOffset(value);
}

function isAllDigits(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < DIGIT_0 || code > DIGIT_9) return false;
  }
  return true;
}

/** Reads `count` ASCII digits at `at` as a number, or -1 when any of them is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  if (at + count > text.length) return -1;
  let result = 0;
  for (let i = at; i < at + count; i++) {
    const code = text.charCodeAt(i);
    if (code < DIGIT_0 || code > DIGIT_9) return -1;
    result = result * 10 + (code - DIGIT_0);
  }
  return result;
}

/** Days in `month` (1–12) of `year`, Gregorian leap years. */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Hand-written because Date.parse accepts offset-less local times and many non-ISO forms. */
export function parseIsoWithOffset(text: string): number | undefined {
  const year = digitsAt(text, 0, 4);
  // Before 1969 is negative epoch time in any offset.
  if (year < 1969 || text.charCodeAt(4) !== 45 /* - */) return undefined;
  const month = digitsAt(text, 5, 2);
  if (month < 1 || month > 12 || text.charCodeAt(7) !== 45) return undefined;
  const day = digitsAt(text, 8, 2);
  if (day < 1 || day > daysInMonth(year, month)) return undefined;
  const separator = text.charCodeAt(10);
  if (separator !== 84 /* T */ && separator !== 116 /* t */ && separator !== 32 /* space */) return undefined;
  const hour = digitsAt(text, 11, 2);
  if (hour < 0 || hour > 23 || text.charCodeAt(13) !== 58 /* : */) return undefined;
  const minute = digitsAt(text, 14, 2);
  if (minute < 0 || minute > 59) return undefined;
  let at = 16;
  let second = 0;
  let millisecond = 0;
  if (text.charCodeAt(at) === 58) {
    second = digitsAt(text, at + 1, 2);
    if (second < 0 || second > 60) return undefined;
    at += 3;
    if (text.charCodeAt(at) === 46 /* . */ || text.charCodeAt(at) === 44 /* , */) {
      at++;
      const fractionStart = at;
      while (at < text.length && text.charCodeAt(at) >= DIGIT_0 && text.charCodeAt(at) <= DIGIT_9) at++;
      const fractionLength = at - fractionStart;
      if (fractionLength === 0) return undefined;
      const kept = Math.min(fractionLength, 3);
      millisecond = digitsAt(text, fractionStart, kept) * (kept === 1 ? 100 : kept === 2 ? 10 : 1);
    }
  }
  const offsetMinutes = parseOffset(text, at);
  if (offsetMinutes === undefined) return undefined;
  const epochMs =
    daysFromCivil(year, month, day) * 86_400_000 +
    ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 +
    millisecond;
  if (!(epochMs >= 0 && epochMs <= MAX_EPOCH_MS)) return undefined;
  return epochMs;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil): no Date object. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/** The offset at `at` to the end of the text, in minutes east of UTC, or undefined when malformed. */
function parseOffset(text: string, at: number): number | undefined {
  const sign = text.charCodeAt(at);
  const rest = text.length - at;
  if (sign === 90 /* Z */ || sign === 122 /* z */) return rest === 1 ? 0 : undefined;
  if (sign !== 43 /* + */ && sign !== 45 /* - */ && sign !== 0x2212 /* − minus sign */) return undefined;
  const hours = digitsAt(text, at + 1, 2);
  if (hours < 0 || hours > 23) return undefined;
  let minutes = 0;
  if (rest === 3) minutes = 0;
  else if (rest === 6 && text.charCodeAt(at + 3) === 58) minutes = digitsAt(text, at + 4, 2);
  else if (rest === 5) minutes = digitsAt(text, at + 3, 2);
  else return undefined;
  if (minutes < 0 || minutes > 59) return undefined;
  const total = hours * 60 + minutes;
  return sign === 43 ? total : -total;
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, "0"));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
const DAY_MS = 86_400_000;
let cachedDay = Number.NaN;
let cachedDayPrefix = "";

/**
 * `new Date(epochMs).toISOString()` for instants in 1970–9999, several times faster for time-ordered input:
 * the `YYYY-MM-DDT` prefix is cached for the last day seen.
 */
export function formatIsoUtc(epochMs: number): string {
  if (!(epochMs >= 0 && epochMs < 253402300800000) || !Number.isInteger(epochMs)) return new Date(epochMs).toISOString();
  const day = Math.floor(epochMs / DAY_MS);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDayPrefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
  }
  let rest = epochMs - day * DAY_MS;
  const millisecond = rest % 1000;
  rest = (rest - millisecond) / 1000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  const hour = (rest - minute) / 60;
  return `${cachedDayPrefix}${TWO_DIGITS[hour]}:${TWO_DIGITS[minute]}:${TWO_DIGITS[second]}.${THREE_DIGITS[millisecond]}Z`;
}

let cachedUtcDay = Number.NaN;
let cachedUtcDayText = "";

/**
 * The UTC day "YYYY-MM-DD" of an instant, as `new Date(epochMs).toISOString().slice(0, 10)` (which it falls back to
 * outside 1970–9999, throwing the same RangeError for NaN): cached for the last day, since partitioning asks it per row.
 */
export function formatUtcDay(epochMs: number): string {
  const day = Math.floor(epochMs / DAY_MS);
  if (day === cachedUtcDay) return cachedUtcDayText;
  const text = new Date(epochMs).toISOString().slice(0, 10);
  if (epochMs >= 0 && epochMs < 253402300800000) {
    cachedUtcDay = day;
    cachedUtcDayText = text;
  }
  return text;
}
