// `clickpipe forget` after a real publish → run --drain: DuckDB finds no row of the person, every other row is unchanged.
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { runForget } from "../../src/cli/forget.ts";
import { generateLines } from "../../src/ingest/generate.ts";
import { pseudonymize } from "../../src/ingest/privacy.ts";
import { isForgotten, isForgottenRow, loadTombstones, tombstonesFile } from "../../src/runtime/tombstones.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const KEY = "forget-test-pseudonym-key";
const ENV = { CLICKPIPE_PSEUDONYM_KEY: KEY };

/** Per table: the SQL condition of a row naming the person (`$S` = the user's pseudonym, `$U` = the id as given). */
const PERSON_CONDITIONS: Record<string, string> = {
  sessions: "user_id = '$S' OR visitor_id IN (SELECT visitor_id FROM read_parquet('$OUT/sessions/**/*.parquet') WHERE user_id = '$S')",
  customer_features: "customer_id = '$S'",
  // Dead letters name the person in a person field: the user id (pseudonym or as given) or one of their visitors.
  invalid_events: `raw LIKE '%"user_id":"$S"%' OR raw LIKE '%"user_id":"$U"%' OR EXISTS (SELECT 1 FROM read_parquet('$OUT/sessions/**/*.parquet') s WHERE s.user_id = '$S' AND raw LIKE '%"anon_id":"' || s.visitor_id || '"%')`,
  late_events: "user_id = '$S' OR anon_id IN (SELECT visitor_id FROM read_parquet('$OUT/sessions/**/*.parquet') WHERE user_id = '$S')",
};

async function filesUnder(directory: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) files.push(relative(directory, join(entry.parentPath, entry.name)));
  }
  return files.sort();
}

async function captureForget(args: string[]): Promise<{ code: number; output: string[] }> {
  const output: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: string) => void output.push(line));
  try {
    return { code: await runForget(args, { ...process.env, ...ENV }), output };
  } finally {
    spy.mockRestore();
  }
}

describe("clickpipe forget", () => {
  const natsUrl = inject("natsUrl");
  let directory: string;
  let out: string;
  let pipelineFile: string;
  let db: DuckDBConnection;
  let victim: string;
  let stored: string;
  let victimVisitor: string;
  let tables: string[];
  const before = new Map<string, { total: number; person: number; others: string[] }>();

  const rowsAsJson = async (table: string, where: string): Promise<string[]> => {
    const reader = await db.runAndReadAll(
      `SELECT to_json(t)::VARCHAR AS j FROM read_parquet('${out}/${table}/**/*.parquet', hive_partitioning = true) t WHERE ${where} ORDER BY j`,
    );
    return (reader.getRowObjectsJson() as Array<{ j: string }>).map((row) => row.j);
  };
  const personCondition = (table: string) =>
    (PERSON_CONDITIONS[table] ?? "false").replaceAll("$S", stored).replaceAll("$U", victim).replaceAll("$OUT", out);

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-forget-"));
    out = join(directory, "out");
    pipelineFile = join(directory, "pipeline.yaml");
    await writeFile(
      pipelineFile,
      [
        "name: forget",
        "nats:",
        `  url: ${natsUrl}`,
        `  stream: ${uniqueStreamName("FORGET")}`,
        "ingest:",
        "  privacy: { anonymizeIp: true, pseudonymize: [user_id] }",
        "operators:",
        "  - type: sessionize",
        "  - type: churnFeatures",
        "sinks:",
        "  - type: parquet",
        `    path: ${out}`,
      ].join("\n"),
    );
    const lines = [...generateLines({ visitors: 60, days: 3, seed: 21 })];
    victim = (JSON.parse(lines.find((line) => line.includes('"purchase"'))!) as { user_id: string }).user_id;
    stored = pseudonymize(victim, KEY);
    // A dead letter that quotes the person: a purchase whose revenue is not a number.
    lines.push(JSON.stringify({ type: "purchase", ts: "2026-01-06T10:00:00Z", user_id: victim, order_id: "bad-1", revenue: "12,50" }));
    lines.push(JSON.stringify({ type: "purchase", ts: "2026-01-06T10:00:00Z", user_id: "someone-else", order_id: "bad-2", revenue: "7,10" }));
    // One naming the person only by a visitor of theirs (a page view without its url), and someone else's whose
    // order id happens to be the person's id: not the person's record.
    victimVisitor = (JSON.parse(lines.find((line) => line.includes(`"user_id":"${victim}"`) && line.includes('"anon_id"'))!) as { anon_id: string }).anon_id;
    lines.push(JSON.stringify({ type: "page_view", ts: "2026-01-06T11:00:00Z", anon_id: victimVisitor }));
    lines.push(JSON.stringify({ type: "purchase", ts: "2026-01-06T10:00:00Z", user_id: "someone-else", order_id: victim, revenue: "3,20" }));
    const input = join(directory, "input.ndjson");
    await writeFile(input, lines.join("\n") + "\n");
    const publish = await runCli(["publish", input, "--pipeline", pipelineFile], ENV);
    expect(publish.code, publish.stderr).toBe(0);
    const run = await runCli(["run", pipelineFile, "--drain"], ENV);
    expect(run.code, run.stderr).toBe(0);
    db = await (await DuckDBInstance.create(":memory:")).connect();
    tables = (await readdir(out)).filter((name) => !name.startsWith("_")).sort();
    for (const table of tables) {
      const all = await rowsAsJson(table, "true");
      const others = await rowsAsJson(table, `NOT coalesce((${personCondition(table)}), false)`);
      before.set(table, { total: all.length, person: all.length - others.length, others });
    }
  });

  afterAll(async () => {
    db?.closeSync();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("removes every row naming the person, prints what it removed per table, and leaves every other row as it was", async () => {
    expect(tables).toEqual(expect.arrayContaining(["customer_features", "invalid_events", "sessions"]));
    expect(before.get("sessions")!.person).toBeGreaterThan(0);
    expect(before.get("customer_features")!.person).toBeGreaterThan(0);
    expect(before.get("invalid_events")!.person).toBe(2);
    expect(before.get("invalid_events")!.others.some((row) => row.includes(`\\"order_id\\":\\"${victim}\\"`))).toBe(true);

    const { code, output } = await captureForget([victim, "--pipeline", pipelineFile]);
    expect(code).toBe(0);
    for (const table of tables) {
      const { person, others } = before.get(table)!;
      expect(await rowsAsJson(table, personCondition(table)), `${table} still names the person`).toEqual([]);
      expect(await rowsAsJson(table, "true"), `${table} changed besides the person's rows`).toEqual(others);
      if (person > 0) expect(output.join("\n")).toMatch(new RegExp(`^${table}: ${person} rows removed, `, "m"));
      else expect(output.join("\n")).not.toContain(`${table}:`);
    }
    // The person's pseudonym and raw id appear in no Parquet byte, and no part is left in progress.
    for (const file of await filesUnder(out)) {
      expect(file).not.toMatch(/\.inprogress$/);
      if (!file.endsWith(".parquet")) continue;
      const bytes = await readFile(join(out, file));
      expect(bytes.includes(stored), file).toBe(false);
    }
  });

  it("records tombstones that drop the person's later events, holding the pseudonym and never the raw id", async () => {
    const tombstones = await loadTombstones(out, "forget");
    expect(tombstones.has(stored)).toBe(true);
    expect(await readFile(tombstonesFile(out, "forget"), "utf8")).not.toContain(`"${victim}"`);
    expect(isForgotten({ type: "page_view", ts: 1, event_id: "e", user_id: stored, url: "/" }, tombstones)).toBe(true);
    expect(isForgotten({ type: "page_view", ts: 1, event_id: "e", user_id: pseudonymize("someone-else", KEY), url: "/" }, tombstones)).toBe(false);
    // Rows that checkpointed state may still emit for them (a customer's next daily snapshot) are recognised too.
    expect(isForgottenRow({ customer_id: stored, snapshot_date: "2026-01-09" }, tombstones)).toBe(true);
    expect(isForgottenRow({ customer_id: pseudonymize("someone-else", KEY) }, tombstones)).toBe(false);
  });

  it("changes nothing when run a second time", async () => {
    const snapshot = async () =>
      Promise.all((await filesUnder(out)).map(async (file) => [file, (await stat(join(out, file))).mtimeMs] as const));
    const filesBefore = await snapshot();
    const { code, output } = await captureForget([victim, "--pipeline", pipelineFile]);
    expect(code).toBe(0);
    expect(output[0]).toBe("no rows name this person: nothing removed");
    expect(output[1]).toMatch(/^tombstones already hold this person/);
    expect(await snapshot()).toEqual(filesBefore);
  });

  it("keeps the person's later bad records out of invalid_events too, by user id or visitor", async () => {
    const later = join(directory, "later.ndjson");
    const bad = [
      { type: "purchase", ts: "2026-01-07T10:00:00Z", user_id: victim, order_id: "bad-3", revenue: "1,00" },
      { type: "page_view", ts: "2026-01-07T10:00:00Z", anon_id: victimVisitor },
      { type: "purchase", ts: "2026-01-07T10:00:00Z", user_id: "someone-else", order_id: "bad-4", revenue: "2,00" },
    ];
    await writeFile(later, bad.map((record) => JSON.stringify(record)).join("\n") + "\n");
    expect((await runCli(["publish", later, "--pipeline", pipelineFile], ENV)).code).toBe(0);
    const run = await runCli(["run", pipelineFile, "--drain"], ENV);
    expect(run.code, run.stderr).toBe(0);
    expect(await rowsAsJson("invalid_events", personCondition("invalid_events"))).toEqual([]);
    expect((await rowsAsJson("invalid_events", "raw LIKE '%bad-4%'")).length).toBe(1);
    // The state the worker checkpointed no longer holds them: churnFeatures dropped their customer record and links.
    const checkpointDirectory = join(out, "_checkpoints", "forget");
    const checkpoints = (await readdir(checkpointDirectory)).filter((name) => /^checkpoint-\d+\.json$/.test(name)).sort();
    const state = await readFile(join(checkpointDirectory, checkpoints.at(-1)!), "utf8");
    expect(state).toMatch(/"_tombstones":\d/);
    expect(state).not.toContain(stored);
    expect(state).not.toContain(`"${victimVisitor}"`);
  });

  it("refuses to guess when the pipeline pseudonymizes user_id and no key is set", async () => {
    await expect(runForget([victim, "--pipeline", pipelineFile], { ...process.env, CLICKPIPE_PSEUDONYM_KEY: "" })).rejects.toThrow(
      /CLICKPIPE_PSEUDONYM_KEY/,
    );
  });
});
