// Calendar days as "YYYY-MM-DD" text and whole-day arithmetic in UTC (snapshot dates are UTC days).

export const DAY_MS = 86_400_000;
const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** Epoch ms of the day's start, or undefined when the text is not a real calendar day. */
export function parseDay(text: string): number | undefined {
  if (!DATE_PATTERN.test(text)) return undefined;
  const ms = Date.parse(`${text}T00:00:00Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== text) return undefined;
  return ms;
}

export function formatDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function addDays(day: string, days: number): string {
  return formatDay(parseDay(day)! + days * DAY_MS);
}

/** Whole days from `from` to `to`. */
export function daysBetween(from: string, to: string): number {
  return Math.round((parseDay(to)! - parseDay(from)!) / DAY_MS);
}
