// Edge validation: one raw record (an NDJSON line or a parsed JSON value) to a ClickEvent or a dead-letter reason.
import type { InvalidReason } from "../metrics/labels.ts";
import { EVENT_TYPES, type ClickEvent, type EventType } from "./event.ts";
import { deriveEventId } from "./event-id.ts";
import {
  EVENT_FIELDS,
  ITEM_FIELDS,
  KIND_EXPECTATIONS,
  NON_EMPTY_REQUIRED,
  REQUIRED_FIELDS,
  TS_EXPECTATION,
  type FieldKind,
} from "./fields.ts";
import { parseEventTime } from "./time.ts";

/** 32 KiB per event (ARCHITECTURE.md "Events"), counted in UTF-8 bytes of the raw record; exactly 32768 is allowed. */
export const MAX_EVENT_BYTES = 32 * 1024;

export type DecodeResult =
  | { ok: true; event: ClickEvent }
  | { ok: false; reason: InvalidReason; message: string };

const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);
const EVENT_FIELD_KINDS: ReadonlyMap<string, FieldKind> = new Map(Object.entries(EVENT_FIELDS));
const ITEM_FIELD_KINDS: ReadonlyMap<string, FieldKind> = new Map(Object.entries(ITEM_FIELDS));
const MAX_SHOWN_VALUE = 60;

/**
 * Decodes one raw record. Checks, in order, and the first failure is the reason:
 * too_large (> 32 KiB of UTF-8) · not_json · not_object (arrays included: a line is one record, never a batch) ·
 * missing_field for a missing `type`, unknown_type for any other value · missing_field / bad_ts for `ts` ·
 * missing_field for a type's required fields and for having neither anon_id nor user_id · bad_field for a known
 * field of the wrong kind. JSON null counts as absent and is removed. Never throws.
 */
export function decodeRecord(raw: string, receivedAt: number): DecodeResult {
  const byteLength = byteLengthForLimit(raw);
  if (byteLength > MAX_EVENT_BYTES) return tooLarge(byteLength);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return invalid("not_json", `not JSON: ${(error as Error).message}`);
  }
  return validateRecord(value, byteLength, receivedAt);
}

/**
 * Validates a record already parsed from JSON (the HTTP collector parses a batch array first) and normalizes it
 * in place into the returned event: `ts` to epoch ms, `received_at` to epoch ms (set to `receivedAt` when
 * absent), `event_id` derived from the content when absent, null fields removed. `rawLength` is the record's
 * size in UTF-8 bytes, for the 32 KiB limit.
 */
export function validateRecord(value: unknown, rawLength: number, receivedAt: number): DecodeResult {
  if (rawLength > MAX_EVENT_BYTES) return tooLarge(rawLength);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid("not_object", `expected a JSON object, got ${describeKind(value)}`);
  }
  const record = value as Record<string, unknown>;

  const type = record.type;
  if (type === undefined || type === null) {
    return invalid("missing_field", `type: required, one of ${EVENT_TYPES.join(", ")}`);
  }
  if (typeof type !== "string" || !KNOWN_TYPES.has(type)) {
    return invalid("unknown_type", `type: expected one of ${EVENT_TYPES.join(", ")}, got ${show(type)}`);
  }
  const eventType = type as EventType;

  const ts = record.ts;
  if (ts === undefined || ts === null) return invalid("missing_field", `${eventType}.ts: required`);
  const tsEpochMs = parseEventTime(ts);
  if (tsEpochMs === undefined) return invalid("bad_ts", `${eventType}.ts: expected ${TS_EXPECTATION}, got ${show(ts)}`);

  if (!knownEventFieldsValid(record)) {
    // Something to report or a null to remove: the exact walk in key order finds the first problem.
    const fieldProblem = checkFields(record, EVENT_FIELD_KINDS, eventType);
    if (fieldProblem !== undefined) return invalid("bad_field", fieldProblem);
  }

  for (const name of REQUIRED_FIELDS[eventType]) {
    const field = record[name];
    if (field === undefined) return invalid("missing_field", `${eventType}.${name}: required`);
    if (field === "" && NON_EMPTY_REQUIRED.has(name)) {
      return invalid("bad_field", `${eventType}.${name}: expected a non-empty string, got ""`);
    }
  }
  if (record.anon_id === undefined && record.user_id === undefined) {
    return invalid("missing_field", `${eventType}: requires anon_id or user_id`);
  }

  const items = record.items;
  if (items !== undefined) {
    const itemProblem = checkItems(items as unknown[], eventType);
    if (itemProblem !== undefined) return invalid("bad_field", itemProblem);
  }

  const received = record.received_at;
  record.received_at = received === undefined ? receivedAt : parseEventTime(received);
  if (record.event_id === undefined) record.event_id = deriveEventId(record, tsEpochMs);
  record.ts = tsEpochMs;
  return { ok: true, event: record as ClickEvent };
}

/**
 * Checks the known fields' kinds and removes null ones; returns the first problem's message. Walks the record's
 * own keys (about ten) rather than the known-field table, so unknown and absent fields cost nothing.
 */
function checkFields(record: Record<string, unknown>, kinds: ReadonlyMap<string, FieldKind>, prefix: string): string | undefined {
  for (const name in record) {
    const kind = kinds.get(name);
    if (kind === undefined) continue;
    const field = record[name];
    if (field === null) {
      delete record[name];
      continue;
    }
    if (!matchesKind(kind, field)) return `${prefix}.${name}: expected ${KIND_EXPECTATIONS[kind]}, got ${show(field)}`;
  }
  return undefined;
}

/** matchesKind as a JS expression over `value`, for the compiled fast check (keep the two in step). */
const KIND_TESTS: Readonly<Record<FieldKind, string>> = {
  string: `typeof value === "string"`,
  id: `typeof value === "string" && value.length > 0`,
  amount: `typeof value === "number" && Number.isFinite(value)`,
  price: `typeof value === "number" && value >= 0 && value !== Infinity`,
  quantity: `typeof value === "number" && value > 0 && value !== Infinity`,
  boolean: `typeof value === "boolean"`,
  instant: `parseEventTime(value) !== undefined`,
  items: `Array.isArray(value)`,
};

/**
 * A check specialised to one field table: true when every known field present holds its kind (null included as a
 * failure). One named load per known field, which stays monomorphic on the shape JSON.parse gives records with the
 * same keys, instead of checkFields' for-in with a keyed load and a Map lookup per own key (the common, valid case).
 * Names are embedded as JSON string literals.
 */
function compileKnownFieldsCheck(fields: Readonly<Record<string, FieldKind>>): (record: Record<string, unknown>) => boolean {
  const statements = Object.entries(fields).map(
    ([name, kind]) => `value = record[${JSON.stringify(name)}];\nif (value !== undefined && !(${KIND_TESTS[kind]})) return false;`,
  );
  const body = `"use strict"; return function knownFieldsValid(record) {\nlet value;\n${statements.join("\n")}\nreturn true;\n};`;
  return new Function("parseEventTime", body)(parseEventTime) as (record: Record<string, unknown>) => boolean;
}

const knownEventFieldsValid = compileKnownFieldsCheck(EVENT_FIELDS);

function checkItems(items: unknown[], eventType: EventType): string | undefined {
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const prefix = `${eventType}.items[${i}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      return `${prefix}: expected an object, got ${show(item)}`;
    }
    const problem = checkFields(item as Record<string, unknown>, ITEM_FIELD_KINDS, prefix);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function matchesKind(kind: FieldKind, value: unknown): boolean {
  switch (kind) {
    case "string":
      return typeof value === "string";
    case "id":
      return typeof value === "string" && value.length > 0;
    case "amount":
      return typeof value === "number" && Number.isFinite(value);
    case "price":
      return typeof value === "number" && value >= 0 && value !== Infinity;
    case "quantity":
      return typeof value === "number" && value > 0 && value !== Infinity;
    case "boolean":
      return typeof value === "boolean";
    case "instant":
      return parseEventTime(value) !== undefined;
    case "items":
      return Array.isArray(value); // the items themselves are checked by checkItems
  }
}

/**
 * The UTF-8 size as far as the limit needs it: exact whenever the text could exceed the limit, otherwise a lower
 * bound, which skips the count for typical lines (UTF-8 takes one to three bytes per UTF-16 code unit).
 */
function byteLengthForLimit(text: string): number {
  if (text.length * 3 <= MAX_EVENT_BYTES) return text.length;
  return Buffer.byteLength(text, "utf8");
}

function tooLarge(byteLength: number): DecodeResult {
  return invalid("too_large", `record is ${byteLength} bytes, over the ${MAX_EVENT_BYTES}-byte limit`);
}

function invalid(reason: InvalidReason, message: string): DecodeResult {
  return { ok: false, reason, message };
}

function describeKind(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  return `a ${typeof value} (${show(value)})`;
}

function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_SHOWN_VALUE ? `${text.slice(0, MAX_SHOWN_VALUE)}…` : text;
}
