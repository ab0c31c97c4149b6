// Calendar day of an instant in an IANA time zone, for splitting sessions at local midnight.

const QUARTER_HOUR_MS = 900_000;
const DAY_MS = 86_400_000;
const CACHE_LIMIT = 4096;
/** Cached for a quarter hour in which a local day begins: its days differ, so each instant is looked up. */
const SPLIT = Number.NaN;

/**
 * Days since 1970-01-01 in local time of one zone, cached per quarter hour. Today's zones change offset on quarter
 * hours only, but not every zone did (Africa/Monrovia was −00:44:30 until 1972, so its days began at 00:44:30 UTC):
 * a quarter hour whose first and last milliseconds fall on different days is looked up per instant.
 */
export class LocalDayCalendar {
  readonly #format: Intl.DateTimeFormat;
  readonly #cache = new Map<number, number>();

  /** Throws a RangeError naming the zone when it is not a valid IANA time zone. */
  constructor(timeZone: string) {
    try {
      this.#format = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric", day: "numeric" });
    } catch {
      throw new RangeError(`unknown time zone "${timeZone}" (expected an IANA name such as "Europe/Berlin" or "UTC")`);
    }
  }

  dayOf(epochMs: number): number {
    const bucket = Math.floor(epochMs / QUARTER_HOUR_MS);
    const cached = this.#cache.get(bucket);
    if (cached !== undefined) return Number.isNaN(cached) ? this.#lookUp(epochMs) : cached;
    const first = this.#lookUp(bucket * QUARTER_HOUR_MS);
    const last = this.#lookUp((bucket + 1) * QUARTER_HOUR_MS - 1);
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(bucket, first === last ? first : SPLIT);
    return first === last ? first : this.#lookUp(epochMs);
  }

  #lookUp(epochMs: number): number {
    let year = 0;
    let month = 0;
    let day = 0;
    for (const part of this.#format.formatToParts(epochMs)) {
      if (part.type === "year") year = Number(part.value);
      else if (part.type === "month") month = Number(part.value);
      else if (part.type === "day") day = Number(part.value);
    }
    return Date.UTC(year, month - 1, day) / DAY_MS;
  }
}
