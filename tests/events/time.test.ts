// Event-time parsing against instants computed independently (Python datetime.fromisoformat().timestamp()).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { formatIsoUtc, parseEventTime } from "../../src/events/time.ts";

describe("parseEventTime", () => {
  it.each([
    ["2015-05-17T10:05:03+02:00", 1431849903000],
    ["2015-05-17T08:05:03Z", 1431849903000],
    ["2015-05-17T08:05:03z", 1431849903000],
    ["2015-05-17 08:05:03Z", 1431849903000],
    ["2015-05-17T10:05:03+0200", 1431849903000],
    ["2015-05-17T10:05:03+02", 1431849903000],
    ["2015-05-17T10:05:03.123456-05:30", 1431876903123],
    ["2015-05-17T10:05:00+14:00", 1431806700000],
    ["2015-05-17T10:05+14:00", 1431806700000],
    ["2026-01-05T00:00:00.000Z", 1767571200000],
    ["2024-02-29T23:59:59.999Z", 1709251199999],
    ["1969-12-31T23:00:00-02:00", 3600000],
    ["2015-05-17T08:05:03.1Z", 1431849903100],
    ["2015-05-17T08:05:03.12Z", 1431849903120],
  ])("reads %s as %i epoch ms", (text, expected) => {
    expect(parseEventTime(text)).toBe(expected);
  });

  it.each([
    [1431849903000, 1431849903000],
    [0, 0],
    [1431849903000.9, 1431849903000],
    ["1431849903000", 1431849903000],
    ["0", 0],
  ])("reads epoch milliseconds %j as %i", (value, expected) => {
    expect(parseEventTime(value)).toBe(expected);
  });

  it.each([
    ["a local time without offset", "2015-05-17T10:05:03"],
    ["a date alone", "2015-05-17"],
    ["February 30th", "2015-02-30T00:00:00Z"],
    ["29 February of a non-leap year", "2015-02-29T00:00:00Z"],
    ["hour 24", "2015-05-17T24:00:00Z"],
    ["a time before 1970", "1969-12-31T23:59:59Z"],
    ["year 0070 (Date.UTC would read 1970)", "0070-01-01T00:00:00Z"],
    ["a negative number", -1],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["a number past Date's range", 8.64e15 + 1],
    ["a number after year 9999 (no YYYY-MM-DD day for a partition)", Date.UTC(10000, 0, 1)],
    ["a digit string after year 9999", String(Date.UTC(10000, 0, 1))],
    ["a signed digit string", "-5"],
    ["an RFC 2822 date", "Sun, 17 May 2015 08:05:03 GMT"],
    ["trailing text", "2015-05-17T08:05:03Zjunk"],
    ["an empty fraction", "2015-05-17T08:05:03.Z"],
    ["an offset of 24 hours", "2015-05-17T08:05:03+24:00"],
    ["an empty string", ""],
    ["a boolean", true],
    ["null", null],
  ])("rejects %s", (_label, value) => {
    expect(parseEventTime(value)).toBeUndefined();
  });

  it("agrees with Date for every ISO string Date itself prints (1970 to 2200)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }), (epochMs) => {
        expect(parseEventTime(new Date(epochMs).toISOString())).toBe(epochMs);
      }),
    );
  });

  it("applies an offset as minutes east of UTC", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2100, 0, 1) }),
        fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
        (utcMs, offsetMinutes) => {
          const wallClock = new Date(utcMs + offsetMinutes * 60_000).toISOString().slice(0, 23);
          const magnitude = Math.abs(offsetMinutes);
          const offset = `${offsetMinutes < 0 ? "-" : "+"}${String(Math.floor(magnitude / 60)).padStart(2, "0")}:${String(magnitude % 60).padStart(2, "0")}`;
          expect(parseEventTime(wallClock + offset)).toBe(utcMs);
        },
      ),
    );
  });
});

describe("formatIsoUtc", () => {
  it("prints what Date.prototype.toISOString prints, in any order of instants", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), { maxLength: 20 }), (instants) => {
        for (const epochMs of instants) expect(formatIsoUtc(epochMs)).toBe(new Date(epochMs).toISOString());
      }),
    );
  });

  it("prints a day boundary and the last millisecond of a day", () => {
    expect(formatIsoUtc(1767571200000)).toBe("2026-01-05T00:00:00.000Z");
    expect(formatIsoUtc(1767571199999)).toBe("2026-01-04T23:59:59.999Z");
  });
});
