// What `clickpipe publish` and `clickpipe run --drain` print when records went wrong: the reason of a rejection (every
// record of a file can be rejected for one mistake in --map), and the events that went to late_events.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

// DIGINETICA's layout (session_id;user_id;item_id;timeframe;eventdate). In file order session 2's view is a day before
// session 1's, so once session 1's views moved the watermark to 2016-01-04 it is late (allowedLateness 1h): 1 late.
const CSV = ["session_id;user_id;item_id;timeframe;eventdate", "1;NA;81766;526309;2016-01-04", "1;NA;31331;1031018;2016-01-04", "2;NA;9654;75848;2016-01-03"].join("\n");

describe("clickpipe publish and run --drain summaries", () => {
  const natsUrl = inject("natsUrl");
  let directory: string;
  let pipeline: string;
  let csv: string;
  const stream = uniqueStreamName("SUMMARIES");

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-summaries-"));
    pipeline = join(directory, "p.yaml");
    csv = join(directory, "views.csv");
    await writeFile(csv, CSV);
    const yaml = ["name: summaries", "nats:", `  url: ${natsUrl}`, `  stream: ${stream}`, "operators:", "  - type: sessionize", "    gap: 30m", "sinks:", "  - type: parquet", `    path: ${join(directory, "out")}`];
    await writeFile(pipeline, yaml.join("\n"));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("publish names the reason when records are rejected: here every one, for a column the header lacks", async () => {
    const result = await runCli(["publish", csv, "--pipeline", pipeline, "--format", "csv", "--delimiter", ";", "--map", "type=page_view,anon_id=$session_id,url=$item_id,ts=$event_date:iso"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("read 3, published 0, rejected 3, filtered 0");
    expect(result.stderr).toContain('every record was rejected, e.g. unparseable_line: line 2: the header has no column "event_date"');
    expect(result.stderr).toContain(`${stream}.dlq`);
  });

  it("publish prints no rejection line when nothing was rejected, and run --drain counts the late event", async () => {
    const map = "type=page_view,anon_id=$session_id,url=$item_id,ts=$eventdate:iso+$timeframe";
    const published = await runCli(["publish", csv, "--pipeline", pipeline, "--format", "csv", "--delimiter", ";", "--map", map]);
    expect(published.stdout).toContain("read 3, published 3, rejected 0, filtered 0");
    expect(published.stderr).not.toContain("rejected");
    const run = await runCli(["run", pipeline, "--drain"]);
    expect(run.code).toBe(0);
    // The stream also holds the 3 dead letters of the first test.
    expect(run.stdout).toMatch(/summaries: 3 events, 0 invalid, 3 dead letters, 1 late \(late_events\);/);
  });
});
