// The event contract per `type` as zod schemas, built from one field table that the fast decoder also checks.
import { z } from "zod";
import type { EventType } from "./event.ts";
import { parseEventTime } from "./time.ts";

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

export const TS_EXPECTATION = "ISO 8601 with an offset (or Z) or epoch milliseconds ≥ 0";

function zodKind(kind: FieldKind): z.ZodType {
  switch (kind) {
    case "string":
      return z.string();
    case "id":
      return z.string().min(1);
    case "amount":
      return z.number();
    case "price":
      return z.number().min(0);
    case "quantity":
      return z.number().gt(0);
    case "boolean":
      return z.boolean();
    case "instant":
      return z.union([z.number(), z.string()]).refine((value) => parseEventTime(value) !== undefined, KIND_EXPECTATIONS.instant);
    case "items":
      return z.array(purchaseItemSchema);
  }
}

function optionalShape(fields: Readonly<Record<string, FieldKind>>): Record<string, z.ZodType> {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, kind] of Object.entries(fields)) {
    shape[name] = zodKind(kind).nullish();
  }
  return shape;
}

export const purchaseItemSchema = z
  .looseObject({
    sku: z.string().min(1).nullish().describe("The product's stock keeping unit."),
    category: z.string().nullish().describe("The product's category (the basket operator's item when configured)."),
    price: z.number().min(0).nullish().describe("Unit price."),
    qty: z.number().gt(0).nullish().describe("Quantity."),
  })
  .describe("One line of an order; unknown fields pass through.");

const eventTime = z
  .union([z.number(), z.string()])
  .refine((value) => parseEventTime(value) !== undefined, TS_EXPECTATION)
  .describe('Event time: ISO 8601 with an offset ("2015-05-17T10:05:03+02:00") or epoch milliseconds.');

function eventSchema<T extends EventType>(type: T, description: string) {
  const shape: Record<string, z.ZodType> = { ...optionalShape(EVENT_FIELDS), type: z.literal(type), ts: eventTime };
  for (const name of REQUIRED_FIELDS[type]) {
    const kind = EVENT_FIELDS[name];
    shape[name] = NON_EMPTY_REQUIRED.has(name) ? z.string().min(1) : zodKind(kind);
  }
  return z
    .looseObject(shape)
    .refine((event) => typeof event.anon_id === "string" || typeof event.user_id === "string", {
      message: "at least one of anon_id or user_id is required",
      path: ["anon_id"],
    })
    .describe(description);
}

export const pageViewSchema = eventSchema("page_view", "A page was shown: `url` required; `referrer` (may be \"\") and `title` optional.");
export const clickSchema = eventSchema("click", "An element was clicked.");
export const addToCartSchema = eventSchema("add_to_cart", "A product went into the cart: `sku` required; `price`, `qty`, `url` optional.");
export const purchaseSchema = eventSchema(
  "purchase",
  "An order was placed: `order_id` and numeric `revenue` required; `currency` and `items` optional.",
);
export const identifySchema = eventSchema("identify", "A device (anon_id) was linked to a customer (user_id): both required.");

/** Every event type by name: the documented contract. The decoder's hand-written checks agree with it (tested). */
export const EVENT_SCHEMAS = {
  page_view: pageViewSchema,
  click: clickSchema,
  add_to_cart: addToCartSchema,
  purchase: purchaseSchema,
  identify: identifySchema,
} as const satisfies Record<EventType, z.ZodType>;

/** One record of any type, before normalization (ts may still be ISO, event_id may be absent). */
export const eventRecordSchema = z.discriminatedUnion("type", [
  pageViewSchema,
  clickSchema,
  addToCartSchema,
  purchaseSchema,
  identifySchema,
]);
