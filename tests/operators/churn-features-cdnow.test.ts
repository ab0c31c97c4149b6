// churnFeatures on the real CDNOW sample against published results: lifetimes' calibration summary and BG/NBD weekly repeats.
import { DuckDBInstance } from "@duckdb/node-api";
import { beforeAll, describe, expect, it } from "vitest";
import type { Operator } from "../../src/runtime/operator.ts";
import type { Row } from "../../src/sinks/table.ts";
import { OperatorHarness } from "../helpers/operator-harness.ts";
import { CDNOW_SAMPLE_PATH, cdnowEvent, churnOperator, readCdnowSample, readCsv, type CdnowPurchase } from "./churn-features-fixtures.ts";

const CALIBRATION_END = "1997-09-30";

/** Keeps full rows of one snapshot, per-snapshot totals of the others, and an order-sensitive checksum of every value. */
class SnapshotDigest extends OperatorHarness {
  readonly kept = new Map<string, Row>();
  readonly customers = new Map<string, number>();
  readonly repeatDays = new Map<string, number>();
  readonly successes: string[] = [];
  #checksum = 0;
  #values = 0;

  override emit(table: string, row: Row): void {
    // 1.2M rows: a string digest (JSON + sha256) would take seconds, so values are folded into a 32-bit checksum.
    for (const value of Object.values(row)) this.#checksum = mix(this.#checksum, value);
    this.#values += Object.keys(row).length;
    if (table === "_SUCCESS") this.successes.push(String(row.partition));
    if (table !== "customer_features") return;
    const date = String(row.snapshot_date);
    this.customers.set(date, (this.customers.get(date) ?? 0) + 1);
    this.repeatDays.set(date, (this.repeatDays.get(date) ?? 0) + Number(row.frequency));
    if (date === CALIBRATION_END) this.kept.set(String(row.customer_id), row);
  }

  digest(): string {
    return `${this.#values}:${this.#checksum}`;
  }
}

function mix(hash: number, value: unknown): number {
  if (typeof value === "number") return Math.imul(hash ^ Math.round(value * 1000), 0x01000193) ^ Math.round(value / 4294967296);
  if (value === null) return Math.imul(hash ^ 0x7fffffff, 0x01000193);
  const text = String(value);
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash;
}

function run(operator: Operator, purchases: CdnowPurchase[], cut?: { at: number; restart: () => Operator }): SnapshotDigest {
  const harness = new SnapshotDigest();
  let current = operator;
  purchases.forEach((purchase, i) => {
    if (cut !== undefined && i === cut.at) {
      const saved = JSON.parse(JSON.stringify(current.snapshot()));
      current = cut.restart();
      current.restore(saved);
    }
    harness.send(current, cdnowEvent(purchase), { partition: 0, sequence: i + 1 });
  });
  current.onEnd(harness);
  return harness;
}

const round2 = (value: number) => Math.round(value * 100) / 100;

describe("churnFeatures - CDNOW sample (2,357 customers, 6,919 purchases)", () => {
  const fileOrder = readCdnowSample();
  const timeOrder = [...fileOrder].sort((a, b) => a.ts - b.ts);
  let inTimeOrder: SnapshotDigest;

  beforeAll(() => {
    inTimeOrder = run(churnOperator(), timeOrder);
  }, 60_000);

  it("writes a daily snapshot for every day from 1997-01-01 to 1998-06-30, none late", () => {
    expect(inTimeOrder.successes[0]).toBe("1997-01-01");
    expect(inTimeOrder.successes.at(-1)).toBe("1998-06-30");
    expect(inTimeOrder.successes).toHaveLength(546);
    expect(inTimeOrder.lateEvents).toEqual([]);
  });

  it("equals lifetimes' cdnow_customers_summary.csv (frequency, recency/7, T/7) on the 1997-09-30 snapshot", () => {
    const expected = readCsv("cdnow_customers_summary.csv");
    expect(expected).toHaveLength(2357);
    expect(inTimeOrder.kept.size).toBe(2357);
    const mismatches = expected.filter(({ ID, frequency, recency, T }) => {
      const row = inTimeOrder.kept.get(ID)!;
      return row.frequency !== Number(frequency) || round2(Number(row.recency_days) / 7) !== Number(recency) || round2(Number(row.t_days) / 7) !== Number(T);
    });
    expect(mismatches).toEqual([]);
  });

  it("equals the published mean spend per repeat day (zbar, 2 decimals) as monetary_value", () => {
    const expected = readCsv("cdnow_customers_summary_with_transactions.csv");
    // zbar was rounded from pandas float sums: exact half-cent means (e.g. 37.95 / 2) went either way, so allow ±0.005.
    const mismatches = expected.filter(({ ID, zbar }) => Math.abs(Number(inTimeOrder.kept.get(ID)!.monetary_value) - Number(zbar)) > 0.005 + 1e-9);
    expect(mismatches).toEqual([]);
  });

  it("reproduces the published cumulative repeat transactions at weeks 20–25 (1359, 1414, 1484, 1517, 1573, 1672)", () => {
    // Week w is 1997-01-01 + 7(w−1) … 1997-01-01 + 7w − 1 inclusive (week 1 = Jan 1–7); repeat transactions are
    // repeat purchase days, so the cumulative count at the end of week w is Σ frequency on that day's snapshot.
    const cumulative = [20, 21, 22, 23, 24, 25].map((week) => {
      const day = new Date(Date.UTC(1997, 0, 1) + (7 * week - 1) * 86_400_000).toISOString().slice(0, 10);
      return inTimeOrder.repeatDays.get(day);
    });
    expect(cumulative).toEqual([1359, 1414, 1484, 1517, 1573, 1672]);
  });

  it("gives the same snapshots when fed in file order (customer by customer) with a large allowedLateness", () => {
    const inFileOrder = run(churnOperator({ allowedLateness: "600d" }), fileOrder);
    expect(inFileOrder.lateEvents).toEqual([]);
    expect(inFileOrder.digest()).toBe(inTimeOrder.digest());
  });

  it("gives the same snapshots when checkpointed to JSON and restored mid-stream", () => {
    const restarted = run(churnOperator(), timeOrder, { at: 3000, restart: () => churnOperator() });
    expect(restarted.digest()).toBe(inTimeOrder.digest());
  });

  it("matches DuckDB SQL over the raw file for orders, revenue, days since last purchase and RFM quintiles", async () => {
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(`
      with lines as (
        select string_split_regex(trim(line), '[ ]+') as f
        from read_csv('${CDNOW_SAMPLE_PATH}', columns = {'line': 'varchar'}, delim = '\\t', header = false, quote = '', escape = '')
      ), purchases as (
        select f[2]::int::varchar as id, strptime(f[3], '%Y%m%d')::date as day, f[5]::double as dollars from lines
      ), customers as (
        select id, count(*) as orders, sum(dollars) as revenue, max(day) as last_day
        from purchases where day <= date '${CALIBRATION_END}' group by id
      )
      select id, orders::int as orders, round(revenue, 2) as revenue, (date '${CALIBRATION_END}' - last_day)::int as days_since,
        1 + floor(5 * (rank() over (order by last_day) - 1) / count(*) over ())::int as r,
        1 + floor(5 * (rank() over (order by orders) - 1) / count(*) over ())::int as f,
        1 + floor(5 * (rank() over (order by round(revenue, 6)) - 1) / count(*) over ())::int as m
      from customers order by id`);
    const expected = reader.getRowObjectsJS() as { id: string; orders: number; revenue: number; days_since: number; r: number; f: number; m: number }[];
    expect(expected).toHaveLength(2357);
    const actual = expected.map(({ id }) => {
      const row = inTimeOrder.kept.get(id)!;
      return { id, orders: row.orders_total, revenue: round2(Number(row.revenue_total)), days_since: row.days_since_last_purchase, r: row.rfm_r, f: row.rfm_f, m: row.rfm_m };
    });
    expect(actual).toEqual(expected);
  });
});
