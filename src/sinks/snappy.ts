// Snappy raw block compression (the format Parquet's SNAPPY codec uses), after the reference compressor's
// CompressFragment: 64 KiB blocks, a 4-byte hash table, and ever-larger skips through incompressible input.

const BLOCK_SIZE = 1 << 16;
const MAX_HASH_BITS = 14;
/** The reference's input margin: matching stops this far from the block end so 4-byte loads stay inside. */
const INPUT_MARGIN = 15;

const table = new Uint16Array(1 << MAX_HASH_BITS);

/** Upper bound of the compressed size of `length` input bytes (the reference's MaxCompressedLength). */
export function snappyMaxLength(length: number): number {
  return 32 + length + Math.floor(length / 6);
}

/** Compresses `input` into `output` (at least snappyMaxLength bytes) and returns the compressed length. */
export function snappyCompressInto(input: Uint8Array, output: Uint8Array): number {
  let op = 0;
  let length = input.length;
  while (length >= 0x80) {
    output[op++] = (length & 0x7f) | 0x80;
    length >>>= 7;
  }
  output[op++] = length;
  // DataView reads compile to single unaligned loads: measured 1.4x faster than assembling bytes.
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const outputView = new DataView(output.buffer, output.byteOffset, output.byteLength);
  for (let start = 0; start < input.length; start += BLOCK_SIZE) {
    op = compressBlock(input, view, start, Math.min(input.length, start + BLOCK_SIZE), output, outputView, op);
  }
  return op;
}

export function snappyCompress(input: Uint8Array): Uint8Array {
  const output = new Uint8Array(snappyMaxLength(input.length));
  return output.slice(0, snappyCompressInto(input, output));
}

function compressBlock(input: Uint8Array, view: DataView, start: number, end: number, output: Uint8Array, outputView: DataView, op: number): number {
  const length = end - start;
  if (length < INPUT_MARGIN) return emitLiteral(input, view, start, end, output, outputView, op);
  let bits = 8;
  while (bits < MAX_HASH_BITS && 1 << bits < length) bits++;
  const shift = 32 - bits;
  table.fill(0, 0, 1 << bits);
  const ipLimit = end - INPUT_MARGIN;
  let nextEmit = start;
  let ip = start + 1;
  // The word at the next position to try and its hash, read once: it is that position's word when tried.
  let nextWord = view.getInt32(ip, true);
  let nextHash = Math.imul(nextWord, 0x1e35a7bd) >>> shift;
  for (;;) {
    // Look for a 4-byte match, stepping further the longer none is found.
    let skip = 32;
    let nextIp = ip;
    let candidate = 0;
    let word = 0;
    do {
      ip = nextIp;
      word = nextWord;
      const hash = nextHash;
      nextIp = ip + (skip >>> 5);
      skip++;
      if (nextIp > ipLimit) return emitLiteral(input, view, nextEmit, end, output, outputView, op);
      nextWord = view.getInt32(nextIp, true);
      nextHash = Math.imul(nextWord, 0x1e35a7bd) >>> shift;
      candidate = start + table[hash];
      table[hash] = ip - start;
    } while (word !== view.getInt32(candidate, true));
    op = emitLiteral(input, view, nextEmit, ip, output, outputView, op);
    // Emit copies while the position right after a match matches again.
    let current = 0;
    do {
      const base = ip;
      const matched = matchLength(input, view, candidate, ip, end);
      ip += matched;
      op = emitCopy(output, op, base - candidate, matched);
      nextEmit = ip;
      if (ip >= ipLimit) return nextEmit < end ? emitLiteral(input, view, nextEmit, end, output, outputView, op) : op;
      table[Math.imul(view.getInt32(ip - 1, true), 0x1e35a7bd) >>> shift] = ip - 1 - start;
      current = view.getInt32(ip, true);
      const hash = Math.imul(current, 0x1e35a7bd) >>> shift;
      candidate = start + table[hash];
      table[hash] = ip - start;
    } while (current === view.getInt32(candidate, true));
    ip++;
    nextWord = view.getInt32(ip, true);
    nextHash = Math.imul(nextWord, 0x1e35a7bd) >>> shift;
  }
}

/**
 * Length of the match of input[ip...] with input[candidate...] (candidate < ip), whose first 4 bytes are known to
 * match: 4 bytes at a time, the first differing byte found from the lowest set bit of the two words' XOR.
 */
function matchLength(input: Uint8Array, view: DataView, candidate: number, ip: number, end: number): number {
  let matched = 4;
  while (ip + matched + 4 <= end) {
    const difference = view.getInt32(ip + matched, true) ^ view.getInt32(candidate + matched, true);
    if (difference !== 0) return matched + ((31 - Math.clz32(difference & -difference)) >> 3);
    matched += 4;
  }
  while (ip + matched < end && input[ip + matched] === input[candidate + matched]) matched++;
  return matched;
}

function emitLiteral(input: Uint8Array, view: DataView, from: number, to: number, output: Uint8Array, outputView: DataView, op: number): number {
  const length = to - from;
  if (length === 0) return op;
  const n = length - 1;
  if (n < 60) output[op++] = n << 2;
  else if (n < 0x100) {
    output[op++] = 60 << 2;
    output[op++] = n;
  } else {
    output[op++] = 61 << 2;
    output[op++] = n & 0xff;
    output[op++] = n >>> 8;
  }
  if (length > 32) output.set(input.subarray(from, to), op);
  else if (from + 32 <= input.length && op + 32 <= output.length) {
    // 4 bytes at a time, up to 3 bytes past the literal: later output overwrites them, or they lie past its end.
    for (let k = 0; k < length; k += 4) outputView.setInt32(op + k, view.getInt32(from + k, true), true);
  } else for (let k = 0; k < length; k++) output[op + k] = input[from + k];
  return op + length;
}

function emitCopyUpTo64(output: Uint8Array, op: number, offset: number, length: number): number {
  if (length < 12 && offset < 2048) {
    output[op] = 1 | ((length - 4) << 2) | ((offset >>> 8) << 5);
    output[op + 1] = offset & 0xff;
    return op + 2;
  }
  output[op] = 2 | ((length - 1) << 2);
  output[op + 1] = offset & 0xff;
  output[op + 2] = offset >>> 8;
  return op + 3;
}

function emitCopy(output: Uint8Array, op: number, offset: number, length: number): number {
  while (length >= 68) {
    op = emitCopyUpTo64(output, op, offset, 64);
    length -= 64;
  }
  if (length > 64) {
    op = emitCopyUpTo64(output, op, offset, 60);
    length -= 60;
  }
  return emitCopyUpTo64(output, op, offset, length);
}
