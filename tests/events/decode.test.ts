// Edge validation: hand-written lines with their exact reasons, the 32 KiB boundary, and properties over any input.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MAX_EVENT_BYTES, MAX_NESTING_DEPTH, decodeForOperators, decodeRecord, isDecodeFailure, validateRecord, type DecodeResult } from "../../src/events/decode.ts";
import { eventRecordSchema } from "../../src/events/schema.ts";
import { INVALID_REASONS } from "../../src/metrics/registry.ts";
import { TS_EXPECTATION } from "../../src/events/fields.ts";

const RECEIVED_AT = 1767614400000; // 2026-01-05T12:00:00Z

function decodeOk(line: string) {
  const result = decodeRecord(line, RECEIVED_AT);
  if (!result.ok) throw new Error(`expected ok, got ${result.reason}: ${result.message}`);
  return result.event;
}

function failure(result: DecodeResult): { reason: string; message: string } {
  if (result.ok) throw new Error("expected a rejection");
  return { reason: result.reason, message: result.message };
}

describe("decodeRecord: valid lines", () => {
  it.each([
    ["a page view with ISO ts", '{"type":"page_view","ts":"2015-05-17T10:05:03+02:00","anon_id":"a1","url":"/"}'],
    ["a page view with epoch ms and empty referrer", '{"type":"page_view","ts":1431849903000,"anon_id":"a1","url":"/","referrer":""}'],
    ["a click with only user_id", '{"type":"click","ts":"2015-05-17T08:05:03Z","user_id":"u1"}'],
    ["an add_to_cart with price and qty", '{"type":"add_to_cart","ts":1,"anon_id":"a","sku":"S1","price":9.5,"qty":2}'],
    [
      "a purchase with items",
      '{"type":"purchase","ts":1,"user_id":"u","order_id":"o1","revenue":12.5,"currency":"EUR","items":[{"sku":"S1","category":"shoes","price":12.5,"qty":1,"color":"red"}]}',
    ],
    ["a refund purchase with negative revenue", '{"type":"purchase","ts":1,"user_id":"u","order_id":"o1","revenue":-3}'],
    ["an identify", '{"type":"identify","ts":1,"anon_id":"a","user_id":"u"}'],
    ["a ts as a digit string", '{"type":"click","ts":"1431849903000","anon_id":"a"}'],
    ["whitespace around the object", '  {"type":"click","ts":1,"anon_id":"a"}\r'],
  ])("accepts %s", (_label, line) => {
    const event = decodeOk(line);
    expect(event.event_id).toMatch(/^\S+$/);
  });

  it("normalizes an ISO ts with offset to epoch ms (10:05:03+02:00 is 08:05:03Z)", () => {
    expect(decodeOk('{"type":"click","ts":"2015-05-17T10:05:03+02:00","anon_id":"a"}').ts).toBe(1431849903000);
  });

  it("sets received_at when absent, keeps a numeric one and parses an ISO one", () => {
    expect(decodeOk('{"type":"click","ts":1,"anon_id":"a"}').received_at).toBe(RECEIVED_AT);
    expect(decodeOk('{"type":"click","ts":1,"anon_id":"a","received_at":42}').received_at).toBe(42);
    expect(decodeOk('{"type":"click","ts":1,"anon_id":"a","received_at":"1970-01-01T00:00:01Z"}').received_at).toBe(1000);
  });

  it("keeps the record's own event_id", () => {
    expect(decodeOk('{"type":"click","ts":1,"anon_id":"a","event_id":"mine"}').event_id).toBe("mine");
  });

  it("keeps unknown fields untouched, nested ones included", () => {
    const event = decodeOk('{"type":"click","ts":1,"anon_id":"a","element":"buy","props":{"x":[1,{"y":null}]},"n":null}');
    expect(event.element).toBe("buy");
    expect(event.props).toEqual({ x: [1, { y: null }] });
    expect(event.n).toBeNull();
  });

  it("treats null in a known field as absent and removes it", () => {
    const event = decodeOk('{"type":"click","ts":1,"anon_id":"a","user_id":null,"price":null}');
    expect("user_id" in event).toBe(false);
    expect("price" in event).toBe(false);
  });
});

describe("decodeRecord: invalid lines and their reasons", () => {
  it.each([
    ["not JSON", "{type: page_view}", "not_json"],
    ["an empty line", "", "not_json"],
    ["truncated JSON", '{"type":"click","ts":1', "not_json"],
    ["a JSON array of events", '[{"type":"click","ts":1,"anon_id":"a"}]', "not_object"],
    ["a JSON string", '"click"', "not_object"],
    ["JSON null", "null", "not_object"],
    ["a number", "42", "not_object"],
    ["a missing type", '{"ts":1,"anon_id":"a"}', "missing_field"],
    ["an unknown type", '{"type":"pageview","ts":1,"anon_id":"a"}', "unknown_type"],
    ["a numeric type", '{"type":1,"ts":1,"anon_id":"a"}', "unknown_type"],
    ["a missing ts", '{"type":"click","anon_id":"a"}', "missing_field"],
    ["a null ts", '{"type":"click","ts":null,"anon_id":"a"}', "missing_field"],
    ["a negative ts", '{"type":"click","ts":-1,"anon_id":"a"}', "bad_ts"],
    ["an overflowing ts (1e400 parses to Infinity)", '{"type":"click","ts":1e400,"anon_id":"a"}', "bad_ts"],
    ["a ts without offset", '{"type":"click","ts":"2015-05-17T10:05:03","anon_id":"a"}', "bad_ts"],
    ["an unparseable ts", '{"type":"click","ts":"yesterday","anon_id":"a"}', "bad_ts"],
    ["a boolean ts", '{"type":"click","ts":true,"anon_id":"a"}', "bad_ts"],
    ["neither anon_id nor user_id", '{"type":"click","ts":1}', "missing_field"],
    ["an empty anon_id", '{"type":"click","ts":1,"anon_id":""}', "bad_field"],
    ["a numeric user_id", '{"type":"click","ts":1,"user_id":7}', "bad_field"],
    ["a page view without url", '{"type":"page_view","ts":1,"anon_id":"a"}', "missing_field"],
    ["a page view with an empty url", '{"type":"page_view","ts":1,"anon_id":"a","url":""}', "bad_field"],
    ["a page view with a numeric referrer", '{"type":"page_view","ts":1,"anon_id":"a","url":"/","referrer":0}', "bad_field"],
    ["an add_to_cart without sku", '{"type":"add_to_cart","ts":1,"anon_id":"a"}', "missing_field"],
    ["a string price", '{"type":"add_to_cart","ts":1,"anon_id":"a","sku":"S","price":"9.50"}', "bad_field"],
    ["a zero qty", '{"type":"add_to_cart","ts":1,"anon_id":"a","sku":"S","qty":0}', "bad_field"],
    ["a purchase without order_id", '{"type":"purchase","ts":1,"anon_id":"a","revenue":1}', "missing_field"],
    ["a purchase without revenue", '{"type":"purchase","ts":1,"anon_id":"a","order_id":"o"}', "missing_field"],
    ["a purchase with revenue as text", '{"type":"purchase","ts":1,"anon_id":"a","order_id":"o","revenue":"12,50"}', "bad_field"],
    ["items that are not an array", '{"type":"purchase","ts":1,"anon_id":"a","order_id":"o","revenue":1,"items":{}}', "bad_field"],
    ["an item that is not an object", '{"type":"purchase","ts":1,"anon_id":"a","order_id":"o","revenue":1,"items":["S1"]}', "bad_field"],
    ["an item with a string qty", '{"type":"purchase","ts":1,"anon_id":"a","order_id":"o","revenue":1,"items":[{"qty":"2"}]}', "bad_field"],
    ["an identify without user_id", '{"type":"identify","ts":1,"anon_id":"a"}', "missing_field"],
    ["an identify without anon_id", '{"type":"identify","ts":1,"user_id":"u"}', "missing_field"],
    ["a numeric event_id", '{"type":"click","ts":1,"anon_id":"a","event_id":5}', "bad_field"],
    ["a string is_bot", '{"type":"click","ts":1,"anon_id":"a","is_bot":"yes"}', "bad_field"],
    ["an unparseable received_at", '{"type":"click","ts":1,"anon_id":"a","received_at":"soon"}', "bad_field"],
  ])("rejects %s", (_label, line, reason) => {
    expect(failure(decodeRecord(line, RECEIVED_AT)).reason).toBe(reason);
  });

  it("shows a number JSON.parse read as Infinity as Infinity, not null", () => {
    const rejected = failure(decodeRecord('{"type":"click","ts":1e400,"anon_id":"a"}', RECEIVED_AT));
    expect([rejected.reason, rejected.message]).toEqual(["bad_ts", `click.ts: expected ${TS_EXPECTATION}, got Infinity`]);
  });

  it("names the field and what was expected", () => {
    expect(
      failure(decodeRecord('{"type":"purchase","ts":1,"anon_id":"a","order_id":"o","revenue":"12,50"}', RECEIVED_AT)).message,
    ).toBe('purchase.revenue: expected a number, got "12,50"');
    expect(
      failure(decodeRecord('{"type":"purchase","ts":1,"anon_id":"a","order_id":"o","revenue":1,"items":[{},{"price":"x"}]}', RECEIVED_AT))
        .message,
    ).toBe('purchase.items[1].price: expected a number ≥ 0, got "x"');
    expect(failure(decodeRecord('{"type":"page_view","ts":1,"anon_id":"a"}', RECEIVED_AT)).message).toBe("page_view.url: required");
    expect(failure(decodeRecord('{"type":"click","ts":"soon","anon_id":"a"}', RECEIVED_AT)).message).toMatch(
      /^click\.ts: expected ISO 8601 .* got "soon"$/,
    );
  });
});

describe("decodeRecord: the 32 KiB limit", () => {
  const prefix = '{"type":"click","ts":1,"anon_id":"a","pad":"';
  const suffix = '"}';

  function lineOfBytes(bytes: number, padCharacter: string, padCharacterBytes: number): string {
    const padBytes = bytes - prefix.length - suffix.length;
    const multiByte = Math.floor(padBytes / padCharacterBytes);
    return prefix + padCharacter.repeat(multiByte) + "x".repeat(padBytes - multiByte * padCharacterBytes) + suffix;
  }

  it("accepts exactly 32768 bytes and rejects 32769 (ASCII)", () => {
    expect(Buffer.byteLength(lineOfBytes(MAX_EVENT_BYTES, "x", 1))).toBe(32768);
    expect(decodeRecord(lineOfBytes(MAX_EVENT_BYTES, "x", 1), RECEIVED_AT).ok).toBe(true);
    expect(failure(decodeRecord(lineOfBytes(MAX_EVENT_BYTES + 1, "x", 1), RECEIVED_AT)).reason).toBe("too_large");
  });

  it("counts UTF-8 bytes, not characters (3-byte € and 4-byte emoji)", () => {
    for (const [character, bytes] of [["€", 3], ["😀", 4]] as const) {
      const atLimit = lineOfBytes(MAX_EVENT_BYTES, character, bytes);
      const overLimit = lineOfBytes(MAX_EVENT_BYTES + 1, character, bytes);
      expect(Buffer.byteLength(atLimit)).toBe(32768);
      expect(atLimit.length).toBeLessThan(32768);
      expect(decodeRecord(atLimit, RECEIVED_AT).ok).toBe(true);
      expect(failure(decodeRecord(overLimit, RECEIVED_AT)).reason).toBe("too_large");
    }
  });

  it("rejects an oversized record before parsing it, even if it is not JSON", () => {
    expect(failure(decodeRecord("x".repeat(MAX_EVENT_BYTES + 1), RECEIVED_AT)).reason).toBe("too_large");
  });

  it("uses the byte length given to validateRecord", () => {
    expect(failure(validateRecord({ type: "click", ts: 1, anon_id: "a" }, MAX_EVENT_BYTES + 1, RECEIVED_AT)).reason).toBe("too_large");
    expect(validateRecord({ type: "click", ts: 1, anon_id: "a" }, MAX_EVENT_BYTES, RECEIVED_AT).ok).toBe(true);
  });
});

describe("decodeRecord: the nesting limit", () => {
  /** A click whose `extra` field nests arrays so that the record is `levels` deep (the record itself is level 1). */
  const nested = (levels: number, withId: boolean) =>
    `{"type":"click","ts":1,"anon_id":"a",${withId ? '"event_id":"e",' : ""}"extra":${"[".repeat(levels - 1)}1${"]".repeat(levels - 1)}}`;

  it(`accepts ${MAX_NESTING_DEPTH} levels and rejects ${MAX_NESTING_DEPTH + 1}, with or without an event_id, on both decoders`, () => {
    for (const withId of [true, false]) {
      expect(decodeRecord(nested(MAX_NESTING_DEPTH, withId), RECEIVED_AT).ok).toBe(true);
      expect(isDecodeFailure(decodeForOperators(nested(MAX_NESTING_DEPTH, withId), RECEIVED_AT))).toBe(false);
      const rejected = failure(decodeRecord(nested(MAX_NESTING_DEPTH + 1, withId), RECEIVED_AT));
      expect([rejected.reason, rejected.message]).toEqual(["too_large", "extra: nested deeper than the 64-level limit"]);
      expect(decodeForOperators(nested(MAX_NESTING_DEPTH + 1, withId), RECEIVED_AT)).toMatchObject({ reason: "too_large" });
    }
  });

  it("rejects 15,000 levels in under 32 KiB instead of overflowing the stack (the derived id and JSON.stringify recurse)", () => {
    const deep = nested(15_000, false);
    expect(Buffer.byteLength(deep)).toBeLessThan(MAX_EVENT_BYTES);
    expect(failure(decodeRecord(deep, RECEIVED_AT)).reason).toBe("too_large");
    expect(decodeForOperators(deep, RECEIVED_AT)).toMatchObject({ reason: "too_large" });
    const items = `{"type":"purchase","ts":1,"user_id":"u","event_id":"e","order_id":"o","revenue":1,"items":[{"sku":"s","x":${"[".repeat(15_000)}${"]".repeat(15_000)}}]}`;
    expect(decodeForOperators(items, RECEIVED_AT)).toMatchObject({ reason: "too_large" });
  });
});

describe("decodeRecord: derived event ids", () => {
  it("is stable across key order and whitespace", () => {
    const a = decodeOk('{"type":"click","ts":1,"anon_id":"a","props":{"x":1,"y":2}}').event_id;
    const b = decodeOk('{ "props": {"y":2, "x":1}, "anon_id": "a", "ts": 1, "type": "click" }').event_id;
    expect(b).toBe(a);
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("is the same for the same instant written as ISO or epoch ms, and ignores received_at", () => {
    const iso = decodeOk('{"type":"click","ts":"1970-01-01T00:00:01Z","anon_id":"a","received_at":5}').event_id;
    const epoch = decodeOk('{"type":"click","ts":1000,"anon_id":"a"}').event_id;
    expect(iso).toBe(epoch);
  });

  it("differs when any content differs", () => {
    const ids = new Set(
      [
        '{"type":"click","ts":1,"anon_id":"a"}',
        '{"type":"click","ts":2,"anon_id":"a"}',
        '{"type":"click","ts":1,"anon_id":"b"}',
        '{"type":"click","ts":1,"user_id":"a"}',
        '{"type":"click","ts":1,"anon_id":"a","x":"1"}',
        '{"type":"click","ts":1,"anon_id":"a","x":1}',
        '{"type":"click","ts":1,"anon_id":"a","x":[1,2]}',
        '{"type":"click","ts":1,"anon_id":"a","x":[2,1]}',
      ].map((line) => decodeOk(line).event_id),
    );
    expect(ids.size).toBe(8);
  });

  it("gives distinct ids to distinct generated records", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string(), { minLength: 2, maxLength: 20 }), (anonIds) => {
        const ids = anonIds.map((anonId) => decodeOk(JSON.stringify({ type: "click", ts: 1, anon_id: anonId || "z" })).event_id);
        expect(new Set(ids).size).toBe(new Set(anonIds.map((id) => id || "z")).size);
      }),
    );
  });
});

describe("decodeRecord: properties", () => {
  it("never throws: any string is an event or one of the known reasons", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.string({ unit: "grapheme" })), (line) => {
        const result = decodeRecord(line, RECEIVED_AT);
        if (!result.ok) {
          expect(INVALID_REASONS).toContain(result.reason);
          expect(result.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 2000 },
    );
  });

  const fieldValue = fc.oneof(
    fc.constant(null),
    fc.constant(""),
    fc.string({ maxLength: 5 }),
    fc.integer({ min: -5, max: 5 }),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.constant("2015-05-17T10:05:03+02:00"),
    fc.array(fc.oneof(fc.constant({}), fc.record({ sku: fc.string(), price: fc.integer({ min: -1, max: 3 }) }, { requiredKeys: [] }), fc.constant(1))),
  );
  const record = fc.record(
    {
      type: fc.constantFrom("page_view", "click", "add_to_cart", "purchase", "identify", "other"),
      ts: fc.oneof(fc.integer({ min: -2, max: 2e12 }), fc.constantFrom("2015-05-17T10:05:03+02:00", "2015-05-17T10:05:03", "12")),
      anon_id: fieldValue,
      user_id: fieldValue,
      url: fieldValue,
      referrer: fieldValue,
      sku: fieldValue,
      price: fieldValue,
      qty: fieldValue,
      order_id: fieldValue,
      revenue: fieldValue,
      items: fieldValue,
      event_id: fieldValue,
      received_at: fieldValue,
      extra: fieldValue,
    },
    { requiredKeys: ["type"] },
  );

  it("accepts exactly the records the zod schemas accept", () => {
    fc.assert(
      fc.property(record, (value) => {
        const line = JSON.stringify(value);
        const byZod = eventRecordSchema.safeParse(JSON.parse(line)).success;
        expect(decodeRecord(line, RECEIVED_AT).ok).toBe(byZod);
      }),
      { numRuns: 3000 },
    );
  });

  it("passes every unknown field through unchanged", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string().map((key) => `x_${key}`), fc.jsonValue()), (extra) => {
        const line = JSON.stringify({ ...extra, type: "click", ts: 5, anon_id: "a" });
        const event = decodeOk(line);
        const expected = JSON.parse(JSON.stringify(extra)) as Record<string, unknown>; // JSON turns -0 into 0
        for (const [key, value] of Object.entries(expected)) expect(event[key]).toEqual(value);
      }),
    );
  });
});
