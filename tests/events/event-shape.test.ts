import { describe, expect, it } from "vitest";
import { decodeRecord } from "../../src/events/decode.ts";
import type { ClickEvent } from "../../src/events/event.ts";
import { decodedEventOf, operatorEvent } from "../../src/events/event-shape.ts";
import { EVENT_FIELDS } from "../../src/events/fields.ts";
import { botEventRow, lateEventRow } from "../../src/sinks/system-tables.ts";

function decoded(line: string): ClickEvent {
  const result = decodeRecord(line, Date.UTC(2026, 0, 5, 12));
  if (!result.ok) throw new Error(result.message);
  return result.event;
}

/** Every known field set, in an order of its own, plus fields clickpipe does not know. */
const fullLine = JSON.stringify({
  experiment: "b",
  ts: "2026-01-05T10:00:00.000Z",
  type: "purchase",
  page_item: "p-7",
  is_bot: false,
  items: [{ sku: "SKU-1", price: 5, qty: 2, colour: "red" }],
  currency: "EUR",
  revenue: 10,
  order_id: "o-1",
  qty: 2,
  price: 5,
  sku: "SKU-1",
  title: "Checkout",
  referrer: "https://shop.example/cart",
  url: "https://shop.example/done",
  ua: "Mozilla/5.0",
  ip: "192.0.2.1",
  received_at: Date.UTC(2026, 0, 5, 10, 0, 1),
  site_id: "shop",
  user_id: "u-1",
  anon_id: "a-1",
  event_id: "e-1",
  nested: { kept: [1, 2] },
});

describe("operatorEvent", () => {
  it("carries every known field of fields.ts with the decoded value, and type and ts", () => {
    const event = decoded(fullLine);
    const shaped = operatorEvent(event) as Record<string, unknown>;
    // A field added to EVENT_FIELDS but not to the shape fails here, instead of reading undefined in an operator.
    for (const name of [...Object.keys(EVENT_FIELDS), "type", "ts"]) expect(shaped[name], name).toEqual(event[name]);
    expect(shaped.ts).toBe(Date.UTC(2026, 0, 5, 10));
    expect(shaped.items).toBe(event.items);
  });

  it("gives events of any type, key order and optional fields the same keys in the same order", () => {
    const pageView = operatorEvent(decoded('{"type":"page_view","ts":1767607200000,"url":"/a","anon_id":"a-1"}'));
    const identify = operatorEvent(decoded('{"anon_id":"a-2","user_id":"u-2","ts":1767607200001,"type":"identify","x":1}'));
    const purchase = operatorEvent(decoded(fullLine));
    expect(Object.keys(identify)).toEqual(Object.keys(pageView));
    expect(Object.keys(purchase)).toEqual(Object.keys(pageView));
    // Absent fields read as undefined, as on the decoded record.
    expect(pageView.user_id).toBeUndefined();
    expect(identify.url).toBeUndefined();
    expect(identify.user_id).toBe("u-2");
  });

  it("keeps the decoded record, unknown fields and key order included, for decodedEventOf", () => {
    const event = decoded(fullLine);
    const shaped = operatorEvent(event);
    expect(decodedEventOf(shaped)).toBe(event);
    expect(JSON.stringify(decodedEventOf(shaped))).toBe(JSON.stringify(event));
    expect(Object.keys(decodedEventOf(shaped))[0]).toBe("experiment");
    // An event an operator is given directly (tests, other callers) is its own decoded record.
    expect(decodedEventOf(event)).toBe(event);
  });
});

describe("rows that keep the whole event", () => {
  it("serialize the decoded record, not the operators' shape: late_events and bots as before", () => {
    const event = decoded(fullLine);
    const shaped = operatorEvent(event);
    const expected = JSON.stringify(event);
    expect(expected).toContain('"experiment":"b"');
    expect(expected).toContain('"nested":{"kept":[1,2]}');
    expect(lateEventRow(shaped, 0, "too_late", "sessionize").event).toBe(expected);
    expect(botEventRow(shaped, "bot").event).toBe(expected);
    expect(lateEventRow(shaped, 0, "too_late", "sessionize")).toEqual(lateEventRow(event, 0, "too_late", "sessionize"));
  });
});
