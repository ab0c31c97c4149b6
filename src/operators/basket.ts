// Operator `basket`: market-basket itemsets and association rules over the orders of each event-time window.
import { z } from "zod";
import { duration } from "../config/duration.ts";
import type { Operator } from "../runtime/operator.ts";
import type { OperatorEnvironment } from "./environment.ts";

export const basketConfig = z
  .strictObject({
    type: z.literal("basket"),
    window: duration("1d").describe("Tumbling window of orders, aligned to the UTC epoch."),
    item: z.enum(["sku", "category"]).default("sku").describe("Which purchase item field is the basket item."),
    minSupport: z.number().positive().max(1).default(0.01).describe("Minimum itemset support (count / orders)."),
    minConfidence: z.number().min(0).max(1).default(0.5).describe("Minimum rule confidence."),
    maxLength: z.number().int().min(2).max(10).default(4).describe("Items in the whole rule (antecedent + consequent)."),
    crossSellTop: z.number().int().positive().default(5).describe("Consequents kept per product in `cross_sell`."),
    outOfOrderness: duration("1m").describe("Watermark = max event time minus this."),
    allowedLateness: duration("1h").describe("A window closes when the watermark passes its end + this."),
  })
  .describe("Mines association rules from purchase baskets per window; writes `basket_rules` and `cross_sell`.");

export type BasketConfig = z.output<typeof basketConfig>;

export const basketExample = { type: "basket", window: "1d", minSupport: 0.01, minConfidence: 0.5 };

export function createBasket(_config: BasketConfig, _environment: OperatorEnvironment): Operator {
  throw new Error("basket: not implemented yet");
}
