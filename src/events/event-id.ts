// Derived event ids: a SHA-256 of the record's canonical content, so re-sent copies of one record dedupe.
import { hash } from "node:crypto";

/** Length of a derived id: 22 base64url characters = 132 bits, collision-free at any realistic volume. */
export const DERIVED_EVENT_ID_LENGTH = 22;

/**
 * JSON with object keys sorted (recursively), so whitespace and key order do not change it.
 * Values that JSON.stringify leaves out (undefined, functions) are left out here too.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ",";
      const item: unknown = value[i];
      out += item === undefined || typeof item === "function" ? "null" : canonicalJson(item);
    }
    return out + "]";
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const field = record[key];
    if (field === undefined || typeof field === "function") continue;
    if (!first) out += ",";
    first = false;
    out += quotedKey(key) + canonicalJson(field);
  }
  return out + "}";
}

const QUOTED_KEYS = new Map<string, string>();
const MAX_CACHED_KEYS = 1024;

/** `"key":` — cached, since records repeat the same few field names. */
function quotedKey(key: string): string {
  let quoted = QUOTED_KEYS.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key) + ":";
    if (QUOTED_KEYS.size < MAX_CACHED_KEYS) QUOTED_KEYS.set(key, quoted);
  }
  return quoted;
}

/**
 * The dedupe key of a record without its own `event_id`: SHA-256 over its canonical JSON with `ts` as epoch
 * milliseconds and without `event_id` and `received_at` (a retried delivery of the same record gets a new
 * `received_at` but is the same event; the same instant written as ISO or epoch ms is the same event).
 */
export function deriveEventId(record: Record<string, unknown>, tsEpochMs: number): string {
  const keys = Object.keys(record).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    if (key === "event_id" || key === "received_at") continue;
    const field = key === "ts" ? tsEpochMs : record[key];
    if (field === undefined || typeof field === "function") continue;
    if (!first) out += ",";
    first = false;
    out += quotedKey(key) + canonicalJson(field);
  }
  out += "}";
  // crypto.hash: the same SHA-256 as createHash without a Hash object per record.
  return hash("sha256", out, "base64url").slice(0, DERIVED_EVENT_ID_LENGTH);
}

/**
 * The identity of line `lineNumber` of a file: SHA-256 over the number and the raw text. An access-log line's event id,
 * and a rejected file line's dead-letter id: the same file published again gives the same ids, whatever the instance,
 * and two identical lines stay two records.
 */
export function fileLineId(lineNumber: number, line: string): string {
  return hash("sha256", `${lineNumber}\n${line}`, "base64url").slice(0, DERIVED_EVENT_ID_LENGTH);
}

/**
 * A file line's dead-letter id within the bytes a publish batch prefix names (ChunkIds: the file's content up to the
 * line's piece, and the options): the same file published again, under any name, gives the same ids, while the same
 * bad line at the same number of another file (daily exports that each start with "{") is another record.
 */
export function idWithinBytes(msgIdPrefix: string, lineId: string): string {
  return hash("sha256", `${msgIdPrefix}\n${lineId}`, "base64url").slice(0, DERIVED_EVENT_ID_LENGTH);
}
