// `clickpipe publish` reading a gzip: its decompressed bytes cut into the pieces (and so the batch ids) of the file it
// holds, every member of a multi-member gzip, and a damaged one read up to the damage, then reported.
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { isUtf8 } from "node:buffer";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants, gunzipSync, gzipSync, inflateRawSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GzipInput, gzipFileSizeLowerBound, gzipSizeLowerBound, inputFailure, isGzip, publishInput, startsAsGzip } from "../../src/cli/publish-gzip.ts";
import { compileAccessLineReader } from "../../src/ingest/access-log.ts";
import { byteChunks, ChunkIds, lastFieldsDirectiveOf, lineChunks, splitLines, type LineChunk, type PieceSource } from "../../src/cli/publish-lines.ts";

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "clickpipe-publish-gzip-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** Lines of varied length (so pieces end at varied places), each numbered. */
function text(lines: number, from = 0): string {
  return Array.from({ length: lines }, (_, index) => `line ${from + index} ${"abcdefghij".repeat((from + index) % 23)} é\n`).join("");
}

/** The pieces as Latin-1 text, byte for byte (compared much faster than Buffers). */
async function pieces(source: PieceSource, size: number, chunkBytes: number): Promise<string[]> {
  const all: string[] = [];
  for await (const piece of byteChunks(source, size, chunkBytes)) all.push(piece.toString("latin1"));
  return all;
}

async function chunksOf(source: PieceSource, size: number, chunkBytes: number): Promise<LineChunk[]> {
  const all: LineChunk[] = [];
  for await (const chunk of lineChunks(source, size, new ChunkIds("key"), chunkBytes)) all.push(chunk);
  return all;
}

describe("publish - a gzip is read as the file it holds", () => {
  it("knows a gzip by its magic bytes 1f 8b, not by its name", async () => {
    expect(isGzip(gzipSync("a\n"))).toBe(true);
    expect(isGzip(Buffer.from("a\n"))).toBe(false);
    expect(isGzip(Buffer.from([0x1f]))).toBe(false);
    const named = join(directory, "access.log");
    await writeFile(named, gzipSync("a\n"));
    const handle = await open(named);
    expect(await startsAsGzip(handle)).toBe(true);
    await handle.close();
    const empty = join(directory, "empty.gz");
    await writeFile(empty, "");
    const emptyHandle = await open(empty);
    expect(await startsAsGzip(emptyHandle)).toBe(false);
    await emptyHandle.close();
  });

  it("gives the pieces, lines and batch id prefixes of the decompressed file, for every member of a multi-member gzip", async () => {
    const parts = [text(700), text(1, 700), text(900, 701)];
    const plain = Buffer.from(parts.join(""));
    // As `cat a.gz b.gz c.gz` (logrotate's delaycompress and a later append make such files).
    const gzip = Buffer.concat(parts.map((part) => gzipSync(part)));
    const path = join(directory, "members.log.gz");
    await writeFile(path, gzip);
    for (const chunkBytes of [1000, 64 * 1024, 4 * 1024 * 1024]) {
      const expected = await pieces(plain, plain.length, chunkBytes);
      const handle = await open(path);
      try {
        const input = publishInput(handle, gzip.length, true);
        expect(input.size).toBe(Number.POSITIVE_INFINITY);
        expect(await pieces(input.source, input.size, chunkBytes), `pieces of ${chunkBytes} bytes`).toEqual(expected);
        expect(inputFailure(input.source)).toBeUndefined();
      } finally {
        await handle.close();
      }
      // Bytes read from a pipe, and the lines with their batch id prefixes.
      const fromMemory = publishInput(gzip, gzip.length, true);
      expect(await chunksOf(fromMemory.source, fromMemory.size, chunkBytes)).toEqual(await chunksOf(plain, plain.length, chunkBytes));
    }
    expect((await pieces(new GzipInput(gzip, gzip.length), Number.POSITIVE_INFINITY, 1000)).join("")).toBe(plain.toString("latin1"));
  });

  it("reads a truncated gzip up to its last complete line, then names the byte where it ends", async () => {
    const plain = text(5000);
    const whole = gzipSync(plain);
    const truncated = whole.subarray(0, Math.floor(whole.length * 0.6));
    // Oracle: what zlib can give of the truncated bytes without an error (a sync flush), cut after its last newline.
    const availableBytes = gunzipSync(truncated, { finishFlush: constants.Z_SYNC_FLUSH });
    const available = availableBytes.toString();
    const complete = available.slice(0, available.lastIndexOf("\n") + 1);
    expect(complete.length).toBeGreaterThan(plain.length / 3);
    const input = new GzipInput(truncated, truncated.length);
    const lines = (await chunksOf(input, Number.POSITIVE_INFINITY, 64 * 1024)).flatMap((chunk) => chunk.lines);
    // The unfinished line after the last newline is no line.
    expect(lines).toEqual(splitLines(complete));
    expect(input.failure?.message).toBe(
      `ends in the middle of gzip data at byte ${truncated.length} (zlib: unexpected end of file): only the complete lines of the ${availableBytes.length} bytes decompressed before it were published`,
    );
  });

  it("reports damaged gzip data by the byte zlib refused, keeping the lines decompressed before", async () => {
    const first = gzipSync(text(3000));
    // A whole first member, then bytes that are no gzip: zlib finds them at the second member's header.
    const damaged = Buffer.concat([first, Buffer.from("this is no gzip member\n".repeat(4000))]);
    const input = new GzipInput(damaged, damaged.length);
    const lines = (await chunksOf(input, Number.POSITIVE_INFINITY, 4096)).flatMap((chunk) => chunk.lines);
    // zlib takes a second member's first byte, and refuses the next one: "t", "h" are no gzip header's 1f 8b.
    expect(input.failure?.message).toMatch(new RegExp(`^holds damaged gzip data, found by zlib at byte ${first.length + 1} of ${damaged.length} \\(zlib: incorrect header check\\)`));
    // What came out is the first member's lines, in order, from the start.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines).toEqual(splitLines(text(3000)).slice(0, lines.length));
  });
});

describe("publish - what a gzip holds at least, which chooses its parse threads", () => {
  it("is a highly compressible gzip's decompressed size (its ISIZE), not its compressed size", async () => {
    const content = Buffer.from("192.0.2.1 - - [10/Oct/2024:13:55:36 +0000] \"GET /a HTTP/1.1\" 200 2326\n".repeat(200_000));
    const gzip = gzipSync(content);
    expect(gzip.length * 50).toBeLessThan(content.length);
    const file = join(directory, "compressible.log.gz");
    await writeFile(file, gzip);
    const handle = await open(file);
    try {
      expect(await gzipFileSizeLowerBound(handle, gzip.length)).toBe(content.length);
    } finally {
      await handle.close();
    }
  });

  it("is the last member's size for a multi-member gzip: a lower bound, the compressed size when that is more", () => {
    const big = Buffer.from("x".repeat(1_000_000));
    const small = Buffer.from("tail\n");
    const members = Buffer.concat([gzipSync(big), gzipSync(small)]);
    expect(gzipSizeLowerBound(members.length, members.subarray(-4))).toBe(members.length);
    const bigLast = Buffer.concat([gzipSync(small), gzipSync(big)]);
    expect(gzipSizeLowerBound(bigLast.length, bigLast.subarray(-4))).toBe(1_000_000);
  });

  it("falls back to the compressed size when ISIZE wrapped (a member of 4 GiB and more), and for what is too short to be a gzip", () => {
    // A member of 2^32 + 100 bytes says 100 (little-endian), compressed here to 300 MB: the compressed size is more.
    expect(gzipSizeLowerBound(300_000_000, Uint8Array.of(100, 0, 0, 0))).toBe(300_000_000);
    // ISIZE 0xFFFFFFFF, the largest it says.
    expect(gzipSizeLowerBound(1_000_000, Uint8Array.of(0xff, 0xff, 0xff, 0xff))).toBe(2 ** 32 - 1);
    expect(gzipSizeLowerBound(10, Uint8Array.of(0xff, 0xff, 0xff, 0xff))).toBe(10);
  });
});

describe("publish - damage after complete gzip data loses none of it", () => {
  it("gives every line of a whole member followed by bytes that are no gzip, and names the byte zlib refused", async () => {
    // Small: the member and the bytes after it are one write to zlib, whose output zlib dropped with the error.
    const lines = "one\ntwo\nthree\n";
    const member = gzipSync(lines);
    for (const tail of ["xyz", "this is no gzip member\n".repeat(4000)]) {
      const damaged = Buffer.concat([member, Buffer.from(tail)]);
      const input = new GzipInput(damaged, damaged.length);
      const read = (await chunksOf(input, Number.POSITIVE_INFINITY, 4096)).flatMap((chunk) => chunk.lines);
      // Oracle: the member's own lines, counted by hand.
      expect(read).toEqual(["one", "two", "three"]);
      expect(input.failure?.message).toBe(
        `holds damaged gzip data, found by zlib at byte ${member.length + 1} of ${damaged.length} (zlib: incorrect header check): only the complete lines of the 14 bytes decompressed before it were published`,
      );
    }
    // Big: the first member's last 16 KiB of output was lost (the lines of a whole 3,000-line member).
    const first = gzipSync(text(3000));
    const damaged = Buffer.concat([first, Buffer.from("this is no gzip member\n".repeat(4000))]);
    const path = join(directory, "damaged.log.gz");
    await writeFile(path, damaged);
    const handle = await open(path);
    try {
      const input = new GzipInput(handle, damaged.length);
      const read = (await chunksOf(input, Number.POSITIVE_INFINITY, 64 * 1024)).flatMap((chunk) => chunk.lines);
      expect(read).toEqual(splitLines(text(3000)));
      expect(input.failure?.message).toMatch(new RegExp(`^holds damaged gzip data, found by zlib at byte ${first.length + 1} of ${damaged.length} `));
    } finally {
      await handle.close();
    }
  });

  it("gives every line decompressed before zlib finds a damaged byte inside a member (here by its CRC)", async () => {
    const plain = text(20_000);
    const whole = gzipSync(plain);
    const damaged = Buffer.from(whole);
    // A byte deep inside the deflate data, flipped: it still inflates (to other bytes), and zlib finds it only by the
    // member's CRC at its end, in the last 16 KiB write, whose output zlib dropped.
    damaged[Math.floor(whole.length * 0.7)] ^= 0xff;
    // Oracle: the raw deflate data between gzipSync's 10-byte header and 8-byte trailer, inflated with no CRC check.
    const available = inflateRawSync(damaged.subarray(10, damaged.length - 8));
    // Its complete lines, each read as UTF-8 or else Latin-1 (README): the flipped byte is found only by the CRC at the
    // member's end, so its wrong output is among them.
    const complete = available.subarray(0, available.lastIndexOf(0x0a) + 1);
    const expected = splitLines(complete.toString("latin1")).map((line) => {
      const bytes = Buffer.from(line, "latin1");
      return isUtf8(bytes) ? bytes.toString("utf8") : line;
    });
    const input = new GzipInput(damaged, damaged.length);
    const read = (await chunksOf(input, Number.POSITIVE_INFINITY, 64 * 1024)).flatMap((chunk) => chunk.lines);
    expect(read.length).toBeGreaterThan(19_000);
    expect(read).toEqual(expected);
    expect(input.failure?.message).toMatch(/^holds damaged gzip data, found by zlib at byte \d+ of \d+ \(zlib: incorrect data check\)/);
  });
});

describe("publish - a W3C piece's directive", () => {
  it("is the piece's last #Fields line in any case, after a byte order mark at the start, without its CR", () => {
    expect(lastFieldsDirectiveOf(Buffer.from("#Fields: a b\r\nx y\r\n#fields: c\r\nz\r\n"))).toBe("#fields: c");
    expect(lastFieldsDirectiveOf(Buffer.from("\uFEFF#FIELDS: date time\nx\n"))).toBe("#FIELDS: date time");
    // A "#Fields:" that does not start a line, and other directives, are none.
    expect(lastFieldsDirectiveOf(Buffer.from("#Fields: a\nGET /x#Fields: b\n#Date: 2024\n"))).toBe("#Fields: a");
    expect(lastFieldsDirectiveOf(Buffer.from("#Version: 1.0\n# Fields: x\n"))).toBeUndefined();
    // The last line of the file, without a newline.
    expect(lastFieldsDirectiveOf(Buffer.from("x\n#Fields: last"))).toBe("#Fields: last");
  });

  it("is the directive the one-thread reader takes, also after a byte order mark in the middle (`cat` of two logs)", () => {
    // Two IIS logs saved with a byte order mark, concatenated: the second's #Fields starts with EF BB BF mid-file.
    const first = "#Fields: date time c-ip cs-uri-stem sc-status\n2024-03-04 10:00:00 192.0.2.1 /a 200\n";
    const second = "\uFEFF#Fields: c-ip sc-status date time cs-uri-stem\n198.51.100.7 404 2024-03-05 11:00:00 /b\n";
    const piece = Buffer.from(first + second);
    expect(lastFieldsDirectiveOf(piece)).toBe("#Fields: c-ip sc-status date time cs-uri-stem");
    // Oracle: the one-thread reader that read the piece's lines reads the next piece's line as a reader given only
    // the directive does.
    const next = "198.51.100.9 200 2024-03-06 12:00:00 /c";
    const whole = compileAccessLineReader("w3c");
    for (const line of splitLines(piece.toString("utf8"))) whole(line);
    const given = compileAccessLineReader("w3c");
    given(lastFieldsDirectiveOf(piece) ?? "");
    const expected = whole(next);
    expect(expected.ok).toBe(true);
    expect(given(next)).toEqual(expected);
    // A byte order mark that does not start a line is no part of a directive's line start.
    expect(lastFieldsDirectiveOf(Buffer.from("#Fields: a\nx\uFEFF#Fields: b\n"))).toBe("#Fields: a");
  });
});
