// Durations as people write them in pipeline files: "500ms", "30s", "30m", "12h", "7d".
import { z } from "zod";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
// One or more parts, largest unit first, each unit once: "30m", "1.5h", "1h30m" (as Go and Prometheus write them).
const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?d)?(?:\d+(?:\.\d+)?h)?(?:\d+(?:\.\d+)?m(?!s))?(?:\d+(?:\.\d+)?s)?(?:\d+(?:\.\d+)?ms)?$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** The longest duration a config may hold, 100 years: an event time plus it stays a valid date. */
export const MAX_DURATION_MS = 36_500 * UNIT_MS.d;

/** Parses "30m" into 1_800_000 and "1h30m" into 5_400_000; returns undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === "" || !DURATION_PATTERN.test(trimmed)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit];
  return Math.round(ms);
}

/** Formats milliseconds back into the largest exact unit, e.g. 1_800_000 → "30m". */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"] as const) {
    if (ms !== 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

// Unit words people write for the units parseDuration reads ("30 minutes", "10min", "1800sec", "2 hrs").
const UNIT_WORDS: Record<string, string> = {
  ms: "ms", msec: "ms", msecs: "ms", millis: "ms", millisecond: "ms", milliseconds: "ms",
  s: "s", sec: "s", secs: "s", second: "s", seconds: "s",
  m: "m", min: "m", mins: "m", minute: "m", minutes: "m",
  h: "h", hr: "h", hrs: "h", hour: "h", hours: "h",
  d: "d", day: "d", days: "d",
};
const WORD_PART = /(\d+(?:\.\d+)?)\s*([a-z]+)/gi;
const ISO_8601 = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i;

/**
 * The duration `text` most likely means, written as parseDuration reads it: "30 minutes" → "30m", "1h 30m" → "1h30m",
 * "PT1H30M" (ISO 8601) → "1h30m"; undefined when there is no single reading. "30M" gets none: it may mean months.
 */
export function durationSuggestion(text: string): string | undefined {
  const trimmed = text.trim();
  const iso = ISO_8601.exec(trimmed);
  if (iso !== null && /\d/.test(trimmed)) {
    const [, days, hours, minutes, seconds] = iso;
    return checked([[days, "d"], [hours, "h"], [minutes, "m"], [seconds, "s"]].filter(([amount]) => amount !== undefined).map(([amount, unit]) => `${Number(amount)}${unit}`).join(""));
  }
  const parts = [...trimmed.matchAll(WORD_PART)];
  // Only amounts with units, separated by spaces, commas or "and": nothing else of the text may be left over.
  if (parts.length === 0 || trimmed.replace(WORD_PART, "").replace(/\band\b|[\s,]/gi, "") !== "") return undefined;
  const written = parts.map(([, amount, word]) => (word === "M" ? undefined : UNIT_WORDS[word.toLowerCase()] === undefined ? undefined : `${amount}${UNIT_WORDS[word.toLowerCase()]}`));
  if (written.some((part) => part === undefined)) return undefined;
  return checked(written.join(""));
}

function checked(candidate: string): string | undefined {
  return parseDuration(candidate) === undefined ? undefined : candidate;
}

function notADuration(text: string): { message: string; hint?: string } {
  const message = `expected a duration like "30m" (units ms, s, m, h, d), got "${text}"`;
  const positive = /^\s*-/.test(text) ? (parseDuration(text.trim().slice(1)) === undefined ? undefined : text.trim().slice(1)) : undefined;
  if (positive !== undefined) return { message, hint: `A duration is a length of time, never negative: write one such as "${positive}".` };
  const suggestion = durationSuggestion(text);
  return { message, hint: suggestion === undefined ? undefined : `Did you mean "${suggestion}"?` };
}

function durationSchema() {
  return z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      const { message, hint } = notADuration(text);
      ctx.addIssue({ code: "custom", message, ...(hint === undefined ? {} : { params: { hint } }) });
      return z.NEVER;
    }
    if (ms > MAX_DURATION_MS) {
      ctx.addIssue({ code: "custom", message: `duration "${text}" is longer than 100 years (36500d)`, params: { hint: "Use a length of time an event-time pipeline can wait, such as 1h or 7d." } });
      return z.NEVER;
    }
    return ms;
  });
}

/** A zod schema accepting a duration string and producing milliseconds; with a default, the key may be omitted. */
export function duration(): ReturnType<typeof durationSchema>;
export function duration(defaultValue: string): z.ZodPrefault<ReturnType<typeof durationSchema>>;
export function duration(defaultValue?: string) {
  const schema = durationSchema();
  return defaultValue === undefined ? schema : schema.prefault(defaultValue);
}
