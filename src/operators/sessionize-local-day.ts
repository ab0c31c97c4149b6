// Calendar day of an instant in an IANA time zone, for splitting sessions at local midnight.

const QUARTER_HOUR_MS = 900_000;
const DAY_MS = 86_400_000;
const CACHE_LIMIT = 4096;

/** Days since 1970-01-01 in local time of one zone, cached per quarter hour (every zone's offset is a multiple of 15 min). */
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
    if (cached !== undefined) return cached;
    let year = 0;
    let month = 0;
    let day = 0;
    for (const part of this.#format.formatToParts(bucket * QUARTER_HOUR_MS)) {
      if (part.type === "year") year = Number(part.value);
      else if (part.type === "month") month = Number(part.value);
      else if (part.type === "day") day = Number(part.value);
    }
    const localDay = Date.UTC(year, month - 1, day) / DAY_MS;
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(bucket, localDay);
    return localDay;
  }
}
