// `clickpipe publish` of an order-line file shaped as UCI's Online Retail (InvoiceDate "12/1/2010 8:26", UK local
// time) with `ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M) --timezone Europe/London`, into the suite's nats-server: the
// stream holds each invoice at the instant computed by hand (GMT in winter, BST in summer, the spring gap moved
// forward, the autumn overlap's earlier instant), on one thread, on the parse thread and sorted by time, and a date
// in another shape is dead-lettered with its line, value and pattern.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { decodeDeadLetters } from "../../src/transport/dead-letter.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { parseSubject } from "../../src/transport/subjects.ts";
import { runCli } from "../helpers/cli.ts";
import { jetStreamScratchAll } from "../helpers/jetstream-scratch.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const ONLINE_RETAIL = `InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom
536365,22752,"SET 7 BABUSHKA NESTING BOXES, RED",2,12/1/2010 8:26,7.65,17850,United Kingdom
548000,22423,REGENCY CAKESTAND 3 TIER,1,3/27/2011 1:30,12.75,12347,Iceland
555000,84879,ASSORTED COLOUR BIRD ORNAMENT,8,6/1/2011 8:26,1.69,13047,United Kingdom
573000,22086,PAPER CHAIN KIT 50'S CHRISTMAS,2,10/30/2011 1:30,2.95,14911,EIRE
573001,21731,RED TOADSTOOL LED NIGHT LIGHT,4,10/30/2011 1:59,1.65,14911,EIRE
581587,22613,PACK OF 20 SPACEBOY NAPKINS,12,12/9/2011 12:50,0.85,12680,France
581588,22138,BAKING SET 9 PIECE RETROSPOT,3,2011-12-09 12:50,4.95,12680,France
`;

const MAP =
  "type=purchase,order_id=$InvoiceNo,ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M),user_id=$CustomerID," +
  "items.sku=$StockCode,items.qty=$Quantity,items.price=$UnitPrice";

/** Each invoice's instant: its UK wall-clock time minus the offset then (GMT +0, BST +1). */
const EXPECTED_TS: Record<string, number> = {
  "536365": Date.UTC(2010, 11, 1, 8, 26),
  // 01:30 on 2011-03-27 does not exist (01:00 GMT → 02:00 BST): 02:30 BST.
  "548000": Date.UTC(2011, 2, 27, 1, 30),
  "555000": Date.UTC(2011, 5, 1, 7, 26),
  // 01:30 and 01:59 on 2011-10-30 come twice: the first, still BST.
  "573000": Date.UTC(2011, 9, 30, 0, 30),
  "573001": Date.UTC(2011, 9, 30, 0, 59),
  "581587": Date.UTC(2011, 11, 9, 12, 50),
};

const DEAD_LETTER =
  'unparseable_line: line 9: ts (ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M)): "2011-12-09 12:50" does not match the pattern ' +
  "%m/%d/%Y %H:%M: the month 20 is not 1–12 (order 581588 is not published)";

describe("publish - Online Retail's local InvoiceDate with strptime and --timezone", () => {
  const scratch = jetStreamScratchAll("clickpipe-local-times-");

  async function streamContent(stream: string): Promise<{ events: Record<string, unknown>[]; reasons: string[] }> {
    const events: Record<string, unknown>[] = [];
    const reasons: string[] = [];
    const connection = await connectNats({ url: scratch.natsUrl });
    try {
      const reader = await StreamReader.open(jetstream(connection), stream, { drainUntil: true });
      for await (const message of reader) {
        if (parseSubject(stream, message.subject)?.kind === "dlq") for (const letter of decodeDeadLetters(message.data)) reasons.push(letter.reason);
        else for (const line of splitBatch(message.data)) events.push(JSON.parse(line) as Record<string, unknown>);
      }
    } finally {
      await connection.close();
    }
    return { events, reasons };
  }

  async function publish(name: string, extra: string[], env: Record<string, string>): Promise<{ stream: string; stdout: string }> {
    const stream = uniqueStreamName(`LOCAL_TIMES_${name}`);
    scratch.streams.push(stream);
    const input = join(scratch.directory, "online_retail.csv");
    await writeFile(input, ONLINE_RETAIL);
    const args = ["publish", input, "--pipeline", "pipelines/shop.yaml", "--format", "csv", "--map", MAP, "--timezone", "Europe/London", ...extra];
    const result = await runCli(args, { NATS_URL: scratch.natsUrl, CLICKPIPE_STREAM: stream, CLICKPIPE_OUT: join(scratch.directory, name), ...env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe(`1 rejected, e.g. ${DEAD_LETTER}\n(each reason is in ${stream}.dlq; clickpipe run writes them to invalid_events)\n`);
    return { stream, stdout: result.stdout };
  }

  const modes: Array<[string, string[], Record<string, string>]> = [
    ["one thread", [], { CLICKPIPE_PUBLISH_WORKER: "never" }],
    ["the parse thread", [], { CLICKPIPE_PUBLISH_WORKER_MIN_BYTES: "1" }],
    ["sorted by time", ["--sort-by-time"], {}],
  ];

  for (const [mode, extra, env] of modes) {
    it(`stores each invoice at its UK local time's instant (${mode})`, async () => {
      const { stream, stdout } = await publish(mode.replaceAll(" ", "_").toUpperCase(), extra, env);
      expect(stdout).toBe(`read 8 rows (7 orders), published 6, rejected 1, filtered 0 → ${stream}\n`);
      const { events, reasons } = await streamContent(stream);
      const tsByOrder = Object.fromEntries(events.map((event) => [event.order_id, event.ts]));
      expect(tsByOrder).toEqual(EXPECTED_TS);
      expect(events.find((event) => event.order_id === "536365")).toMatchObject({
        user_id: "17850",
        revenue: 30.6,
        items: [
          { sku: "85123A", qty: 6, price: 2.55 },
          { sku: "22752", qty: 2, price: 7.65 },
        ],
      });
      expect(events).toHaveLength(6);
      expect(reasons).toEqual([DEAD_LETTER]);
    });
  }
});

/** Caddy with `time_local` on a server in Berlin: `ts` as `wall_milli` text, the zone's wall-clock time. */
const CADDY_WALL_LINES = [
  ["2024/07/15 14:30:05.000", "/summer"], // CEST, +2
  ["2024/01/15 09:00:00.250", "/winter"], // CET, +1
  ["2024/03/31 02:30:00.000", "/gap"], // skipped in Berlin: moved forward to 03:30 CEST
]
  .map(([ts, uri]) => JSON.stringify({ level: "info", ts, logger: "http.log.access.log0", request: { remote_ip: "192.0.2.1", method: "GET", uri, headers: { "User-Agent": ["Mozilla/5.0"] } }, status: 200, size: 10 }))
  .join("\n");

describe("publish - Caddy's wall times with --timezone", () => {
  const scratch = jetStreamScratchAll("clickpipe-caddy-wall-");

  async function tsByUrl(name: string, zone: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
    const stream = uniqueStreamName(`CADDY_WALL_${name}`);
    scratch.streams.push(stream);
    const input = join(scratch.directory, "caddy.log");
    await writeFile(input, `${CADDY_WALL_LINES}\n`);
    const args = ["publish", input, "--pipeline", "pipelines/access-logs.yaml", "--format", "caddy", ...zone];
    const result = await runCli(args, { NATS_URL: scratch.natsUrl, CLICKPIPE_STREAM: stream, CLICKPIPE_OUT: join(scratch.directory, name), ...env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`read 3, published 3, rejected 0, filtered 0 → ${stream}\n`);
    const connection = await connectNats({ url: scratch.natsUrl });
    const ts: Record<string, unknown> = {};
    try {
      const reader = await StreamReader.open(jetstream(connection), stream, { drainUntil: true });
      for await (const message of reader) for (const line of splitBatch(message.data)) {
        const event = JSON.parse(line) as { url: string; ts: unknown };
        ts[event.url] = event.ts;
      }
    } finally {
      await connection.close();
    }
    return ts;
  }

  for (const [mode, env] of [["one thread", { CLICKPIPE_PUBLISH_WORKER: "never" }], ["parse threads", { CLICKPIPE_PUBLISH_THREADS: "2", CLICKPIPE_PUBLISH_WORKER_MIN_BYTES: "1" }]] as const) {
    it(`reads them in Europe/Berlin: the wall time minus CEST or CET, the spring gap moved forward (${mode})`, async () => {
      expect(await tsByUrl(mode.replace(" ", "_").toUpperCase(), ["--timezone", "Europe/Berlin"], env)).toEqual({
        "/summer": Date.UTC(2024, 6, 15, 12, 30, 5),
        "/winter": Date.UTC(2024, 0, 15, 8, 0, 0, 250),
        "/gap": Date.UTC(2024, 2, 31, 1, 30),
      });
    });
  }

  it("reads them as UTC without --timezone, as Caddy writes them without time_local", async () => {
    expect(await tsByUrl("DEFAULT", [], { CLICKPIPE_PUBLISH_WORKER: "never" })).toEqual({
      "/summer": Date.UTC(2024, 6, 15, 14, 30, 5),
      "/winter": Date.UTC(2024, 0, 15, 9, 0, 0, 250),
      "/gap": Date.UTC(2024, 2, 31, 2, 30),
    });
  });

  it("refuses an unknown zone, and --timezone for a format whose times carry their offset, before reading the file", async () => {
    const unknown = await runCli(["publish", "missing.log", "--pipeline", "pipelines/access-logs.yaml", "--format", "caddy", "--timezone", "Europe/Berln"], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^clickpipe publish: --timezone "Europe\/Berln" is not a time zone \(did you mean "Europe\/Berlin"\?\): give an IANA zone name/);
    const combined = await runCli(["publish", "missing.log", "--pipeline", "pipelines/access-logs.yaml", "--format", "combined", "--timezone", "Europe/Berlin"], {});
    expect(combined.code).toBe(2);
    expect(combined.stderr).toMatch(/^clickpipe publish: --timezone only applies to --format csv and caddy/);
  });
});
