// decodeOperatorEvent against its oracle, decodeRecord followed by operatorEvent: for every line it takes, the event
// must be exactly that, and decodedEventOf must give decodeRecord's record (same keys, same order, same values);
// every line decodeRecord rejects it must leave to decodeRecord. Hand-picked lines for each rule, every known field
// with values of every kind, the generator's traffic, and random mutations of it.
import { describe, expect, it } from "vitest";
import { decodeForOperators, decodeOperatorEvent, decodeRecord, isDecodeFailure } from "../../src/events/decode.ts";
import type { ClickEvent } from "../../src/events/event.ts";
import { decodedEventOf, operatorEvent } from "../../src/events/event-shape.ts";
import { EVENT_FIELDS } from "../../src/events/fields.ts";
import { generateLines } from "../../src/ingest/generate.ts";

const RECEIVED_AT = Date.UTC(2026, 0, 5, 12);
const KNOWN_FIELDS = ["type", "ts", ...Object.keys(EVENT_FIELDS)];

function knownFieldsOf(event: ClickEvent): unknown[] {
  return KNOWN_FIELDS.map((name) => event[name]);
}

/** Checks the contract for one line; returns whether decodeOperatorEvent took it. */
function agrees(line: string): boolean {
  const slow = decodeRecord(line, RECEIVED_AT);
  const taken = decodeOperatorEvent(line, RECEIVED_AT);
  if (taken === undefined) return false;
  expect(slow.ok, `decodeRecord rejects a line decodeOperatorEvent took: ${line}`).toBe(true);
  if (!slow.ok) return true;
  const expected = operatorEvent(slow.event);
  expect(Object.keys(taken)).toEqual(Object.keys(expected));
  // Object.is: -0 and 0 differ. The item arrays come from two parses: compared by value.
  for (const name of KNOWN_FIELDS) if (name !== "items") expect(Object.is(taken[name], expected[name]), `${name} of ${line}`).toBe(true);
  expect(taken.items).toEqual(expected.items);
  expect(JSON.stringify(decodedEventOf(taken))).toBe(JSON.stringify(slow.event));
  expect(Object.keys(decodedEventOf(taken))).toEqual(Object.keys(slow.event));
  return true;
}

const base = {
  type: "page_view",
  ts: "2026-01-05T10:00:00.123Z",
  event_id: "e-1",
  site_id: "shop",
  anon_id: "a-1",
  url: "/c/shoes/p/1",
  referrer: "https://news.example/",
  title: "Shoes | Shop",
  ua: "Mozilla/5.0",
  ip: "192.0.2.1",
};

/** `base` with fields changed, added or (undefined) removed. */
function variant(changes: Record<string, unknown>): string {
  const record: Record<string, unknown> = { ...base, ...changes };
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete record[name];
  return JSON.stringify(record);
}

describe("decodeOperatorEvent", () => {
  it("takes the common valid lines and gives exactly decodeRecord's event and record", () => {
    const taken = [
      variant({}),
      variant({ type: "click", url: undefined, element: "nav" }),
      variant({ type: "add_to_cart", sku: "SKU-1", price: 12.99, qty: 2, currency: "EUR" }),
      variant({ type: "identify", user_id: "u-1" }),
      variant({ type: "purchase", order_id: "o-1", revenue: -0, currency: "EUR" }),
      variant({ type: "purchase", order_id: "o-1", revenue: 30, items: [{ sku: "a", price: 10, qty: 3, category: null, colour: "red" }] }),
      variant({ type: "purchase", order_id: "o-1", revenue: 30, items: [] }),
      variant({ ts: 1767607200123.9, received_at: "2026-01-05T10:00:01+01:00" }),
      variant({ ts: "1767607200123", received_at: 1767607201000 }),
      variant({ received_at: null, user_id: null, referrer: null, extra: null }),
      variant({ is_bot: true, page_item: "shoes/product" }),
      variant({ anon_id: undefined, user_id: "u-2", url: "/ünïcödé/😀", title: "Grüße\n\"quoted\"" }),
      variant({ referrer: "", title: "", nested: { a: [1, { b: null }] }, list: [1, "x"] }),
      `{"ts":1,"type":"click","event_id":"e","anon_id":"a","0":"first","__proto__":"x","constructor":1}`,
      `{"type":"click","ts":1,"type":"click","event_id":"e","anon_id":"a","anon_id":"b"}`,
      `  {"type":"click","ts":1,"event_id":"e","anon_id":"a"} \r`,
    ];
    for (const line of taken) expect(agrees(line), line).toBe(true);
  });

  it("leaves to decodeRecord the lines it must decide: invalid ones and derived event ids", () => {
    const declined = [
      "",
      "not json",
      "[]",
      "null",
      "{}",
      `{"type":"click"}`,
      "x".repeat(40_000),
      variant({ title: "t".repeat(11_000) }),
      variant({ event_id: undefined }),
      variant({ event_id: null }),
      variant({ type: "page_view", url: "" }),
      variant({ type: "page_view", url: undefined }),
      variant({ type: "page_view", url: null }),
      variant({ type: "add_to_cart" }),
      variant({ type: "purchase", order_id: "o-1" }),
      variant({ type: "purchase", revenue: 3 }),
      variant({ type: "purchase", order_id: "o-1", revenue: 30, items: [{ sku: "" }] }),
      variant({ type: "purchase", order_id: "o-1", revenue: 30, items: ["x"] }),
      variant({ type: "identify" }),
      variant({ anon_id: undefined }),
      variant({ type: "view" }),
      variant({ type: 3 }),
      variant({ type: null }),
      variant({ ts: null }),
      variant({ ts: undefined }),
      variant({ ts: "2026-01-05T10:00:00" }),
      variant({ ts: -1 }),
      variant({ received_at: "soon" }),
      variant({ is_bot: "true" }),
      variant({ type: "add_to_cart", sku: "SKU-1", price: -1 }),
      variant({ type: "add_to_cart", sku: "SKU-1", qty: 0 }),
    ];
    for (const line of declined) {
      expect(agrees(line), line).toBe(false);
      expect(decodeOperatorEvent(line, RECEIVED_AT), line).toBeUndefined();
    }
  });

  it("holds each known field to its kind, as decodeRecord does", () => {
    const values: unknown[] = ["", "x", 0, -0, -1, 1.5, 1e308, true, false, null, [], [{}], {}, "2026-01-05T10:00:00Z", "123"];
    let taken = 0;
    for (const name of Object.keys(EVENT_FIELDS)) {
      for (const value of values) {
        if (agrees(variant({ type: "click", [name]: value }))) taken++;
      }
    }
    // Every field takes some of its values: a field the one pass did not know would not be checked at all.
    expect(taken).toBeGreaterThan(Object.keys(EVENT_FIELDS).length);
  });

  it("takes almost every line of the generator's traffic, each exactly as decodeRecord", () => {
    let lines = 0;
    let taken = 0;
    for (const line of generateLines({ visitors: 200, days: 2, seed: 7 })) {
      lines++;
      if (agrees(line)) taken++;
    }
    expect(lines).toBeGreaterThan(2_000);
    expect(taken).toBe(lines);
  });

  it("never takes a line decodeRecord rejects or reads differently, over random mutations of real lines", () => {
    const samples = [...generateLines({ visitors: 50, days: 1, seed: 3 })].slice(0, 200);
    const pieces = ['"', "\\", ",", ":", "{", "}", "[", "]", " ", "0", "1", "-", ".", "e", "null", "true", '""', "\u00e9"];
    let seed = 12345;
    const random = (limit: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % limit;
    };
    let taken = 0;
    for (let round = 0; round < 5_000; round++) {
      let line = samples[random(samples.length)];
      const edits = 1 + random(3);
      for (let edit = 0; edit < edits; edit++) {
        const position = random(line.length + 1);
        const kind = random(3);
        const piece = pieces[random(pieces.length)];
        if (kind === 0) line = line.slice(0, position) + piece + line.slice(position);
        else if (kind === 1) line = line.slice(0, position) + line.slice(position + 1);
        else line = line.slice(0, position) + piece + line.slice(position + 1);
      }
      if (agrees(line)) taken++;
    }
    // Many mutations keep a valid event (a changed value): the comparison must have met those too.
    expect(taken).toBeGreaterThan(500);
  });

  it("leaves the record as JSON.parse made it until something asks for it", () => {
    const line = variant({ referrer: null, received_at: undefined });
    const event = decodeOperatorEvent(line, RECEIVED_AT) as ClickEvent;
    expect(event.received_at).toBe(RECEIVED_AT);
    expect(event.ts).toBe(Date.UTC(2026, 0, 5, 10, 0, 0, 123));
    const record = decodedEventOf(event);
    expect(record.referrer).toBeUndefined();
    expect(Object.keys(record).at(-1)).toBe("received_at");
    // Asking again changes nothing.
    expect(JSON.stringify(decodedEventOf(event))).toBe(JSON.stringify(record));
  });

  it("decodeForOperators: the one pass where it decides, decodeRecord's event or failure where it does not", () => {
    const common = variant({});
    const derivedId = variant({ event_id: undefined });
    const invalid = variant({ type: "view" });
    const taken = decodeForOperators(common, RECEIVED_AT);
    expect(isDecodeFailure(taken)).toBe(false);
    expect(knownFieldsOf(taken as ClickEvent)).toEqual(knownFieldsOf(decodeOperatorEvent(common, RECEIVED_AT)!));
    const derived = decodeForOperators(derivedId, RECEIVED_AT) as ClickEvent;
    const expected = decodeRecord(derivedId, RECEIVED_AT);
    expect(expected.ok).toBe(true);
    if (expected.ok) expect(knownFieldsOf(derived)).toEqual(knownFieldsOf(operatorEvent(expected.event)));
    expect(derived.event_id).toHaveLength(22);
    const failure = decodeForOperators(invalid, RECEIVED_AT);
    expect(isDecodeFailure(failure)).toBe(true);
    expect(failure).toEqual(decodeRecord(invalid, RECEIVED_AT));
  });
});
