import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeBatch, splitBatch } from "../../src/transport/batch-codec.ts";

describe("batch codec", () => {
  it("joins serialized events with newlines (NDJSON body)", () => {
    const body = encodeBatch(['{"type":"click"}', '{"type":"page_view","url":"/ü"}']);
    expect(Buffer.from(body).toString("utf8")).toBe('{"type":"click"}\n{"type":"page_view","url":"/ü"}');
  });

  it("splits a body into its lines, tolerating one trailing newline", () => {
    expect(splitBatch(Buffer.from('{"a":1}\n{"b":2}\n'))).toEqual(['{"a":1}', '{"b":2}']);
    expect(splitBatch(Buffer.from('{"a":1}'))).toEqual(['{"a":1}']);
    expect(splitBatch(new Uint8Array(0))).toEqual([]);
  });

  it("reads a body that is a view into a larger buffer (as NATS delivers it)", () => {
    const whole = Buffer.from('HEADER{"a":1}\n{"b":2}TRAILER');
    expect(splitBatch(whole.subarray(6, 6 + 15))).toEqual(['{"a":1}', '{"b":2}']);
  });

  it("round-trips any list of JSON-serialized values", () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { minLength: 1, maxLength: 30 }), (values) => {
        const lines = values.map((value) => JSON.stringify(value));
        expect(splitBatch(encodeBatch(lines))).toEqual(lines);
      }),
    );
  });
});
