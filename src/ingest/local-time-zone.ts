// `publish --timezone Europe/London`: the instant of a local wall-clock time in an IANA zone, by Intl (no tz database
// of our own), cached per local day so that a file of millions of rows asks Intl a few times per day it spans.
import { closestMatch } from "../config/did-you-mean.ts";

const DAY_MS = 86_400_000;
const CACHE_LIMIT = 4096;
/** Cached for a local day near an offset change: the change is looked up. */
const NEAR_CHANGE = Number.NaN;

/** An offset change: the first instant (a whole second) of the offset `after`. */
interface OffsetChange {
  at: number;
  before: number;
  after: number;
}

export class UnknownTimeZoneError extends Error {
  override name = "UnknownTimeZoneError";
}

/**
 * A zone's local times as instants. A local time the zone skips (the spring gap) is moved forward by the gap's length
 * (Europe/London 2011-03-27 01:30 is 02:30 BST, 01:30 UTC); one it has twice (the autumn overlap) is the earlier
 * instant, still at the summer offset (2011-10-30 01:30 is 01:30 BST, 00:30 UTC). These are java.time's rules
 * (ZonedDateTime.of, Spark's to_timestamp), JavaScript Temporal's "compatible" and RFC 5545's (iCalendar). DuckDB's
 * timezone() (ICU) differs on the overlap: it takes the later instant.
 */
export class LocalTimeZone {
  readonly name: string;
  readonly #format: Intl.DateTimeFormat | undefined;
  readonly #offsetByDay = new Map<number, number>();
  readonly #changeByDay = new Map<number, OffsetChange>();

  /** Throws UnknownTimeZoneError, naming a close zone name when there is one. */
  constructor(name: string) {
    let format: Intl.DateTimeFormat;
    try {
      format = new Intl.DateTimeFormat("en-US", {
        timeZone: name,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
      });
    } catch {
      const meant = closestMatch(name, ["UTC", ...Intl.supportedValuesOf("timeZone")]);
      throw new UnknownTimeZoneError(`"${name}" is not a time zone${meant === undefined ? "" : ` (did you mean "${meant}"?)`}`);
    }
    this.name = format.resolvedOptions().timeZone;
    this.#format = this.name === "UTC" || this.name === "Etc/UTC" ? undefined : format;
  }

  /** The instant (epoch ms) of a local wall-clock time, given as epoch ms as if the wall clock were UTC's. */
  instantOf(wallMs: number): number {
    if (this.#format === undefined) return wallMs;
    const day = Math.floor(wallMs / DAY_MS);
    let offset = this.#offsetByDay.get(day);
    if (offset === undefined) {
      // The same offset a day before and a day after the local day (offsets lie within a day of UTC): no change in
      // between, as zones change at most a few times a year.
      const before = this.offsetAt(day * DAY_MS - DAY_MS);
      const after = this.offsetAt((day + 2) * DAY_MS);
      offset = before === after ? before : NEAR_CHANGE;
      if (this.#offsetByDay.size >= CACHE_LIMIT) this.#offsetByDay.clear();
      this.#offsetByDay.set(day, offset);
    }
    return Number.isNaN(offset) ? instantAround(wallMs, this.#changeNear(day)) : wallMs - offset;
  }

  /** The one offset change within a day of local day `day`, found by bisection to the second and cached. */
  #changeNear(day: number): OffsetChange {
    const cached = this.#changeByDay.get(day);
    if (cached !== undefined) return cached;
    let before = day * DAY_MS - DAY_MS;
    let after = (day + 2) * DAY_MS;
    const change = { at: after, before: this.offsetAt(before), after: this.offsetAt(after) };
    // offsetAt(before) is the old offset and offsetAt(after) the new one, down to one second apart.
    while (after - before > 1000) {
      const middle = before + Math.floor((after - before) / 2000) * 1000;
      if (this.offsetAt(middle) === change.before) before = middle;
      else after = middle;
    }
    change.at = after;
    if (this.#changeByDay.size >= CACHE_LIMIT) this.#changeByDay.clear();
    this.#changeByDay.set(day, change);
    return change;
  }

  /** The zone's offset east of UTC, in ms, at an instant. */
  offsetAt(instant: number): number {
    if (this.#format === undefined) return 0;
    const wholeSecond = Math.floor(instant / 1000) * 1000;
    const parts = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
    for (const part of this.#format.formatToParts(wholeSecond)) {
      if (part.type in parts) parts[part.type as keyof typeof parts] = Number(part.value);
    }
    return Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second) - wholeSecond;
  }

}

/**
 * Near a change the offsets before and after it are both candidates: one holds when its instant is on its side of the
 * change. Both: the overlap, the earlier instant; neither: the gap, read with the offset before (moved forward).
 */
function instantAround(wallMs: number, change: OffsetChange): number {
  const withBefore = wallMs - change.before;
  const withAfter = wallMs - change.after;
  const beforeHolds = withBefore < change.at;
  const afterHolds = withAfter >= change.at;
  if (beforeHolds && afterHolds) return Math.min(withBefore, withAfter);
  return afterHolds ? withAfter : withBefore;
}
