// Secrets and email addresses in URLs (query strings, parameters nested in encoded values, paths), through the real
// tailer and `clickpipe publish` into NATS, then `run --drain` into Parquet: DuckDB finds none in any table, and every
// other parameter as it was sent.
import { DuckDBInstance } from "@duckdb/node-api";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadPipeline } from "../../src/config/load.ts";
import { createAccessLogTailer } from "../../src/ingest/access-log-tailer.ts";
import { TailPositionStore } from "../../src/ingest/tailer-position.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { waitFor } from "../helpers/wait-for.ts";

const WRITE_KEY = "wk_live_Zq81SECRET";
const TOKEN = "tok_77SECRET";
const NESTED_TOKEN = "nst_91SECRET";
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
// What must not be stored, in every spelling the input has.
const SECRETS = [WRITE_KEY, TOKEN, NESTED_TOKEN, "jane.doe", "jane%2Edoe", "example.com"];

/** A combined-format line of its own client (so each request is a session of its own). */
function logLine(client: number, second: number, target: string, referrer: string): string {
  return `10.1.2.${client} - - [17/May/2015:10:05:${String(second).padStart(2, "0")} +0000] "GET ${target} HTTP/1.1" 200 43 "${referrer}" "${UA}"`;
}

// The tailed log: the collector's pixel as a web server logs it, a newsletter landing, a search by address.
const LOG_LINES = [
  logLine(1, 1, `/v1/pixel.gif?writeKey=${WRITE_KEY}&type=page_view&anon_id=v1&url=%2Fsearch&ts=1431857101000`, "https://shop.test/search?q=shoes&utm_source=ads"),
  logLine(2, 2, "/welcome?utm_source=newsletter&utm_medium=e-mail&utm_campaign=spring%20sale&email=jane.doe%40example.com", `https://mail.test/read?Token=${TOKEN}&folder=in+box`),
  logLine(3, 3, "/search?q=contact+jane%2Edoe%40example%2Ecom&utm_source=ads&page=2#results", "-"),
  // An address in the path (an unsubscribe link), and a token in a parameter nested in an encoded value.
  logLine(5, 5, "/unsubscribe/jane.doe%40example.com?list=7", "https://mail.test/u/jane.doe@example.com/inbox"),
  logLine(6, 6, `/login?next=%2Faccount%3Ftoken%3D${NESTED_TOKEN}%26tab%3Dorders&utm_source=mail`, "-"),
  // A line too broken to parse: a dead letter, which must not keep them either.
  `10.1.2.4 - - [17/May/2015:10:05:04 +0000] "GET /v1/pixel.gif?write%4Bey=${WRITE_KEY}&to=jane.doe%40example.com HTTP/1.1" 200`,
  `10.1.2.7 - - [17/May/2015:10:05:07 +0000] "GET /unsubscribe/jane.doe@example.com?next=%2Fp%3Ftoken%3D${NESTED_TOKEN} HTTP/1.1" 200`,
  // A JSON string holding JSON as a whole query value; a broken line whose text is JSON.
  logLine(8, 8, `/cart?s=%22%7B%5C%22token%5C%22%3A%5C%22${TOKEN}%5C%22%2C%5C%22step%5C%22%3A2%7D%22`, "-"),
  `10.1.2.9 - - [17/May/2015:10:05:09 +0000] {"password":"${TOKEN}","contact":"jane.doe@example.com","next":"/p?access_token=${NESTED_TOKEN}"}`,
];
// An invalid record of publish's: JSON cut short, with a token, a nested secret, an address and a URL's token in it.
const INVALID_JSON_LINE = `{"type":"page_view","anon_id":"bad","token":"${TOKEN}","props":{"password":"${NESTED_TOKEN}"},"note":"mail jane.doe@example.com","url":"/x?token=${TOKEN}&page=2"`;
// The same events as JSON (publish's ndjson path is the collector's: EdgeProcessor.process).
const JSON_EVENTS = [
  {
    type: "page_view",
    ts: "2015-05-17T10:05:05Z",
    anon_id: "json-visitor",
    url: `https://shop.test/account?Email=jane.doe@example.com&utm_source=crm&utm_content=a%2Bb&writeKey=${WRITE_KEY}`,
    referrer: `https://shop.test/login?next=%2Faccount&access_token=${TOKEN}`,
  },
  {
    type: "page_view",
    ts: "2015-05-17T10:05:08Z",
    anon_id: "json-visitor-2",
    url: `https://shop.test/users/jane.doe@example.com/orders?redirect=https%3A%2F%2Fidp.test%2Fcb%3Faccess_token%3D${NESTED_TOKEN}%26state%3Dxyz`,
    referrer: "https://shop.test/login?next=https%3A%2F%2Fshop.test%2Fwelcome%3Fcontact%3Djane.doe%2540example.com%26step%3D2",
  },
  { type: "page_view", ts: "2015-05-17T10:05:10Z", anon_id: "json-visitor-3", url: `https://shop.test/cart?s="{\\"token\\":\\"${NESTED_TOKEN}\\",\\"step\\":2}"` },
];

// Written out by hand: the listed values and the addresses become (redacted), every other byte stays.
const EXPECTED_SESSIONS = [
  {
    landing_url: "/v1/pixel.gif?writeKey=(redacted)&type=page_view&anon_id=v1&url=%2Fsearch&ts=1431857101000",
    referrer: "https://shop.test/search?q=shoes&utm_source=ads",
    utm_source: null,
  },
  {
    landing_url: "/welcome?utm_source=newsletter&utm_medium=e-mail&utm_campaign=spring%20sale&email=(redacted)",
    referrer: "https://mail.test/read?Token=(redacted)&folder=in+box",
    utm_source: "newsletter",
  },
  { landing_url: "/search?q=(redacted)&utm_source=ads&page=2#results", referrer: null, utm_source: "ads" },
  { landing_url: "/unsubscribe/(redacted)?list=7", referrer: "https://mail.test/u/(redacted)/inbox", utm_source: null },
  { landing_url: "/login?next=%2Faccount%3Ftoken%3D(redacted)%26tab%3Dorders&utm_source=mail", referrer: null, utm_source: "mail" },
  { landing_url: "/cart?s=%22%7B%5C%22token%5C%22%3A%5C%22(redacted)%5C%22%2C%5C%22step%5C%22%3A2%7D%22", referrer: null, utm_source: null },
  { landing_url: 'https://shop.test/cart?s="{\\"token\\":\\"(redacted)\\",\\"step\\":2}"', referrer: null, utm_source: null },
  {
    landing_url: "https://shop.test/users/(redacted)/orders?redirect=https%3A%2F%2Fidp.test%2Fcb%3Faccess_token%3D(redacted)%26state%3Dxyz",
    referrer: "https://shop.test/login?next=https%3A%2F%2Fshop.test%2Fwelcome%3Fcontact%3D(redacted)%26step%3D2",
    utm_source: null,
  },
  {
    landing_url: "https://shop.test/account?Email=(redacted)&utm_source=crm&utm_content=a%2Bb&writeKey=(redacted)",
    referrer: "https://shop.test/login?next=%2Faccount&access_token=(redacted)",
    utm_source: "crm",
  },
].sort((a, b) => a.landing_url.localeCompare(b.landing_url));
const EXPECTED_DEAD_LETTERS = [
  `10.1.2.0 - - [17/May/2015:10:05:04 +0000] "GET /v1/pixel.gif?write%4Bey=(redacted)&to=(redacted) HTTP/1.1" 200`,
  `10.1.2.0 - - [17/May/2015:10:05:07 +0000] "GET /unsubscribe/(redacted)?next=%2Fp%3Ftoken%3D(redacted) HTTP/1.1" 200`,
  '10.1.2.0 - - [17/May/2015:10:05:09 +0000] {"password":"(redacted)","contact":"(redacted)","next":"/p?access_token=(redacted)"}',
  '{"type":"page_view","anon_id":"bad","token":"(redacted)","props":{"password":"(redacted)"},"note":"mail (redacted)","url":"/x?token=(redacted)&page=2"',
].sort();

describe("query redaction: tailer and publish → NATS → run --drain → Parquet", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("QUERYREDACT");
  let directory: string;
  let out: string;
  let connection: NatsConnection | undefined;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-query-redaction-"));
    out = join(directory, "out");
    const logPath = join(directory, "access.log");
    const pipelineFile = join(directory, "pipeline.yaml");
    // The privacy defaults; pages: all, since the pixel is a .gif. No source in the file: the test runs the tailer.
    await writeFile(
      pipelineFile,
      [
        "name: query-redaction",
        "nats:",
        `  url: ${natsUrl}`,
        `  stream: ${stream}`,
        "ingest:",
        "  pages: all",
        "operators:",
        "  - type: sessionize",
        "    allowedLateness: 30d",
        "sinks:",
        "  - type: parquet",
        `    path: ${out}`,
        "    compression: none",
      ].join("\n"),
    );
    await writeFile(logPath, LOG_LINES.map((line) => `${line}\n`).join(""));
    const eventsFile = join(directory, "events.ndjson");
    await writeFile(eventsFile, [...JSON_EVENTS.map((event) => JSON.stringify(event)), INVALID_JSON_LINE].join("\n") + "\n");

    const loaded = await loadPipeline(pipelineFile, {});
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    connection = await connectNats({ url: natsUrl });
    const stateDirectory = join(directory, "tail-state");
    const tailer = createAccessLogTailer(
      { type: "accessLog", paths: [logPath], format: "combined", pollInterval: 50 },
      { pipeline: loaded.config, connection, metrics: new Metrics(), stateDirectory, log: () => {} },
    );
    await tailer.start();
    const store = new TailPositionStore(stateDirectory);
    await waitFor("the tailer to read every line", async () => (await store.load(logPath))?.lineNumber === LOG_LINES.length, 20_000);
    await tailer.stop();

    for (const args of [
      ["publish", eventsFile, "--pipeline", pipelineFile],
      ["run", pipelineFile, "--drain"],
    ]) {
      const result = await runCli(args);
      expect(result.code, result.stderr).toBe(0);
    }
  }, 120_000);

  afterAll(async () => {
    await connection?.drain();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  async function query<T>(sql: string): Promise<T[]> {
    const db = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      return (await db.runAndReadAll(sql)).getRowObjectsJson() as T[];
    } finally {
      db.closeSync();
    }
  }

  it("stores each url and referrer with the listed values and addresses redacted, and the rest byte for byte", async () => {
    const sessions = await query<{ landing_url: string; referrer: string | null; utm_source: string | null }>(
      `SELECT DISTINCT landing_url, referrer, utm_source FROM read_parquet('${out}/sessions/**/*.parquet') ORDER BY landing_url`,
    );
    expect(sessions).toEqual(EXPECTED_SESSIONS);
    const exits = await query<{ same: boolean }>(`SELECT bool_and(exit_url = landing_url) AS same FROM read_parquet('${out}/sessions/**/*.parquet')`);
    expect(exits).toEqual([{ same: true }]);
  });

  it("keeps the broken lines' dead letters without the write key, the addresses or the nested token", async () => {
    const letters = await query<{ raw: string }>(`SELECT raw FROM read_parquet('${out}/invalid_events/**/*.parquet') ORDER BY raw`);
    expect(letters).toEqual(EXPECTED_DEAD_LETTERS.map((raw) => ({ raw })));
    // The reasons say why, and quote none of it.
    const reasons = await query<{ reason: string }>(`SELECT reason FROM read_parquet('${out}/invalid_events/**/*.parquet') ORDER BY reason`);
    expect(reasons.map((row) => row.reason.split(":")[0]).sort()).toEqual(["not_json", "unparseable_line", "unparseable_line", "unparseable_line"]);
  });

  it("finds no secret or address in any column of any table, nor in the bytes of any Parquet file", async () => {
    const tables = (await readdir(out)).filter((name) => !name.startsWith("_"));
    expect(tables).toEqual(expect.arrayContaining(["sessions", "invalid_events"]));
    for (const table of tables) {
      const rows = await query<{ j: string }>(`SELECT to_json(t)::VARCHAR AS j FROM read_parquet('${out}/${table}/**/*.parquet') t`);
      const text = rows.map((row) => row.j).join("\n");
      expect(text.length, table).toBeGreaterThan(0);
      expect(SECRETS.filter((secret) => text.includes(secret)), table).toEqual([]);
    }
    for (const file of (await readdir(out, { recursive: true })).filter((name) => name.endsWith(".parquet"))) {
      const bytes = (await readFile(join(out, file))).toString("latin1");
      expect(SECRETS.filter((secret) => bytes.includes(secret)), file).toEqual([]);
    }
  });
});
