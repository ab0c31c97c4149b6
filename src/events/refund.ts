// Refunds: the event schema has no refund type; a refund travels as a purchase with negative revenue (fields.ts).
import type { ClickEvent } from "./event.ts";

/** A purchase whose revenue is negative: a refund, which the event schema carries as a purchase. */
export function isRefund(event: ClickEvent): boolean {
  return event.type === "purchase" && typeof event.revenue === "number" && event.revenue < 0;
}
