// Poison messages: an event an operator throws on is retried from the last checkpoint, then dead-lettered; the pipeline goes on.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { crashInput, lakeRows, writePipelineFile } from "./crash-harness.ts";

/**
 * The two streams are published separately, so `publish` stamps their events' received_at differently, and the worker
 * stamps its own rejects with its clock: those columns are left out of the comparison.
 */
const WITHOUT_RECEIVED_AT = {
  invalid_events: ["received_at"],
  late_events: ["received_at", "event"],
  bots: ["received_at", "event"],
};

describe("poison messages", () => {
  const natsUrl = inject("natsUrl");
  const fullStream = uniqueStreamName("POISON");
  const cleanStream = uniqueStreamName("POISONFREE");
  let directory: string;
  let poisonLines: string[];
  let poisonIds: string[];
  let full: Record<string, string[]>;
  let clean: Record<string, string[]>;
  /** The run's summary line ("<name>: N events, M invalid, …"), by lake. */
  const summaries = new Map<string, string>();

  async function publishAndDrain(name: string, stream: string, lines: string[]): Promise<Record<string, string[]>> {
    const out = join(directory, name);
    const file = await writePipelineFile(directory, { name: "poison", natsUrl, stream, out });
    const input = join(directory, `${name}.ndjson`);
    await writeFile(input, lines.join("\n") + "\n");
    const published = await runCli(["publish", input, "--pipeline", file]);
    expect(published.code, published.stderr).toBe(0);
    const drained = await runCli(["run", file, "--drain"]);
    expect(drained.code, drained.stderr).toBe(0);
    summaries.set(name, summaryOf(drained.stdout));
    return lakeRows(out, WITHOUT_RECEIVED_AT);
  }

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-poison-"));
    const lines = crashInput(500, 3, 71);
    // A page view early on and a purchase late: sessionize, basket and churn all change state before the throw.
    const pageView = lines.findIndex((line, index) => index > 500 && line.includes('"type":"page_view"'));
    const purchase = lines.findLastIndex((line) => line.includes('"type":"purchase"'));
    poisonLines = [lines[pageView], lines[purchase]];
    poisonIds = poisonLines.map((line) => (JSON.parse(line) as { event_id: string }).event_id);
    full = await publishAndDrain("full", fullStream, lines);
    clean = await publishAndDrain("clean", cleanStream, lines.filter((line) => !poisonLines.includes(line)));
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("dead-letters an event that always fails after 3 attempts, as if it had never reached any operator", async () => {
    const out = join(directory, "poisoned");
    const file = await writePipelineFile(directory, { name: "poison", natsUrl, stream: fullStream, out });
    const run = await runCli(["run", file, "--drain"], { CLICKPIPE_THROW_ON_EVENTS: poisonIds.join(",") });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.match(/failed 3 times/g)).toHaveLength(2);
    const actual = await lakeRows(out, WITHOUT_RECEIVED_AT);
    // Every operator's output equals the run on the input without the poison events: no half-applied state.
    const { invalid_events: invalid, ...tables } = actual;
    const { invalid_events: cleanInvalid, ...cleanTables } = clean;
    expect(tables).toEqual(cleanTables);
    // Each poison event is one dead letter: the record as the stream holds it, with the operator's error.
    const letters = invalid
      .map((row) => JSON.parse(row) as { reason: string; raw: string })
      .filter((row) => row.reason.startsWith("operator_error"))
      .map((row) => ({ reason: row.reason, eventId: (JSON.parse(row.raw) as { event_id: string }).event_id }));
    expect(letters.sort((a, b) => a.eventId.localeCompare(b.eventId))).toEqual(
      poisonIds.map((eventId) => ({ reason: `operator_error: injected failure on event ${eventId}`, eventId })).sort((a, b) => a.eventId.localeCompare(b.eventId)),
    );
    expect(invalid.filter((row) => !row.includes("operator_error"))).toEqual(cleanInvalid);
    // The six replays after rollbacks are not counted again: the events of a run without failures, two more invalid.
    const [events, invalidCount] = counts(summaries.get("full")!);
    expect(counts(summaryOf(run.stdout))).toEqual([events, invalidCount + 2]);
  });

  it("processes an event whose operator fails once, after one rollback, exactly like a run without failures", async () => {
    const out = join(directory, "transient");
    const file = await writePipelineFile(directory, { name: "poison", natsUrl, stream: fullStream, out });
    const run = await runCli(["run", file, "--drain"], { CLICKPIPE_THROW_ON_EVENTS: poisonIds[0], CLICKPIPE_THROW_TIMES: "1" });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain("attempt 1 of 3");
    expect(run.stderr).not.toContain("dead-lettered");
    expect(await lakeRows(out, WITHOUT_RECEIVED_AT)).toEqual(full);
  });
});

/** The summary line `clickpipe run` prints at its end. */
function summaryOf(stdout: string): string {
  const line = stdout.split("\n").find((text) => /^poison: \d+ events, \d+ invalid/.test(text));
  if (line === undefined) throw new Error(`no summary line in:\n${stdout}`);
  return line;
}

/** [events, invalid] of a summary line. */
function counts(summary: string): [number, number] {
  const match = /: (\d+) events, (\d+) invalid/.exec(summary)!;
  return [Number(match[1]), Number(match[2])];
}
