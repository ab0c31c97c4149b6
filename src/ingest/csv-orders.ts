// `publish --format csv` of an order-line file (one row per line item, as shops export orders): consecutive rows with
// one order_id become one purchase whose `items` are the rows' items. Pure: rows in, events and dead letters out.
import { createHash } from "node:crypto";
import { detachedLine } from "../transport/batch-codec.ts";
import type { CsvMapResult, OrderLineSpec } from "./csv.ts";

/** What a CSV record (or an order of them) becomes: an event record to publish, or a dead letter with its reason. */
export type CsvOutput =
  | { ok: true; record: Record<string, unknown>; raw: string; lineNumber: number; where: string }
  | { ok: false; reason: string; raw: string; lineNumber: number };

interface OrderRow {
  lineNumber: number;
  raw: string;
  record?: Record<string, unknown>;
  /** Why this row cannot be part of a purchase: its order is dead-lettered with it. */
  problem?: { code: string; text: string };
}

interface OpenOrder {
  id: string;
  rows: OrderRow[];
  /** The first line of an earlier run of this order's rows, when other orders' rows came between. */
  earlierAt?: number;
}

/** Rows read and the distinct order_ids they named (published or not), for publish's summary. */
export interface OrderLineCounts {
  rows: number;
  /** Distinct order_ids: an order whose rows come back after other orders' is counted once. */
  orders: number;
}

/**
 * The ids one Map of FirstLines holds: a V8 Map holds 2^24 (16,777,216) entries and throws "RangeError: Map maximum
 * size exceeded" at the next (Node 20), so one Map of every order_id read made publish crash partway through a file of
 * more orders.
 */
export const IDS_PER_MAP = 2 ** 24 - 1;

/**
 * The first line of every order_id read, for any number of ids: in Maps of up to IDS_PER_MAP, a new one started
 * when the last is full. Below 2^24 orders a lookup reads one Map, as before; past it, one per 2^24 ids (a file of 50
 * million orders, 10 GB of ids at ~200 bytes each, reads three). Sharding by a hash of the id read one Map at any
 * size, but cost 1.3–1.8× as much per new id below the limit (a micro-benchmark of 2 million), where nearly every file is.
 */
export class FirstLines {
  private readonly maps = [new Map<string, number>()];
  private readonly idsPerMap: number;

  /** `idsPerMap`: IDS_PER_MAP, or a small number for a test of full Maps. */
  constructor(idsPerMap = IDS_PER_MAP) {
    this.idsPerMap = idsPerMap;
  }

  get(id: string): number | undefined {
    for (const map of this.maps) {
      const line = map.get(id);
      if (line !== undefined) return line;
    }
    return undefined;
  }

  /** Remembers a new id (one get has returned undefined for). */
  add(id: string, line: number): void {
    let last = this.maps[this.maps.length - 1];
    if (last.size >= this.idsPerMap) this.maps.push((last = new Map()));
    last.set(id, line);
  }

  /** The number of ids in each Map (for tests). */
  mapSizes(): number[] {
    return this.maps.map((map) => map.size);
  }
}

/** Fields that are the order's and must read the same on each of its rows; the rest are summed or listed. */
const PER_ROW_FIELDS = new Set(["items", "revenue"]);

/**
 * Combines the rows of each order into one purchase. An order is the run of consecutive rows with one order_id;
 * the purchase takes its rows' other fields, which must agree (else every row is dead-lettered: taking the first
 * row's would put one customer's items, or one day's, under another without a word), its rows' items in file order,
 * and as revenue the sum of the rows' `revenue` when mapped, else of qty × price (qty 1 when items.qty is not mapped).
 * A row that cannot be mapped sinks its order when its order_id can be read (a purchase without that row would hold
 * the wrong items and revenue), and goes alone otherwise. An order_id seen again after other orders is dead-lettered
 * with the rows of its second run: published as a second purchase, basket and churnFeatures would count the order
 * once and drop those rows' items. The ids of every order are kept for that (FirstLines, any number of them), each
 * as a copy of its own (some 200 bytes an order with a 36-character id, map entry included).
 */
export class OrderLineGrouper {
  private readonly spec: OrderLineSpec;
  private open: OpenOrder | undefined;
  private readonly firstLineOf: FirstLines;
  readonly counts: OrderLineCounts = { rows: 0, orders: 0 };

  /** `firstLines`: where order_ids are remembered (a test passes one of small Maps). */
  constructor(spec: OrderLineSpec, firstLines = new FirstLines()) {
    this.spec = spec;
    this.firstLineOf = firstLines;
  }

  /** One mapped record (undefined: a header or blank line), its text and first line; returns what it completed. */
  add(mapped: CsvMapResult | undefined, raw: string, lineNumber: number): CsvOutput[] {
    if (mapped === undefined) return [];
    this.counts.rows++;
    const row: OrderRow = { lineNumber: mapped.lineNumber ?? lineNumber, raw: mapped.raw ?? raw };
    let id: string | undefined;
    if (!mapped.ok) {
      row.problem = { code: "unparseable_line", text: mapped.reason };
      id = mapped.orderId;
      if (id === undefined) return [rejection(row, row.problem.code, row.problem.text)];
    } else {
      row.record = mapped.record;
      const orderId = mapped.record.order_id;
      if (orderId === undefined) {
        return [rejection(row, "missing_field", `order_id (${this.spec.orderId}) is empty: each row of an order-line file names its order`)];
      }
      id = String(orderId);
      row.problem = this.rowProblem(mapped.record);
    }
    if (this.open !== undefined && this.open.id === id) {
      this.open.rows.push(row);
      return [];
    }
    const completed = this.open === undefined ? [] : this.close(this.open);
    this.open = { id, rows: [row], earlierAt: this.firstLineOf.get(id) };
    // A copy: an id of 13 characters or more is a view into the 64 KiB of the file it was decoded with, and kept
    // here it kept that text alive, so memory grew with the file's bytes rather than its orders.
    if (this.open.earlierAt === undefined) {
      this.firstLineOf.add(detachedLine(id), row.lineNumber);
      this.counts.orders++;
    }
    return completed;
  }

  /** At the end of the file: the last order. */
  end(): CsvOutput[] {
    const last = this.open;
    this.open = undefined;
    return last === undefined ? [] : this.close(last);
  }

  /** Why a mapped row cannot be summed into its order's purchase, if it cannot. */
  private rowProblem(record: Record<string, unknown>): OrderRow["problem"] {
    const item = (record.items as Record<string, unknown>[] | undefined)?.[0] ?? {};
    const { price, qty } = item;
    if (typeof price === "number" && !(price >= 0)) {
      return { code: "bad_field", text: `items.price (${this.spec.price}) is ${price}: a price is a number ≥ 0` };
    }
    if (typeof qty === "number" && !(qty > 0)) {
      return { code: "bad_field", text: `items.qty (${this.spec.qty}) is ${qty}: a quantity is a number > 0 (a return or cancellation is no purchase)` };
    }
    if (this.spec.revenue !== undefined) {
      if (typeof record.revenue !== "number") {
        return { code: "missing_field", text: `revenue (${this.spec.revenue}) is empty: an order's revenue is the sum of its rows'` };
      }
      return undefined;
    }
    if (typeof price !== "number") {
      return { code: "missing_field", text: `items.price (${this.spec.price}) is empty: an order's revenue is the sum of qty × price over its rows` };
    }
    if (this.spec.qty !== undefined && typeof qty !== "number") {
      return { code: "missing_field", text: `items.qty (${this.spec.qty}) is empty: an order's revenue is the sum of qty × price over its rows` };
    }
    return undefined;
  }

  private close(order: OpenOrder): CsvOutput[] {
    const { id, rows } = order;
    if (order.earlierAt !== undefined) {
      const text =
        `order ${id} was already read from line ${order.earlierAt}, before other orders' rows: the rows of an order must be ` +
        "consecutive (sort the file by order, keeping each order's rows in their order)";
      return rows.map((row) => rejection(row, "unparseable_line", row.problem === undefined ? text : `${row.problem.text}; and ${text}`));
    }
    const bad = rows.find((row) => row.problem !== undefined);
    if (bad !== undefined) {
      const { code, text } = bad.problem!;
      return rows.map((row) =>
        row.problem !== undefined
          ? rejection(row, row.problem.code, `${row.problem.text} (order ${id} is not published)`)
          : rejection(row, code, `order ${id} is not published: its line ${bad.lineNumber} is bad: ${text}`),
      );
    }
    const records = rows.map((row) => row.record!);
    const conflict = disagreement(rows);
    if (conflict !== undefined) return rows.map((row) => rejection(row, "bad_field", `order ${id}: ${conflict}`));
    return [this.purchase(rows, records)];
  }

  private purchase(rows: OrderRow[], records: Record<string, unknown>[]): CsvOutput {
    const items = records.map((record) => (record.items as Record<string, unknown>[] | undefined)?.[0] ?? {});
    const revenue = withoutBinaryNoise(
      this.spec.revenue !== undefined
        ? records.reduce((sum, record) => sum + (record.revenue as number), 0)
        : items.reduce((sum, item) => sum + ((item.qty as number | undefined) ?? 1) * (item.price as number), 0),
    );
    const record: Record<string, unknown> = { ...records[0], items, revenue };
    // From every row's number and text, as a row's own id is: a re-published file gives the same id. (A mapped
    // event_id is refused with items.*: a per-row column would dead-letter every order of two rows or more.)
    const hash = createHash("sha256");
    for (const row of rows) hash.update(`${row.lineNumber}\n${row.raw}\n`);
    record.event_id = hash.digest("base64url").slice(0, 22);
    const first = rows[0].lineNumber;
    const last = rows[rows.length - 1].lineNumber;
    return { ok: true, record, raw: rows.map((row) => row.raw).join("\n"), lineNumber: first, where: first === last ? `line ${first}` : `lines ${first}–${last}` };
  }
}

function rejection(row: OrderRow, code: string, text: string): CsvOutput {
  return { ok: false, reason: `${code}: line ${row.lineNumber}: ${text}`, raw: row.raw, lineNumber: row.lineNumber };
}

/** The first order-level field whose rows differ, as "user_id differs: line 2 has "17850", line 5 has "13047"". */
function disagreement(rows: OrderRow[]): string | undefined {
  const names = new Set<string>();
  for (const row of rows) for (const name of Object.keys(row.record!)) if (!PER_ROW_FIELDS.has(name)) names.add(name);
  for (const name of names) {
    const first = rows[0].record![name];
    const other = rows.find((row) => row.record![name] !== first);
    if (other === undefined) continue;
    return (
      `its rows disagree on ${name}: line ${rows[0].lineNumber} has ${shown(name, first)}, line ${other.lineNumber} has ` +
      `${shown(name, other.record![name])} (an order is one purchase, with one ${name})`
    );
  }
  return undefined;
}

function shown(name: string, value: unknown): string {
  if (value === undefined) return "none (empty)";
  if (name === "ts" && typeof value === "number" && Math.abs(value) <= 8.64e15) return new Date(value).toISOString();
  return JSON.stringify(value);
}

/**
 * A sum of decimal prices in binary floating point carries noise past the 15th significant digit (2 × 7.65 = 15.299999999999999):
 * 15 significant digits keep every cent of any revenue below 10^13 and give the decimal the rows add up to.
 */
export function withoutBinaryNoise(sum: number): number {
  return Number(sum.toPrecision(15));
}
