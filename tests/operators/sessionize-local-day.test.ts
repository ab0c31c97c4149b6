// LocalDayCalendar against local midnights computed by hand from each zone's offsets (not against Intl itself).
import { describe, expect, it } from "vitest";
import { LocalDayCalendar } from "../../src/operators/sessionize-local-day.ts";

const DAY = 86_400_000;
const dayNumber = (date: string) => Date.parse(`${date}T00:00:00Z`) / DAY;

/** Checks that the local day `date` begins exactly at the UTC instant `midnightUtc`. */
function expectDayStartsAt(calendar: LocalDayCalendar, date: string, midnightUtc: number): void {
  expect(calendar.dayOf(midnightUtc - 1), `${date}, 1 ms before`).toBe(dayNumber(date) - 1);
  expect(calendar.dayOf(midnightUtc), `${date}, at`).toBe(dayNumber(date));
  expect(calendar.dayOf(midnightUtc + 59_999), `${date}, a minute into it`).toBe(dayNumber(date));
}

describe("LocalDayCalendar", () => {
  it("has a 23-hour and a 25-hour day in Europe/Berlin (DST 2024-03-31 and 2024-10-27)", () => {
    const berlin = new LocalDayCalendar("Europe/Berlin");
    // CET +01:00 until 2024-03-31T01:00Z, CEST +02:00 until 2024-10-27T01:00Z.
    expectDayStartsAt(berlin, "2024-03-31", Date.UTC(2024, 2, 30, 23));
    expectDayStartsAt(berlin, "2024-04-01", Date.UTC(2024, 2, 31, 22)); // 23 h later
    expectDayStartsAt(berlin, "2024-10-27", Date.UTC(2024, 9, 26, 22));
    expectDayStartsAt(berlin, "2024-10-28", Date.UTC(2024, 9, 27, 23)); // 25 h later
  });

  it("has a 23-hour and a 25-hour day in America/New_York (DST 2024-03-10 and 2024-11-03)", () => {
    const newYork = new LocalDayCalendar("America/New_York");
    expectDayStartsAt(newYork, "2024-03-10", Date.UTC(2024, 2, 10, 5));
    expectDayStartsAt(newYork, "2024-03-11", Date.UTC(2024, 2, 11, 4));
    expectDayStartsAt(newYork, "2024-11-03", Date.UTC(2024, 10, 3, 4));
    expectDayStartsAt(newYork, "2024-11-04", Date.UTC(2024, 10, 4, 5));
  });

  it("starts days at half- and quarter-hour offsets (Asia/Kolkata +05:30 over a leap day and a new year, Asia/Kathmandu +05:45)", () => {
    const kolkata = new LocalDayCalendar("Asia/Kolkata");
    expectDayStartsAt(kolkata, "2024-02-29", Date.UTC(2024, 1, 28, 18, 30));
    expectDayStartsAt(kolkata, "2024-03-01", Date.UTC(2024, 1, 29, 18, 30));
    expectDayStartsAt(kolkata, "2025-01-01", Date.UTC(2024, 11, 31, 18, 30));
    expectDayStartsAt(new LocalDayCalendar("Asia/Kathmandu"), "2024-01-01", Date.UTC(2023, 11, 31, 18, 15));
  });

  it("starts a day where no midnight exists at its first local instant (America/Santiago, DST from 00:00 on 2024-09-08)", () => {
    // -04:00 until 2024-09-08T04:00Z, when 00:00 became 01:00 -03:00: the day begins at 04:00Z all the same.
    expectDayStartsAt(new LocalDayCalendar("America/Santiago"), "2024-09-08", Date.UTC(2024, 8, 8, 4));
  });

  it("starts days at an offset that is no whole quarter hour (Africa/Monrovia, −00:44:30 until 1972)", () => {
    // Local midnight of 1971-06-01 is 00:44:30 UTC: inside the quarter hour from 00:30 UTC.
    expectDayStartsAt(new LocalDayCalendar("Africa/Monrovia"), "1971-06-01", Date.UTC(1971, 5, 1, 0, 44, 30));
  });
});
