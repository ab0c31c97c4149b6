// Events for the operators in one hidden class: the pipeline hands each event to its operators in this shape.
//
// JSON.parse gives an object one hidden class per key order and mix of optional fields, so every load of an event
// field in the operators went through V8's megamorphic stub cache (≈ 6% of the drain's main thread, perf). The same
// fields copied into one object literal make those loads monomorphic: 9 alternating drains faster in 8, median +5%
// events/s (bench/OPTIMIZATIONS.md session 10). The decoded record itself, with its key order and unknown fields,
// stays attached for what keeps whole events (late_events, bots).
import type { ClickEvent, EventType, PurchaseItem } from "./event.ts";
import { EVENT_FIELDS } from "./fields.ts";

const DECODED = Symbol("clickpipe.decodedEvent");
const KNOWN_FIELD_NAMES = Object.keys(EVENT_FIELDS);

type ShapedEvent = ClickEvent & { [DECODED]?: ClickEvent };

/** The known fields of `event` in one fixed shape (absent ones undefined), with `event` attached for decodedEventOf. */
export function operatorEvent(event: ClickEvent): ClickEvent {
  return shapedEvent(
    event.type,
    event.ts,
    event.event_id,
    event.anon_id,
    event.user_id,
    event.site_id,
    event.received_at,
    event.ip,
    event.ua,
    event.url,
    event.referrer,
    event.title,
    event.sku,
    event.price,
    event.qty,
    event.order_id,
    event.revenue,
    event.currency,
    event.items,
    event.is_bot,
    event.page_item,
    event,
  );
}

/** The one shape, field by field in the order of ClickEvent (both decoders build events with it). */
export function shapedEvent(
  type: EventType,
  ts: number,
  eventId: string,
  anonId: string | undefined,
  userId: string | undefined,
  siteId: string | undefined,
  receivedAt: number | undefined,
  ip: string | undefined,
  ua: string | undefined,
  url: string | undefined,
  referrer: string | undefined,
  title: string | undefined,
  sku: string | undefined,
  price: number | undefined,
  qty: number | undefined,
  orderId: string | undefined,
  revenue: number | undefined,
  currency: string | undefined,
  items: PurchaseItem[] | undefined,
  isBot: boolean | undefined,
  pageItem: string | undefined,
  decoded: ClickEvent,
): ClickEvent {
  const shaped: ShapedEvent = {
    type,
    ts,
    event_id: eventId,
    anon_id: anonId,
    user_id: userId,
    site_id: siteId,
    received_at: receivedAt,
    ip,
    ua,
    url,
    referrer,
    title,
    sku,
    price,
    qty,
    order_id: orderId,
    revenue,
    currency,
    items,
    is_bot: isBot,
    page_item: pageItem,
    [DECODED]: decoded,
  };
  return shaped;
}

/**
 * The event as decoded (key order and unknown fields as they arrived): `event` itself unless it was shaped. A record
 * decode.ts's decodeOperatorEvent shaped is JSON.parse's object as it was: it gets decodeRecord's normalization
 * here (known fields holding null removed, `received_at` and `ts` as epoch ms), in decodeRecord's order of steps, so
 * its keys come out in the same order. On a record decodeRecord made, that changes nothing.
 */
export function decodedEventOf(event: ClickEvent): ClickEvent {
  const record = (event as ShapedEvent)[DECODED];
  if (record === undefined) return event;
  for (const name of KNOWN_FIELD_NAMES) if (record[name] === null) delete record[name];
  if (event.received_at !== undefined) record.received_at = event.received_at;
  record.ts = event.ts;
  return record;
}
