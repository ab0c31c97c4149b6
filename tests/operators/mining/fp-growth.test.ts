// FP-Growth and rule generation against SPMF's example, exhaustive counting, arules' published Groceries result and DuckDB SQL.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { associationRules, crossSellLists } from "../../../src/operators/mining/association-rules.ts";
import { fpGrowth } from "../../../src/operators/mining/fp-growth.ts";
import { itemsetMinSupportCount } from "../../../src/operators/mining/min-support.ts";
import { parseBasketCsv, parseSpmfTransactions } from "../../../src/operators/mining/spmf-format.ts";

const groceriesPath = fileURLToPath(new URL("../../fixtures/groceries/groceries_baskets.csv", import.meta.url));
const groceries = parseBasketCsv(readFileSync(groceriesPath, "utf8"));
const pasquier = parseSpmfTransactions(readFileSync(new URL("../../fixtures/spmf/contextPasquier99.txt", import.meta.url), "utf8"));

const itemsetMap = (itemsets: { items: string[]; count: number }[]) => new Map(itemsets.map(({ items, count }) => [items.join(" "), count]));

describe("fpGrowth", () => {
  it("finds the 15 frequent itemsets of SPMF's FPGrowth example at 40%", () => {
    const { itemsets, minCount } = fpGrowth(pasquier, { minSupport: 0.4 });
    expect(minCount).toBe(2);
    expect(itemsetMap(itemsets)).toEqual(
      new Map([
        ["1", 3], ["2", 4], ["3", 4], ["5", 4],
        ["1 2", 2], ["1 3", 3], ["1 5", 2], ["2 3", 3], ["2 5", 4], ["3 5", 3],
        ["1 2 3", 2], ["1 2 5", 2], ["1 3 5", 2], ["2 3 5", 3], ["1 2 3 5", 2],
      ]),
    );
  });

  it("qualifies an itemset when count / transactions ≥ minSupport (0.001 of 9,835 orders is 10)", () => {
    expect(itemsetMinSupportCount(0.001, 9835)).toBe(10);
    expect(itemsetMinSupportCount(0.4, 5)).toBe(2);
    expect(itemsetMinSupportCount(0.5, 4)).toBe(2);
  });

  it("equals exhaustive subset counting on random transactions", () => {
    const transaction = fc.uniqueArray(fc.constantFrom<string>("a", "b", "c", "d", "e"), { maxLength: 5 });
    fc.assert(
      fc.property(fc.array(transaction, { minLength: 1, maxLength: 12 }), fc.constantFrom(0.1, 0.25, 0.5), fc.integer({ min: 1, max: 5 }), (db, minSupport, maxLength) => {
        const expected = new Map<string, number>();
        for (let mask = 1; mask < 32; mask += 1) {
          const items = ["a", "b", "c", "d", "e"].filter((_, bit) => mask & (1 << bit));
          if (items.length > maxLength) continue;
          const count = db.filter((t) => items.every((item) => t.includes(item))).length;
          if (count / db.length >= minSupport && count > 0) expected.set(items.join(" "), count);
        }
        expect(itemsetMap(fpGrowth(db, { minSupport, maxLength }).itemsets)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe("associationRules", () => {
  it("gives arules' published Groceries result: 5,622 rules at supp 0.001, conf 0.5, maxlen 5, led by {Instant food products, soda} ⇒ {hamburger meat}", () => {
    const { itemsets, transactionCount } = fpGrowth(groceries, { minSupport: 0.001, maxLength: 5 });
    const rules = associationRules(itemsets, transactionCount, 0.5);
    expect(transactionCount).toBe(9835);
    expect(rules).toHaveLength(5622);
    const top = rules[0];
    expect(top.antecedent).toEqual(["Instant food products", "soda"]);
    expect(top.consequent).toBe("hamburger meat");
    expect(top.support).toBeCloseTo(0.001220132, 9);
    expect(top.confidence).toBeCloseTo(0.6315789, 7);
    expect(top.lift).toBeCloseTo(18.99565, 5);
    expect(top.count).toBe(12);
    expect(Math.max(...rules.map((rule) => rule.antecedent.length + 1))).toBe(5);
  });

  it("matches DuckDB SQL for every one-item-antecedent Groceries rule", async () => {
    const { itemsets, transactionCount } = fpGrowth(groceries, { minSupport: 0.001, maxLength: 2 });
    const ours = associationRules(itemsets, transactionCount, 0.5).map((r) => [r.antecedent[0], r.consequent, r.count, r.confidence, r.lift]);
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(`
      WITH baskets AS (
        SELECT row_number() OVER () AS id, string_split(line, ',') AS items
        FROM read_csv('${groceriesPath}', columns = {'line': 'VARCHAR'}, delim = '\\t', header = false, quote = '', escape = '')),
      items AS (SELECT DISTINCT id, unnest(items) AS item FROM baskets),
      n AS (SELECT count(*)::DOUBLE AS orders FROM baskets),
      single AS (SELECT item, count(*) AS c FROM items GROUP BY item),
      pair AS (SELECT a.item AS x, b.item AS y, count(*) AS c FROM items a JOIN items b ON a.id = b.id AND a.item <> b.item GROUP BY ALL)
      SELECT pair.x, pair.y, pair.c, pair.c / sx.c AS confidence, (pair.c / sx.c) / (sy.c / n.orders) AS lift
      FROM pair JOIN single sx ON sx.item = pair.x JOIN single sy ON sy.item = pair.y, n
      WHERE pair.c / n.orders >= 0.001 AND pair.c / sx.c >= 0.5
      ORDER BY pair.x, pair.y`);
    const expected = reader.getRows().map(([x, y, c, confidence, lift]) => [x, y, Number(c), confidence, lift]);
    connection.closeSync();
    const sorted = [...ours].sort((a, b) => (`${a[0]}\u0000${a[1]}` < `${b[0]}\u0000${b[1]}` ? -1 : 1));
    expect(expected.length).toBeGreaterThan(0);
    expect(sorted.length).toBe(expected.length);
    sorted.forEach((rule, index) => {
      expect(rule.slice(0, 3)).toEqual(expected[index].slice(0, 3));
      expect(rule[3]).toBeCloseTo(expected[index][3] as number, 12);
      expect(rule[4]).toBeCloseTo(expected[index][4] as number, 10);
    });
  });

  it("derives rules and cross-sell lists by hand on SPMF's five transactions", () => {
    const { itemsets, transactionCount } = fpGrowth(pasquier, { minSupport: 0.4, maxLength: 2 });
    const rules = associationRules(itemsets, transactionCount, 1);
    // Confidence 1: {1}⇒{3} (3/3), {2}⇒{5} (4/4), {5}⇒{2} (4/4); lifts 1/(4/5) = 1.25.
    expect(rules.map((r) => [r.antecedent.join(" & "), r.consequent, r.count, r.support, r.lift])).toEqual([
      ["2", "5", 4, 0.8, 1.25],
      ["5", "2", 4, 0.8, 1.25],
      ["1", "3", 3, 0.6, 1.25],
    ]);
    expect(crossSellLists(rules, 5).map((c) => [c.product, c.rank, c.recommended])).toEqual([
      ["1", 1, "3"],
      ["2", 1, "5"],
      ["5", 1, "2"],
    ]);
  });
});
