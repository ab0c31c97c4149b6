// `clickpipe mine`: SPMF's and arules' published results through the command, Parquet in and out, usage errors.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import { formatPattern } from "../../src/operators/mining/itemset-sequence.ts";
import { parseSpmfPatterns } from "../../src/operators/mining/spmf-format.ts";
import { encodeParquet } from "../../src/sinks/parquet-encoder.ts";
import type { ColumnSpec } from "../../src/sinks/table.ts";
import { mine, queryJson, scratchDirectoriesRemovedAfterAll, writeSessionsTable } from "../helpers/mine-command.ts";
import { sessionRecord } from "../operators/mining/session-records.ts";

const fixture = (path: string) => fileURLToPath(new URL(`../fixtures/${path}`, import.meta.url));

/** Temporary folders of this file's tests, removed when they are done. */
const scratchDirectory = scratchDirectoriesRemovedAfterAll();

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const connection = await (await DuckDBInstance.create(":memory:")).connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjects() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
  }
}

describe("clickpipe mine patterns", () => {
  it("prints SPMF's 53 patterns and supports of contextPrefixSpan at --min-support 2", async () => {
    const { code, stdout, stderr } = await mine(["patterns", "--sessions", fixture("spmf/contextPrefixSpan.txt"), "--min-support", "2"]);
    expect(code).toBe(0);
    const expected = new Map(parseSpmfPatterns(readFileSync(fixture("spmf/spmPatterns.txt"), "utf8")).map((p) => [formatPattern(p.pattern), p.support]));
    const [header, ...lines] = stdout.trimEnd().split("\n");
    expect(header).toBe("kind,pattern,length,support,support_ratio,items");
    const got = new Map(lines.map((line) => line.split(",")).map(([, pattern, , support]) => [pattern, Number(support)]));
    expect(got).toEqual(expected);
    expect(stderr).toContain("mined 53 patterns from 4 sequences");
  });

  it("mines the current session versions of a Parquet sessions table and writes CSV and Parquet to --out", async () => {
    const directory = scratchDirectory("mine-patterns-");
    const columns: ColumnSpec[] = [
      { name: "session_id", type: "string" },
      { name: "version", type: "int64" },
      { name: "retracted", type: "bool" },
      { name: "page_path", type: "list<string>" },
      { name: "page_items", type: "list<string>" },
    ];
    const rows = [
      { session_id: "a", version: 1, retracted: false, page_path: ["/x"], page_items: ["home", "cart"] },
      { session_id: "a", version: 2, retracted: false, page_path: ["/x"], page_items: ["home", "product", "cart"] },
      { session_id: "b", version: 1, retracted: false, page_path: ["/y"], page_items: ["home", "cart"] },
      { session_id: "c", version: 1, retracted: false, page_path: ["/z"], page_items: ["product"] },
      { session_id: "c", version: 2, retracted: true, page_path: ["/z"], page_items: ["product"] },
    ];
    mkdirSync(join(directory, "sessions", "dt=2024-03-01"), { recursive: true });
    writeFileSync(join(directory, "sessions", "dt=2024-03-01", "part-0.parquet"), await encodeParquet(columns, rows, { compression: "none", rowGroupSize: 10 }));
    const out = join(directory, "out");
    const { code } = await mine(["patterns", "--sessions", join(directory, "sessions"), "--min-support", "2", "--max-length", "2", "--out", out]);
    expect(code).toBe(0);
    // Current truth: a = home > product > cart, b = home > cart (c retracted).
    const expected = [
      { pattern: "cart", support: 2n },
      { pattern: "home", support: 2n },
      { pattern: "home > cart", support: 2n },
    ];
    expect(await query(`SELECT pattern, support FROM '${out}/patterns/*.parquet' ORDER BY pattern`)).toEqual(expected);
    expect(await query(`SELECT pattern, support::BIGINT AS support FROM read_csv('${out}/patterns.csv') ORDER BY pattern`)).toEqual(expected);
  });

  it("writes `items` (one per step, as the streaming table), which tells items holding ' > ' apart, to Parquet and CSV", async () => {
    const directory = scratchDirectory("mine-pattern-items-");
    const sessions = join(directory, "sessions.csv");
    writeFileSync(sessions, "Shoes > Running,Salt & Pepper\nShoes,Running > Salt & Pepper\nShoes > Running,Salt & Pepper\n");
    const out = join(directory, "out");
    const { code } = await mine(["patterns", "--sessions", sessions, "--min-support", "1", "--max-length", "2", "--out", out]);
    expect(code).toBe(0);
    // By hand: both length-2 patterns read "Shoes > Running > Salt & Pepper"; their items differ, and so do their supports.
    const expected = [
      { items: ["Shoes > Running", "Salt & Pepper"], support: 2 },
      { items: ["Shoes", "Running > Salt & Pepper"], support: 1 },
    ];
    const lengthTwo = `WHERE length = 2 AND pattern = 'Shoes > Running > Salt & Pepper' ORDER BY support DESC`;
    expect(await queryJson(`SELECT items, support::INTEGER AS support FROM '${out}/patterns/*.parquet' ${lengthTwo}`)).toEqual(expected);
    expect(await queryJson(`SELECT items::JSON::VARCHAR[] AS items, support::INTEGER AS support FROM read_csv('${out}/patterns.csv') ${lengthTwo}`)).toEqual(expected);
  });

  it("exits 2 with the usage for a bad flag, a missing flag or a bad value", async () => {
    for (const argv of [
      ["patterns", "--sessions", "x", "--min-support", "2", "--bogus"],
      ["patterns", "--min-support", "2"],
      ["patterns", "--sessions", "x", "--min-support", "-1"],
      ["patterns", "--sessions", "x", "--min-support", "2", "--item", "title"],
      ["sequences"],
    ]) {
      const { code, stderr } = await mine(argv);
      expect(code).toBe(2);
      expect(stderr).toContain("usage:");
    }
  });

  it("exits 1 naming the path when the input does not exist", async () => {
    const { code, stderr } = await mine(["patterns", "--sessions", "/nonexistent/sessions.txt", "--min-support", "2"]);
    expect(code).toBe(1);
    expect(stderr).toContain("/nonexistent/sessions.txt");
  });

  it("exits 1 naming the folder when it holds no Parquet part (a sink path, not its table folder), for patterns and rules", async () => {
    const sinkPath = scratchDirectory("clickpipe-mine-noparts-");
    mkdirSync(join(sinkPath, "sessions", "dt=2026-01-01"), { recursive: true });
    for (const args of [["patterns", "--sessions", sinkPath, "--min-support", "2"], ["rules", "--orders", sinkPath, "--min-support", "0.1"]]) {
      const { code, stderr } = await mine(args);
      expect(code).toBe(1);
      expect(stderr).toBe(`clickpipe mine: ${sinkPath}: no Parquet part (*.parquet) in it or in its partition folders; pass a table folder, such as <sink path>/sessions or <sink path>/orders\n`);
    }
  });
});

describe("clickpipe mine rules", () => {
  it("writes arules' 5,622 Groceries rules (supp 0.001, conf 0.5, maxlen 5) with the top rule first", async () => {
    const out = join(scratchDirectory("mine-rules-"), "rules.csv");
    const { code } = await mine([
      "rules", "--orders", fixture("groceries/groceries_baskets.csv"),
      "--min-support", "0.001", "--min-confidence", "0.5", "--max-length", "5", "--out", out,
    ]);
    expect(code).toBe(0);
    const rows = await query(`SELECT * FROM read_csv('${out}', header = true)`);
    expect(rows).toHaveLength(5622);
    expect(rows[0]).toMatchObject({ antecedent: "Instant food products & soda", consequent: "hamburger meat", orders: 12n });
    expect(rows[0].support as number).toBeCloseTo(0.001220132, 9);
    expect(rows[0].confidence as number).toBeCloseTo(0.6315789, 7);
    expect(rows[0].lift as number).toBeCloseTo(18.99565, 5);
  });

  it("reads a Parquet orders table with one row per item and writes a Parquet table to --out", async () => {
    const directory = scratchDirectory("mine-orders-");
    const columns: ColumnSpec[] = [
      { name: "order_id", type: "string" },
      { name: "sku", type: "string" },
    ];
    const lines = [["o1", "a"], ["o1", "b"], ["o2", "a"], ["o2", "b"], ["o3", "a"], ["o3", "c"]];
    writeFileSync(join(directory, "orders.parquet"), await encodeParquet(columns, lines.map(([order_id, sku]) => ({ order_id, sku })), { compression: "none", rowGroupSize: 10 }));
    const out = join(directory, "out");
    const { code } = await mine(["rules", "--orders", join(directory, "orders.parquet"), "--min-support", "0.5", "--min-confidence", "0.6", "--out", out]);
    expect(code).toBe(0);
    // {a, b} in 2 of 3 orders: b ⇒ a (2/2, lift 1) and a ⇒ b (2/3, lift 1).
    expect(await query(`SELECT antecedent, consequent, confidence, lift, orders FROM '${out}/basket_rules/*.parquet' ORDER BY confidence DESC`)).toEqual([
      { antecedent: "b", consequent: "a", confidence: 1, lift: 1, orders: 2n },
      { antecedent: "a", consequent: "b", confidence: 2 / 3, lift: 1, orders: 2n },
    ]);
  });

  it("reads a list column with null lists (the first row one) and null items (DuckDB's Parquet) as no basket and no item", async () => {
    const directory = scratchDirectory("mine-null-items-");
    const orders = join(directory, "orders.parquet");
    await query(`COPY (SELECT * FROM (VALUES ('o2', NULL), ('o1', ['a', 'b']), ('o3', ['a', NULL, 'b']), ('o4', ['a'])) t(order_id, items))
                 TO '${orders}' (FORMAT parquet)`);
    const { code, stdout, stderr } = await mine(["rules", "--orders", orders, "--min-support", "0.25", "--min-confidence", "0.1"]);
    expect(code, stderr).toBe(0);
    // By hand over the three baskets {a, b}, {a, b}, {a}: b ⇒ a (2/2, lift 1), a ⇒ b (2/3, lift 1); no "null" item.
    expect(stdout.trimEnd().split("\n")).toEqual([
      "antecedent,consequent,support,confidence,lift,orders,antecedent_items",
      `b,a,${2 / 3},1,1,2,"[""b""]"`,
      `a,b,${2 / 3},${2 / 3},1,2,"[""a""]"`,
    ]);
    expect(stderr).toContain("of 3 orders");
  });

  it("writes `antecedent_items`, which tells {Mug, Saucer} from the item 'Mug & Saucer' (both antecedents 'Mug & Saucer')", async () => {
    const directory = scratchDirectory("mine-rule-items-");
    const orders = join(directory, "orders.csv");
    writeFileSync(orders, "Mug & Saucer,Spoon\nMug & Saucer,Spoon\nMug,Saucer,Spoon\nMug,Saucer,Spoon\n");
    const out = join(directory, "out");
    const { code } = await mine(["rules", "--orders", orders, "--min-support", "0.5", "--min-confidence", "1", "--max-length", "3", "--out", out]);
    expect(code).toBe(0);
    const sql = `SELECT antecedent, antecedent_items, orders::INTEGER AS orders FROM '${out}/basket_rules/*.parquet'
                 WHERE consequent = 'Spoon' AND antecedent = 'Mug & Saucer' ORDER BY antecedent_items`;
    expect(await queryJson(sql)).toEqual([
      { antecedent: "Mug & Saucer", antecedent_items: ["Mug", "Saucer"], orders: 2 },
      { antecedent: "Mug & Saucer", antecedent_items: ["Mug & Saucer"], orders: 2 },
    ]);
  });

  it("reads a sessions table (--item page_items) as one basket per session of its current truth, not one per version", async () => {
    const directory = scratchDirectory("mine-rules-sessions-");
    const a1 = sessionRecord("a", 0, ["home", "cart"]);
    const versions = [
      a1,
      { ...a1, version: 2, page_items: ["home", "product", "home", "cart"] },
      sessionRecord("b", 0, ["home", "product"]),
      sessionRecord("c", 0, ["product", "cart"]),
      sessionRecord("c", 0, ["product", "cart"], { version: 2, retracted: true }),
      { ...sessionRecord("d", 0, ["product", "cart"]), is_bot: true },
      sessionRecord("e", 0, ["cart"]),
    ];
    const table = await writeSessionsTable(directory, versions, 10);
    const { code, stdout, stderr } = await mine(["rules", "--orders", table, "--item", "page_items", "--min-support", "0.5", "--min-confidence", "0.6"]);
    expect(code, stderr).toBe(0);
    // By hand over the current truth, a {home, product, cart}, b {home, product}, e {cart} (c retracted, d a crawler):
    // every item in 2 of 3 baskets, only {home, product} together in 2: home ⇒ product and back, confidence 1, lift 1.5.
    // One basket per version (7 of them, retracted and crawler ones too) gave product ⇒ cart and cart ⇒ product (4 of 7) instead.
    expect(stdout.trimEnd().split("\n")).toEqual([
      "antecedent,consequent,support,confidence,lift,orders,antecedent_items",
      `home,product,${2 / 3},1,1.5,2,"[""home""]"`,
      `product,home,${2 / 3},1,1.5,2,"[""product""]"`,
    ]);
    expect(stderr).toContain("of 3 orders");
  });

  it("reads an orders table that carries session_id and version columns as orders, not as a sessions table", async () => {
    const directory = scratchDirectory("mine-orders-session-id-");
    const orders = join(directory, "orders.parquet");
    // One row per item; o1 and o2 came from session s1 (the same version), o3 from no web session at all (null).
    await query(`COPY (SELECT * FROM (VALUES ('o1', 'a', 's1', 1), ('o1', 'b', 's1', 1), ('o2', 'a', 's1', 1), ('o2', 'b', 's1', 1),
                                             ('o3', 'a', NULL, 1), ('o3', 'c', NULL, 1)) t(order_id, sku, session_id, version))
                 TO '${orders}' (FORMAT parquet)`);
    const { code, stdout, stderr } = await mine(["rules", "--orders", orders, "--min-support", "0.5", "--min-confidence", "0.6"]);
    expect(code, stderr).toBe(0);
    // By hand over the three orders {a, b}, {a, b}, {a, c}: b ⇒ a (2/2, lift 1), a ⇒ b (2/3, lift 1). Read as a sessions
    // table, its rows collapsed to one per session_id (one item of o1) and the null session_id failed the command.
    expect(stdout.trimEnd().split("\n")).toEqual([
      "antecedent,consequent,support,confidence,lift,orders,antecedent_items",
      `b,a,${2 / 3},1,1,2,"[""b""]"`,
      `a,b,${2 / 3},${2 / 3},1,2,"[""a""]"`,
    ]);
    expect(stderr).toContain("of 3 orders");
  });

  it("exits 2 with the usage for a support above 1 or a missing --orders", async () => {
    for (const argv of [["rules", "--orders", "x.csv", "--min-support", "3"], ["rules", "--min-support", "0.1"]]) {
      const { code, stderr } = await mine(argv);
      expect(code).toBe(2);
      expect(stderr).toContain("usage:");
    }
  });
});
