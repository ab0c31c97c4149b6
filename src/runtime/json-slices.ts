// JSON.stringify in slices of time, yielding to the event loop between them, for checkpoint state that must not stall
// a live worker: one JSON.stringify of 37 MB of sessionize state took 0.3–0.45 s on the 2-core machine, and the live
// bench's p99 latency went from 0.26 s to 1.1–1.3 s with a checkpoint every 10 s (bench/OPTIMIZATIONS.md, session 8).
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { Utf8SegmentWriter, type EncodedJson } from "./utf8-segments.ts";

/** Time on the event loop per slice before yielding. */
const SLICE_MS = 8;
/** Values smaller than this (elements of arrays, keys of objects, roughly) are stringified in one call. */
const WHOLE_BELOW = 4096;

/**
 * The text JSON.stringify(value) gives, built piece by piece with the event loop free every SLICE_MS. What the value
 * serializes to must not change meanwhile (Operator.snapshot: copies, or copy-on-write). Big arrays
 * and plain objects are walked; an object with toJSON is replaced by what that returns, in a slice of its own (where
 * checkpoint columns turn their numbers into text, float64-text.ts); anything else goes through JSON.stringify whole.
 */
export async function stringifyInSlices(value: unknown, sliceMs = SLICE_MS): Promise<string> {
  return (await stringifyPiecesInSlices(value, sliceMs)).join("");
}

/**
 * stringifyInSlices's text as its pieces, in order, not joined: a checkpoint's tens of MB joined into one string were a
 * stall of their own in the live worker (≈ 0.1 s for 43 MB), and the stores write pieces as well as one text.
 */
export async function stringifyPiecesInSlices(value: unknown, sliceMs = SLICE_MS): Promise<string[]> {
  const pieces: string[] = [];
  await write(value, "", pieces, { deadline: performance.now() + sliceMs, sliceMs });
  return pieces;
}

/**
 * stringifyInSlices's text encoded as UTF-8 piece by piece as it is made (what a worker hands its checkpoint store): no
 * piece outlives its slice, so the young generation does not copy tens of MB of text into the old one (utf8-segments.ts).
 */
export async function encodeInSlices(value: unknown, sliceMs = SLICE_MS): Promise<EncodedJson> {
  const writer = new Utf8SegmentWriter();
  await write(value, "", writer, { deadline: performance.now() + sliceMs, sliceMs });
  return { utf8: writer.finish() };
}

/** Where the text goes, piece by piece, in order. */
export interface JsonOutput {
  push(text: string): void;
}

/**
 * A value that writes its own JSON text, piece by piece (as TC39's JSON.rawJSON, which Node 20 lacks): json-slices calls
 * it instead of toJSON, whose text it must equal. Float64 chunks write their quotes and base64 text apart: a JSON.stringify
 * of the text scanned and copied its ≈ 45 MB per live checkpoint again, ≈ 50 ms (bench/OPTIMIZATIONS.md, session 29).
 */
export const WRITE_JSON: unique symbol = Symbol("clickpipe.writeJson");

export interface WritesJson {
  [WRITE_JSON](out: JsonOutput): void;
}

function writesJson(value: unknown): value is WritesJson {
  return typeof value === "object" && value !== null && typeof (value as Partial<WritesJson>)[WRITE_JSON] === "function";
}

interface Slicer {
  deadline: number;
  sliceMs: number;
}

async function pause(slicer: Slicer): Promise<void> {
  if (performance.now() < slicer.deadline) return;
  await yieldToEventLoop();
  slicer.deadline = performance.now() + slicer.sliceMs;
}

function hasToJson(value: unknown): value is { toJSON(key: string): unknown } {
  return typeof value === "object" && value !== null && typeof (value as { toJSON?: unknown }).toJSON === "function";
}

function walkable(value: unknown): value is unknown[] | Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  if (hasToJson(value)) return false;
  if (Array.isArray(value)) return true;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** Characters of a string counted as one unit of size: checkpoint text columns run to megabytes (float64-text.ts). */
const STRING_CHARACTERS_PER_UNIT = 1024;

/**
 * A rough size, counted only up to `limit`: an array's elements and an object's keys, nested ones included, a string
 * 1 per KiB of characters, 1 for anything else. Stops counting at the limit, so sizing a big value costs no more than
 * sizing a small one. Long strings count by length so that a few megabytes of text are a piece of their own.
 */
function sizeUpTo(value: unknown, limit: number): number {
  if (typeof value === "string") return 1 + Math.floor(value.length / STRING_CHARACTERS_PER_UNIT);
  // Unknown until called, and possibly costly: a slice of its own.
  if (hasToJson(value) || writesJson(value)) return limit;
  if (!walkable(value)) return 1;
  let size = 0;
  if (Array.isArray(value)) {
    size = value.length;
    for (let i = 0; i < value.length && size < limit; i++) size += nestedSize(value[i], limit - size);
    return size;
  }
  for (const key in value) {
    size += 1 + nestedSize(value[key], limit - size);
    if (size >= limit) return size;
  }
  return size;
}

/** What an element or a property value adds to its container's size beyond the 1 it counts for itself. */
function nestedSize(value: unknown, limit: number): number {
  if (typeof value === "object") return sizeUpTo(value, limit);
  if (typeof value === "string" && value.length >= STRING_CHARACTERS_PER_UNIT) return Math.floor(value.length / STRING_CHARACTERS_PER_UNIT);
  return 0;
}

/** The end of the run of small elements from `start` (`start` itself when that element is big), WHOLE_BELOW in all. */
function endOfSmallRun(array: readonly unknown[], start: number): number {
  let end = start;
  for (let size = 0; end < array.length && size < WHOLE_BELOW; end++) {
    const elementSize = sizeUpTo(array[end], WHOLE_BELOW);
    if (elementSize >= WHOLE_BELOW) break;
    size += elementSize;
  }
  return end;
}

/**
 * Appends value's JSON; false when value has none (undefined, a function, a symbol), as JSON.stringify leaves it out.
 * `key` is what JSON.stringify would pass to a toJSON: the property name, the element index, "" at the top.
 */
async function write(value: unknown, key: string, out: JsonOutput, slicer: Slicer): Promise<boolean> {
  if (writesJson(value)) {
    value[WRITE_JSON](out);
    return true;
  }
  // Unlike JSON.stringify, a toJSON that returns another object with toJSON has that one called too (no checkpoint
  // state does so).
  if (hasToJson(value)) return write(value.toJSON(key), key, out, slicer);
  if (!walkable(value) || sizeUpTo(value, WHOLE_BELOW) < WHOLE_BELOW) {
    const text = JSON.stringify(value) as string | undefined;
    if (text === undefined) return false;
    out.push(text);
    return true;
  }
  if (Array.isArray(value)) {
    out.push("[");
    for (let i = 0; i < value.length; ) {
      if (i > 0) out.push(",");
      const end = endOfSmallRun(value, i);
      if (end === i) {
        // An element without JSON is null in an array, as JSON.stringify writes it.
        if (!(await write(value[i], String(i), out, slicer))) out.push("null");
        i++;
      } else {
        // A run of small elements in one call; JSON.stringify writes null for an element that has no JSON, as here.
        out.push(JSON.stringify(value.slice(i, end)).slice(1, -1));
        i = end;
      }
      await pause(slicer);
    }
    out.push("]");
    return true;
  }
  out.push("{");
  let first = true;
  for (const key of Object.keys(value)) {
    // Decided before the key is written, as text once pushed may already be encoded: a property without JSON is left out.
    let property = value[key];
    while (hasToJson(property) && !writesJson(property)) property = property.toJSON(key);
    if (!hasJson(property)) continue;
    out.push(first ? JSON.stringify(key) + ":" : "," + JSON.stringify(key) + ":");
    await write(property, key, out, slicer);
    first = false;
    await pause(slicer);
  }
  out.push("}");
  return true;
}

/** Whether JSON.stringify gives a value text (it gives undefined for these three; a BigInt throws there as here). */
function hasJson(value: unknown): boolean {
  return value !== undefined && typeof value !== "function" && typeof value !== "symbol";
}
