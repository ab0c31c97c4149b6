// Utf8SegmentWriter against Buffer.from of the joined texts (the oracle): the same bytes, in segments of at most the size.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SEGMENT_BYTES, Utf8SegmentWriter, isEncodedJson, releaseEncoded, utf8Segments } from "../../src/runtime/utf8-segments.ts";

function joinedBytes(segments: readonly Uint8Array[]): Buffer {
  return Buffer.concat(segments.map((segment) => Buffer.from(segment.buffer, segment.byteOffset, segment.byteLength)));
}

describe("Utf8SegmentWriter", () => {
  it("gives the same bytes in segments of at most the segment size, characters split at any offset", () => {
    // Multi-byte characters (2, 3 and 4 bytes, surrogate pairs) land on every offset around the segment boundaries,
    // both in texts long enough to be encoded at once and in short ones joined before encoding.
    const long = "aé€😀".repeat(5_000) + "tail";
    const short = Array.from({ length: 3_000 }, (_, i) => ["é", "€😀", ",", `"k${i}":`][i % 4]);
    for (const segmentBytes of [4, 7, 64, 1000, SEGMENT_BYTES]) {
      const texts = ["{", long, "", "}", ...short, "😀".repeat(3)];
      const segments = utf8Segments(texts, segmentBytes);
      expect(segments.every((segment) => segment.byteLength <= segmentBytes && segment.byteLength > 0)).toBe(true);
      // Only a character that does not fit ends a segment early: each one but the last is within 3 bytes of full.
      expect(segments.slice(0, -1).every((segment) => segment.byteLength > segmentBytes - 4)).toBe(true);
      expect(joinedBytes(segments).equals(Buffer.from(texts.join(""), "utf8"))).toBe(true);
    }
    expect(utf8Segments([])).toEqual([]);
    expect(utf8Segments(["", ""])).toEqual([]);
  });

  it("property: any texts, byte for byte, at any segment size", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme", maxLength: 40 }), { maxLength: 40 }), fc.integer({ min: 4, max: 50 }), (texts, segmentBytes) => {
        const writer = new Utf8SegmentWriter(segmentBytes);
        for (const text of texts) writer.push(text);
        expect(joinedBytes(writer.finish()).equals(Buffer.from(texts.join(""), "utf8"))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("reuses released segments' buffers for later writers, each once, and empties the released state", () => {
    const text = (fill: string) => fill.repeat(2.5 * SEGMENT_BYTES);
    const first = { utf8: utf8Segments([text("a")]) };
    const buffers = new Set(first.utf8.map((segment) => segment.buffer));
    expect(buffers.size).toBe(3);
    releaseEncoded(first);
    // Released twice: its buffers must not come back twice (two writers would then share one).
    releaseEncoded(first);
    expect(first.utf8).toEqual([]);
    const later = [utf8Segments([text("b")]), utf8Segments([text("c")])];
    const laterBuffers = later.flat().map((segment) => segment.buffer);
    expect(new Set(laterBuffers).size).toBe(laterBuffers.length);
    expect(laterBuffers.filter((buffer) => buffers.has(buffer))).toHaveLength(3);
    expect(joinedBytes(later[0]).equals(Buffer.from(text("b")))).toBe(true);
    expect(joinedBytes(later[1]).equals(Buffer.from(text("c")))).toBe(true);
  });

  it("refuses segments too small for a character", () => {
    expect(() => new Utf8SegmentWriter(3)).toThrow(/cannot hold a character/);
  });

  it("isEncodedJson tells encoded state from text", () => {
    expect(isEncodedJson({ utf8: utf8Segments(["{}"]) })).toBe(true);
    expect(isEncodedJson("{}")).toBe(false);
    expect(isEncodedJson(["{", "}"])).toBe(false);
  });
});
