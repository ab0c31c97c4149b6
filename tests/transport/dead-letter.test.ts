import { describe, expect, it } from "vitest";
import {
  DeadLetterFormatError,
  decodeDeadLetter,
  decodeDeadLetters,
  encodeDeadLetter,
  encodeDeadLetters,
} from "../../src/transport/dead-letter.ts";

describe("dead letters", () => {
  const letter = { received_at: 1_700_000_000_123, reason: "not_json", raw: '{"broken\n', source: "publish" };

  it("encodes one dead letter as one JSON line (the raw record's newline escaped)", () => {
    const line = encodeDeadLetter(letter);
    expect(line).not.toContain("\n");
    expect(JSON.parse(line)).toEqual(letter);
  });

  it("carries many dead letters in one message and reads them back in order", () => {
    const second = { received_at: 5, reason: "bad_ts", raw: '{"ts":-1}', source: "worker" };
    expect(decodeDeadLetters(encodeDeadLetters([letter, second]))).toEqual([letter, second]);
  });

  it("carries counted: false for a letter nobody counted yet, and nothing for one already counted", () => {
    const uncounted = { ...letter, counted: false };
    expect(JSON.parse(encodeDeadLetter(uncounted))).toEqual(uncounted);
    expect(decodeDeadLetter(encodeDeadLetter(uncounted))).toEqual(uncounted);
    expect(encodeDeadLetter({ ...letter, counted: true })).toBe(encodeDeadLetter(letter));
    expect(decodeDeadLetter(encodeDeadLetter(letter))).not.toHaveProperty("counted");
  });

  it("rejects lines that are not dead letters, naming the field", () => {
    expect(() => decodeDeadLetter('{"reason":"x","raw":"y"}')).toThrow(DeadLetterFormatError);
    expect(() => decodeDeadLetter('{"received_at":1,"raw":"y"}')).toThrow("reason must be a string");
    expect(() => decodeDeadLetter("[1]")).toThrow("must be a JSON object");
    for (const receivedAt of [1e300, -1, 253402300800000]) {
      expect(() => decodeDeadLetter(JSON.stringify({ received_at: receivedAt, reason: "x", raw: "y" }))).toThrow(
        `received_at must be epoch milliseconds from 1970 to 9999, got ${receivedAt}`,
      );
    }
  });
});
