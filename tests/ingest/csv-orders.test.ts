// Order-line CSV files (one row per item): rows combined into purchases by order_id, checked against hand-computed
// orders, revenues and ids; the dead letters of bad rows and orders; the spec's errors.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readSummary } from "../../src/cli/publish.ts";
import { publishLineChunks, publishLines, type PublishLinesOptions } from "../../src/cli/publish-lines.ts";
import { ChunkSink, slicedChunks } from "../../src/cli/publish-worker.ts";
import { parsePipelineText } from "../../src/config/load.ts";
import type { PipelineConfig } from "../../src/config/pipeline.ts";
import { compileCsvMapping } from "../../src/ingest/csv.ts";
import { FirstLines, OrderLineGrouper, type CsvOutput } from "../../src/ingest/csv-orders.ts";
import { RecordPublisher, type IngestCounts } from "../../src/ingest/record-publisher.ts";
import { orderLinesCsv } from "../fixtures/groceries/derive-order-lines.ts";

const HEADER = "InvoiceNo,StockCode,Quantity,UnitPrice,InvoiceDate,CustomerID";
const MAP = "type=purchase,order_id=$InvoiceNo,ts=$InvoiceDate:iso,user_id=$CustomerID,items.sku=$StockCode,items.qty=$Quantity,items.price=$UnitPrice";
const T7 = "2011-12-01T07:00:00Z";
const T8 = "2011-12-01T08:00:00Z";
const T9 = "2011-12-01T09:00:00Z";

function pipelineConfig(): PipelineConfig {
  const text = ["name: orders-test", "nats:", "  stream: ORDERS_TEST", "sinks:", "  - type: parquet", "    path: /tmp/orders-test-unused"].join("\n");
  const loaded = parsePipelineText(text, "orders-test.yaml", {});
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

interface Published {
  events: Record<string, unknown>[];
  deadLetters: Array<{ reason: string; raw: string }>;
  counts: IngestCounts;
}

function collected(sink: ChunkSink, counts: IngestCounts): Published {
  const events = sink.events.map((line) => {
    const { received_at: _receivedAt, is_bot: _isBot, ...event } = JSON.parse(line) as Record<string, unknown>;
    return event;
  });
  return { events, deadLetters: sink.deadLetters.map(({ reason, raw }) => ({ reason, raw })), counts };
}

async function publishCsv(rows: string[], options: Partial<PublishLinesOptions> = {}): Promise<Published> {
  const sink = new ChunkSink();
  const publisher = new RecordPublisher({ config: pipelineConfig(), sink, source: "publish", env: {} });
  const counts = await publishLines(publisher, [HEADER, ...rows], { format: "csv", map: MAP, receivedAt: 1, ...options });
  return collected(sink, counts);
}

/** The id of an order: SHA-256 of each row's line number and text, as a row's own id is derived. */
function orderId(rows: Array<[number, string]>): string {
  const hash = createHash("sha256");
  for (const [lineNumber, raw] of rows) hash.update(`${lineNumber}\n${raw}\n`);
  return hash.digest("base64url").slice(0, 22);
}

const A1 = [`A1,S1,2,1.50,${T8},c1`, `A1,S2,1,4.25,${T8},c1`];
const B2 = [`B2,S1,3,1.50,${T9},c2`];
const C3 = [`C3,S3,4,0.25,${T7},c1`, `C3,S1,1,1.50,${T7},c1`, `C3,S2,2,4.25,${T7},c1`];

/** The three orders above, published from lines 2–7: revenue Σ qty × price (2 × 1.50 + 1 × 4.25 = 7.25, …). */
const EXPECTED = [
  {
    type: "purchase", order_id: "A1", ts: Date.UTC(2011, 11, 1, 8), user_id: "c1",
    items: [{ sku: "S1", qty: 2, price: 1.5 }, { sku: "S2", qty: 1, price: 4.25 }], revenue: 7.25,
    event_id: orderId([[2, A1[0]], [3, A1[1]]]),
  },
  { type: "purchase", order_id: "B2", ts: Date.UTC(2011, 11, 1, 9), user_id: "c2", items: [{ sku: "S1", qty: 3, price: 1.5 }], revenue: 4.5, event_id: orderId([[4, B2[0]]]) },
  {
    type: "purchase", order_id: "C3", ts: Date.UTC(2011, 11, 1, 7), user_id: "c1",
    items: [{ sku: "S3", qty: 4, price: 0.25 }, { sku: "S1", qty: 1, price: 1.5 }, { sku: "S2", qty: 2, price: 4.25 }], revenue: 11,
    event_id: orderId([[5, C3[0]], [6, C3[1]], [7, C3[2]]]),
  },
];

describe("csv orders - consecutive rows with one order_id are one purchase", () => {
  it("lists the rows' items in file order, sums qty × price into revenue and derives the id from the rows", async () => {
    const published = await publishCsv([...A1, ...B2, ...C3]);
    expect(published.events).toEqual(EXPECTED);
    expect(published.deadLetters).toEqual([]);
    expect(published.counts).toEqual({ read: 3, published: 3, rejected: 0, filtered: 0, orderLines: { rows: 6, orders: 3 } });
    expect(readSummary(published.counts)).toBe("read 6 rows (3 orders)");
    // A re-publish gives the same ids; a changed row changes its order's id alone.
    expect((await publishCsv([...A1, ...B2, ...C3])).events).toEqual(EXPECTED);
    const changed = await publishCsv([...A1, B2[0].replace(",3,", ",5,"), ...C3]);
    expect(changed.events.map((event) => event.event_id)).toEqual([EXPECTED[0].event_id, orderId([[4, B2[0].replace(",3,", ",5,")]]), EXPECTED[2].event_id]);
  });

  it("with --sort-by-time, groups the rows first and publishes the orders by time", async () => {
    const published = await publishCsv([...A1, ...B2, ...C3], { sortByTime: true });
    expect(published.events).toEqual([EXPECTED[2], EXPECTED[0], EXPECTED[1]]);
    expect(published.counts.orderLines).toEqual({ rows: 6, orders: 3 });
  });

  it("combines an order whose rows are split between two pieces of the file (the worker thread's chunks)", async () => {
    const lines = [HEADER, ...A1, ...B2, ...C3];
    const sink = new ChunkSink();
    const publisher = new RecordPublisher({ config: pipelineConfig(), sink, source: "publish", env: {} });
    // Piece 1 ends after A1's first row, piece 2 after C3's second.
    const chunks = [{ lines: lines.slice(0, 2) }, { lines: lines.slice(2, 6) }, { lines: lines.slice(6) }];
    const counts = await publishLineChunks(publisher, chunks, { format: "csv", map: MAP, receivedAt: 1 });
    expect(collected(sink, counts).events).toEqual(EXPECTED);
    expect(counts.orderLines).toEqual({ rows: 6, orders: 3 });
  });

  it("as the parse thread hands chunks over slice by slice: an order over three chunks, the middle one all its rows, and the last order after the last chunk", async () => {
    const long = [`L9,S1,1,1.00,${T8},c3`, `L9,S2,2,2.00,${T8},c3`, `L9,S3,3,3.00,${T8},c3`, `L9,S4,4,4.00,${T8},c3`];
    const lines = [HEADER, ...A1, ...long, ...C3];
    // Chunk 1 ends after L9's first row, chunk 2 is L9's next two rows alone, chunk 3 has its last row and C3.
    const chunks = [{ lines: lines.slice(0, 4) }, { lines: lines.slice(4, 6) }, { lines: lines.slice(6) }];
    const sink = new ChunkSink();
    const publisher = new RecordPublisher({ config: pipelineConfig(), sink, source: "publish", env: {} });
    const sliced = slicedChunks((async function* () { yield* chunks; })(), 4);
    const taken: string[][] = [];
    const counts = await publishLineChunks(publisher, sliced.lines, { format: "csv", map: MAP, receivedAt: 1 }, () => {
      const message = sink.take(sliced.ended());
      if (message.type === "chunk") taken.push(message.events);
    });
    const rest = sink.take();
    const orderIdsOf = (events: string[]) => events.map((line) => (JSON.parse(line) as { order_id: string }).order_id);
    // L9 is complete once C3's first row is read, in chunk 3; C3 only once the file ended.
    expect(taken.map(orderIdsOf).flat()).toEqual(["A1", "L9"]);
    expect(rest.type === "chunk" ? orderIdsOf(rest.events) : []).toEqual(["C3"]);
    const l9 = JSON.parse(taken.flat()[1]) as Record<string, unknown>;
    expect(l9.items).toEqual([1, 2, 3, 4].map((n) => ({ sku: `S${n}`, qty: n, price: n })));
    expect(l9.revenue).toBe(1 + 4 + 9 + 16);
    expect(l9.event_id).toBe(orderId(long.map((row, index): [number, string] => [4 + index, row])));
    expect(counts.orderLines).toEqual({ rows: 9, orders: 3 });
  });

  it("sums a mapped revenue over the rows, and counts a row once when items.qty is not mapped", async () => {
    const withRevenue = MAP.replace("items.price=$UnitPrice", "revenue=$UnitPrice");
    const summed = await publishCsv(A1, { map: withRevenue });
    expect(summed.events.map(({ revenue, items }) => ({ revenue, items }))).toEqual([{ revenue: 5.75, items: [{ sku: "S1", qty: 2 }, { sku: "S2", qty: 1 }] }]);
    const withoutQty = await publishCsv(A1, { map: MAP.replace("items.qty=$Quantity,", "") });
    expect(withoutQty.events.map(({ revenue }) => revenue)).toEqual([5.75]);
  });

  it("gives revenue as the decimal the rows add up to, without binary floating-point noise", async () => {
    // In doubles 2 × 7.65 is 15.299999999999999 and 0.1 + 0.2 is 0.30000000000000004.
    const prices = await publishCsv([`D4,S1,2,7.65,${T8},c1`]);
    expect(prices.events.map(({ revenue }) => revenue)).toEqual([15.3]);
    const revenues = await publishCsv([`D5,S1,1,0.1,${T8},c1`, `D5,S2,1,0.2,${T8},c1`], { map: MAP.replace("items.price=$UnitPrice", "revenue=$UnitPrice") });
    expect(revenues.events.map(({ revenue }) => revenue)).toEqual([0.3]);
  });

  it("takes the category as the item's when mapped (basket's item: category)", async () => {
    const published = await publishCsv(A1, { map: MAP.replace("items.sku=$StockCode", "items.category=$StockCode") });
    expect(published.events[0].items).toEqual([{ category: "S1", qty: 2, price: 1.5 }, { category: "S2", qty: 1, price: 4.25 }]);
  });
});

const SRC = (path: string) => JSON.stringify(fileURLToPath(new URL(`../../src/${path}`, import.meta.url)));

/**
 * MB of heap still used, after full collections, by a grouper that has read `windows` windows of an order-line file
 * (≈ 54 KB each, decoded as publish decodes a piece: linesOf), 10 orders of 64 rows each, every order_id 36 characters long.
 */
function heapKeptByOrderIds(windows: number): { orders: number; mb: number } {
  const script = `
    const { compileCsvMapping } = await import(${SRC("ingest/csv.ts")});
    const { OrderLineGrouper } = await import(${SRC("ingest/csv-orders.ts")});
    const { linesOf } = await import(${SRC("cli/publish-lines.ts")});
    const mapping = compileCsvMapping(${JSON.stringify(MAP)});
    mapping.map(${JSON.stringify(HEADER)}, 1);
    const grouper = new OrderLineGrouper(mapping.orderLines);
    const NEWLINE = String.fromCharCode(10);
    const window = (index) => {
      const rows = [];
      for (let row = 0; row < 640; row++) {
        const orderId = "order-" + String(index * 10 + Math.floor(row / 64)).padStart(30, "0");
        rows.push(orderId + ",SKU" + row + ",2,1.50,2011-12-01T08:00:00Z,customer-" + index);
      }
      return Buffer.from(rows.join(NEWLINE) + NEWLINE);
    };
    globalThis.gc();
    const before = process.memoryUsage().heapUsed;
    let lineNumber = 1;
    for (let index = 0; index < ${windows}; index++) {
      for (const line of linesOf(window(index))) grouper.add(mapping.map(line, ++lineNumber), line, lineNumber);
    }
    grouper.end();
    globalThis.gc();
    globalThis.gc();
    console.log(JSON.stringify({ orders: grouper.counts.orders, mb: (process.memoryUsage().heapUsed - before) / 1e6 }));`;
  const child = spawnSync(process.execPath, ["--import", "tsx", "--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout.trim().split("\n").pop()!) as { orders: number; mb: number };
}

describe("csv orders - memory", () => {
  it("remembers each order_id it has read without keeping alive the text of the file it was cut from", () => {
    // V8 cuts a value of 13 or more characters as a view into the 64 KiB window of the file it was decoded in: kept
    // as a remembered order_id, it kept the whole window, so memory grew with the file (14 MB here), not its orders.
    const kept = heapKeptByOrderIds(256);
    expect(kept.orders).toBe(2560);
    // 2,560 ids of 36 characters with their map entries: well under 1 MB; the windows are 14 MB.
    expect(kept.mb).toBeLessThan(2);
  });
});

describe("csv orders - the order_ids remembered past one Map's limit", () => {
  // V8 throws "RangeError: Map maximum size exceeded" at 2^24 entries: one Map of every order_id crashed publish partway
  // through a file of more orders. The same logic is tested here with Maps of 3 ids instead of 16,777,215.
  it("FirstLines keeps every id with its first line in Maps of at most the limit", () => {
    const firstLines = new FirstLines(3);
    for (let n = 0; n < 1_000; n++) {
      expect(firstLines.get(`order-${n}`)).toBeUndefined();
      firstLines.add(`order-${n}`, n + 2);
    }
    for (let n = 0; n < 1_000; n++) expect(firstLines.get(`order-${n}`)).toBe(n + 2);
    expect(firstLines.get("order-1000")).toBeUndefined();
    expect(firstLines.get("order-")).toBeUndefined();
    // 1,000 ids in Maps of 3: 333 full ones and one holding the last id.
    expect(firstLines.mapSizes()).toEqual([...Array<number>(333).fill(3), 1]);
  });

  it("an order whose rows come back after the first Maps filled is still dead-lettered, naming its first line", () => {
    const mapping = compileCsvMapping(MAP);
    mapping.map(HEADER, 1);
    const grouper = new OrderLineGrouper(mapping.orderLines!, new FirstLines(2));
    const rows = Array.from({ length: 300 }, (_, n) => `O${n},S1,1,1.00,${T8},c1`);
    rows.push(`O7,S2,1,2.00,${T8},c1`, `O250,S2,1,2.00,${T8},c1`);
    const outputs: CsvOutput[] = [];
    rows.forEach((row, index) => outputs.push(...grouper.add(mapping.map(row, index + 2), row, index + 2)));
    outputs.push(...grouper.end());
    expect(outputs.filter((output) => output.ok)).toHaveLength(300);
    const returned = (id: string, line: number, first: number) =>
      `unparseable_line: line ${line}: order ${id} was already read from line ${first}, before other orders' rows: the rows of an order must be ` +
      "consecutive (sort the file by order, keeping each order's rows in their order)";
    expect(outputs.flatMap((output) => (output.ok ? [] : [output.reason]))).toEqual([returned("O7", 302, 9), returned("O250", 303, 252)]);
    expect(grouper.counts).toEqual({ rows: 302, orders: 300 });
  });
});

describe("csv orders - what is not published goes to the dead letters, each naming its line", () => {
  it("dead-letters every row of an order with a bad row, and publishes the orders around it", async () => {
    const bad = `A1,S9,x,1.00,${T8},c1`;
    const published = await publishCsv([A1[0], bad, A1[1], ...B2]);
    expect(published.events.map((event) => event.order_id)).toEqual(["B2"]);
    const why = 'items.qty (items.qty=$Quantity): "x" is not a number';
    expect(published.deadLetters).toEqual([
      { reason: `unparseable_line: line 2: order A1 is not published: its line 3 is bad: ${why}`, raw: A1[0] },
      { reason: `unparseable_line: line 3: ${why} (order A1 is not published)`, raw: bad },
      { reason: `unparseable_line: line 4: order A1 is not published: its line 3 is bad: ${why}`, raw: A1[1] },
    ]);
    expect(published.counts).toEqual({ read: 4, published: 1, rejected: 3, filtered: 0, firstRejection: published.deadLetters[0].reason, orderLines: { rows: 4, orders: 2 } });
  });

  it("dead-letters a return (quantity ≤ 0), a negative price and, when revenue is Σ qty × price, an empty price", async () => {
    const published = await publishCsv([`R1,S1,-2,1.50,${T8},c1`, `P1,S1,1,-1,${T8},c1`, `E1,S1,1,,${T8},c1`]);
    expect(published.events).toEqual([]);
    expect(published.deadLetters.map((letter) => letter.reason)).toEqual([
      "bad_field: line 2: items.qty (items.qty=$Quantity) is -2: a quantity is a number > 0 (a return or cancellation is no purchase) (order R1 is not published)",
      "bad_field: line 3: items.price (items.price=$UnitPrice) is -1: a price is a number ≥ 0 (order P1 is not published)",
      "missing_field: line 4: items.price (items.price=$UnitPrice) is empty: an order's revenue is the sum of qty × price over its rows (order E1 is not published)",
    ]);
  });

  it("dead-letters an order whose rows disagree on an order field (a customer, a time), naming both lines", async () => {
    const published = await publishCsv([A1[0], A1[1].replace("c1", "c2"), ...B2, C3[0], C3[1].replace(T7, T9)]);
    expect(published.events.map((event) => event.order_id)).toEqual(["B2"]);
    const user = 'order A1: its rows disagree on user_id: line 2 has "c1", line 3 has "c2" (an order is one purchase, with one user_id)';
    const time = `order C3: its rows disagree on ts: line 5 has ${T7.replace("Z", ".000Z")}, line 6 has ${T9.replace("Z", ".000Z")} (an order is one purchase, with one ts)`;
    expect(published.deadLetters.map((letter) => letter.reason)).toEqual([`bad_field: line 2: ${user}`, `bad_field: line 3: ${user}`, `bad_field: line 5: ${time}`, `bad_field: line 6: ${time}`]);
  });

  it("dead-letters the rows of an order seen again after other orders (the first run was published), counting the order once", async () => {
    const published = await publishCsv([A1[0], ...B2, A1[1]]);
    // Two orders, A1 and B2: A1's return is no third one.
    expect(published.counts.orderLines).toEqual({ rows: 3, orders: 2 });
    expect(readSummary(published.counts)).toBe("read 3 rows (2 orders)");
    expect(published.events.map(({ order_id, items }) => ({ order_id, items }))).toEqual([
      { order_id: "A1", items: [{ sku: "S1", qty: 2, price: 1.5 }] },
      { order_id: "B2", items: [{ sku: "S1", qty: 3, price: 1.5 }] },
    ]);
    expect(published.deadLetters).toEqual([
      {
        reason:
          "unparseable_line: line 4: order A1 was already read from line 2, before other orders' rows: the rows of an order must be consecutive " +
          "(sort the file by order, keeping each order's rows in their order)",
        raw: A1[1],
      },
    ]);
  });

  it("dead-letters alone a row without an order_id, or too broken to read one, and the order around it goes on", async () => {
    const published = await publishCsv([A1[0], `,S1,1,1.00,${T8},c1`, "A1,S9", A1[1]]);
    expect(published.events.map(({ order_id, items }) => ({ order_id, items }))).toEqual([
      { order_id: "A1", items: [{ sku: "S1", qty: 2, price: 1.5 }, { sku: "S2", qty: 1, price: 4.25 }] },
    ]);
    expect(published.deadLetters.map((letter) => letter.reason)).toEqual([
      "missing_field: line 3: order_id (order_id=$InvoiceNo) is empty: each row of an order-line file names its order",
      "unparseable_line: line 4: the record has 2 fields, the header has 6",
    ]);
  });

  it("dead-letters an order the event checks refuse once, with all of its rows and their lines", async () => {
    const rows = A1.map((row) => row.replace(",c1", ","));
    const published = await publishCsv(rows);
    expect(published.deadLetters).toEqual([{ reason: "missing_field: lines 2–3: purchase: requires anon_id or user_id", raw: rows.join("\n") }]);
  });
});

describe("csv orders - spec errors name the problem and the fix", () => {
  const problem = (spec: string) => {
    try {
      compileCsvMapping(spec);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  };

  it("refuses item fields a purchase item does not have, suggesting the one meant", () => {
    expect(problem(MAP.replace("items.qty", "items.quantity"))).toBe(
      '--map entry "items.quantity=$Quantity": a purchase item has no field "quantity" (did you mean items.qty?); its fields are items.sku, items.category, items.price, items.qty',
    );
    expect(problem(MAP.replace("items.sku", "items.skus"))).toMatch(/no field "skus" \(did you mean items\.sku\?\)/);
    expect(problem(MAP.replace("items.sku", "items.colour"))).toBe(
      '--map entry "items.colour=$StockCode": a purchase item has no field "colour"; its fields are items.sku, items.category, items.price, items.qty',
    );
    expect(problem("type=purchase,ts=$1,items=$2")).toBe(
      '--map entry "items=$2": items is the list of an order\'s rows; map the fields of a row\'s item instead, e.g. order_id=$InvoiceNo,items.sku=$StockCode,items.qty=$Quantity,items.price=$UnitPrice',
    );
    expect(problem(MAP.replace("items.price=$UnitPrice", "items.price=$UnitPrice+$Tax"))).toMatch(/only ts can be a sum of columns/);
  });

  it("needs type=purchase, an order_id column, a sku or category, and revenue or items.price", () => {
    expect(problem(MAP.replace("type=purchase", "type=$Kind"))).toBe(
      '--map maps items.sku, items.qty, items.price, the items of a purchase: set type=purchase (not "type=$Kind")',
    );
    expect(problem(MAP.replace("order_id=$InvoiceNo,", ""))).toBe(
      "--map maps items.sku, items.qty, items.price but no order_id: the rows of one order are combined into one purchase by their order_id; add e.g. order_id=$InvoiceNo",
    );
    expect(problem(MAP.replace("order_id=$InvoiceNo", "order_id=X1"))).toBe(
      '--map entry "order_id=X1": with items.* the order_id must be a column (e.g. order_id=$InvoiceNo): a constant makes every row one order',
    );
    expect(problem(MAP.replace("items.sku=$StockCode,", ""))).toBe(
      "--map maps items.qty, items.price but neither items.sku nor items.category (what basket counts): add e.g. items.sku=$StockCode",
    );
    expect(problem(MAP.replace(",items.price=$UnitPrice", ""))).toBe(
      "--map maps items.sku, items.qty but neither revenue nor items.price: a purchase needs its revenue; add items.price=$UnitPrice " +
        "(revenue is then the sum of qty × price over the order's rows) or revenue=$column (summed over the order's rows)",
    );
  });

  it("refuses a mapped event_id: a row's column dead-lettered every order of two rows or more, and the id is derived from the rows", () => {
    const derived = "with items.* leave event_id unmapped: each order's event_id is derived from its rows (a re-publish is stored once), and ";
    expect(problem(`${MAP},event_id=$LineId`)).toBe(
      `--map entry "event_id=$LineId": ${derived}a column that differs between an order's rows would dead-letter the order`,
    );
    expect(problem(`${MAP},event_id=e1`)).toBe(`--map entry "event_id=e1": ${derived}a constant would give every order one id`);
    // Without items.* a row is an event, and its event_id may come from a column as before.
    expect(problem("type=purchase,ts=$1:iso,user_id=$2,revenue=$3,event_id=$4")).toBeUndefined();
  });

  it("refuses reading as text what an order sums (items.price, items.qty, revenue): every order was dead-lettered as empty", () => {
    const summed = "it is a number (an order's revenue is summed from its rows' numbers): leave out :string, as a number is the default";
    expect(problem(MAP.replace("items.price=$UnitPrice", "items.price=$UnitPrice:string"))).toBe(`--map entry "items.price=$UnitPrice:string": ${summed}`);
    expect(problem(MAP.replace("items.qty=$Quantity", "items.qty=$Quantity:string"))).toBe(`--map entry "items.qty=$Quantity:string": ${summed}`);
    expect(problem(`${MAP},revenue=$Total:string`)).toBe(`--map entry "revenue=$Total:string": ${summed}`);
    // Outside an order-line file a revenue read as text is left to the event checks, as before.
    expect(problem("type=purchase,ts=$1:iso,user_id=$2,revenue=$3:string")).toBeUndefined();
  });

  it("reads items.price and items.qty as numbers, items.sku as text, unless the spec says otherwise", () => {
    const mapping = compileCsvMapping(MAP);
    mapping.map(HEADER, 1);
    expect(mapping.map(`A1,007,2,1.50,${T8},c1`, 2)).toEqual({
      ok: true,
      record: { type: "purchase", order_id: "A1", ts: Date.UTC(2011, 11, 1, 8), user_id: "c1", items: [{ sku: "007", qty: 2, price: 1.5 }] },
    });
  });
});

describe("csv orders - the order-line fixture", () => {
  it("is what derive-order-lines.ts makes of groceries_baskets.csv (SOURCE.md)", () => {
    const baskets = readFileSync(new URL("../fixtures/groceries/groceries_baskets.csv", import.meta.url), "utf8");
    expect(readFileSync(new URL("../fixtures/groceries/groceries_order_lines.csv", import.meta.url), "utf8")).toBe(orderLinesCsv(baskets));
  });
});
