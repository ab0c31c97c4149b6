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

function durationSchema() {
  return z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: `expected a duration like "30m" (units ms, s, m, h, d), got "${text}"` });
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
