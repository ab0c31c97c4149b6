// `--map 'ts=$col:strptime(<pattern>)'` and `--timezone`: local date-times of real exports (UCI Online Retail's
// "12/1/2010 8:26", "2010-12-01 08:26:00", "01.12.2010 08:26", "20101201 082600") to instants. Every expected value
// is UTC arithmetic by hand: the wall-clock time minus the zone's offset at it (GMT +0, BST +1, EST −5, EDT −4,
// IST +5:30, Lord Howe +10:30 / +11, Nepal +5:45).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileCsvMapping, CsvMappingError } from "../../src/ingest/csv.ts";
import { LocalTimeZone } from "../../src/ingest/local-time-zone.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The ts one value gives under `--map 'type=purchase,ts=$1:<parser>'`, or the dead letter's reason. */
function tsOf(parser: string, value: string, timeZone?: string): number | string {
  const mapping = compileCsvMapping(`type=purchase,ts=$1:${parser},user_id=u`, { delimiter: "tab", timeZone });
  const result = mapping.map(value, 2);
  if (result === undefined) throw new Error("no record");
  return result.ok ? (result.record.ts as number) : result.reason;
}

const strptime = (pattern: string, value: string, timeZone?: string) => tsOf(`strptime(${pattern})`, value, timeZone);

describe("csv strptime - the shapes of real exports", () => {
  it("reads Online Retail's M/D/YYYY H:MM (1 or 2 digits, as DuckDB's %m reads) and the other common shapes, UTC without --timezone", () => {
    expect(strptime("%m/%d/%Y %H:%M", "12/1/2010 8:26")).toBe(Date.UTC(2010, 11, 1, 8, 26));
    expect(strptime("%m/%d/%Y %H:%M", "12/01/2010 08:26")).toBe(Date.UTC(2010, 11, 1, 8, 26));
    expect(strptime("%-m/%-d/%Y %-H:%M", "1/9/2011 17:05")).toBe(Date.UTC(2011, 0, 9, 17, 5));
    expect(strptime("%Y-%m-%d %H:%M:%S", "2010-12-01 08:26:00")).toBe(Date.UTC(2010, 11, 1, 8, 26));
    expect(strptime("%Y-%m-%d %T", "2010-12-01 08:26:07")).toBe(Date.UTC(2010, 11, 1, 8, 26, 7));
    expect(strptime("%d.%m.%Y %H:%M", "01.12.2010 08:26")).toBe(Date.UTC(2010, 11, 1, 8, 26));
    expect(strptime("%Y%m%d %H%M%S", "20101201 082600")).toBe(Date.UTC(2010, 11, 1, 8, 26));
    expect(strptime("%d/%m/%y %H:%M", "01/12/10 08:26")).toBe(Date.UTC(2010, 11, 1, 8, 26));
    // %y as POSIX: 69–99 are 19xx.
    expect(strptime("%d/%m/%y", "01/12/99")).toBe(Date.UTC(1999, 11, 1));
    expect(strptime("%d %b %Y %I:%M %p", "1 Dec 2010 8:26 PM")).toBe(Date.UTC(2010, 11, 1, 20, 26));
    expect(strptime("%d %b %Y %I:%M %p", "1 dec 2010 12:26 am")).toBe(Date.UTC(2010, 11, 1, 0, 26));
    expect(strptime("%d %b %Y %I:%M %p", "1 DEC 2010 12:26 pm")).toBe(Date.UTC(2010, 11, 1, 12, 26));
    expect(strptime("%B %d %Y", "May 3 2011")).toBe(Date.UTC(2011, 4, 3));
    expect(strptime("%B %d %Y", "September 3 2011")).toBe(Date.UTC(2011, 8, 3));
    expect(strptime("%a, %d %b %Y %H:%M:%S %z", "Wed, 01 Dec 2010 08:26:00 +0100")).toBe(Date.UTC(2010, 11, 1, 7, 26));
    expect(strptime("%Y-%m-%d %H:%M:%S.%f", "2010-12-01 08:26:00.123456")).toBe(Date.UTC(2010, 11, 1, 8, 26, 0, 123));
    expect(strptime("%Y-%m-%d %H:%M:%S.%f", "2010-12-01 08:26:00.5")).toBe(Date.UTC(2010, 11, 1, 8, 26, 0, 500));
    expect(strptime("%Y-%m-%d %H:%M:%S.%g", "2010-12-01 08:26:00.07")).toBe(Date.UTC(2010, 11, 1, 8, 26, 0, 70));
    expect(strptime("%Y-%m", "2010-12")).toBe(Date.UTC(2010, 11, 1));
    expect(strptime("100%% %Y", "100% 2010")).toBe(Date.UTC(2010, 0, 1));
    // A space in the pattern takes any run of whitespace; whitespace around the value is not read (as DuckDB).
    expect(strptime("%m/%d/%Y %H:%M", "  12/1/2010    8:26 ")).toBe(Date.UTC(2010, 11, 1, 8, 26));
  });

  it("reads %z (+HH:MM, +HHMM, +HH, Z) as the value's own offset, whatever --timezone says", () => {
    for (const [text, expected] of [
      ["2010-12-01 08:26 +05:30", Date.UTC(2010, 11, 1, 2, 56)],
      ["2010-12-01 08:26 -0530", Date.UTC(2010, 11, 1, 13, 56)],
      ["2010-12-01 08:26 +01", Date.UTC(2010, 11, 1, 7, 26)],
      ["2010-12-01 08:26 Z", Date.UTC(2010, 11, 1, 8, 26)],
    ] as const) {
      expect(strptime("%Y-%m-%d %H:%M %z", text), text).toBe(expected);
      expect(strptime("%Y-%m-%d %H:%M %z", text, "America/New_York"), text).toBe(expected);
    }
  });
});

describe("csv strptime - --timezone, across daylight saving time", () => {
  const london = (value: string) => strptime("%m/%d/%Y %H:%M", value, "Europe/London");

  it("Europe/London: GMT in winter, BST in summer", () => {
    expect(london("12/1/2010 8:26")).toBe(Date.UTC(2010, 11, 1, 8, 26));
    expect(london("6/1/2011 8:26")).toBe(Date.UTC(2011, 5, 1, 7, 26));
  });

  it("Europe/London 2011-03-27: 01:30 does not exist (01:00 GMT → 02:00 BST): moved forward by the gap, 02:30 BST", () => {
    expect(london("3/27/2011 0:59")).toBe(Date.UTC(2011, 2, 27, 0, 59));
    expect(london("3/27/2011 1:30")).toBe(Date.UTC(2011, 2, 27, 1, 30));
    expect(london("3/27/2011 2:00")).toBe(Date.UTC(2011, 2, 27, 1, 0));
    expect(london("3/27/2011 2:30")).toBe(Date.UTC(2011, 2, 27, 1, 30));
  });

  it("Europe/London 2011-10-30: 01:30 comes twice (BST, then GMT): the earlier, 00:30 UTC", () => {
    expect(london("10/30/2011 0:59")).toBe(Date.UTC(2011, 9, 29, 23, 59));
    expect(london("10/30/2011 1:30")).toBe(Date.UTC(2011, 9, 30, 0, 30));
    expect(london("10/30/2011 2:00")).toBe(Date.UTC(2011, 9, 30, 2, 0));
  });

  it("America/New_York: EST, EDT, the gap of 2011-03-13 and the overlap of 2011-11-06", () => {
    const newYork = (value: string) => strptime("%Y-%m-%d %H:%M:%S", value, "America/New_York");
    expect(newYork("2010-12-01 08:26:00")).toBe(Date.UTC(2010, 11, 1, 13, 26));
    expect(newYork("2011-07-04 20:00:00")).toBe(Date.UTC(2011, 6, 5, 0, 0));
    expect(newYork("2011-03-13 02:30:00")).toBe(Date.UTC(2011, 2, 13, 7, 30)); // 03:30 EDT
    expect(newYork("2011-11-06 01:30:00")).toBe(Date.UTC(2011, 10, 6, 5, 30)); // 01:30 EDT, the first
    expect(newYork("2011-11-06 02:30:00")).toBe(Date.UTC(2011, 10, 6, 7, 30));
  });

  it("zones with :30 and :45 offsets, and Lord Howe's half-hour daylight saving", () => {
    expect(strptime("%d.%m.%Y %H:%M", "01.12.2010 08:26", "Asia/Kolkata")).toBe(Date.UTC(2010, 11, 1, 2, 56));
    expect(strptime("%d.%m.%Y %H:%M", "01.12.2010 08:26", "Asia/Kathmandu")).toBe(Date.UTC(2010, 11, 1, 2, 41));
    const lordHowe = (value: string) => strptime("%Y%m%d %H%M%S", value, "Australia/Lord_Howe");
    expect(lordHowe("20110701 120000")).toBe(Date.UTC(2011, 6, 1, 1, 30)); // +10:30
    expect(lordHowe("20111202 120000")).toBe(Date.UTC(2011, 11, 2, 1, 0)); // +11
    // 2011-10-02 02:00 +10:30 → 02:30 +11: 02:15 is moved forward by the 30 minutes, 02:45 +11.
    expect(lordHowe("20111002 021500")).toBe(Date.UTC(2011, 9, 1, 15, 45));
    // 2011-04-03 02:00 +11 → 01:30 +10:30: 01:45 comes twice, the first at +11.
    expect(lordHowe("20110403 014500")).toBe(Date.UTC(2011, 3, 2, 14, 45));
  });

  it("property: every instant of 2010–2012 formats (Intl) to a wall time that resolves back to it, but for the overlap's second hour", () => {
    for (const name of ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]) {
      const zone = new LocalTimeZone(name);
      const format = new Intl.DateTimeFormat("en-US", { timeZone: name, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" });
      const wallOf = (instant: number) => {
        const part = Object.fromEntries(format.formatToParts(instant).map((entry) => [entry.type, Number(entry.value)]));
        return Date.UTC(part.year, part.month - 1, part.day, part.hour, part.minute);
      };
      fc.assert(
        fc.property(fc.integer({ min: Date.UTC(2010, 0, 1) / MINUTE, max: Date.UTC(2013, 0, 1) / MINUTE }), (minute) => {
          const instant = minute * MINUTE;
          const wall = wallOf(instant);
          const resolved = zone.instantOf(wall);
          // The one other instant with this wall time is later by the change (an hour, or Lord Howe's half hour).
          if (resolved !== instant) expect(wallOf(resolved) === wall && resolved < instant && instant - resolved <= HOUR, `${name} ${new Date(instant).toISOString()}`).toBe(true);
        }),
        { numRuns: 3000 },
      );
    }
  });
});

describe("csv strptime - values that do not match", () => {
  it("names the value and the pattern, and what is wrong at which character", () => {
    const pattern = "%m/%d/%Y %H:%M";
    expect(strptime(pattern, "13/1/2010 8:26")).toBe(`ts (ts=$1:strptime(${pattern})): "13/1/2010 8:26" does not match the pattern ${pattern}: the month 13 is not 1–12`);
    expect(strptime(pattern, "2010-12-01 08:26")).toMatch(/: "2010-12-01 08:26" does not match the pattern %m\/%d\/%Y %H:%M: the month 20 is not 1–12$/);
    expect(strptime(pattern, "12-1-2010 8:26")).toMatch(/: "12-1-2010 8:26" does not match the pattern %m\/%d\/%Y %H:%M: expected "\/" at "-1-2010 8:26"$/);
    expect(strptime(pattern, "12/1/2010")).toMatch(/: it ends where a space should be$/);
    expect(strptime(pattern, "12/1/2010 8:26:00")).toMatch(/: ":00" is left over after the pattern$/);
    expect(strptime(pattern, "2/30/2011 8:26")).toMatch(/: 2011-02-30 is not a calendar date$/);
    expect(strptime(pattern, "12/1/2010 24:00")).toMatch(/: the hour 24 is not 0–23$/);
    expect(strptime(pattern, "12/1/1969 8:26")).toMatch(/: "12\/1\/1969 8:26" is before 1970 \(event times start at 1970-01-01\)$/);
    expect(strptime("%d/%m/%Y", "01/01/1968")).toMatch(/: the year 1968 is before 1970/);
  });

  it("is dead-lettered by publish with its line (the line handler's reason)", () => {
    const mapping = compileCsvMapping("type=purchase,ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M),user_id=$CustomerID", { timeZone: "Europe/London" });
    expect(mapping.map("InvoiceDate,CustomerID", 1)).toBeUndefined();
    expect(mapping.map("12/1/2010 8:26,17850", 2)).toMatchObject({ ok: true, record: { ts: Date.UTC(2010, 11, 1, 8, 26) } });
    expect(mapping.map("12-1-2010 8:26,17850", 3)).toMatchObject({ ok: false, reason: expect.stringContaining('"12-1-2010 8:26" does not match the pattern %m/%d/%Y %H:%M') });
  });
});

describe("csv strptime - the spec's grammar", () => {
  const fails = (spec: string, timeZone?: string) => {
    try {
      compileCsvMapping(spec, { timeZone });
    } catch (error) {
      expect(error).toBeInstanceOf(CsvMappingError);
      return (error as Error).message;
    }
    throw new Error(`compiled: ${spec}`);
  };

  it("lets a pattern hold , : + and $ (the map's separators) and sums a strptime term with an offset column", () => {
    const mapping = compileCsvMapping("type=purchase,ts=$1:strptime(%b %d, %Y %H:%M+$ %z)+$2,user_id=$3", { delimiter: ";" });
    expect(mapping.map("Dec 01, 2010 08:26+$ +0100;1500;u1", 1)).toMatchObject({ ok: true, record: { ts: Date.UTC(2010, 11, 1, 7, 26) + 1500, user_id: "u1" } });
    const retail = compileCsvMapping("type=purchase,order_id=$InvoiceNo,ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M),items.sku=$StockCode,items.price=$UnitPrice");
    expect(retail.map("InvoiceNo,StockCode,InvoiceDate,UnitPrice", 1)).toBeUndefined();
    expect(retail.map("536365,85123A,12/1/2010 8:26,2.55", 2)).toMatchObject({ ok: true, record: { ts: Date.UTC(2010, 11, 1, 8, 26), items: [{ sku: "85123A", price: 2.55 }] } });
  });

  it("refuses a bad pattern or zone at the start, naming the problem and the fix", () => {
    expect(fails("type=purchase,ts=$1:strptime(%m/%d/%Y %k:%M)")).toBe(
      '--map entry "ts=$1:strptime(%m/%d/%Y %k:%M)": strptime pattern "%m/%d/%Y %k:%M": %k is not a code it reads ' +
        "(codes: %Y %y %m %d %H %I %M %S %f %g %p %b %h %B %a %A %z %T (= %H:%M:%S) %% and %-m %-d %-H %-I %-M %-S %-y (as %m …))",
    );
    expect(fails("type=purchase,ts=$1:strptime %d/%m/%Y")).toBe(
      '--map entry "ts=$1:strptime %d/%m/%Y": strptime needs its pattern in parentheses, e.g. ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M)',
    );
    expect(fails("type=purchase,ts=$1:strptime(%d/%m/%Y,user_id=$2")).toMatch(/: the pattern of strptime\( is not closed: end it with \), e\.g\. /);
    expect(fails("type=purchase,ts=$1:strptime(%d/%m/%Y (local))")).toMatch(/: a strptime pattern cannot hold \( or \), and nothing may follow its closing \)/);
    expect(fails("type=purchase,ts=$1:strptime(%d/%m %H:%M)")).toMatch(/: strptime pattern "%d\/%m %H:%M" reads no year: add %Y \(4 digits\) or %y \(2 digits\)$/);
    expect(fails("type=purchase,ts=$1:strptime(%Y-%m-%d %I:%M)")).toMatch(/reads a 12-hour clock hour \(%I\) but no AM\/PM: add %p, or use %H for the 24-hour clock$/);
    expect(fails("type=purchase,ts=$1:strptime(%Y-%m-%d %H:%M %p)")).toMatch(/reads AM\/PM \(%p\) but no 12-hour clock hour: use %I with %p/);
    expect(fails("type=purchase,ts=$1:strptime(%Y %Y)")).toMatch(/reads the year \(4 digits\) twice \(%Y and %Y\)$/);
    expect(fails("type=purchase,ts=$1:strptime(%Y-%m-%d %H:%)")).toMatch(/ends in "%": a % starts a code \(write %% for a % sign\)$/);
    expect(fails("type=purchase,ts=$1:strptime()")).toMatch(/pattern "" has no %-codes/);
    expect(fails("type=purchase,ts=$1:strptim(%Y)")).toMatch(/unknown parser "strptim\(%Y\)" \(use string, number, yyyymmdd, iso, epoch_ms, epoch_s or strptime\(<pattern>\)/);
    expect(fails("type=purchase,ts=$1:strptime(%Y)", "Europe/Londn")).toBe(
      '--timezone "Europe/Londn" is not a time zone (did you mean "Europe/London"?): give an IANA zone name such as Europe/London, America/New_York or UTC',
    );
  });
});

describe("csv iso - a date-time without an offset", () => {
  it("is rejected without --timezone, as before it existed, with the fix in the reason", () => {
    expect(tsOf("iso", "2010-12-01 08:26:00")).toBe(
      'ts (ts=$1:iso): "2010-12-01 08:26:00" has no offset: give --timezone <zone> (e.g. --timezone Europe/London) to read it as that zone\'s local time',
    );
    expect(tsOf("iso", "2010-12-01T08:26:00Z")).toBe(Date.UTC(2010, 11, 1, 8, 26));
  });

  it("is a local time in --timezone when it is given; an offset or Z still wins, and a date is still UTC midnight", () => {
    expect(tsOf("iso", "2011-06-01 08:26:00", "Europe/London")).toBe(Date.UTC(2011, 5, 1, 7, 26));
    expect(tsOf("iso", "2011-06-01T08:26", "America/New_York")).toBe(Date.UTC(2011, 5, 1, 12, 26));
    expect(tsOf("iso", "2011-03-27T01:30:00", "Europe/London")).toBe(Date.UTC(2011, 2, 27, 1, 30));
    expect(tsOf("iso", "2011-06-01T08:26:00+02:00", "Europe/London")).toBe(Date.UTC(2011, 5, 1, 6, 26));
    expect(tsOf("iso", "2011-06-01T08:26:00Z", "Europe/London")).toBe(Date.UTC(2011, 5, 1, 8, 26));
    expect(tsOf("iso", "2011-06-01", "Europe/London")).toBe(Date.UTC(2011, 5, 1));
    expect(tsOf("yyyymmdd", "20110601", "Europe/London")).toBe(Date.UTC(2011, 5, 1));
  });

  it("makes --timezone apply (readsLocalTimes) only to :iso and patterns without %z", () => {
    expect(compileCsvMapping("type=purchase,ts=$1:iso").readsLocalTimes).toBe(true);
    expect(compileCsvMapping("type=purchase,ts=$1:strptime(%Y-%m-%d %H:%M)").readsLocalTimes).toBe(true);
    expect(compileCsvMapping("type=purchase,ts=$1:strptime(%Y-%m-%d %H:%M %z)").readsLocalTimes).toBe(false);
    expect(compileCsvMapping("type=purchase,ts=$1:yyyymmdd").readsLocalTimes).toBe(false);
  });
});
