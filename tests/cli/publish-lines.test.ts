// publish --sort-by-time: records ordered by the instant the worker reads from their `ts` (src/events/time.ts).
import { describe, expect, it } from "vitest";
import { publishLines } from "../../src/cli/publish-lines.ts";
import type { IngestCounts, RecordPublisher } from "../../src/ingest/record-publisher.ts";

/** A RecordPublisher that only records the order of the JSON lines it is given. */
function recordingPublisher(): { publisher: RecordPublisher; lines: string[] } {
  const lines: string[] = [];
  const publisher = {
    publishJsonLine: (line: string) => void lines.push(line),
    flush: async () => ({}) as IngestCounts,
  } as unknown as RecordPublisher;
  return { publisher, lines };
}

describe("publish --sort-by-time", () => {
  it("orders every ts form the worker accepts by its instant (hand-computed), not by what Date.parse makes of it", async () => {
    // Instants by hand: 2024-03-10T07:00:00Z = 1710054000000.
    const records = [
      { id: "a", ts: "2024-03-10T07:00:03Z" }, // …003000
      { id: "b", ts: "1710054000002" }, // epoch ms as a digit string: …002 (Date.parse: NaN)
      { id: "c", ts: "2024-03-10T12:00:00+05" }, // hour-only offset: 07:00:00Z = …000 (Date.parse: NaN)
      { id: "d", ts: "2024-03-10T07:00:00,001Z" }, // comma fraction: …001 (Date.parse: NaN)
      { id: "e", ts: "2024-03-10T02:00:04−05:00" }, // U+2212 minus: 07:00:04Z (Date.parse: NaN)
      { id: "f", ts: 1710054000005 }, // …005
      { id: "g", ts: "2024-03-10T12:30:06+05:30" }, // 07:00:06Z
    ];
    const { publisher, lines } = recordingPublisher();
    await publishLines(publisher, records.map((record) => JSON.stringify(record)), { format: "ndjson", sortByTime: true, receivedAt: 0 });
    expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(["c", "d", "b", "f", "a", "e", "g"]);
  });

  it("sorts a file whose ts are all epoch-ms digit strings (trackers send numbers as strings)", async () => {
    const { publisher, lines } = recordingPublisher();
    const records = ["1710054000300", "1710054000100", "1710054000200"].map((ts) => JSON.stringify({ ts }));
    await publishLines(publisher, records, { format: "ndjson", sortByTime: true, receivedAt: 0 });
    expect(lines.map((line) => (JSON.parse(line) as { ts: string }).ts)).toEqual(["1710054000100", "1710054000200", "1710054000300"]);
  });

  it("reads each W3C line under its own #Fields, whatever the directive's case, as the reader matches it", async () => {
    const published: string[] = [];
    const rejected: string[] = [];
    const publisher = {
      publishAccessLine: (_accessLine: unknown, line: string) => void published.push(line),
      rejectLine: (line: string) => void rejected.push(line),
      flush: async () => ({}) as IngestCounts,
    } as unknown as RecordPublisher;
    // Two blocks with their columns in other orders, their times interleaved.
    const lines = [
      "#fields: date time c-ip cs-uri-stem sc-status",
      "2024-03-04 10:00:02 192.0.2.1 /a2 200",
      "2024-03-04 10:00:04 192.0.2.1 /a4 200",
      "#FIELDS: c-ip sc-status cs-uri-stem time date",
      "192.0.2.2 200 /b1 10:00:01 2024-03-04",
      "192.0.2.2 200 /b3 10:00:03 2024-03-04",
    ];
    await publishLines(publisher, lines, { format: "w3c", sortByTime: true, receivedAt: 0 });
    expect(rejected).toEqual([]);
    expect(published.map((line) => /\/[ab]\d/.exec(line)?.[0])).toEqual(["/b1", "/a2", "/b3", "/a4"]);
  });
});
