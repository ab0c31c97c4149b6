// Items that hold the contract's separators (" > " in patterns, " & " in rule antecedents): counted apart, and written
// unambiguously in the list columns `patterns.items` and `basket_rules.antecedent_items`, as DuckDB reads them.
import type { DuckDBConnection } from "@duckdb/node-api";
import { beforeAll, describe, expect, it } from "vitest";
import { basketConfig, basketRulesTable, createBasket, crossSellTable } from "../../src/operators/basket.ts";
import { createSequencePatterns, patternsTable, sequencePatternsConfig } from "../../src/operators/sequence-patterns.ts";
import { countWindowPatterns } from "../../src/operators/mining/pattern-counting.ts";
import { decodeReply, encodeReply } from "../../src/operators/mining/pattern-mining-protocol.ts";
import type { ClickEvent } from "../../src/events/event.ts";
import type { Operator } from "../../src/runtime/operator.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import type { Row, TableSpec } from "../../src/sinks/table.ts";
import { duckDb, lakesRemovedAfterAll, queryJson } from "../sinks/lake-fixtures.ts";
import { recordingContext } from "./mining/recording-context.ts";
import { sessionRecord } from "./mining/session-records.ts";

const MINUTE = 60_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 2, 1, 10);
const lake = lakesRemovedAfterAll("pattern-items");
let connection: DuckDBConnection;

beforeAll(async () => {
  connection = await duckDb();
});

/** The patterns rows of one window of `sessions` (each a list of page items), drained. */
function patternRows(sessions: string[][], overrides: Record<string, unknown>): Row[] {
  const config = sequencePatternsConfig.parse({ type: "sequencePatterns", ...overrides });
  const op = createSequencePatterns(config, { pipelineName: "test" });
  const ctx = recordingContext();
  sessions.forEach((pages, index) => op.onSession!(sessionRecord(`s${index}`, T0 + index * MINUTE, pages), ctx));
  op.onEnd(ctx);
  return ctx.rowsOf("patterns");
}

/** [kind, items, support] per row, sorted: what a row says, whatever its text. */
const byItems = (rows: Row[]) =>
  rows
    .map((row) => [row.kind, row.items ?? row.pattern, row.support] as [string, unknown, number])
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

/** Writes `rows` of `table` as one committed epoch of a lake and returns the lake. */
async function writeLake(spec: TableSpec[], rows: { table: string; row: Row }[], root?: string, epoch = 1): Promise<string> {
  const path = root ?? (await lake());
  const sink = new ParquetSink({ path, tables: spec, useWorkerThread: false, compression: "snappy", writerId: "w" });
  for (const { table, row } of rows) sink.append(table, row);
  await sink.commit(await sink.prepare(epoch));
  await sink.close();
  return path;
}

// "a > b" then "c", and "a" then "b > c": both written "a > b > c" with length 2, two patterns all the same.
const COLLIDING = [["a > b", "c"], ["a", "b > c"]];

describe("patterns whose items hold ' > '", () => {
  it("topK (Space-Saving) counts two patterns of the same text apart: each has support 1, not one of support 2", () => {
    const rows = patternRows(COLLIDING, { minSupport: 1, maxLength: 2, topK: 100 }).filter((row) => row.length === 2);
    expect(byItems(rows)).toEqual([
      ["contiguous", ["a > b", "c"], 1],
      ["contiguous", ["a", "b > c"], 1],
      ["subsequence", ["a > b", "c"], 1],
      ["subsequence", ["a", "b > c"], 1],
    ]);
    expect(rows.every((row) => row.pattern === "a > b > c" && row.error_bound === 0)).toBe(true);
  });

  it("exact counting over an alphabet too large for numeric run keys counts contiguous runs of the same text apart", () => {
    // 44 distinct items and a 40-item session: 45^10 > 2^53, so runs were counted under their text.
    const filler = Array.from({ length: 40 }, (_, index) => `p${String(index).padStart(2, "0")}`);
    const rows = patternRows([...COLLIDING, ["a > b", "c"], filler], { minSupport: 2, maxLength: 10 });
    // By hand: only s0 and s2 share anything ("a > b", "c", and the two in that order, gaps or not).
    expect(byItems(rows)).toEqual([
      ["contiguous", ["a > b", "c"], 2],
      ["contiguous", ["a > b"], 2],
      ["contiguous", ["c"], 2],
      ["subsequence", ["a > b", "c"], 2],
      ["subsequence", ["a > b"], 2],
      ["subsequence", ["c"], 2],
    ]);
  });

  it("writes `items`, which DuckDB reads as the hand-computed items while `pattern` stays the items joined by ' > '", async () => {
    const sessions = [["Shoes > Running", "Salt & Pepper"], ["Shoes > Running", "x", "Salt & Pepper"], ["Shoes", "Running > Salt & Pepper"]];
    const rows = patternRows(sessions, { minSupport: 2, maxLength: 3 });
    const root = await writeLake([patternsTable], rows.map((row) => ({ table: "patterns", row })));
    const read = await queryJson(
      connection,
      `SELECT kind, items, support::INTEGER AS support, pattern = array_to_string(items, ' > ') AS joined
       FROM read_parquet('${root}/patterns/**/*.parquet', union_by_name = true) ORDER BY kind, length, items`,
    );
    expect(read).toEqual([
      { kind: "contiguous", items: ["Salt & Pepper"], support: 2, joined: true },
      { kind: "contiguous", items: ["Shoes > Running"], support: 2, joined: true },
      { kind: "subsequence", items: ["Salt & Pepper"], support: 2, joined: true },
      { kind: "subsequence", items: ["Shoes > Running"], support: 2, joined: true },
      { kind: "subsequence", items: ["Shoes > Running", "Salt & Pepper"], support: 2, joined: true },
    ]);
    // The run "Shoes" then "Running > Salt & Pepper" (s2) reads as s0's "Shoes > Running" then "Salt & Pepper": 1 each.
    expect(rows.some((row) => row.kind === "contiguous" && row.length === 2)).toBe(false);
  });

  it("keeps the items of multi-item steps as one element per step, and through the mining thread's reply", () => {
    const request = { elements: [["1 2", "3"], ["1 2", "3"]], maxLength: 3, itemJoin: " ", itemsetSeparator: " ", minCount: 2 };
    const found = countWindowPatterns(request);
    expect(found.find((row) => row.kind === "subsequence" && row.length === 3)).toMatchObject({ pattern: "1 2 > 3", items: ["1 2", "3"] });
    expect(decodeReply(encodeReply(1, found).message)).toEqual(found);
  });
});

function purchase(orderId: string, ts: number, skus: string[]): ClickEvent {
  return { type: "purchase", ts, event_id: `e-${orderId}`, anon_id: "v", order_id: orderId, revenue: 10, items: skus.map((sku) => ({ sku, price: 1, qty: 1 })) };
}

/** The basket rows of one day's `baskets`. */
function basketRows(baskets: string[][], overrides: Record<string, unknown>): { table: string; row: Row }[] {
  const op: Operator = createBasket(basketConfig.parse({ type: "basket", ...overrides }), { pipelineName: "test" });
  const ctx = recordingContext();
  baskets.forEach((skus, index) => op.onEvent!(purchase(`o${index}`, T0 + index * MINUTE, skus), { partition: 0, sequence: index + 1 }, ctx));
  op.onEnd(ctx);
  return ctx.rows;
}

describe("basket_rules whose antecedent items hold ' & '", () => {
  it("writes `antecedent_items`: {Mug & Saucer} ⇒ Spoon and {Mug, Saucer} ⇒ Spoon, both `Mug & Saucer`, read apart by DuckDB", async () => {
    const baskets = [["Mug & Saucer", "Spoon"], ["Mug & Saucer", "Spoon"], ["Mug", "Saucer", "Spoon"], ["Mug", "Saucer", "Spoon"]];
    const rows = basketRows(baskets, { minSupport: 0.5, minConfidence: 1, maxLength: 3 });
    const root = await writeLake([basketRulesTable, crossSellTable], rows);
    const read = await queryJson(
      connection,
      `SELECT antecedent, antecedent_items, consequent, orders::INTEGER AS orders, lift, antecedent = array_to_string(antecedent_items, ' & ') AS joined
       FROM read_parquet('${root}/basket_rules/**/*.parquet', union_by_name = true) ORDER BY consequent, antecedent_items`,
    );
    // By hand (4 orders, every one with Spoon; Mug and Saucer together in 2): confidence 1 for exactly these.
    expect(read).toEqual([
      { antecedent: "Saucer", antecedent_items: ["Saucer"], consequent: "Mug", orders: 2, lift: 2, joined: true },
      { antecedent: "Saucer & Spoon", antecedent_items: ["Saucer", "Spoon"], consequent: "Mug", orders: 2, lift: 2, joined: true },
      { antecedent: "Mug", antecedent_items: ["Mug"], consequent: "Saucer", orders: 2, lift: 2, joined: true },
      { antecedent: "Mug & Spoon", antecedent_items: ["Mug", "Spoon"], consequent: "Saucer", orders: 2, lift: 2, joined: true },
      { antecedent: "Mug", antecedent_items: ["Mug"], consequent: "Spoon", orders: 2, lift: 1, joined: true },
      { antecedent: "Mug & Saucer", antecedent_items: ["Mug", "Saucer"], consequent: "Spoon", orders: 2, lift: 1, joined: true },
      { antecedent: "Mug & Saucer", antecedent_items: ["Mug & Saucer"], consequent: "Spoon", orders: 2, lift: 1, joined: true },
      { antecedent: "Saucer", antecedent_items: ["Saucer"], consequent: "Spoon", orders: 2, lift: 1, joined: true },
    ]);
  });

  it("counts an item holding NUL apart from the itemset of its parts (rule counts were keyed by items joined with NUL)", () => {
    const rows = basketRows([["a\u0000b", "c"], ["a\u0000b", "c"], ["a\u0000b"], ["a", "b"], ["a", "b"]], { minSupport: 0.4, minConfidence: 0, maxLength: 2 });
    const rules = rows
      .filter(({ table }) => table === "basket_rules")
      .map(({ row }) => [row.antecedent, row.consequent, Number((row.confidence as number).toFixed(6)), Number((row.lift as number).toFixed(6))])
      .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    // By hand, 5 orders: "a\0b" in 3, a, b and c in 2; {a, b} in 2, {"a\0b", c} in 2. Keyed "a\0b", {a, b} (mined
    // after it) took the count of the item "a\0b": confidence 1 and lift 2.5 for "a\0b" ⇒ c.
    expect(rules).toEqual([
      ["a", "b", 1, 2.5],
      ["a\u0000b", "c", 0.666667, 1.666667],
      ["b", "a", 1, 2.5],
      ["c", "a\u0000b", 1, 1.666667],
    ]);
  });
});

describe("a lake with parts from before the list columns", () => {
  it("reads old and new parts together (union_by_name) and compacts them without failing", async () => {
    const root = await lake();
    const oldPatterns: TableSpec = { ...patternsTable, columns: patternsTable.columns.filter((column) => column.name !== "items") };
    const row = (pattern: string, support: number): Row => ({
      window_start: T0, window_end: T0 + HOUR, kind: "subsequence", pattern, length: 1, support, support_ratio: support / 4, error_bound: 0,
    });
    for (let epoch = 1; epoch <= 3; epoch++) await writeLake([oldPatterns], [{ table: "patterns", row: row(`old${epoch}`, epoch) }], root, epoch);
    const logs: string[] = [];
    const sink = new ParquetSink({
      path: root, tables: [patternsTable], useWorkerThread: false, compression: "snappy", writerId: "w",
      compaction: { minParts: 2, targetRows: 100, mergesPerCheckpoint: 2 }, log: (line) => logs.push(line),
    });
    for (let epoch = 4; epoch <= 6; epoch++) {
      sink.append("patterns", { ...row(`Shoes > Running ${epoch}`, epoch), items: [`Shoes > Running ${epoch}`] });
      const pending = await sink.prepare(epoch);
      await sink.commit(pending);
    }
    await sink.close();
    expect(logs).toEqual([]);
    const read = await queryJson(
      connection,
      `SELECT pattern, items, count(*)::INTEGER AS copies FROM read_parquet('${root}/patterns/**/*.parquet', union_by_name = true)
       GROUP BY ALL ORDER BY pattern`,
    );
    expect(read).toEqual([
      { pattern: "Shoes > Running 4", items: ["Shoes > Running 4"], copies: 1 },
      { pattern: "Shoes > Running 5", items: ["Shoes > Running 5"], copies: 1 },
      { pattern: "Shoes > Running 6", items: ["Shoes > Running 6"], copies: 1 },
      { pattern: "old1", items: null, copies: 1 },
      { pattern: "old2", items: null, copies: 1 },
      { pattern: "old3", items: null, copies: 1 },
    ]);
    // Merged (parts of each schema apart): fewer files than the six epochs' parts.
    const [{ files }] = await queryJson(connection, `SELECT count(DISTINCT filename)::INTEGER AS files FROM read_parquet('${root}/patterns/**/*.parquet', filename = true, union_by_name = true)`);
    expect(files).toBeLessThan(6);
  });
});
