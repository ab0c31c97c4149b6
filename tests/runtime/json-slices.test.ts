// stringifyInSlices against JSON.stringify itself (the oracle): the same text for any value, with the event loop run
// between slices.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WRITE_JSON, encodeInSlices, stringifyInSlices, stringifyPiecesInSlices, type JsonOutput } from "../../src/runtime/json-slices.ts";

/** encodeInSlices's segments as text. */
async function encodedText(value: unknown, sliceMs?: number): Promise<string> {
  return Buffer.concat((await encodeInSlices(value, sliceMs)).utf8).toString("utf8");
}

/** A checkpoint-shaped value: a big array of small objects, a big array of numbers, nested big arrays. */
function snapshotLike(visitors: number): Record<string, unknown> {
  return {
    format: 1,
    watermark: { current: "-Infinity", partitions: [[0, 1767577957482]] },
    pool: { strings: Array.from({ length: visitors }, (_, i) => `/c/shoes/p/${i}"\\\u2028`), refs: Array.from({ length: visitors }, (_, i) => i % 7) },
    visitors: Array.from({ length: visitors }, (_, i) => ({
      key: `demo-shop\u0001${i.toString(16)}`,
      events: Array.from({ length: 5 * (1 + (i % 9)) }, (_, k) => 1767577957482 + k * 0.5),
      sessions: [[3, 0, 1, true, 0, null, null, null]],
      tombstones: null,
      carriedUser: i % 3 === 0 ? `user-${i}` : null,
      scheduled: i % 5 === 0 ? null : 1767577957482 + i,
      dropped: undefined,
    })),
    nested: [Array.from({ length: 9000 }, (_, i) => [i, `s${i}`]), Array.from({ length: 10 }, () => Array.from({ length: 5000 }, (_, i) => i))],
    missing: undefined,
    holes: Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? undefined : () => i)),
  };
}

describe("stringifyInSlices", () => {
  it("gives JSON.stringify's text for any JSON value", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        expect(await stringifyInSlices(value)).toBe(JSON.stringify(value));
        expect(await encodedText(value)).toBe(JSON.stringify(value));
      }),
      { numRuns: 300 },
    );
  });

  it("gives JSON.stringify's text for big checkpoint-shaped state, leaving out what JSON leaves out", async () => {
    const value = { sessionize: snapshotLike(20_000), churnFeatures: { store: { ids: [] } } };
    expect(await stringifyInSlices(value, 0)).toBe(JSON.stringify(value));
    expect(await encodedText(value, 0)).toBe(JSON.stringify(value));
    expect(await stringifyInSlices({ toJSON: () => "custom", big: new Array(10_000).fill(1) })).toBe('"custom"');
    const withOwnToJson = Object.assign(new Array(10_000).fill(2), { toJSON: () => [1] });
    expect(await stringifyInSlices({ list: withOwnToJson, typed: new Int32Array(5000), date: new Date(0) })).toBe(
      JSON.stringify({ list: withOwnToJson, typed: new Int32Array(5000), date: new Date(0) }),
    );
  });

  it("lets the event loop run between slices", async () => {
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    try {
      // Nested as a pipeline's checkpoint state nests each operator's snapshot under its id.
      const text = await stringifyInSlices({ sessionize: snapshotLike(50_000), basket: { windows: [] } }, 1);
      expect(text.length).toBeGreaterThan(1_000_000);
    } finally {
      clearInterval(ticker);
    }
    expect(turns).toBeGreaterThan(0);
  });

  it("calls each toJSON as JSON.stringify does (its key, once) and writes what it returns, null for nothing in an array", async () => {
    const calls: string[] = [];
    const lazy = (result: unknown) => ({ toJSON: (key: string) => (calls.push(key), result) });
    const value = { a: lazy("x"), list: [1, lazy(undefined), lazy({ deep: [lazy(2)] })], gone: lazy(undefined), at: new Date(0) };
    const expected = JSON.stringify(value);
    const expectedCalls = calls.splice(0);
    expect(await stringifyInSlices(value, 0)).toBe(expected);
    expect(calls.splice(0)).toEqual(expectedCalls);
    expect(await encodedText(value, 0)).toBe(expected);
    expect(calls.splice(0)).toEqual(expectedCalls);
    // Properties left out at the start, in the middle and at the end: no stray comma where their keys would have been.
    const sparse = { a: lazy(undefined), b: 1, c: () => 2, d: lazy({ e: undefined, f: lazy(3) }), g: Symbol("g"), h: undefined };
    expect(await encodedText(sparse, 0)).toBe(JSON.stringify(sparse));
    expect(await stringifyInSlices(sparse, 0)).toBe(JSON.stringify(sparse));
    expect(await stringifyPiecesInSlices([lazy("A".repeat(5000)), lazy("B")], 0)).toEqual(["[", '"' + "A".repeat(5000) + '"', ",", '"B"', "]"]);
  });

  it("lets a value write its own JSON (WRITE_JSON) instead of calling its toJSON, in objects, arrays and at the top", async () => {
    let toJsonCalls = 0;
    const raw = (text: string) => ({
      toJSON: () => (toJsonCalls++, text),
      [WRITE_JSON]: (out: JsonOutput) => {
        out.push('"');
        out.push(text);
        out.push('"');
      },
    });
    const value = { a: raw("x".repeat(5000)), list: [raw("y"), 1, raw("")], nested: { b: raw("z") } };
    const expected = JSON.stringify(value);
    toJsonCalls = 0;
    expect(await stringifyInSlices(value, 0)).toBe(expected);
    expect(await encodedText(value, 0)).toBe(expected);
    expect(await encodedText(raw("top"), 0)).toBe('"top"');
    expect(toJsonCalls).toBe(0);
  });

  it("writes each string of megabytes in a slice of its own (a checkpoint's float64 text chunks)", async () => {
    const chunk = (fill: string) => fill.repeat(3_000_000);
    const value = { sessionize: { format: 3, visitors: { keys: ["a", "b"], events: { lengths: [1, 2], chunks: [chunk("A"), chunk("B"), chunk("C")] } } } };
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    let text: string;
    try {
      text = await stringifyInSlices(value, 0);
    } finally {
      clearInterval(ticker);
    }
    expect(text).toBe(JSON.stringify(value));
    // Sized by their characters, the three chunks are not one small run: the loop turns between them.
    expect(turns).toBeGreaterThanOrEqual(2);
  });
});
