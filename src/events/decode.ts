// Edge validation: one raw record (an NDJSON line or a parsed JSON value) to a ClickEvent or a dead-letter reason.
import type { InvalidReason } from "../metrics/labels.ts";
import { EVENT_TYPES, type ClickEvent, type EventType, type PurchaseItem } from "./event.ts";
import { deriveEventId } from "./event-id.ts";
import { operatorEvent, shapedEvent } from "./event-shape.ts";
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
/**
 * The deepest nesting an event may have (the record itself is level 1). JSON.parse takes any depth, but the derived
 * event id and JSON.stringify recurse per level: 15,000 levels fit in 32 KiB and overflowed the stack, which crashed the
 * worker on every restart. Events are flat; 64 leaves room for any custom properties.
 */
export const MAX_NESTING_DEPTH = 64;

export type DecodeResult =
  | { ok: true; event: ClickEvent }
  | { ok: false; reason: InvalidReason; message: string };

/** A record decodeRecord rejects: the dead-letter reason and message. */
export type DecodeFailure = Extract<DecodeResult, { ok: false }>;

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
 * One line as the worker decodes it: the event in the operators' shape (event-shape.ts), or decodeRecord's failure.
 * The common valid line takes decodeOperatorEvent's one pass; any other decodeRecord's, then operatorEvent.
 */
export function decodeForOperators(raw: string, receivedAt: number): ClickEvent | DecodeFailure {
  const event = decodeOperatorEvent(raw, receivedAt);
  if (event !== undefined) return event;
  const decoded = decodeRecord(raw, receivedAt);
  return decoded.ok ? operatorEvent(decoded.event) : decoded;
}

/** Whether decodeForOperators rejected the line (a shaped event has no `ok` field). */
export function isDecodeFailure(result: ClickEvent | DecodeFailure): result is DecodeFailure {
  return result.ok === false;
}

/**
 * decodeRecord followed by operatorEvent (event-shape.ts) for the valid lines that carry their event_id, in one pass
 * over the record's keys: returns the event in the operators' shape, or undefined when the line is not one of those;
 * then decodeRecord decides (an invalid line's reason is its to give; a derived event_id its to make).
 *
 * Why a second path: decodeRecord loads every known field by name from JSON.parse's object (a megamorphic load, the
 * objects' hidden classes vary with key order and optional fields), adds `received_at` to it and changes `ts`, and
 * operatorEvent loads every field again. Here each own key is read once (for-in over a fast-mode object reads by its
 * enum cache) and dispatched by a switch on the internalized key; the record stays as JSON.parse made it, and
 * decodedEventOf normalizes it only when something keeps the whole record (late and bot rows). In one process over
 * the generator's lines: 2.77 → 2.29 µs per event, JSON.parse alone 1.91 (bench/OPTIMIZATIONS.md, session 11).
 */
export function decodeOperatorEvent(raw: string, receivedAt: number): ClickEvent | undefined {
  if (raw.length * 3 > MAX_EVENT_BYTES) return undefined; // the exact byte count is decodeRecord's
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  let type: unknown;
  let ts: unknown;
  let eventId: string | undefined;
  let anonId: string | undefined;
  let userId: string | undefined;
  let siteId: string | undefined;
  let received: number | undefined;
  let ip: string | undefined;
  let ua: string | undefined;
  let url: string | undefined;
  let referrer: string | undefined;
  let title: string | undefined;
  let sku: string | undefined;
  let price: number | undefined;
  let qty: number | undefined;
  let orderId: string | undefined;
  let revenue: number | undefined;
  let currency: string | undefined;
  let items: PurchaseItem[] | undefined;
  let isBot: boolean | undefined;
  let pageItem: string | undefined;
  // Each case holds its field's kind (fields.ts EVENT_FIELDS; a test keeps the two in step). JSON null is absent.
  for (const name in record) {
    const field = record[name];
    switch (name) {
      case "type":
        type = field;
        break;
      case "ts":
        ts = field;
        break;
      case "event_id":
        if (typeof field === "string" && field !== "") eventId = field;
        else if (field !== null) return undefined;
        break;
      case "anon_id":
        if (typeof field === "string" && field !== "") anonId = field;
        else if (field !== null) return undefined;
        break;
      case "user_id":
        if (typeof field === "string" && field !== "") userId = field;
        else if (field !== null) return undefined;
        break;
      case "site_id":
        if (typeof field === "string" && field !== "") siteId = field;
        else if (field !== null) return undefined;
        break;
      case "received_at":
        if (field !== null) {
          received = parseEventTime(field);
          if (received === undefined) return undefined;
        }
        break;
      case "ip":
        if (typeof field === "string") ip = field;
        else if (field !== null) return undefined;
        break;
      case "ua":
        if (typeof field === "string") ua = field;
        else if (field !== null) return undefined;
        break;
      case "url":
        if (typeof field === "string") url = field;
        else if (field !== null) return undefined;
        break;
      case "referrer":
        if (typeof field === "string") referrer = field;
        else if (field !== null) return undefined;
        break;
      case "title":
        if (typeof field === "string") title = field;
        else if (field !== null) return undefined;
        break;
      case "sku":
        if (typeof field === "string" && field !== "") sku = field;
        else if (field !== null) return undefined;
        break;
      case "price":
        if (typeof field === "number" && field >= 0 && field !== Infinity) price = field;
        else if (field !== null) return undefined;
        break;
      case "qty":
        if (typeof field === "number" && field > 0 && field !== Infinity) qty = field;
        else if (field !== null) return undefined;
        break;
      case "order_id":
        if (typeof field === "string" && field !== "") orderId = field;
        else if (field !== null) return undefined;
        break;
      case "revenue":
        if (typeof field === "number" && Number.isFinite(field)) revenue = field;
        else if (field !== null) return undefined;
        break;
      case "currency":
        if (typeof field === "string") currency = field;
        else if (field !== null) return undefined;
        break;
      case "items":
        if (Array.isArray(field) && !nestedDeeperThan(field, MAX_NESTING_DEPTH - 1)) items = field as PurchaseItem[];
        else if (field !== null) return undefined;
        break;
      case "is_bot":
        if (typeof field === "boolean") isBot = field;
        else if (field !== null) return undefined;
        break;
      case "page_item":
        if (typeof field === "string") pageItem = field;
        else if (field !== null) return undefined;
        break;
      default:
        // Unknown fields pass through; one nested too deep goes to decodeRecord, which rejects it.
        if (typeof field === "object" && field !== null && nestedDeeperThan(field, MAX_NESTING_DEPTH - 1)) return undefined;
    }
  }
  if (typeof type !== "string" || !KNOWN_TYPES.has(type) || eventId === undefined) return undefined;
  const tsEpochMs = ts === null ? undefined : parseEventTime(ts);
  if (tsEpochMs === undefined) return undefined;
  if (anonId === undefined && userId === undefined) return undefined;
  const eventType = type as EventType;
  switch (eventType) {
    case "page_view":
      if (url === undefined || url === "") return undefined;
      break;
    case "add_to_cart":
      if (sku === undefined) return undefined;
      break;
    case "purchase":
      if (orderId === undefined || revenue === undefined) return undefined;
      break;
    case "identify":
      if (anonId === undefined || userId === undefined) return undefined;
      break;
    case "click":
      break;
  }
  // Items' own null fields are removed here, as decodeRecord removes them: the array is shared with the record.
  if (items !== undefined && checkItems(items, eventType) !== undefined) return undefined;
  return shapedEvent(
    eventType,
    tsEpochMs,
    eventId,
    anonId,
    userId,
    siteId,
    received ?? receivedAt,
    ip,
    ua,
    url,
    referrer,
    title,
    sku,
    price,
    qty,
    orderId,
    revenue,
    currency,
    items,
    isBot,
    pageItem,
    record as ClickEvent,
  );
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
  for (const key in record) {
    const field = record[key];
    if (typeof field === "object" && field !== null && nestedDeeperThan(field, MAX_NESTING_DEPTH - 1)) {
      return invalid("too_large", `${key}: nested deeper than the ${MAX_NESTING_DEPTH}-level limit`);
    }
  }

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

/** Whether `value` holds objects or arrays more than `levels` deep (bounded recursion: at most `levels` frames). */
function nestedDeeperThan(value: unknown, levels: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (levels <= 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (nestedDeeperThan(item, levels - 1)) return true;
    return false;
  }
  for (const key in value) if (nestedDeeperThan((value as Record<string, unknown>)[key], levels - 1)) return true;
  return false;
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
    // JSON.parse reads 1e400 as Infinity, which JSON.stringify would show as null.
    text = typeof value === "number" && !Number.isFinite(value) ? String(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > MAX_SHOWN_VALUE ? `${text.slice(0, MAX_SHOWN_VALUE)}…` : text;
}
