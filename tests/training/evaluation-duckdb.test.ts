// ROC AUC and decile lift on heavily tied scores against DuckDB SQL: the Mann–Whitney midrank statistic and the
// expected churners of each decile when ties are ordered at random.
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liftTable, rocCurve } from "../../src/training/evaluation.ts";
import { SeededRandom } from "../../src/training/random.ts";

describe("evaluation - against DuckDB on tied scores", () => {
  const random = new SeededRandom(11);
  // 997 examples (deciles of 99 and 100), scores on a grid of 13 values like the rfm baseline, churn likelier higher up.
  const scores = Array.from({ length: 997 }, () => random.int(13) / 12);
  const labels = scores.map((score) => (random.next() < 0.15 + 0.6 * score ? 1 : 0));
  let db: DuckDBConnection;

  beforeAll(async () => {
    db = await (await DuckDBInstance.create(":memory:")).connect();
    const rows = scores.map((score, i) => `(${i}, ${score}, ${labels[i]})`).join(",");
    await db.run(`CREATE TABLE examples AS SELECT * FROM (VALUES ${rows}) t(id, score, label)`);
  });

  afterAll(() => db?.closeSync());

  it("ROC AUC is the Mann–Whitney U over midranks: (Σ positive midranks − P(P+1)/2) / (P·N)", async () => {
    const [row] = (
      await db.runAndReadAll(`
        WITH ranked AS (
          SELECT label, rank() OVER (ORDER BY score) + (count(*) OVER (PARTITION BY score) - 1) / 2.0 AS midrank FROM examples)
        SELECT ((sum(midrank) FILTER (WHERE label = 1) - sum(label) * (sum(label) + 1) / 2.0)
                / (sum(label) * (count(*) - sum(label))))::DOUBLE AS auc
        FROM ranked`)
    ).getRowObjects();
    expect(rocCurve(scores, labels).auc).toBeCloseTo(row.auc as number, 12);
  });

  it("decile churners are each rank's share of its tied group's churn rate, whatever the order within a tie", async () => {
    const expected = (
      await db.runAndReadAll(`
        WITH ranked AS (
          SELECT avg(label) OVER (PARTITION BY score) AS tie_rate,
                 row_number() OVER (ORDER BY score DESC, id) AS position, count(*) OVER () AS n
          FROM examples)
        SELECT (floor((position - 1) * 10 / n) + 1)::INTEGER AS decile, count(*)::INTEGER AS count, sum(tie_rate)::DOUBLE AS positives
        FROM ranked GROUP BY ALL ORDER BY decile`)
    ).getRowObjects();
    const reversed = liftTable(scores.toReversed(), labels.toReversed());
    liftTable(scores, labels).forEach((row, i) => {
      expect(row.count).toBe(expected[i].count);
      expect(row.positives).toBeCloseTo(expected[i].positives as number, 9);
      expect(reversed[i].positives).toBeCloseTo(row.positives, 9);
    });
  });
});
