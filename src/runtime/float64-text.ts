// Number columns as text for checkpoints: little-endian float64 bytes in base64, exact for every double.
//
// Why: sessionize's checkpoint holds five numbers per retained event. As JSON numbers, turning doubles into decimal
// text was most of the 1.2–1.5 CPU s a checkpoint of the live bench's state (≈ 700k events) took on the main thread;
// with its long columns as base64 of their bytes it took a third less (bench/OPTIMIZATIONS.md, session 25).
import { endianness } from "node:os";

const LITTLE_ENDIAN = endianness() === "LE";

/** Reused by calls of up to 1 MiB (the text is copied out of it); larger ones get their own, freed after. */
const scratch = new Float64Array(1 << 17);

/**
 * Below this many numbers a column is at least as cheap as JSON numbers: each column's text costs a few native calls
 * (400,000 columns of 5 numbers read back in 424 ms as text, 263 ms as numbers; written and read, the two forms cost the
 * same at 20–30 numbers per column and text 15–20% less from 45 on, in-process). Checkpoints written in slices also walk
 * every number of a number array to size it (json-slices.ts), which text skips.
 */
const TEXT_FROM_VALUES = 30;

/** A copy of the numbers for a JSON checkpoint: as they are when few, else float64ToBase64 text; read with float64ColumnOf. */
export function float64Column(values: readonly number[]): number[] | string {
  return values.length < TEXT_FROM_VALUES ? values.slice() : float64ToBase64(values);
}

/** The numbers of a float64Column (either form). */
export function float64ColumnOf(column: readonly number[] | string): number[] {
  return typeof column === "string" ? base64ToFloat64(column) : column.slice();
}

/** The numbers as base64 of their float64 bytes, little-endian (8 bytes per number, 4/3 of that in text). */
export function float64ToBase64(values: readonly number[]): string {
  const count = values.length;
  const doubles = count > scratch.length ? new Float64Array(count) : scratch;
  const bytes = Buffer.from(doubles.buffer, 0, count * 8);
  if (LITTLE_ENDIAN) for (let i = 0; i < count; i++) doubles[i] = values[i];
  else for (let i = 0; i < count; i++) bytes.writeDoubleLE(values[i], i * 8);
  return bytes.toString("base64");
}

/** The numbers float64ToBase64 wrote; throws on text that is not base64 of a whole number of float64s. */
export function base64ToFloat64(text: string): number[] {
  const length = Buffer.byteLength(text, "base64");
  if (length % 8 !== 0) throw new Error(`float64 column: ${length} bytes is not a whole number of 8-byte values`);
  const count = length / 8;
  const doubles = count > scratch.length ? new Float64Array(count) : scratch;
  const bytes = Buffer.from(doubles.buffer, 0, length);
  // Characters outside base64 are skipped by the decoder: fewer bytes than the text's length implies is corrupt text.
  if (bytes.write(text, "base64") !== length) throw new Error("float64 column: the text is not base64");
  const values = new Array<number>(count);
  if (LITTLE_ENDIAN) for (let i = 0; i < count; i++) values[i] = doubles[i];
  else for (let i = 0; i < count; i++) values[i] = bytes.readDoubleLE(i * 8);
  return values;
}
