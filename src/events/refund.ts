// Refunds: the event schema has no refund type; a refund travels as a purchase with negative revenue (fields.ts).
import type { ClickEvent } from "./event.ts";

const DAY_MS = 86_400_000;

/** A purchase whose revenue is negative: a refund, which the event schema carries as a purchase. */
export function isRefund(event: ClickEvent): boolean {
  return event.type === "purchase" && typeof event.revenue === "number" && event.revenue < 0;
}

/**
 * What tells a refund apart from the other refunds of its order, for dedupe (sessionize, churnFeatures): its amount in
 * millionths and its UTC day. A resend (same amount, same day) matches; an equal part refund of another day does not,
 * so whether it counts does not depend on whether the first one's day is still pending.
 */
export function refundDedupeKey(refund: ClickEvent): string {
  return `${Math.round((refund.revenue as number) * 1_000_000)}:${Math.floor(refund.ts / DAY_MS)}`;
}
