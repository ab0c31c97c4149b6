// BG/NBD inputs from a summary CSV (frequency, recency, T) or from a customer_features snapshot (days or weeks).
import { readFile } from "node:fs/promises";
import { fileProblem } from "../config/file-problem.ts";
import { splitDelimited } from "../ingest/csv.ts";
import { BgNbdInputError, type PurchaseSummaries } from "./bgnbd.ts";
import { readSnapshot } from "./snapshots.ts";

/** Accepted header names per input, as lifetimes (frequency, recency, T) and the BG/NBD paper (x, t_x, T) write them. */
const HEADERS = { frequency: ["frequency", "x"], recency: ["recency", "t_x"], age: ["T"] } as const;

export type TimeUnit = "day" | "week";
const UNIT_DAYS: Record<TimeUnit, number> = { day: 1, week: 7 };

export async function readSummaryCsv(path: string): Promise<PurchaseSummaries> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new BgNbdInputError(fileProblem(path, error));
  }
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  if (lines.length < 2) throw new BgNbdInputError(`${path}: expected a header line and at least one customer`);
  const header = splitDelimited(lines[0], ",").map((name) => name.trim());
  const indexOf = (names: readonly string[]) => {
    const index = header.findIndex((name) => names.includes(name));
    if (index < 0) throw new BgNbdInputError(`${path}: no column ${names.map((n) => `"${n}"`).join(" or ")} in the header (${header.join(", ")})`);
    return index;
  };
  const columns = { frequency: indexOf(HEADERS.frequency), recency: indexOf(HEADERS.recency), age: indexOf(HEADERS.age) };
  const data = { frequency: [] as number[], recency: [] as number[], age: [] as number[] };
  lines.slice(1).forEach((line, i) => {
    const values = splitDelimited(line, ",");
    for (const key of ["frequency", "recency", "age"] as const) {
      const value = Number(values[columns[key]]);
      if (values[columns[key]] === undefined || values[columns[key]].trim() === "" || !Number.isFinite(value)) {
        throw new BgNbdInputError(`${path}:${i + 2}: ${header[columns[key]]} is not a number: ${JSON.stringify(values[columns[key]] ?? "")}`);
      }
      data[key].push(value);
    }
  });
  return data;
}

/** x = frequency, tx = recency_days, T = t_days of the snapshot's customers with purchases, divided into `unit`s. */
export async function snapshotSummaries(featuresDir: string, date: string, unit: TimeUnit): Promise<PurchaseSummaries> {
  const snapshot = await readSnapshot(featuresDir, date);
  const days = UNIT_DAYS[unit];
  const data = { frequency: [] as number[], recency: [] as number[], age: [] as number[] };
  const { frequency, recency_days, t_days } = snapshot.columns;
  for (let i = 0; i < snapshot.customerIds.length; i++) {
    if (Number.isNaN(frequency[i])) continue;
    data.frequency.push(frequency[i]);
    data.recency.push(recency_days[i] / days);
    data.age.push(t_days[i] / days);
  }
  return data;
}
