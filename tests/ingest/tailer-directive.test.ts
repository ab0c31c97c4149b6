// The #Fields line a tailer resumed in a W3C log reads first: found by the reader's rule (any case, after a byte order
// mark), and for a log without one, searched once rather than back to the start from every chunk.
import { mkdtemp, open, rm, writeFile, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FieldsLookBack, lastFieldsDirective, lastFieldsDirectiveInGzip } from "../../src/ingest/tailer-directive.ts";

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "clickpipe-tailer-directive-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** The file's handle, and how many bytes were asked of it (lastFieldsDirective reads through handle.read only). */
async function countingHandle(path: string): Promise<{ handle: FileHandle; close: () => Promise<void>; bytesRead: () => number }> {
  const real = await open(path);
  let bytes = 0;
  const handle = {
    read: (buffer: Buffer, offset: number, length: number, position: number) => {
      bytes += length;
      return real.read(buffer, offset, length, position);
    },
  } as unknown as FileHandle;
  return { handle, close: () => real.close(), bytesRead: () => bytes };
}

/** Lines of W3C entries, 37 or 38 bytes each with their newline. */
const entries = (count: number, from = 0) => Array.from({ length: count }, (_, n) => `2024-03-04 10:00:00 192.0.2.${(from + n) % 250} 200`);

describe("tailer - the #Fields before a chunk", () => {
  it("is found in any case and after a byte order mark, as the W3C reader takes it", async () => {
    const path = join(directory, "case.log");
    const text = "\uFEFF#FIELDS: date time c-ip\n2024-03-04 10:00:00 192.0.2.1\n#fields: date time c-ip sc-status\r\n2024-03-04 10:00:01 192.0.2.1 200\n";
    await writeFile(path, text);
    const bytes = Buffer.from(text);
    const second = bytes.indexOf("2024-03-04 10:00:01");
    const handle = await open(path);
    try {
      for (const block of [4, 7, 64]) {
        expect(await lastFieldsDirective(handle, second, block)).toBe("#fields: date time c-ip sc-status");
        expect(await lastFieldsDirective(handle, bytes.indexOf("#fields"), block)).toBe("#FIELDS: date time c-ip");
      }
    } finally {
      await handle.close();
    }
    const gzipPath = join(directory, "case.log.1.gz");
    await writeFile(gzipPath, gzipSync(text));
    const gzip = await open(gzipPath);
    try {
      expect(await lastFieldsDirectiveInGzip(gzip, second)).toBe("#fields: date time c-ip sc-status");
      expect(await lastFieldsDirectiveInGzip(gzip, bytes.indexOf("#fields"))).toBe("#FIELDS: date time c-ip");
    } finally {
      await gzip.close();
    }
  });

  it("is found after a byte order mark mid-file (`cat` of two logs saved with one), as the W3C reader takes it", async () => {
    const text = "\uFEFF#Fields: date time c-ip\n2024-03-04 10:00:00 192.0.2.1\n\uFEFF#Fields: c-ip date time\n192.0.2.2 2024-03-04 10:00:01\n";
    const bytes = Buffer.from(text);
    const last = bytes.indexOf("192.0.2.2");
    const path = join(directory, "marks.log");
    await writeFile(path, text);
    const handle = await open(path);
    try {
      // Blocks that cut the mark from the line it starts, and one that holds it all.
      for (const block of [2, 5, 9, 64]) expect(await lastFieldsDirective(handle, last, block)).toBe("#Fields: c-ip date time");
      // A mark that does not start a line is no line start.
      const notAtStart = join(directory, "mark-inside.log");
      const insideText = "#Fields: date time c-ip\nx\uFEFF#Fields: c-ip date time\ny\n";
      await writeFile(notAtStart, insideText);
      const inside = await open(notAtStart);
      try {
        for (const block of [2, 5, 64]) expect(await lastFieldsDirective(inside, Buffer.from(insideText).indexOf("y\n"), block)).toBe("#Fields: date time c-ip");
      } finally {
        await inside.close();
      }
    } finally {
      await handle.close();
    }
    const gzipPath = join(directory, "marks.log.1.gz");
    await writeFile(gzipPath, gzipSync(text));
    const gzip = await open(gzipPath);
    try {
      expect(await lastFieldsDirectiveInGzip(gzip, last)).toBe("#Fields: c-ip date time");
    } finally {
      await gzip.close();
    }
  });

  it("is searched for once in a log without one: each byte is read once, not again for every chunk", async () => {
    const lines = entries(2000);
    const text = `${lines.join("\n")}\n`;
    const path = join(directory, "nofields.log");
    await writeFile(path, text);
    const { handle, close, bytesRead } = await countingHandle(path);
    try {
      const lookBack = new FieldsLookBack(handle, false, 4096);
      // Chunks of 50 lines, as the tailer publishes them: the reader asks before each chunk after the first.
      let start = 0;
      let chunks = 0;
      for (let first = 0; first < lines.length; first += 50) {
        const chunk = lines.slice(first, first + 50).map((line) => ({ text: line }));
        const end = start + chunk.reduce((sum, line) => sum + line.text.length + 1, 0);
        if (first > 0) expect(await lookBack.before(0, start)).toBeUndefined();
        lookBack.passed(0, start, end, chunk);
        start = end;
        chunks++;
      }
      expect(start).toBe(Buffer.byteLength(text));
      // The first look searched back over the first chunk; every later chunk came through `passed`. (Searched back
      // from each chunk, the 40 chunks of ≈ 1.9 KB would have read ≈ 40 × 20 / 2 chunks' bytes, 1.5 MB.)
      expect(bytesRead()).toBeLessThanOrEqual(Buffer.byteLength(lines.slice(0, 50).join("\n")) + 1 + 8);
      expect(chunks).toBe(40);
    } finally {
      await close();
    }
  });

  it("goes on from a chunk's own #Fields line, and searches again for another generation of the file", async () => {
    const before = entries(30);
    const after = entries(30, 30);
    const directive = "#fields: date time c-ip sc-status";
    const text = `${before.join("\n")}\n${directive}\n${after.join("\n")}\n`;
    const path = join(directory, "later.log");
    await writeFile(path, text);
    const { handle, close, bytesRead } = await countingHandle(path);
    try {
      const lookBack = new FieldsLookBack(handle, false);
      const firstEnd = Buffer.byteLength(`${before.slice(0, 10).join("\n")}\n`);
      expect(await lookBack.before(0, firstEnd)).toBeUndefined();
      const secondEnd = Buffer.byteLength(`${before.join("\n")}\n${directive}\n${after.slice(0, 5).join("\n")}\n`);
      lookBack.passed(0, firstEnd, secondEnd, [...before.slice(10), directive, ...after.slice(0, 5)].map((line) => ({ text: line })));
      const read = bytesRead();
      expect(await lookBack.before(0, secondEnd)).toBe(directive);
      expect(bytesRead()).toBe(read);
      // A chunk that does not follow the scan (the file was truncated and written again: a new generation) is searched.
      expect(await lookBack.before(1, firstEnd)).toBeUndefined();
      expect(bytesRead()).toBeGreaterThan(read);
      expect(await lookBack.before(1, secondEnd)).toBe(directive);
    } finally {
      await close();
    }
  });
});
