// CSV column mapping: CDNOW_master rows → purchase records (checked against SOURCE.md totals), specs, ids, errors.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileCsvMapping, CsvMappingError, splitDelimited } from "../../src/ingest/csv.ts";

const CDNOW = readFileSync(new URL("../fixtures/cdnow/CDNOW_master.txt", import.meta.url), "utf8").split("\n");
if (CDNOW[CDNOW.length - 1] === "") CDNOW.pop();
const CDNOW_SPEC = "type=purchase,user_id=$1,ts=$2:yyyymmdd,qty=$3:number,revenue=$4:number";

function idOf(lineNumber: number, text: string, source = ""): string {
  return createHash("sha256").update(`${source}\n${lineNumber}\n${text}`).digest("base64url").slice(0, 22);
}

describe("csv - CDNOW_master.txt (whitespace separated, CRLF, header line)", () => {
  const mapping = compileCsvMapping(CDNOW_SPEC, { delimiter: "whitespace" });
  const results = CDNOW.map((line, index) => mapping.map(line, index + 1));

  it("skips the header and maps the first rows to the expected purchase records", () => {
    expect(results[0]).toBeUndefined();
    expect(results.slice(1, 4)).toEqual([
      { ok: true, record: { type: "purchase", user_id: "00001", ts: Date.UTC(1997, 0, 1), qty: 1, revenue: 11.77, event_id: idOf(2, " 00001 19970101  1   11.77"), order_id: idOf(2, " 00001 19970101  1   11.77") } },
      { ok: true, record: { type: "purchase", user_id: "00002", ts: Date.UTC(1997, 0, 12), qty: 1, revenue: 12, event_id: idOf(3, " 00002 19970112  1   12.00"), order_id: idOf(3, " 00002 19970112  1   12.00") } },
      { ok: true, record: { type: "purchase", user_id: "00002", ts: Date.UTC(1997, 0, 12), qty: 5, revenue: 77, event_id: idOf(4, " 00002 19970112  5   77.00"), order_id: idOf(4, " 00002 19970112  5   77.00") } },
    ]);
  });

  it("maps all 69,659 rows; totals match SOURCE.md: $2,500,315.63, 167,881 CDs, 23,570 customers, 1997-01-01 … 1998-06-30", () => {
    const records = results.flatMap((result) => (result?.ok ? [result.record] : []));
    expect(records).toHaveLength(69_659);
    const cents = records.reduce((sum, record) => sum + Math.round((record.revenue as number) * 100), 0);
    expect(cents).toBe(250_031_563);
    expect(records.reduce((sum, record) => sum + (record.qty as number), 0)).toBe(167_881);
    expect(new Set(records.map((record) => record.user_id)).size).toBe(23_570);
    const times = records.map((record) => record.ts as number);
    expect(Math.min(...times)).toBe(Date.UTC(1997, 0, 1));
    expect(Math.max(...times)).toBe(Date.UTC(1998, 5, 30));
    expect(records.filter((record) => record.revenue === 0)).toHaveLength(80);
  });

  it("gives every row its own order_id (identical rows stay two orders) and the same ids on a re-run", () => {
    const records = results.flatMap((result) => (result?.ok ? [result.record] : []));
    expect(new Set(records.map((record) => record.order_id)).size).toBe(records.length);
    const again = compileCsvMapping(CDNOW_SPEC, { delimiter: "whitespace" }).map(CDNOW[1], 2);
    expect(again).toEqual(results[1]);
    const sameTextElsewhere = mapping.map(CDNOW[1], 5);
    expect(sameTextElsewhere?.ok && sameTextElsewhere.record.order_id).not.toBe(idOf(2, " 00001 19970101  1   11.77"));
  });

  it("reads columns by header name from line 1", () => {
    const byName = compileCsvMapping("type=purchase,user_id=$customer_id,ts=$date:yyyymmdd,revenue=$dollar_value:number", {
      delimiter: "whitespace",
    });
    expect(byName.map(CDNOW[0], 1)).toBeUndefined();
    expect(byName.map(CDNOW[1], 2)).toMatchObject({ ok: true, record: { user_id: "00001", ts: Date.UTC(1997, 0, 1), revenue: 11.77 } });
  });

  it("mixes the source name into derived ids", () => {
    const withSource = compileCsvMapping(CDNOW_SPEC, { delimiter: "whitespace", source: "cdnow.txt" }).map(CDNOW[1], 2);
    expect(withSource).toMatchObject({ ok: true, record: { event_id: idOf(2, " 00001 19970101  1   11.77", "cdnow.txt") } });
  });
});

describe("csv - comma separated", () => {
  it("handles quoted fields with commas and doubled quotes, iso and epoch times, explicit ids", () => {
    const mapping = compileCsvMapping("type=$1,anon_id=$2,ts=$3:iso,url=$4,event_id=$5", { header: ["t", "a", "ts", "url", "id"] });
    expect(mapping.map('page_view,a1,2015-05-17T10:05:03+02:00,"/s?q=a,b ""c""",e-9', 1)).toEqual({
      ok: true,
      record: { type: "page_view", anon_id: "a1", ts: Date.UTC(2015, 4, 17, 8, 5, 3), url: '/s?q=a,b "c"', event_id: "e-9" },
    });
    const epoch = compileCsvMapping("type=click,anon_id=$1,ts=$2:epoch_ms", {});
    expect(epoch.map("a,1431857103000", 2)).toMatchObject({ ok: true, record: { ts: 1431857103000 } });
  });

  it("rejects rows with a reason: missing column, bad number, impossible date, time without zone", () => {
    const mapping = compileCsvMapping("type=purchase,user_id=$1,ts=$2:yyyymmdd,revenue=$3:number", {});
    expect(mapping.map("u1,19970101", 2)).toEqual({ ok: false, reason: "revenue: the line has 2 columns, revenue=$3:number needs column 3" });
    expect(mapping.map("u1,19970101,ten", 2)).toEqual({ ok: false, reason: 'revenue (revenue=$3:number): "ten" is not a number' });
    expect(mapping.map("u1,19970230,1", 2)).toEqual({ ok: false, reason: 'ts (ts=$2:yyyymmdd): "19970230" is not a calendar date' });
    const iso = compileCsvMapping("type=click,anon_id=$1,ts=$2:iso", {});
    expect(iso.map("a,2015-05-17T10:05:03", 2)).toMatchObject({ ok: false });
    // A blank line is no record (DuckDB's read_csv skips it): neither mapped nor rejected.
    expect(mapping.map("", 3)).toBeUndefined();
  });

  it("treats a numeric first line as data, not as a header", () => {
    const mapping = compileCsvMapping("type=purchase,user_id=$1,ts=$2:yyyymmdd,revenue=$3:number", {});
    expect(mapping.map("7,19970101,3.5", 1)).toMatchObject({ ok: true, record: { user_id: "7", revenue: 3.5 } });
  });

  it("dead-letters a bad first record that holds a time instead of taking it for a header", () => {
    const mapping = compileCsvMapping("type=purchase,user_id=$1,ts=$2:iso,revenue=$3:number", {});
    expect(mapping.map("u1,2020-01-01T00:00:00Z,abc", 1)).toMatchObject({ ok: false, reason: expect.stringContaining('"abc" is not a number') });
    expect(mapping.map("u2,2020-01-01T00:00:00Z,5", 2)).toMatchObject({ ok: true, record: { user_id: "u2", revenue: 5 } });
    // A real header line still is one.
    expect(compileCsvMapping("type=purchase,user_id=$1,ts=$2:iso,revenue=$3:number", {}).map("customer,time,amount", 1)).toBeUndefined();
  });

  it("splits RFC 4180 lines", () => {
    expect(splitDelimited('a,"b,c",,"d""e"', ",")).toEqual(["a", "b,c", "", 'd"e']);
  });
});

describe("csv - spec errors", () => {
  const cases: Array<[string, RegExp]> = [
    ["", /--map is empty/],
    ["user_id=$1,ts=$2:yyyymmdd", /--map has no type: add e.g. type=purchase/],
    ["type=purchase,user_id=$1", /--map has no ts/],
    ["type=purchase,ts=$2:yyyymmdd,ts=$3", /sets "ts" twice/],
    ["type=purchase,ts=$2:ddmmyyyy", /unknown parser "ddmmyyyy"/],
    ["type=purchase,ts=$0:yyyymmdd", /columns are numbered from \$1/],
    ["type=purchase,ts", /is not field=source/],
    ["type=purchase,ts=$2:yyyymmdd,revenue=abc:number", /"abc" is not a number/],
    ["type=purchase,9x=$1,ts=$2:iso", /"9x" is not a field name/],
  ];
  for (const [spec, message] of cases) {
    it(`refuses ${JSON.stringify(spec)}`, () => {
      expect(() => compileCsvMapping(spec, {})).toThrow(CsvMappingError);
      expect(() => compileCsvMapping(spec, {})).toThrow(message);
    });
  }

  it("refuses a delimiter that is not one character", () => {
    expect(() => compileCsvMapping("type=click,ts=$1:iso", { delimiter: "::" })).toThrow(/--delimiter/);
  });

  it("reports a header without the named column on every row", () => {
    const mapping = compileCsvMapping("type=purchase,user_id=$customer,ts=$date:yyyymmdd", {});
    expect(mapping.map("id,date", 1)).toBeUndefined();
    expect(mapping.map("1,19970101", 2)).toEqual({ ok: false, reason: 'the header has no column "customer" (it has "id", "date")' });
  });
});

describe("csv - property: every line is mapped or rejected with a reason, none throws", () => {
  const mappings = [
    compileCsvMapping(CDNOW_SPEC, { delimiter: "whitespace" }),
    compileCsvMapping("type=$1,anon_id=$2,ts=$3:iso,price=$4:number,when=$5:epoch_s", {}),
    compileCsvMapping("type=purchase,user_id=$a,ts=$b:epoch_ms", { header: ["a", "b"], delimiter: ";" }),
  ];
  it("never throws", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 120 }), fc.integer({ min: 1, max: 5 }), (line, lineNumber) => {
        for (const mapping of mappings) {
          const result = mapping.map(line, lineNumber);
          if (result !== undefined && !result.ok) expect(result.reason.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("csv mapping defaults", () => {
  it("parses revenue, price and qty as numbers without a :number suffix", () => {
    const mapping = compileCsvMapping("type=purchase,user_id=$1,ts=$2:yyyymmdd,qty=$3,revenue=$4", { delimiter: "whitespace" });
    const result = mapping.map(" 00001 19970101  1   11.77", 2);
    expect(result).toMatchObject({ ok: true, record: { type: "purchase", user_id: "00001", ts: Date.UTC(1997, 0, 1), qty: 1, revenue: 11.77 } });
  });
});
