// Events for the operators in one hidden class: the pipeline hands each event to its operators in this shape.
//
// JSON.parse gives an object one hidden class per key order and mix of optional fields, so every load of an event
// field in the operators went through V8's megamorphic stub cache (≈ 6% of the drain's main thread, perf). The same
// fields copied into one object literal make those loads monomorphic: 9 alternating drains faster in 8, median +5%
// events/s (bench/OPTIMIZATIONS.md session 10). The decoded record itself, with its key order and unknown fields,
// stays attached for what keeps whole events (late_events, bots).
import type { ClickEvent } from "./event.ts";

const DECODED = Symbol("clickpipe.decodedEvent");

type ShapedEvent = ClickEvent & { [DECODED]?: ClickEvent };

/** The known fields of `event` in one fixed shape (absent ones undefined), with `event` attached for decodedEventOf. */
export function operatorEvent(event: ClickEvent): ClickEvent {
  const shaped: ShapedEvent = {
    type: event.type,
    ts: event.ts,
    event_id: event.event_id,
    anon_id: event.anon_id,
    user_id: event.user_id,
    site_id: event.site_id,
    received_at: event.received_at,
    ip: event.ip,
    ua: event.ua,
    url: event.url,
    referrer: event.referrer,
    title: event.title,
    sku: event.sku,
    price: event.price,
    qty: event.qty,
    order_id: event.order_id,
    revenue: event.revenue,
    currency: event.currency,
    items: event.items,
    is_bot: event.is_bot,
    page_item: event.page_item,
    [DECODED]: event,
  };
  return shaped;
}

/** The event as decoded (key order and unknown fields as they arrived): `event` itself unless operatorEvent made it. */
export function decodedEventOf(event: ClickEvent): ClickEvent {
  return (event as ShapedEvent)[DECODED] ?? event;
}
