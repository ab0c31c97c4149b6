// Dead letters on `<S>.dlq`: one JSON object per line, so one DLQ message may carry many.
import { MAX_EPOCH_MS } from "../events/time.ts";
import { encodeBatch, splitBatch } from "./batch-codec.ts";

export type DeadLetter = {
  /** Epoch milliseconds when the rejected record was received. */
  received_at: number;
  /** Why it was rejected (an invalid-reason code, optionally with detail). */
  reason: string;
  /** The rejected record as received (its first MAX_DEAD_LETTER_RAW characters). */
  raw: string;
  /** Who rejected it: publish, http, access_log, worker, ... */
  source: string;
  /**
   * false when the process that rejected it serves no metrics (`clickpipe publish`): the worker that writes it to
   * invalid_events counts it in clickpipe_events_invalid_total. Absent: the rejecting process counted it.
   */
  counted?: boolean;
  /**
   * The rejected record's identity where its source has one (a file's line: fileLineId; from `clickpipe publish`
   * within its batch prefix, idWithinBytes), so the worker writes a letter sent again after the stream's duplicate
   * window once. Absent for a collector's request: two identical bad requests are two dead letters.
   */
  id?: string;
};

/**
 * At most this many characters of a rejected record are kept as its raw text: a 2 MB line would not fit a message
 * (the server's max_payload), and the publish or the tailer would retry it forever. The reason keeps its full size.
 */
export const MAX_DEAD_LETTER_RAW = 32 * 1024;

/** The raw text a dead letter keeps of a record: its first MAX_DEAD_LETTER_RAW characters. */
export function deadLetterRaw(raw: string): string {
  return raw.length > MAX_DEAD_LETTER_RAW ? raw.slice(0, MAX_DEAD_LETTER_RAW) : raw;
}

export function encodeDeadLetter(letter: DeadLetter): string {
  return JSON.stringify({
    received_at: letter.received_at,
    reason: letter.reason,
    raw: letter.raw,
    source: letter.source,
    ...(letter.counted === false && { counted: false }),
    ...(letter.id !== undefined && { id: letter.id }),
  });
}

export function encodeDeadLetters(letters: readonly DeadLetter[]): Uint8Array {
  return encodeBatch(letters.map(encodeDeadLetter));
}

/** Parses one dead-letter line; throws a DeadLetterFormatError naming the missing field when it is not one. */
export function decodeDeadLetter(line: string): DeadLetter {
  const value: unknown = JSON.parse(line);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DeadLetterFormatError("a dead letter must be a JSON object");
  }
  const record = value as Record<string, unknown>;
  if (typeof record.received_at !== "number") throw new DeadLetterFormatError("received_at must be a number");
  // Its day names the invalid_events partition: a value no date has (1e300) made the worker fail on every restart.
  if (!(record.received_at >= 0 && record.received_at <= MAX_EPOCH_MS)) {
    throw new DeadLetterFormatError(`received_at must be epoch milliseconds from 1970 to 9999, got ${record.received_at}`);
  }
  if (typeof record.reason !== "string") throw new DeadLetterFormatError("reason must be a string");
  if (typeof record.raw !== "string") throw new DeadLetterFormatError("raw must be a string");
  return {
    received_at: record.received_at,
    reason: record.reason,
    raw: record.raw,
    source: typeof record.source === "string" ? record.source : "unknown",
    ...(record.counted === false && { counted: false }),
    ...(typeof record.id === "string" && record.id.length > 0 && { id: record.id }),
  };
}

export function decodeDeadLetters(data: Uint8Array): DeadLetter[] {
  return splitBatch(data).map(decodeDeadLetter);
}

export class DeadLetterFormatError extends Error {
  override name = "DeadLetterFormatError";
}
