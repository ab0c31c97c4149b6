// Real customer_features snapshots from CDNOW_sample.txt: purchases through the churnFeatures operator, written by ParquetSink.
import { join } from "node:path";
import { CUSTOMER_FEATURES, customerFeaturesTable } from "../../src/operators/churn-features.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import type { Row } from "../../src/sinks/table.ts";
import { OperatorHarness } from "../helpers/operator-harness.ts";
import { cdnowEvent, churnOperator, readCdnowSample } from "../operators/churn-features-fixtures.ts";

/** Keeps only the snapshots a test needs (the operator writes one per day, 546 in all). */
class SnapshotCollector extends OperatorHarness {
  readonly kept: Row[] = [];
  readonly completed: string[] = [];

  constructor(private readonly dates: ReadonlySet<string>) {
    super();
  }

  override emit(table: string, row: Row): void {
    if (table === CUSTOMER_FEATURES && this.dates.has(String(row.snapshot_date))) this.kept.push(row);
    if (table === "_SUCCESS") {
      const date = String(row.partition).replace("snapshot_date=", "");
      if (this.dates.has(date)) this.completed.push(date);
    }
  }
}

/** Writes the CDNOW snapshots of `dates` under `<lake>/customer_features/` (with `_SUCCESS`); returns the table folder. */
export async function writeCdnowSnapshots(lake: string, dates: string[]): Promise<string> {
  const collector = new SnapshotCollector(new Set(dates));
  const operator = churnOperator();
  const purchases = readCdnowSample().sort((a, b) => a.ts - b.ts);
  purchases.forEach((purchase, i) => collector.send(operator, cdnowEvent(purchase), { partition: 0, sequence: i + 1 }));
  operator.onEnd(collector);
  const sink = new ParquetSink({ path: lake, tables: [customerFeaturesTable], useWorkerThread: false, rowGroupSize: 1000 });
  for (const row of collector.kept) sink.append(CUSTOMER_FEATURES, row);
  for (const date of collector.completed) sink.markSuccess(CUSTOMER_FEATURES, date);
  await sink.commit(await sink.prepare(1));
  await sink.close();
  return join(lake, CUSTOMER_FEATURES);
}
