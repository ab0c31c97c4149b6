// The field table of the event contract: what each known field holds and what each type requires. The fast decoder
// (decode.ts) checks it directly; schema.ts builds the zod schemas from it. Free of zod, so the threads that only
// decode events start without loading it (about 0.12 s).
import type { EventType } from "./event.ts";

/** What a known field must hold. Every kind also accepts JSON null, which the decoder treats as absent. */
export type FieldKind =
  | "string" // any string, "" included (referrer: document.referrer is "" when there is none)
  | "id" // a non-empty string
  | "amount" // a finite number (revenue: refunds may be negative)
  | "price" // a finite number ≥ 0
  | "quantity" // a finite number > 0
  | "boolean"
  | "instant" // epoch ms ≥ 0 or ISO 8601 with offset (received_at)
  | "items"; // an array of objects with optional typed sku, category, price, qty

/** Known optional fields of every event type, and what they hold; any other field passes through untouched. */
export const EVENT_FIELDS: Readonly<Record<string, FieldKind>> = {
  event_id: "id",
  anon_id: "id",
  user_id: "id",
  site_id: "id",
  received_at: "instant",
  ip: "string",
  ua: "string",
  url: "string",
  referrer: "string",
  title: "string",
  sku: "id",
  price: "price",
  qty: "quantity",
  order_id: "id",
  revenue: "amount",
  currency: "string",
  items: "items",
  is_bot: "boolean",
  page_item: "string",
};

/** Known fields of one purchase item. */
export const ITEM_FIELDS: Readonly<Record<string, FieldKind>> = {
  sku: "id",
  category: "string",
  price: "price",
  qty: "quantity",
};

/** Fields each type requires beyond `type`, `ts` and one of anon_id / user_id. */
export const REQUIRED_FIELDS: Readonly<Record<EventType, readonly string[]>> = {
  page_view: ["url"],
  click: [],
  add_to_cart: ["sku"],
  purchase: ["order_id", "revenue"],
  identify: ["anon_id", "user_id"],
};

/** page_view.url must say which page: an empty url is a bad field there, though "" is a valid optional url. */
export const NON_EMPTY_REQUIRED = new Set(["url"]);

/** How each kind reads in an error message: `purchase.revenue: expected a number, got "12,50"`. */
export const KIND_EXPECTATIONS: Readonly<Record<FieldKind, string>> = {
  string: "a string",
  id: "a non-empty string",
  amount: "a number",
  price: "a number ≥ 0",
  quantity: "a number > 0",
  boolean: "true or false",
  instant: "epoch milliseconds or ISO 8601 with an offset",
  items: "an array of objects",
};

export const TS_EXPECTATION = "ISO 8601 with an offset (or Z) or epoch milliseconds ≥ 0, up to year 9999";
