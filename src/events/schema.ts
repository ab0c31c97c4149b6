// The event contract per `type` as zod schemas, built from the field table (fields.ts) that the fast decoder also checks.
import { z } from "zod";
import type { EventType } from "./event.ts";
import { EVENT_FIELDS, KIND_EXPECTATIONS, NON_EMPTY_REQUIRED, REQUIRED_FIELDS, TS_EXPECTATION, type FieldKind } from "./fields.ts";
import { parseEventTime } from "./time.ts";


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
