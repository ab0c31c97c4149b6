// Text encoded to UTF-8 as it is produced, into buffers of a fixed size: how a checkpoint's state reaches its store.
//
// Why not keep the text: a live worker's checkpoint is tens of MB of JSON, made in slices over a second or two while
// events go on (json-slices.ts). Kept as strings until the store wrote them, all of it survived the young generation's
// collections and was copied through it into the old generation: in a profiled live run at 85,000 events/s, a third
// of the main thread's time over the checkpoint went to the collector (bench/OPTIMIZATIONS.md, session 29). Encoded at
// once, each piece of text dies young, where collecting it costs nothing.

/** Bytes per segment: big enough that a segment is one write or one KV chunk's worth, small enough to allocate often. */
export const SEGMENT_BYTES = 1024 * 1024;

/** Short texts are joined up to this many characters before one encode: the call and its view cost more than the copy. */
const PENDING_CHARACTERS = 16 * 1024;

/**
 * Full segments given back (releaseEncoded) for the next writer: writing into fresh memory cost ≈ 2 ms per MiB here in
 * page faults, ≈ 90 ms of a live checkpoint's ≈ 300 ms of CPU (bench/OPTIMIZATIONS.md, session 29). At most this many
 * are kept (64 MiB), so an idle worker holds no more than that between checkpoints.
 */
const freeSegments: ArrayBuffer[] = [];
const MAX_FREE_SEGMENTS = 64;

/** A buffer for a segment: a given-back one when it is a full segment's size and one is free. */
function segmentBuffer(bytes: number): Uint8Array {
  const free = bytes === SEGMENT_BYTES ? freeSegments.pop() : undefined;
  return free === undefined ? new Uint8Array(bytes) : new Uint8Array(free);
}

/**
 * Gives the segments of encoded state back for later writers, once nothing reads them any more (the store committed
 * them). The state is empty after: releasing it twice gives nothing back twice, and a late reader finds no text rather
 * than another checkpoint's.
 */
export function releaseEncoded(encoded: EncodedJson): void {
  const segments = encoded.utf8 as Uint8Array[];
  for (const segment of segments) {
    if (segment.buffer.byteLength === SEGMENT_BYTES && freeSegments.length < MAX_FREE_SEGMENTS) freeSegments.push(segment.buffer as ArrayBuffer);
  }
  segments.length = 0;
}

/** JSON text already encoded as UTF-8, in segments to be written one after another (Utf8SegmentWriter.finish()). */
export interface EncodedJson {
  readonly utf8: readonly Uint8Array[];
}

export function isEncodedJson(value: unknown): value is EncodedJson {
  return typeof value === "object" && value !== null && Array.isArray((value as { utf8?: unknown }).utf8);
}

/** Encodes texts pushed one after another into segments of `segmentBytes` (the last, and any a character did not fit in the end of, shorter). */
export class Utf8SegmentWriter {
  readonly #segments: Uint8Array[] = [];
  readonly #encoder = new TextEncoder();
  readonly #segmentBytes: number;
  #buffer: Uint8Array | undefined;
  #used = 0;
  #pending = "";

  constructor(segmentBytes: number = SEGMENT_BYTES) {
    // A UTF-8 character takes up to 4 bytes: a smaller segment could take none.
    if (!(segmentBytes >= 4)) throw new RangeError(`Utf8SegmentWriter: segments of ${segmentBytes} bytes cannot hold a character`);
    this.#segmentBytes = segmentBytes;
  }

  push(text: string): void {
    if (this.#pending.length + text.length < PENDING_CHARACTERS) {
      this.#pending += text;
      return;
    }
    this.#flushPending();
    this.#encode(text);
  }

  /** The segments, in order; the writer takes no more text. */
  finish(): Uint8Array[] {
    this.#flushPending();
    if (this.#used > 0) this.#segments.push(this.#buffer!.subarray(0, this.#used));
    this.#buffer = undefined;
    this.#used = 0;
    return this.#segments;
  }

  #flushPending(): void {
    if (this.#pending.length === 0) return;
    const text = this.#pending;
    this.#pending = "";
    this.#encode(text);
  }

  #encode(text: string): void {
    for (let rest = text; rest.length > 0; ) {
      this.#buffer ??= segmentBuffer(this.#segmentBytes);
      const { read, written } = this.#encoder.encodeInto(rest, this.#buffer.subarray(this.#used));
      this.#used += written;
      if (read === rest.length) return;
      rest = rest.slice(read);
      this.#segments.push(this.#buffer.subarray(0, this.#used));
      this.#buffer = undefined;
      this.#used = 0;
    }
  }
}

/** The texts one after another as UTF-8 segments (no joined string, no one huge buffer). */
export function utf8Segments(texts: readonly string[], segmentBytes: number = SEGMENT_BYTES): Uint8Array[] {
  const writer = new Utf8SegmentWriter(segmentBytes);
  for (const text of texts) writer.push(text);
  return writer.finish();
}
