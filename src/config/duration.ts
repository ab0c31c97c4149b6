// Durations as people write them in pipeline files: "500ms", "30s", "30m", "12h", "7d".
import { z } from "zod";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parses "30m" into 1_800_000; returns undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2]]);
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
