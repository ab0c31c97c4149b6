// Operator `churnFeatures`: per-customer RFM / BG/NBD summary and behaviour, as point-in-time daily snapshots.
import { z } from "zod";
import { duration } from "../config/duration.ts";
import type { Operator } from "../runtime/operator.ts";
import type { OperatorEnvironment } from "./environment.ts";

export const churnFeaturesConfig = z
  .strictObject({
    type: z.literal("churnFeatures"),
    snapshotEvery: duration("1d").describe("Snapshot period (UTC days); a snapshot is the table as of the period's end."),
    outOfOrderness: duration("1m").describe("Watermark = max event time minus this."),
    allowedLateness: duration("1h").describe("A period's snapshot is written once the watermark passes its end + this."),
  })
  .describe("Keeps churn features per customer; writes `customer_features` snapshots.");

export type ChurnFeaturesConfig = z.output<typeof churnFeaturesConfig>;

export const churnFeaturesExample = { type: "churnFeatures", snapshotEvery: "1d", allowedLateness: "1h" };

export function createChurnFeatures(_config: ChurnFeaturesConfig, _environment: OperatorEnvironment): Operator {
  throw new Error("churnFeatures: not implemented yet");
}
