// Canonical JSON and derived ids: hand-written expected strings and a SHA-256 computed by hand from them.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { canonicalJson, deriveEventId } from "../../src/events/event-id.ts";

describe("canonicalJson", () => {
  it("sorts keys at every depth and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" } })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it("escapes strings as JSON does and drops undefined fields", () => {
    expect(canonicalJson({ 'k"': 'v\n"', u: undefined, n: null })).toBe('{"k\\"":"v\\n\\"","n":null}');
  });

  it("is JSON for the same value and does not depend on key insertion order", () => {
    const reversedKeys = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(reversedKeys)
        : value !== null && typeof value === "object"
          ? Object.fromEntries(Object.keys(value).reverse().map((key) => [key, reversedKeys((value as Record<string, unknown>)[key])]))
          : value;
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const canonical = canonicalJson(value);
        expect(JSON.parse(canonical)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(reversedKeys(value))).toBe(canonical);
      }),
    );
  });
});

describe("deriveEventId", () => {
  it("hashes the canonical record with ts as epoch ms, without event_id and received_at", () => {
    const canonical = '{"anon_id":"a","ts":1000,"type":"click"}';
    const expected = createHash("sha256").update(canonical).digest("base64url").slice(0, 22);
    expect(deriveEventId({ type: "click", ts: "1970-01-01T00:00:01Z", anon_id: "a", received_at: 9, event_id: "x" }, 1000)).toBe(expected);
  });
});
