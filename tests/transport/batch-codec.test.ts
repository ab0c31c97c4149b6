import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { detachedLine, encodeBatch, splitBatch } from "../../src/transport/batch-codec.ts";

const BATCH_CODEC = fileURLToPath(new URL("../../src/transport/batch-codec.ts", import.meta.url));

/** MB of heap still used, after full collections, while a child keeps the first line of 20 bodies of 1 MB each. */
function heapKeptByFirstLines(detach: boolean): number {
  const script = `
    const { detachedLine, splitBatch } = await import(${JSON.stringify(BATCH_CODEC)});
    const body = () => Buffer.from([JSON.stringify({ type: "purchase", order_id: String(Math.random()) }), ...Array(20_000).fill("x".repeat(50))].join(String.fromCharCode(10)));
    globalThis.gc();
    const before = process.memoryUsage().heapUsed;
    const kept = [];
    for (let i = 0; i < 20; i++) {
      const first = splitBatch(body())[0];
      kept.push(${detach} ? detachedLine(first) : first);
    }
    globalThis.gc();
    globalThis.gc();
    console.log(JSON.stringify({ kept: kept.length, mb: (process.memoryUsage().heapUsed - before) / 1e6 }));`;
  const child = spawnSync(process.execPath, ["--import", "tsx", "--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  expect(child.status, child.stderr).toBe(0);
  const result = JSON.parse(child.stdout.trim().split("\n").pop()!) as { kept: number; mb: number };
  expect(result.kept).toBe(20);
  return result.mb;
}

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

  it("detaches a line from its body: the same text, without keeping the body alive", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme" }), { minLength: 1, maxLength: 10 }), (texts) => {
        const lines = texts.map((text) => JSON.stringify(text));
        expect(splitBatch(encodeBatch(lines)).map(detachedLine)).toEqual(lines);
      }),
    );
    // V8 cuts a line of 13 or more characters as a view into the body's text: 20 kept lines kept 20 MB of bodies.
    expect(heapKeptByFirstLines(false)).toBeGreaterThan(15);
    expect(heapKeptByFirstLines(true)).toBeLessThan(2);
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
