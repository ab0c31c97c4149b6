// `publish --format csv` against DuckDB's read_csv and RFC 4180: quoted newlines, BOM, field counts, NULLs, line numbers.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lineChunks, publishLineChunks, publishLines, splitLines } from "../../src/cli/publish-lines.ts";
import { ChunkSink } from "../../src/cli/publish-worker.ts";
import { parsePipelineText } from "../../src/config/load.ts";
import type { PipelineConfig } from "../../src/config/pipeline.ts";
import { compileCsvMapping } from "../../src/ingest/csv.ts";
import { RecordPublisher } from "../../src/ingest/record-publisher.ts";

const RECEIVED_AT = 1_700_000_000_000;
let directory: string;
let duckdb: DuckDBConnection;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "clickpipe-csv-"));
  duckdb = await (await DuckDBInstance.create()).connect();
});
afterAll(async () => {
  duckdb?.closeSync();
  await rm(directory, { recursive: true, force: true });
});

function pipelineConfig(): PipelineConfig {
  const text = ["name: csv-test", "nats:", "  stream: CSV_TEST", "  partitions: 1", "sinks:", "  - type: parquet", `    path: ${join(directory, "out")}`].join("\n");
  const loaded = parsePipelineText(text, "csv-test.yaml", {});
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

interface Published {
  events: Array<Record<string, unknown>>;
  deadLetters: Array<{ reason: string; raw: string }>;
}

/** The file through publish's own path: read in pieces of `chunkBytes`, line by line, into a sink. */
async function publishFile(
  content: string | Buffer,
  map: string,
  options: { delimiter?: string; nullText?: string; sortByTime?: boolean; chunkBytes?: number } = {},
): Promise<Published> {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
  const sink = new ChunkSink();
  const publisher = new RecordPublisher({ config: pipelineConfig(), sink, source: "publish", env: {} });
  const lineOptions = { format: "csv", map, delimiter: options.delimiter, nullText: options.nullText, sortByTime: options.sortByTime, receivedAt: RECEIVED_AT };
  if (options.sortByTime === true) await publishLines(publisher, splitLines(bytes.toString("utf8")), lineOptions);
  else await publishLineChunks(publisher, lineChunks(bytes, bytes.length, undefined, options.chunkBytes ?? 16), lineOptions);
  const events = sink.events.map((line) => {
    const { received_at: _received, event_id: _event, order_id: _order, is_bot: _bot, page_item: _item, ...event } = JSON.parse(line) as Record<string, unknown>;
    return event;
  });
  return { events, deadLetters: sink.deadLetters.map(({ reason, raw }) => ({ reason, raw })) };
}

/** DuckDB's rows of the same bytes, every column as text (NULL stays null). */
async function duckdbRows(content: string, columns: string[]): Promise<Array<Record<string, string | null>>> {
  const path = join(directory, `oracle-${columns.join("-")}.csv`);
  await writeFile(path, content);
  const list = columns.map((name) => `"${name}"`).join(", ");
  const reader = await duckdb.runAndReadAll(`SELECT ${list} FROM read_csv('${path}', header = true, delim = ',', quote = '"', escape = '"', all_varchar = true)`);
  return reader.getRowObjectsJson() as Array<Record<string, string | null>>;
}

describe("csv - quoted fields with newlines (RFC 4180 §2.6)", () => {
  const file =
    "anon_id,ts,title\r\n" +
    'a1,2020-01-01T00:00:00Z,"Sale,\r\nup to ""50%""\nnow"\r\n' +
    "a2,2020-01-01T00:00:01Z,plain\r\n" +
    'a3,2020-01-01T00:00:02Z,"one\nmore"';
  const map = "type=page_view,anon_id=$anon_id,ts=$ts:iso,url=/,title=$title";

  it("publishes a record whose quoted field spans lines as one event with the newlines kept, as DuckDB reads it", async () => {
    const published = await publishFile(file, map);
    const oracle = await duckdbRows(file, ["anon_id", "title"]);
    expect(published.deadLetters).toEqual([]);
    // DuckDB keeps an embedded CRLF; lines are cut at LF and CRLF alike, so the field's line break is "\n" here.
    expect(published.events.map((event) => ({ anon_id: event.anon_id, title: event.title }))).toEqual(
      oracle.map((row) => ({ anon_id: row.anon_id, title: row.title?.replace(/\r\n/g, "\n") })),
    );
    expect(published.events.map((event) => event.title)).toEqual(['Sale,\nup to "50%"\nnow', "plain", "one\nmore"]);
  });

  it("sorts a multi-line record by its time as one record (--sort-by-time)", async () => {
    const sorted = 'anon_id,ts,title\na1,2020-01-02T00:00:00Z,"two\nlines"\na2,2020-01-01T00:00:00Z,x\n';
    const published = await publishFile(sorted, map, { sortByTime: true });
    expect(published.deadLetters).toEqual([]);
    expect(published.events.map((event) => [event.anon_id, event.title])).toEqual([["a2", "x"], ["a1", "two\nlines"]]);
  });

  it("dead-letters a quoted field never closed with the line it opened on, and the lines it took", async () => {
    const published = await publishFile('anon_id,ts,title\na1,2020-01-01T00:00:00Z,ok\na2,2020-01-01T00:00:00Z,"open\nstill open\n', map);
    expect(published.events.map((event) => event.anon_id)).toEqual(["a1"]);
    expect(published.deadLetters).toEqual([
      { reason: "unparseable_line: line 3: a quoted field opened on line 3 is not closed by the end of the file", raw: 'a2,2020-01-01T00:00:00Z,"open\nstill open' },
    ]);
  });

  it("names the physical line a bad record starts on, after records spanning lines", async () => {
    const published = await publishFile('anon_id,ts,title\na1,2020-01-01T00:00:00Z,"x\ny\nz"\na2,not-a-time,w\na3,2020-01-01T00:00:00Z\n', map);
    expect(published.deadLetters.map((letter) => letter.reason)).toEqual([
      'unparseable_line: line 5: ts (ts=$ts:iso): "not-a-time" is not ISO 8601 with an offset (e.g. 2015-05-17T10:05:03Z)',
      "unparseable_line: line 6: the record has 2 fields, the header has 3",
    ]);
  });

  it("keeps a quote inside an unquoted field, as DuckDB does, and rejects text after a closing quote", async () => {
    const kept = 'anon_id,ts,title\na1,2020-01-01T00:00:00Z,27" screen\n';
    expect((await publishFile(kept, map)).events.map((event) => event.title)).toEqual((await duckdbRows(kept, ["title"])).map((row) => row.title));
    const after = await publishFile('anon_id,ts,title\na1,2020-01-01T00:00:00Z,"x"y\n', map);
    expect(after.events).toEqual([]);
    expect(after.deadLetters.map((letter) => letter.reason)).toEqual(["unparseable_line: line 2: field 3: text after its closing quote"]);
  });
});

describe("csv - records with more or fewer fields than the header", () => {
  it("are dead-lettered naming the line and both counts, not cut or padded (DuckDB's read_csv refuses them too)", async () => {
    const published = await publishFile(
      "user_id,ts,revenue,note\nu1,2020-01-01T00:00:00Z,1,a,extra\nu2,2020-01-01T00:00:00Z,2\nu3,2020-01-01T00:00:00Z,3,c\n",
      "type=purchase,user_id=$user_id,ts=$ts:iso,revenue=$revenue",
    );
    expect(published.events.map((event) => event.user_id)).toEqual(["u3"]);
    expect(published.deadLetters).toEqual([
      { reason: "unparseable_line: line 2: the record has 5 fields, the header has 4", raw: "u1,2020-01-01T00:00:00Z,1,a,extra" },
      { reason: "unparseable_line: line 3: the record has 3 fields, the header has 4", raw: "u2,2020-01-01T00:00:00Z,2" },
    ]);
  });
});

describe("csv - a UTF-8 byte order mark", () => {
  it("is not part of the first field of a file without a header", async () => {
    const published = await publishFile("\uFEFFu1,2020-01-01T00:00:00Z,1\r\nu2,2020-01-01T00:00:00Z,2\r\n", "type=purchase,user_id=$1,ts=$2:iso,revenue=$3");
    expect(published.events.map((event) => event.user_id)).toEqual(["u1", "u2"]);
  });
});

describe("csv - empty fields", () => {
  it("are NULL, as DuckDB reads them: an optional column left empty does not reject the row", async () => {
    const file = 'anon_id,user_id,ts,referrer\na1,,2020-01-01T00:00:00Z,""\n';
    const oracle = await duckdbRows(file, ["user_id", "referrer"]);
    expect(oracle).toEqual([{ user_id: null, referrer: null }]);
    const published = await publishFile(file, "type=page_view,anon_id=$anon_id,user_id=$user_id,ts=$ts:iso,url=/,referrer=$referrer");
    expect(published.deadLetters).toEqual([]);
    expect(published.events).toEqual([{ type: "page_view", anon_id: "a1", ts: Date.UTC(2020, 0, 1), url: "/" }]);
  });

  it("leave a required field missing, and the dead letter says which and on what line", async () => {
    const published = await publishFile("user_id,ts,revenue\nu1,2020-01-01T00:00:00Z,\n", "type=purchase,user_id=$user_id,ts=$ts:iso,revenue=$revenue");
    expect(published.deadLetters.map((letter) => letter.reason)).toEqual(["missing_field: line 2: purchase.revenue: required"]);
  });
});

describe("csv - :iso reads a column as the event's ts is read", () => {
  it("takes an offset of hours alone and a lowercase z, still refuses a time without a zone", () => {
    const mapping = compileCsvMapping("type=click,anon_id=$1,ts=$2:iso", {});
    expect(mapping.map("a,2020-01-01T05:00:00+05", 2)).toMatchObject({ ok: true, record: { ts: Date.UTC(2020, 0, 1) } });
    expect(mapping.map("a,2020-01-01t00:00:00z", 2)).toMatchObject({ ok: true, record: { ts: Date.UTC(2020, 0, 1) } });
    expect(mapping.map("a,2020-01-01 00:00:00", 2)).toMatchObject({ ok: false });
  });
});

describe("csv - ts as the sum of a date column and an offset column (ts=$date:iso+$offset)", () => {
  // The first rows of DIGINETICA's sample_train-item-views.csv (SOURCE.md: a date, and ms within the session), as a
  // user maps them; one row with its offset empty (NULL: no ts) and one with a bad date.
  const content = [
    "session_id;user_id;item_id;timeframe;eventdate",
    "1;NA;81766;526309;2016-05-09",
    "1;NA;31331;1031018;2016-05-09",
    "1;NA;32118;243569;2016-05-09",
    "2;NA;9654;;2016-05-09",
    "3;NA;9654;75848;2016-13-09",
  ].join("\n");

  it("adds the offset's milliseconds to the date's UTC midnight, as DuckDB's eventdate::TIMESTAMP + to_milliseconds(timeframe)", async () => {
    const path = join(directory, "diginetica-head.csv");
    await writeFile(path, content.split("\n").slice(0, 4).join("\n"));
    const reader = await duckdb.runAndReadAll(
      `SELECT item_id::VARCHAR AS url, epoch_ms(eventdate::TIMESTAMP + to_milliseconds(timeframe))::DOUBLE AS ts FROM read_csv('${path}', delim = ';', header = true) ORDER BY ts`,
    );
    const oracle = reader.getRowObjectsJson() as Array<{ url: string; ts: number }>;
    expect(oracle.map((row) => row.ts)).toEqual([1_462_752_243_569, 1_462_752_526_309, 1_462_753_031_018]);
    for (const map of ["type=page_view,anon_id=$session_id,url=$item_id,ts=$eventdate:iso+$timeframe", "type=page_view,anon_id=$1,url=$3,ts=$5:iso+$4:epoch_ms"]) {
      const published = await publishFile(content, map, { delimiter: ";", sortByTime: true });
      expect(published.events.map(({ url, ts }) => ({ url, ts: new Date(ts as string).getTime() }))).toEqual(oracle);
      expect(published.deadLetters.map(({ reason }) => reason)).toEqual([
        expect.stringMatching(/line 5: page_view\.ts: required/),
        expect.stringMatching(/line 6: ts \(.*\): "2016-13-09" is not a calendar date/),
      ]);
    }
  });

  it("reads epoch seconds and more than two terms; a NULL term makes the sum NULL", () => {
    const mapping = compileCsvMapping("type=page_view,anon_id=$1,url=/,ts=$2:yyyymmdd+$3:epoch_s+$4", { delimiter: "," });
    expect(mapping.map("v,20160103,60,5", 1)).toMatchObject({ ok: true, record: { ts: 1_451_779_260_005 } });
    const nullTerm = mapping.map("v,20160103,,5", 2);
    expect(nullTerm).toMatchObject({ ok: true });
    expect(nullTerm?.ok === true && "ts" in nullTerm.record).toBe(false);
    // A constant's own "+01:00" is no sum.
    expect(compileCsvMapping("type=page_view,anon_id=$1,url=/,ts=2016-01-03T10:00:00+01:00:iso").map("v", 1)).toMatchObject({
      ok: true,
      record: { ts: 1_451_811_600_000 },
    });
  });

  it("refuses sums it cannot add up, naming the entry", () => {
    expect(() => compileCsvMapping("type=page_view,anon_id=$1+$2,ts=$3")).toThrow(/"anon_id=\$1\+\$2": only ts can be a sum/);
    expect(() => compileCsvMapping("type=page_view,anon_id=$1,ts=$2:string+$3")).toThrow(/"\$2:string" cannot be added/);
    expect(() => compileCsvMapping("type=page_view,anon_id=$1,ts=$2:iso+$3:hours")).toThrow(/unknown parser "hours"/);
  });
});

describe("publish --format csv --null", () => {
  // R's and DIGINETICA's NA for a missing user: as a value it would be one user shared by every anonymous visitor.
  const content = [
    "session_id,user_id,item_id,ts",
    "1,NA,81766,2016-05-09T10:00:00Z",
    '2,"NA",31331,2016-05-09T10:01:00Z',
    "3,NAB,32118,2016-05-09T10:02:00Z",
    "4,u7,9654,2016-05-09T10:03:00Z",
    "5,,9654,2016-05-09T10:04:00Z",
  ].join("\n");
  const map = "type=page_view,anon_id=$session_id,user_id=$user_id,url=$item_id,ts=$ts:iso";

  it("reads a field holding exactly the text as NULL, quoted or not, as DuckDB's read_csv with nullstr (the empty field stays NULL)", async () => {
    const path = join(directory, "nullstr.csv");
    await writeFile(path, content);
    const reader = await duckdb.runAndReadAll(
      `SELECT session_id::VARCHAR AS anon_id, user_id FROM read_csv('${path}', header = true, nullstr = ['NA', ''], all_varchar = true) ORDER BY session_id`,
    );
    const oracle = reader.getRowObjectsJson() as Array<{ anon_id: string; user_id: string | null }>;
    expect(oracle.map((row) => row.user_id)).toEqual([null, null, "NAB", "u7", null]);
    const published = await publishFile(content, map, { nullText: "NA" });
    expect(published.deadLetters).toEqual([]);
    expect(published.events.map((event) => ({ anon_id: event.anon_id, user_id: event.user_id ?? null }))).toEqual(oracle);
  });

  it("without it, NA is a value like any other", async () => {
    const published = await publishFile(content, map);
    expect(published.events.map((event) => event.user_id ?? null)).toEqual(["NA", "NA", "NAB", "u7", null]);
  });
});

describe("publish --format csv: blank lines", () => {
  it("are no records, before the header, between records and at the end, as DuckDB's read_csv skips them", async () => {
    const content = "\n\nsession_id,url,ts\n1,/a,2016-05-09T10:00:00Z\n\n2,/b,2016-05-09T10:01:00Z\n  \n3,/c,2016-05-09T10:02:00Z\n\n\n";
    // DuckDB's sniffer takes a line of spaces for a record of one column: the oracle reads that line empty.
    const oracle = await duckdbRows(content.replace("\n  \n", "\n\n"), ["session_id", "url"]);
    expect(oracle).toEqual([
      { session_id: "1", url: "/a" },
      { session_id: "2", url: "/b" },
      { session_id: "3", url: "/c" },
    ]);
    for (const text of [content, content.replaceAll("\n", "\r\n")]) {
      for (const chunkBytes of [7, 1 << 16]) {
        const published = await publishFile(text, "type=page_view,anon_id=$session_id,url=$url,ts=$ts:iso", { chunkBytes });
        expect(published.deadLetters).toEqual([]);
        expect(published.events.map(({ anon_id, url }) => ({ session_id: anon_id, url }))).toEqual(oracle);
      }
    }
  });
});
