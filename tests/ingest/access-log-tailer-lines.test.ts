// splitCompleteLines: which bytes of a growing log file are complete lines, and the offsets a tailer saves.
import { describe, expect, it } from "vitest";
import { splitCompleteLines } from "../../src/ingest/tailer-lines.ts";

const split = (text: string, base: number, options: { final?: boolean; full?: boolean } = {}) => {
  const bytes = Buffer.from(text, "utf8");
  return splitCompleteLines(bytes, bytes.length, base, { final: options.final ?? false, full: options.full ?? false });
};

describe("splitCompleteLines", () => {
  it("returns each newline-terminated line with the file offsets of its first byte and of the byte after its newline", () => {
    expect(split("ab\ncde\n", 100)).toEqual({
      lines: [
        { text: "ab", start: 100, end: 103 },
        { text: "cde", start: 103, end: 107 },
      ],
      consumed: 7,
    });
  });

  it("reads a line that is not UTF-8 as Latin-1, byte for byte, and UTF-8 lines as UTF-8", () => {
    const bytes = Buffer.concat([Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a]), Buffer.from("café\n", "utf8")]);
    const { lines } = splitCompleteLines(bytes, bytes.length, 0, { final: false, full: false });
    expect(lines.map((line) => line.text)).toEqual(["café", "café"]);
  });

  it("leaves a partial last line unconsumed so the next read starts at its first byte", () => {
    expect(split("ab\ncd", 0)).toEqual({ lines: [{ text: "ab", start: 0, end: 3 }], consumed: 3 });
    expect(split("no newline yet", 0)).toEqual({ lines: [], consumed: 0 });
  });

  it("sends the unterminated last line of a file that will not grow (rotated away)", () => {
    expect(split("ab\ncd", 10, { final: true })).toEqual({
      lines: [
        { text: "ab", start: 10, end: 13 },
        { text: "cd", start: 13, end: 15 },
      ],
      consumed: 5,
    });
  });

  it("makes a line longer than the whole read buffer a line of its own instead of waiting forever", () => {
    expect(split("xxxxxxxx", 0, { full: true })).toEqual({ lines: [{ text: "xxxxxxxx", start: 0, end: 8 }], consumed: 8 });
    // A full buffer that holds a newline is split normally: the tail is read again from its start.
    expect(split("ab\nxxxxx", 0, { full: true })).toEqual({ lines: [{ text: "ab", start: 0, end: 3 }], consumed: 3 });
  });

  it("drops the \\r of CRLF line ends from the text but counts it in the offsets", () => {
    expect(split("ab\r\n\r\n", 0)).toEqual({
      lines: [
        { text: "ab", start: 0, end: 4 },
        { text: "", start: 4, end: 6 },
      ],
      consumed: 6,
    });
  });

  it("counts offsets in bytes, not characters, for UTF-8 text", () => {
    expect(split("é\nß\n", 0).lines.map((line) => [line.text, line.start, line.end])).toEqual([
      ["é", 0, 3],
      ["ß", 3, 6],
    ]);
  });

  it("ignores bytes past `length` in a reused buffer", () => {
    const bytes = Buffer.from("ab\ncd\nef\n", "utf8");
    expect(splitCompleteLines(bytes, 4, 0, { final: false, full: false })).toEqual({ lines: [{ text: "ab", start: 0, end: 3 }], consumed: 3 });
  });
});
