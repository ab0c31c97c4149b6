// Number columns as text for checkpoints: little-endian float64 bytes in base64, exact for every double.
//
// Why: sessionize's checkpoint holds five numbers per retained event. As JSON numbers, turning doubles into decimal
// text was most of the 1.2–1.5 CPU s a checkpoint of the live bench's state (≈ 700k events) took on the main thread;
// with its long columns as base64 of their bytes it took a third less (bench/OPTIMIZATIONS.md, session 25).
import { endianness } from "node:os";
import { WRITE_JSON, type JsonOutput } from "./json-slices.ts";

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
export function float64ToBase64(values: ArrayLike<number>): string {
  const count = values.length;
  const doubles = count > scratch.length ? new Float64Array(count) : scratch;
  const bytes = Buffer.from(doubles.buffer, 0, count * 8);
  if (LITTLE_ENDIAN) for (let i = 0; i < count; i++) doubles[i] = values[i];
  else for (let i = 0; i < count; i++) bytes.writeDoubleLE(values[i], i * 8);
  return bytes.toString("base64");
}

/** The numbers float64ToBase64 wrote; throws on text that is not base64 of a whole number of float64s. */
export function base64ToFloat64(text: string): number[] {
  const doubles = decodeFloat64(text);
  const values = new Array<number>(doubles.length);
  for (let i = 0; i < doubles.length; i++) values[i] = doubles[i];
  return values;
}

/**
 * The numbers of float64ToBase64's text in native byte order, in a reused buffer when they fit (valid until the next
 * call); throws on text that is not base64 of a whole number of float64s.
 */
function decodeFloat64(text: string): Float64Array {
  const length = Buffer.byteLength(text, "base64");
  if (length % 8 !== 0) throw new Error(`float64 column: ${length} bytes is not a whole number of 8-byte values`);
  const count = length / 8;
  const doubles = count > scratch.length ? new Float64Array(count) : scratch.subarray(0, count);
  const bytes = Buffer.from(doubles.buffer, 0, length);
  // Characters outside base64 are skipped by the decoder: fewer bytes than the text's length implies is corrupt text.
  if (bytes.write(text, "base64") !== length) throw new Error("float64 column: the text is not base64");
  if (!LITTLE_ENDIAN) for (let i = 0; i < count; i++) doubles[i] = bytes.readDoubleLE(i * 8);
  return doubles;
}

/**
 * Numbers per chunk of a float64Columns text: 64 KiB of doubles (≈ 87 KB of text), which json-slices turns into text
 * in a piece of its own of about a millisecond. With 4 MiB chunks each piece held the event loop ≈ 40 ms, and the
 * live worker, left a sliver between them, fell behind for the whole checkpoint (live p99 +0.3 s; session 28).
 */
export const CHUNK_VALUES = 1 << 13;

/** Where a chunk of float64ColumnsShared reads its numbers: `size` of them from `columns[column]` at `offset` on. */
interface ChunkSource {
  columns: readonly (readonly number[])[];
  lengths: readonly number[];
  column: number;
  offset: number;
  size: number;
}

/**
 * A chunk of float64Columns' numbers: a copy, or (float64ColumnsShared) where to copy them from, which it does the
 * first time it is serialized or read. Written as base64 text only when serialized (toJSON), which json-slices does in
 * a slice of its own while the worker goes on, instead of in the snapshot, where the event loop waits.
 *
 * The chunk keeps its numbers, not its text: a checkpoint's text (tens of MB in a live worker) kept by its chunks until
 * the whole state was written survived the young generation's collections and was copied into the old one, while the
 * numbers sit outside V8's heap, where no collection copies them (bench/OPTIMIZATIONS.md, session 29).
 */
export class Float64Chunk {
  #values: Float64Array | undefined;
  #source: ChunkSource | undefined;

  constructor(values: Float64Array | undefined, source?: ChunkSource) {
    this.#values = values;
    this.#source = source;
  }

  get values(): Float64Array {
    if (this.#values === undefined) {
      this.#values = copySource(this.#source!, new Float64Array(this.#source!.size));
      // From here on the chunk no longer reads the live columns (nor keeps them reachable).
      this.#source = undefined;
    }
    return this.#values;
  }

  toJSON(): string {
    const values = this.values;
    // Native order is the text's order here: its bytes as they are, with no copy.
    return LITTLE_ENDIAN ? Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString("base64") : float64ToBase64(values);
  }

  /** JSON.stringify(this.toJSON()) in three pieces: base64 needs no escapes, so its text is written without a scan or a copy. */
  [WRITE_JSON](out: JsonOutput): void {
    out.push('"');
    out.push(this.toJSON());
    out.push('"');
  }
}

function copySource(source: ChunkSource, into: Float64Array): Float64Array {
  let { column, offset } = source;
  for (let filled = 0; filled < source.size; ) {
    const from = source.columns[column];
    const take = Math.min(source.lengths[column] - offset, source.size - filled);
    for (let i = 0; i < take; i++) into[filled + i] = from[offset + i];
    filled += take;
    offset += take;
    if (offset === source.lengths[column]) {
      column++;
      offset = 0;
    }
  }
  return into;
}

/** Many number columns as one: their numbers back to back in chunks, and each column's length. */
export interface Float64Columns {
  /** float64Column of the columns' lengths. */
  lengths: number[] | string;
  /** All columns' numbers in order, CHUNK_VALUES per chunk: base64 of little-endian float64 bytes once serialized. */
  chunks: (string | Float64Chunk)[];
}

/**
 * The columns for a JSON checkpoint as one Float64Columns: a copy per CHUNK_VALUES numbers and, when serialized, a
 * native conversion per chunk, for any number of columns. A checkpoint of the live bench's state (41k visitors, 700k
 * events) wrote one text per visitor: 41k conversions on the main thread before its slices began, and as many objects
 * for JSON.stringify to walk (bench/OPTIMIZATIONS.md, session 28).
 */
export function float64Columns(columns: readonly (readonly number[])[]): Float64Columns {
  return chunked(columns, (source) => new Float64Chunk(copySource(source, new Float64Array(source.size))));
}

/**
 * float64Columns without copying: each chunk copies its numbers from `columns` only when it is serialized (or its
 * values are read). The caller must leave every column's first numbers (as many as it holds now) as they are until
 * then; appending to a column is fine. Sessionize's visitors copy their events before any other change while a
 * snapshot holds them (VisitorState.eventsShared): its snapshot then costs no copy of 700k events' numbers while the
 * event loop waits (≈ 100–250 ms of the live bench's 150–300 ms snapshot, bench/OPTIMIZATIONS.md, session 28).
 */
export function float64ColumnsShared(columns: readonly (readonly number[])[]): Float64Columns {
  return chunked(columns, (source) => new Float64Chunk(undefined, source));
}

/** The columns' lengths, and a chunk made by `chunkOf` for each CHUNK_VALUES of their numbers in order. */
function chunked(columns: readonly (readonly number[])[], chunkOf: (source: ChunkSource) => Float64Chunk): Float64Columns {
  const lengths = columns.map((column) => column.length);
  const chunks: Float64Chunk[] = [];
  let total = 0;
  for (const length of lengths) total += length;
  let column = 0;
  let offset = 0;
  while (total > 0) {
    while (lengths[column] === offset) {
      column++;
      offset = 0;
    }
    const size = Math.min(CHUNK_VALUES, total);
    chunks.push(chunkOf({ columns, lengths, column, offset, size }));
    total -= size;
    // Where the next chunk starts: `size` numbers on.
    for (let left = size; left > 0; ) {
      const take = Math.min(lengths[column] - offset, left);
      left -= take;
      offset += take;
      if (offset === lengths[column] && left > 0) {
        column++;
        offset = 0;
      }
    }
  }
  return { lengths: float64Column(lengths), chunks };
}

/** The columns float64Columns wrote; throws when the chunks do not hold exactly the numbers the lengths add up to. */
export function float64ColumnsOf(saved: Float64Columns): number[][] {
  const lengths = float64ColumnOf(saved.lengths);
  const columns: number[][] = lengths.map((length) => {
    if (!Number.isInteger(length) || length < 0) throw new Error(`float64 columns: ${length} is not a column length`);
    return new Array<number>(length);
  });
  let column = 0;
  let filled = 0;
  while (column < columns.length && columns[column].length === 0) column++;
  for (const chunk of saved.chunks) {
    const values = typeof chunk === "string" ? decodeFloat64(chunk) : chunk.values;
    for (let at = 0; at < values.length; ) {
      if (column === columns.length) throw new Error("float64 columns: more numbers than the lengths hold");
      const target = columns[column];
      const take = Math.min(values.length - at, target.length - filled);
      for (let i = 0; i < take; i++) target[filled + i] = values[at + i];
      filled += take;
      at += take;
      if (filled === target.length) {
        filled = 0;
        column++;
        while (column < columns.length && columns[column].length === 0) column++;
      }
    }
  }
  if (column !== columns.length) throw new Error("float64 columns: fewer numbers than the lengths hold");
  return columns;
}
