// Privacy scan: with anonymizeIp and pseudonymized ids, no raw IP or user_id survives in Parquet, the stream or the CLI's logs.
import { DuckDBInstance } from "@duckdb/node-api";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { generateLines } from "../../src/ingest/generate.ts";
import { anonymizeIp } from "../../src/ingest/privacy.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { REPO_ROOT, runCli, type CliResult } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const SEMICOMPLETE = join(REPO_ROOT, "tests/fixtures/access-logs/semicomplete_apache_combined_2015.log");
const ENV = { CLICKPIPE_PSEUDONYM_KEY: "privacy-test-key" };
// Token finders: a raw value counts only as a whole token (1.2.3.4 is not inside 11.2.3.45 or Chrome/41.2.3.4.5).
const IPV4_TOKENS = /(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])/g;
const USER_ID_TOKENS = /(?<![\w-])[\w-]+(?![\w-])/g;

/** Raw values of `wanted` that occur as tokens in `text`. */
function leaks(text: string, tokens: RegExp, wanted: ReadonlySet<string>): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(tokens)) if (wanted.has(match[0])) found.add(match[0]);
  return [...found].sort();
}

describe("privacy scan after publish → run --drain", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("PRIVACY");
  let directory: string;
  let out: string;
  const rawIps = new Set<string>();
  const rawUserIds = new Set<string>();
  const cliRuns: CliResult[] = [];

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-privacy-"));
    out = join(directory, "out");
    const pipelineFile = join(directory, "pipeline.yaml");
    await writeFile(
      pipelineFile,
      [
        "name: privacy",
        "nats:",
        `  url: ${natsUrl}`,
        `  stream: ${stream}`,
        "ingest:",
        "  privacy: { anonymizeIp: true, pseudonymize: [user_id, anon_id] }",
        "operators:",
        "  - type: sessionize",
        "    allowedLateness: 30d",
        "    outOfOrderness: 7d",
        "  - type: churnFeatures",
        "sinks:",
        "  - type: parquet",
        `    path: ${out}`,
        "    compression: none", // so that a byte grep of the files sees every string
      ].join("\n"),
    );
    for (const line of (await readFile(SEMICOMPLETE, "utf8")).split("\n")) if (line !== "") rawIps.add(line.split(" ", 1)[0]);
    // A client whose address already ends in .0 (5.39.50.0 is one) looks the same anonymized: not a leak anyone can see.
    for (const ip of rawIps) if (anonymizeIp(ip) === ip) rawIps.delete(ip);
    const events = [...generateLines({ visitors: 60, days: 3, seed: 3 })];
    for (const line of events) {
      const event = JSON.parse(line) as { ip?: string; user_id?: string };
      if (event.ip !== undefined) rawIps.add(event.ip);
      if (event.user_id !== undefined) rawUserIds.add(event.user_id);
    }
    const someone = [...rawUserIds][0];
    // A rejected record that carries both: a dead letter must not be where they survive.
    events.push(JSON.stringify({ type: "purchase", ts: "2026-01-06T10:00:00Z", user_id: someone, ip: "198.51.100.77", order_id: "x", revenue: "1,5" }));
    rawIps.add("198.51.100.77");
    const eventsFile = join(directory, "events.ndjson");
    await writeFile(eventsFile, events.join("\n") + "\n");

    cliRuns.push(await runCli(["publish", SEMICOMPLETE, "--pipeline", pipelineFile, "--format", "combined"], ENV));
    cliRuns.push(await runCli(["publish", eventsFile, "--pipeline", pipelineFile], ENV));
    cliRuns.push(await runCli(["run", pipelineFile, "--drain"], ENV));
    for (const result of cliRuns) expect(result.code, result.stderr).toBe(0);
    expect(rawIps.size).toBeGreaterThan(1700);
    expect(rawUserIds.size).toBeGreaterThan(5);
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("finds no raw IP or user_id in any column of any table (DuckDB reads every row as JSON)", async () => {
    const db = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      const tables = (await readdir(out)).filter((name) => !name.startsWith("_"));
      expect(tables).toEqual(expect.arrayContaining(["sessions", "customer_features", "invalid_events"]));
      for (const table of tables) {
        const reader = await db.runAndReadAll(`SELECT to_json(t)::VARCHAR AS j FROM read_parquet('${out}/${table}/**/*.parquet') t`);
        const text = (reader.getRowObjectsJson() as Array<{ j: string }>).map((row) => row.j).join("\n");
        expect(text.length, table).toBeGreaterThan(0);
        expect(leaks(text, IPV4_TOKENS, rawIps), `raw IPs in ${table}`).toEqual([]);
        expect(leaks(text, USER_ID_TOKENS, rawUserIds), `raw user ids in ${table}`).toEqual([]);
      }
    } finally {
      db.closeSync();
    }
  });

  it("finds none in the bytes of any Parquet file (uncompressed, so strings are plain)", async () => {
    const files = (await readdir(out, { recursive: true })).filter((name) => name.endsWith(".parquet"));
    expect(files.length).toBeGreaterThan(2);
    for (const file of files) {
      const text = (await readFile(join(out, file))).toString("latin1");
      expect(leaks(text, IPV4_TOKENS, rawIps), `raw IPs in ${file}`).toEqual([]);
      expect(leaks(text, USER_ID_TOKENS, rawUserIds), `raw user ids in ${file}`).toEqual([]);
    }
  });

  it("finds none in any message of the stream, events and dead letters alike", async () => {
    const connection = await connectNats({ url: natsUrl });
    try {
      const reader = await StreamReader.open(jetstream(connection), stream, { drainUntil: true });
      let text = "";
      let messages = 0;
      for await (const message of reader) {
        text += `${Buffer.from(message.data).toString("utf8")}\n`;
        messages++;
      }
      expect(messages).toBeGreaterThan(10);
      expect(leaks(text, IPV4_TOKENS, rawIps), "raw IPs in the stream").toEqual([]);
      expect(leaks(text, USER_ID_TOKENS, rawUserIds), "raw user ids in the stream").toEqual([]);
    } finally {
      await connection.drain();
    }
  });

  it("finds none in what publish and run print", () => {
    const text = cliRuns.map((result) => `${result.stdout}\n${result.stderr}`).join("\n");
    expect(text).toContain("published");
    expect(leaks(text, IPV4_TOKENS, rawIps)).toEqual([]);
    expect(leaks(text, USER_ID_TOKENS, rawUserIds)).toEqual([]);
  });
});
