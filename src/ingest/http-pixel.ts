// Image beacons (GET /v1/pixel.gif?type=…&ts=…): the query string as an event, answered with a 1×1 transparent GIF.
import { isUtf8 } from "node:buffer";
import { EVENT_FIELDS, ITEM_FIELDS } from "../events/fields.ts";

/** The classic 43-byte transparent 1×1 GIF89a. */
export const TRANSPARENT_GIF = Buffer.from("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==", "base64");

/**
 * Whether the query's percent-escapes decode to UTF-8. URLSearchParams turns other bytes (`%ff`) into U+FFFD without
 * a word, as decoding a body would; the request line itself is ASCII (Node refuses other bytes there with 400).
 */
export function queryIsUtf8(query: string): boolean {
  if (!query.includes("%")) return true;
  const bytes: number[] = [];
  for (let index = 0; index < query.length; index++) {
    const code = query.charCodeAt(index);
    if (code === 0x25 && index + 2 < query.length && isHex(query.charCodeAt(index + 1)) && isHex(query.charCodeAt(index + 2))) {
      bytes.push(Number.parseInt(query.slice(index + 1, index + 3), 16));
      index += 2;
    } else bytes.push(code & 0xff);
  }
  return isUtf8(Buffer.from(bytes));
}

function isHex(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}

const NUMERIC_KINDS: ReadonlySet<string> = new Set(["amount", "price", "quantity"]);

/**
 * A query string's parameters as a record. Query values are all text, so known numeric fields holding a number
 * ("12.50") become numbers, known booleans "true"/"false" become booleans, and `items` may be a JSON array; anything
 * else stays text and the decoder judges it. A repeated parameter keeps its last value.
 */
export function recordFromQuery(query: string): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [name, text] of new URLSearchParams(query)) record[name] = coerce(name, text);
  return record;
}

function coerce(name: string, text: string): unknown {
  const kind = EVENT_FIELDS[name];
  if (kind === undefined) return text;
  if (NUMERIC_KINDS.has(kind)) return numberOrText(text);
  if (kind === "boolean") return text === "true" ? true : text === "false" ? false : text;
  if (kind === "items" && text.startsWith("[")) {
    try {
      return numericItemFields(JSON.parse(text) as unknown);
    } catch {
      return text;
    }
  }
  return text;
}

function numberOrText(text: string): number | string {
  if (text.trim() === "") return text;
  const value = Number(text);
  return Number.isFinite(value) ? value : text;
}

/** Items sent as JSON keep JSON's types; only numeric text in known numeric item fields is converted. */
function numericItemFields(items: unknown): unknown {
  if (!Array.isArray(items)) return items;
  for (const item of items) {
    if (typeof item !== "object" || item === null) continue;
    const fields = item as Record<string, unknown>;
    for (const name in fields) {
      const kind = ITEM_FIELDS[name];
      const value = fields[name];
      if (kind !== undefined && NUMERIC_KINDS.has(kind) && typeof value === "string") fields[name] = numberOrText(value);
    }
  }
  return items;
}
