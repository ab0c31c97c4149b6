// Operator `basket`: market-basket itemsets and association rules over the orders of each event-time window.
import { z } from "zod";
import { duration } from "../config/duration.ts";
import type { ClickEvent, EventOrigin } from "../events/event.ts";
import { isRefund } from "../events/refund.ts";
import type { Operator, OperatorContext } from "../runtime/operator.ts";
import { WatermarkTracker, type WatermarkSnapshot } from "../runtime/watermark.ts";
import { formatUtcDay } from "../events/time.ts";
import type { Row, TableSpec } from "../sinks/table.ts";
import type { OperatorEnvironment } from "./environment.ts";
import { associationRules, crossSellLists, formatAntecedent } from "./mining/association-rules.ts";
import { fpGrowth } from "./mining/fp-growth.ts";
import { siteKey } from "./site-key.ts";

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
    idleTimeout: duration("1m").describe("A partition silent this long (processing time) stops holding the watermark back."),
    maxFutureSkew: duration("5m").describe("An event cannot push the watermark past its received_at + this."),
  })
  .describe("Mines association rules from purchase baskets per window; writes `basket_rules` and `cross_sell`.");

export type BasketConfig = z.output<typeof basketConfig>;

export const basketExample = { type: "basket", window: "1d", minSupport: 0.01, minConfidence: 0.5 };

const windowStartOf = (row: Row): string => formatUtcDay(row.window_start as number);

export const basketRulesTable: TableSpec = {
  name: "basket_rules",
  columns: [
    { name: "window_start", type: "timestamp", nullable: false },
    { name: "window_end", type: "timestamp", nullable: false },
    { name: "antecedent", type: "string", nullable: false },
    { name: "consequent", type: "string", nullable: false },
    { name: "support", type: "float64", nullable: false },
    { name: "confidence", type: "float64", nullable: false },
    { name: "lift", type: "float64", nullable: false },
    { name: "orders", type: "int64", nullable: false },
    // Beyond the contract: `antecedent` cannot be split back into items that hold " & " (README, design notes).
    // Parts written before it lack it: DuckDB reads them with union_by_name as null.
    { name: "antecedent_items", type: "list<string>", nullable: false },
  ],
  partitionKey: "dt",
  partitionOf: windowStartOf,
};

export const crossSellTable: TableSpec = {
  name: "cross_sell",
  columns: [
    { name: "window_start", type: "timestamp", nullable: false },
    { name: "window_end", type: "timestamp", nullable: false },
    { name: "product", type: "string", nullable: false },
    { name: "rank", type: "int32", nullable: false },
    { name: "recommended", type: "string", nullable: false },
    { name: "lift", type: "float64", nullable: false },
    { name: "confidence", type: "float64", nullable: false },
    { name: "support", type: "float64", nullable: false },
  ],
  partitionKey: "dt",
  partitionOf: windowStartOf,
};

interface BasketSnapshot {
  watermark: WatermarkSnapshot;
  /** [window start, [order_id, items][]] */
  windows: [number, [string, string[]][]][];
  /**
   * Starts of windows an earlier version's drain wrote after its last event time (a device clock ahead); absent: none.
   * A drain now leaves such windows open instead (BasketOperator.onEnd), so only checkpoints of earlier versions have them.
   */
  closedWindows?: number[];
}

/**
 * Orders (distinct basket items) per open window, keyed by (site_id, order_id): a repeated order counts once over the open
 * windows, in the window of its earliest time. A refund (negative revenue) is no order. Discard rule:
 * a window's orders go when it closes (watermark ≥ end + allowedLateness); purchases for a closed window go to
 * `late_events`. Purchases without any item of the configured field carry no basket and are not orders here.
 *
 * A drain's end writes the windows through the latest event time that arrived (each event's ts, at most its
 * received_at: WatermarkTracker.arrivedThrough), and a run going on from its checkpoint treats them as closed. A later
 * window holds only purchases of devices whose clocks run ahead (minutes past midnight within maxFutureSkew, or days):
 * it stays open in the checkpoint and the run going on writes it once, with the rest of its orders, when its
 * watermark passes. Written at the drain's end, it would have held those purchases alone and sent the rest of the
 * window's to `late_events` (or, kept open after being written, had two sets of rules). A final drain leaves it in the
 * checkpoint, not in the lake.
 */
export class BasketOperator implements Operator {
  readonly id = "basket";
  readonly tables = [basketRulesTable, crossSellTable];
  private readonly config: BasketConfig;
  private readonly tracker: WatermarkTracker;
  private readonly windows = new Map<number, Map<string, string[]>>();
  /**
   * Start of the earliest open window (+∞: none), NaN when it must be recomputed; the per-event check reads it.
   * Always a number, so V8 keeps the field an unboxed double: an `undefined` in it made every write allocate.
   */
  private earliestWindowStart = Number.POSITIVE_INFINITY;
  /** window + allowedLateness: a window closes once the watermark reaches its start plus this. */
  private readonly closesAfter: number;
  /** Windows starting at or before this were written by a drain this state went on after (−∞: none). */
  private closedThroughStart = Number.NEGATIVE_INFINITY;
  /**
   * Later windows an earlier version's drain wrote (for purchases of a device whose clock runs ahead), from its
   * checkpoint: closed for good too, else written a second time.
   */
  private readonly closedWindows = new Set<number>();
  private itemChars = 0;

  constructor(config: BasketConfig, inputPartitions = 0) {
    this.config = config;
    this.closesAfter = config.window + config.allowedLateness;
    this.tracker = new WatermarkTracker(
      {
        outOfOrderness: config.outOfOrderness,
        idleTimeout: config.idleTimeout,
        maxFutureSkew: config.maxFutureSkew,
      },
      inputPartitions,
    );
  }

  watermark(): number {
    return this.tracker.current;
  }

  onEvent(event: ClickEvent, origin: EventOrigin, ctx: OperatorContext): void {
    if (event.type === "purchase") this.addPurchase(event, ctx);
    const before = this.tracker.current;
    const after = this.tracker.observe(origin.partition, event.ts, event.received_at, ctx.now());
    // Called on every watermark step (about once per event): the common answer "nothing closes" in line, since a
    // call would box the doubles it is passed. NaN (unknown) fails the comparison and lets closeSettledWindows look.
    if (after > before && !(this.earliestWindowStart + this.closesAfter > after)) this.closeSettledWindows(ctx);
  }

  onTick(ctx: OperatorContext): void {
    const before = this.tracker.current;
    if (this.tracker.tick(ctx.now()) > before) this.closeSettledWindows(ctx);
  }

  /** Writes the windows through the latest event time that arrived; later ones (clocks ahead) stay open (see class). */
  onEnd(ctx: OperatorContext): void {
    const arrived = this.tracker.arrivedThrough;
    // −∞: no event ever observed, so no window either (a restored one comes with its events' time).
    const lastStart = Number.isFinite(arrived) ? Math.floor(arrived / this.config.window) * this.config.window : Number.POSITIVE_INFINITY;
    this.tracker.advanceToEnd();
    const written = [...this.windows.keys()].filter((start) => start <= lastStart).sort((a, b) => a - b);
    for (const start of written) this.writeWindow(start, ctx);
  }

  snapshot(): BasketSnapshot {
    return {
      watermark: this.tracker.snapshot(),
      windows: [...this.windows].map(([start, orders]) => [start, [...orders]]),
      ...(this.closedWindows.size > 0 && { closedWindows: [...this.closedWindows].sort((a, b) => a - b) }),
    };
  }

  restore(state: unknown): void {
    const snapshot = state as BasketSnapshot;
    this.tracker.restore(snapshot.watermark);
    // After a drain's end every window through the latest event time that arrived was written: a purchase for one of
    // them is late. (An earlier version's drain ended at its latest skew-capped time: WatermarkTracker.restore.)
    const endedAt = this.tracker.endedAt;
    this.closedThroughStart = Number.isFinite(endedAt) ? Math.floor(endedAt / this.config.window) * this.config.window : -Infinity;
    this.closedWindows.clear();
    for (const start of snapshot.closedWindows ?? []) if (start > this.closedThroughStart) this.closedWindows.add(start);
    this.windows.clear();
    this.itemChars = 0;
    this.earliestWindowStart = Number.NaN;
    for (const [start, orders] of snapshot.windows) {
      this.windows.set(start, new Map(orders));
      for (const [id, items] of orders) this.itemChars += id.length + items.reduce((sum, item) => sum + item.length, 0);
    }
  }

  stateKeys(): Record<string, number> {
    return { orders: this.orderCount(), windows: this.windows.size };
  }

  stateBytes(): number {
    return this.orderCount() * 96 + this.itemChars * 2;
  }

  /** Orders held over every open window. */
  private orderCount(): number {
    let orders = 0;
    for (const window of this.windows.values()) orders += window.size;
    return orders;
  }

  private addPurchase(event: ClickEvent, ctx: OperatorContext): void {
    const start = Math.floor(event.ts / this.config.window) * this.config.window;
    const watermark = this.tracker.current;
    if (this.isClosed(start, watermark)) {
      ctx.late(event, watermark, "window_closed");
      return;
    }
    // A refund travels as a purchase with negative revenue: its items were returned, not bought together, and counted
    // as an order they would add a co-purchase and an order to the window (publish refuses a CSV's returns likewise).
    if (isRefund(event)) return;
    const items = basketItems(event, this.config.item);
    if (items.length === 0) return;
    // Order numbers are per shop: two sites' #1001 are two orders.
    const orderId = siteKey(event.site_id, event.order_id ?? event.event_id);
    const heldIn = this.windowHolding(orderId);
    if (heldIn !== undefined) {
      ctx.duplicate(event);
      // The order counts in the window of its earliest time, whichever copy came first.
      if (start >= heldIn) return;
      const held = this.windows.get(heldIn)!;
      this.itemChars -= orderId.length + held.get(orderId)!.reduce((sum, item) => sum + item.length, 0);
      held.delete(orderId);
    }
    let orders = this.windows.get(start);
    if (orders === undefined) {
      orders = new Map();
      this.windows.set(start, orders);
      if (start < this.earliestWindowStart) this.earliestWindowStart = start; // false while NaN: recomputed later
    }
    orders.set(orderId, items);
    this.itemChars += orderId.length + items.reduce((sum, item) => sum + item.length, 0);
  }

  /**
   * The start of the open window holding the order, if any: a resend with another time can fall in a neighbouring
   * window while the first is still open, and must count once then too (as sessionize and churnFeatures count it).
   * Few windows are open at a time.
   */
  private windowHolding(orderId: string): number | undefined {
    for (const [start, orders] of this.windows) if (orders.has(orderId)) return start;
    return undefined;
  }

  private isClosed(start: number, watermark: number): boolean {
    return (
      start <= this.closedThroughStart ||
      start + this.closesAfter <= watermark ||
      (this.closedWindows.size > 0 && this.closedWindows.has(start))
    );
  }

  private closeSettledWindows(ctx: OperatorContext): void {
    const watermark = this.tracker.current;
    if (this.closedWindows.size > 0 && watermark !== Number.POSITIVE_INFINITY) {
      // Those the watermark closes anyway need not be kept.
      for (const start of this.closedWindows) if (start + this.closesAfter <= watermark) this.closedWindows.delete(start);
    }
    if (!this.anyWindowClosed(watermark)) return;
    const settled = [...this.windows.keys()].filter((start) => this.isClosed(start, watermark)).sort((a, b) => a - b);
    for (const start of settled) this.writeWindow(start, ctx);
  }

  /** Writes the open window at `start` and lets its orders go. */
  private writeWindow(start: number, ctx: OperatorContext): void {
    const orders = this.windows.get(start)!;
    this.windows.delete(start);
    this.earliestWindowStart = Number.NaN;
    for (const [id, items] of orders) this.itemChars -= id.length + items.reduce((sum, item) => sum + item.length, 0);
    this.emitWindow(start, [...orders.values()], ctx);
  }

  private anyWindowClosed(watermark: number): boolean {
    if (Number.isNaN(this.earliestWindowStart)) {
      let earliest = Number.POSITIVE_INFINITY;
      for (const start of this.windows.keys()) if (start < earliest) earliest = start;
      this.earliestWindowStart = earliest;
    }
    return this.isClosed(this.earliestWindowStart, watermark);
  }

  private emitWindow(start: number, baskets: string[][], ctx: OperatorContext): void {
    const end = start + this.config.window;
    const { itemsets, transactionCount } = fpGrowth(baskets, { minSupport: this.config.minSupport, maxLength: this.config.maxLength });
    const rules = associationRules(itemsets, transactionCount, this.config.minConfidence);
    for (const rule of rules) {
      ctx.emit(basketRulesTable.name, {
        window_start: start,
        window_end: end,
        antecedent: formatAntecedent(rule.antecedent),
        consequent: rule.consequent,
        support: rule.support,
        confidence: rule.confidence,
        lift: rule.lift,
        orders: rule.count,
        antecedent_items: rule.antecedent,
      });
    }
    for (const entry of crossSellLists(rules, this.config.crossSellTop)) {
      ctx.emit(crossSellTable.name, { window_start: start, window_end: end, ...entry });
    }
  }
}

/** Distinct items of a purchase by the configured field (sku or category); items without it are skipped. */
export function basketItems(event: ClickEvent, field: "sku" | "category"): string[] {
  const items = new Set<string>();
  for (const item of event.items ?? []) {
    const value = item[field];
    if (typeof value === "string" && value !== "") items.add(value);
  }
  return [...items];
}

export function createBasket(config: BasketConfig, environment: OperatorEnvironment): Operator {
  return new BasketOperator(config, environment.inputPartitions);
}
