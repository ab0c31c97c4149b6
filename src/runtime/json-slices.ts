// JSON.stringify in slices of time, yielding to the event loop between them, for checkpoint state that must not stall
// a live worker: one JSON.stringify of 37 MB of sessionize state took 0.3–0.45 s on the 2-core machine, and the live
// bench's p99 latency went from 0.26 s to 1.1–1.3 s with a checkpoint every 10 s (bench/OPTIMIZATIONS.md, session 8).
import { setImmediate as yieldToEventLoop } from "node:timers/promises";

/** Time on the event loop per slice before yielding. */
const SLICE_MS = 8;
/** Values smaller than this (elements of arrays, keys of objects, roughly) are stringified in one call. */
const WHOLE_BELOW = 4096;

/**
 * The text JSON.stringify(value) gives, built piece by piece with the event loop free every SLICE_MS. The value must
 * not change meanwhile: operators' snapshots share nothing mutable with the operators (Operator.snapshot). Big arrays
 * and plain objects are walked; the rest (and any object with toJSON) goes through JSON.stringify whole.
 */
export async function stringifyInSlices(value: unknown, sliceMs = SLICE_MS): Promise<string> {
  const pieces: string[] = [];
  const slicer = { deadline: performance.now() + sliceMs, sliceMs };
  await write(value, pieces, slicer);
  return pieces.join("");
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

function walkable(value: unknown): value is unknown[] | Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return false;
  if (Array.isArray(value)) return true;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/**
 * A rough size, counted only up to `limit`: an array's elements and an object's keys, nested ones included, 1 for
 * anything else. Stops counting at the limit, so sizing a big value costs no more than sizing a small one.
 */
function sizeUpTo(value: unknown, limit: number): number {
  if (!walkable(value)) return 1;
  let size = 0;
  if (Array.isArray(value)) {
    size = value.length;
    for (let i = 0; i < value.length && size < limit; i++) if (typeof value[i] === "object") size += sizeUpTo(value[i], limit - size);
    return size;
  }
  for (const key in value) {
    size += 1;
    if (typeof value[key] === "object") size += sizeUpTo(value[key], limit - size);
    if (size >= limit) return size;
  }
  return size;
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

/** Appends value's JSON; false when value has none (undefined, a function, a symbol), as JSON.stringify leaves it out. */
async function write(value: unknown, pieces: string[], slicer: Slicer): Promise<boolean> {
  if (!walkable(value) || sizeUpTo(value, WHOLE_BELOW) < WHOLE_BELOW) {
    const text = JSON.stringify(value) as string | undefined;
    if (text === undefined) return false;
    pieces.push(text);
    return true;
  }
  if (Array.isArray(value)) {
    pieces.push("[");
    for (let i = 0; i < value.length; ) {
      if (i > 0) pieces.push(",");
      const end = endOfSmallRun(value, i);
      if (end === i) {
        await write(value[i], pieces, slicer);
        i++;
      } else {
        // A run of small elements in one call; JSON.stringify writes null for an element that has no JSON, as here.
        pieces.push(JSON.stringify(value.slice(i, end)).slice(1, -1));
        i = end;
      }
      await pause(slicer);
    }
    pieces.push("]");
    return true;
  }
  pieces.push("{");
  let first = true;
  for (const key of Object.keys(value)) {
    const mark = pieces.length;
    pieces.push(first ? "" : ",", JSON.stringify(key), ":");
    if (await write(value[key], pieces, slicer)) first = false;
    else pieces.length = mark;
    await pause(slicer);
  }
  pieces.push("}");
  return true;
}
