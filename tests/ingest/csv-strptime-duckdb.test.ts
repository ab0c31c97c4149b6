// Oracle: DuckDB. `--map 'ts=$t:strptime(<pattern>)' --timezone <zone>` must give the instant DuckDB's
// epoch_ms(timezone(zone, strptime(t, pattern))) gives (ICU), over local times every 20 minutes across 2011's
// daylight-saving changes and the days around them, in five shapes, in zones with hour, half-hour and 45-minute
// offsets. The one documented difference: a local time that comes twice, where this takes the earlier instant
// (java.time, Temporal, RFC 5545) and ICU the later one.
import { DuckDBInstance } from "@duckdb/node-api";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileCsvMapping } from "../../src/ingest/csv.ts";

const MINUTE = 60_000;
const DAY = 86_400_000;

/** Each zone's 2011 changes (UTC days of the local dates), and one ordinary day. */
const ZONE_DAYS: Record<string, string[]> = {
  "Europe/London": ["2011-03-27", "2011-10-30", "2010-12-01"],
  "America/New_York": ["2011-03-13", "2011-11-06", "2011-07-04"],
  "Australia/Lord_Howe": ["2011-04-03", "2011-10-02", "2011-01-15"],
  "Asia/Kolkata": ["2011-06-01"],
  "Asia/Kathmandu": ["2011-06-01"],
};

/** A pattern and how a wall-clock time (its UTC fields) is written in it. */
const SHAPES: Array<{ pattern: string; write: (wall: Date) => string }> = [
  { pattern: "%m/%d/%Y %H:%M", write: (w) => `${w.getUTCMonth() + 1}/${w.getUTCDate()}/${w.getUTCFullYear()} ${w.getUTCHours()}:${pad(w.getUTCMinutes())}` },
  { pattern: "%Y-%m-%d %H:%M:%S", write: (w) => w.toISOString().slice(0, 19).replace("T", " ") },
  { pattern: "%d.%m.%Y %H:%M", write: (w) => `${pad(w.getUTCDate())}.${pad(w.getUTCMonth() + 1)}.${w.getUTCFullYear()} ${pad(w.getUTCHours())}:${pad(w.getUTCMinutes())}` },
  { pattern: "%Y%m%d %H%M%S", write: (w) => w.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", " ") },
  {
    pattern: "%d %b %Y %I:%M %p",
    write: (w) => `${w.getUTCDate()} ${w.toUTCString().slice(8, 11)} ${w.getUTCFullYear()} ${w.getUTCHours() % 12 || 12}:${pad(w.getUTCMinutes())} ${w.getUTCHours() < 12 ? "AM" : "PM"}`,
  },
];

function pad(value: number): string {
  return String(value).padStart(2, "0");
}

interface Row {
  zone: string;
  shape: number;
  text: string;
}

function rows(): Row[] {
  const all: Row[] = [];
  for (const [zone, days] of Object.entries(ZONE_DAYS)) {
    for (const day of days) {
      const start = Date.parse(`${day}T00:00:00Z`) - DAY;
      for (let wall = start; wall < start + 3 * DAY; wall += 20 * MINUTE) {
        SHAPES.forEach((shape, index) => all.push({ zone, shape: index, text: shape.write(new Date(wall)) }));
      }
    }
  }
  return all;
}

describe("csv strptime - DuckDB's strptime and timezone() as the oracle", () => {
  let directory: string;
  let instance: DuckDBInstance;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-strptime-"));
    instance = await DuckDBInstance.create(":memory:");
  });
  afterAll(async () => {
    instance?.closeSync();
    await rm(directory, { recursive: true, force: true });
  });

  it("gives DuckDB's instant for every local time but the repeated ones, and for those the earlier of DuckDB's two", async () => {
    const all = rows();
    const path = join(directory, "times.csv");
    await writeFile(path, `zone,shape,text\n${all.map((row) => `${row.zone},${row.shape},${row.text}`).join("\n")}\n`);
    const connection = await instance.connect();
    const oracle = new Map<string, number>();
    for (const [index, { pattern }] of SHAPES.entries()) {
      const reader = await connection.runAndReadAll(
        `SELECT zone, text, epoch_ms(timezone(zone, strptime(text, '${pattern}')))::DOUBLE AS ts
         FROM read_csv('${path}', header = true, all_varchar = true) WHERE shape = '${index}'`,
      );
      for (const [zone, text, ts] of reader.getRows()) oracle.set(`${zone} ${text}`, ts as number);
    }
    connection.closeSync();
    expect(oracle.size).toBe(all.length);

    const mappings = new Map<string, ReturnType<typeof compileCsvMapping>>();
    const tsOf = (row: Row) => {
      const key = `${row.zone} ${row.shape}`;
      let mapping = mappings.get(key);
      if (mapping === undefined) {
        mapping = compileCsvMapping(`type=purchase,ts=$1:strptime(${SHAPES[row.shape].pattern}),user_id=u`, { delimiter: "tab", timeZone: row.zone });
        mappings.set(key, mapping);
      }
      const result = mapping.map(row.text, 2);
      if (result === undefined || !result.ok) throw new Error(`${key} ${row.text}: ${result?.ok === false ? result.reason : "no record"}`);
      return result.record.ts as number;
    };
    let same = 0;
    const repeated: string[] = [];
    for (const row of all) {
      const ours = tsOf(row);
      const duckdb = oracle.get(`${row.zone} ${row.text}`)!;
      if (ours === duckdb) {
        same++;
        continue;
      }
      // A repeated local time: DuckDB's instant is later by the change (an hour; Lord Howe's half hour), and both
      // instants show the same wall-clock time in the zone.
      const shown = (instant: number) => new Date(instant).toLocaleString("en-GB", { timeZone: row.zone });
      expect([30 * MINUTE, 60 * MINUTE], `${row.zone} ${row.text}`).toContain(duckdb - ours);
      expect(shown(ours), `${row.zone} ${row.text}`).toBe(shown(duckdb));
      repeated.push(`${row.zone} ${row.text}`);
    }
    // Repeated, every 20 minutes: London's and New York's 01:00, 01:20, 01:40, and Lord Howe's 01:40 (01:30–02:00).
    expect(repeated.length).toBe((3 + 3 + 1) * SHAPES.length);
    expect(same).toBe(all.length - repeated.length);
  });
});
