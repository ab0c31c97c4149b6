// TailedPath on real files: which lines of a log path go out, across restarts, when a file is replaced under its inode
// or rotated and compressed while the tailer was stopped.
import { appendFile, copyFile, mkdir, mkdtemp, open, readFile, rename, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TailedPath } from "../../src/ingest/tailer-file.ts";
import { TailPositionStore } from "../../src/ingest/tailer-position.ts";
import type { NumberedLine } from "../../src/ingest/tailer-publisher.ts";

/** Lines that end alike (the same user agent), as a log of health checks does. */
const line = (first: string, n: number) => `${first} 10.0.0.${n % 10} "GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.29 (readiness and liveness checks)"`;

describe("TailedPath", () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-tailed-path-"));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  function tailed(path: string, store: TailPositionStore, published: NumberedLine[][], options: { prefixes?: string[]; logs?: string[]; chunkBytes?: number } = {}): TailedPath {
    return new TailedPath({
      path,
      store,
      publisher: {
        publish: async (prefix: string, lines: readonly NumberedLine[]) => {
          options.prefixes?.push(prefix);
          published.push([...lines]);
        },
      },
      log: (text) => options.logs?.push(text),
      now: Date.now,
      stopping: () => false,
      chunkBytes: options.chunkBytes,
      // A rotated file is finished at the first poll that finds it not grown.
      rotatedGraceMs: 0,
    });
  }

  /** logrotate's `compress`: `<file>.gz` written, `<file>` removed. */
  async function gzipAway(file: string): Promise<void> {
    await writeFile(`${file}.gz`, gzipSync(await readFile(file)));
    await unlink(file);
  }

  /** A fresh folder with `access.log` of lines 1..`read` read by a stopped tailer, then lines up to `last` appended unread. */
  async function stoppedAfter(name: string, read: number, last: number, chunkBytes?: number) {
    const folder = join(directory, name);
    await mkdir(folder);
    const path = join(folder, "access.log");
    const store = new TailPositionStore(join(folder, "state"));
    await writeFile(path, Array.from({ length: read }, (_, n) => line("read", n + 1) + "\n").join(""));
    const first = tailed(path, store, [], { chunkBytes });
    await first.restore();
    await first.poll();
    await first.close();
    await appendFile(path, Array.from({ length: last - read }, (_, n) => line("more", n + read + 1) + "\n").join(""));
    return { folder, path, store };
  }

  it("reads a file whose inode a new file reused from its start, though the bytes before the old offset match", async () => {
    const path = join(directory, "access.log");
    const store = new TailPositionStore(join(directory, "state"));
    const write = async (text: string) => {
      // Rewritten in place: the inode stays, as when ext4 hands a deleted file's inode to the new one.
      const handle = await open(path, "w");
      await handle.writeFile(text);
      await handle.close();
    };
    await write(Array.from({ length: 10 }, (_, n) => line("old", n)).join("\n") + "\n");
    const before: NumberedLine[][] = [];
    const first = tailed(path, store, before);
    await first.restore();
    await first.poll();
    await first.close();
    expect(before.flat()).toHaveLength(10);

    // The new file: other lines of the same length that end alike, then two more.
    const replaced = Array.from({ length: 12 }, (_, n) => line("new", n));
    await write(replaced.join("\n") + "\n");
    const after: NumberedLine[][] = [];
    const second = tailed(path, store, after);
    await second.restore();
    await second.poll();
    await second.close();
    expect(after.flat().map((numbered) => numbered.text)).toEqual(replaced);
    expect((await store.load(path))?.generation).toBe(1);
  });

  it("reads the rest of a file compressed while stopped from its gzip: the lines, line numbers and batch ids of the file itself", async () => {
    // The oracle: the same stopped state, rotated without compression. 200-byte chunks: lines span chunk boundaries.
    const plain = await stoppedAfter("plain", 10, 30, 200);
    const compressed = await stoppedAfter("compressed", 10, 30, 200);
    for (const { path } of [plain, compressed]) {
      await rename(path, `${path}.1`);
      await writeFile(path, `${line("new", 1)}\n${line("new", 2)}\n`);
    }
    await gzipAway(`${compressed.path}.1`);
    // Positions name the file by inode: give the compressed side the plain side's, so the batch ids can be compared.
    await copyFile(plain.store.fileOf(plain.path), compressed.store.fileOf(compressed.path));
    await writeFile(compressed.store.fileOf(compressed.path), (await readFile(compressed.store.fileOf(compressed.path), "utf8")).replaceAll(plain.folder, compressed.folder));

    const rotatedFile = (await plain.store.load(plain.path))!.file;
    const read = async ({ path, store }: { path: string; store: TailPositionStore }) => {
      const published: NumberedLine[][] = [];
      const prefixes: string[] = [];
      const logs: string[] = [];
      const tailer = tailed(path, store, published, { prefixes, logs, chunkBytes: 200 });
      await tailer.restore();
      await tailer.poll();
      await tailer.poll();
      await tailer.close();
      return { lines: published.flat(), prefixes, logs };
    };
    const fromPlain = await read(plain);
    const fromGzip = await read(compressed);
    const expected = [
      ...Array.from({ length: 20 }, (_, n) => ({ text: line("more", n + 11), lineNumber: n + 11 })),
      { text: line("new", 1), lineNumber: 1 },
      { text: line("new", 2), lineNumber: 2 },
    ];
    expect(fromGzip.lines).toEqual(expected);
    expect(fromPlain.lines).toEqual(expected);
    // The rotated file's batch ids: two lines per 200-byte chunk from the saved offset (the new files name their own inodes).
    const savedOffset = 10 * (line("read", 1).length + 1);
    const lineBytes = line("more", 11).length + 1;
    expect([2 * lineBytes <= 200, 3 * lineBytes > 200]).toEqual([true, true]);
    const rotatedIds = Array.from({ length: 10 }, (_, k) => `tail:${rotatedFile}:0:${savedOffset + 2 * k * lineBytes}-${savedOffset + 2 * (k + 1) * lineBytes}`);
    expect(fromGzip.prefixes.slice(0, -1)).toEqual(rotatedIds);
    expect(fromPlain.prefixes.slice(0, -1)).toEqual(rotatedIds);
    expect(fromGzip.logs).toEqual([`access log ${compressed.path}: finishing ${compressed.path}.1.gz (rotated and compressed while stopped) from byte ${savedOffset} of the file it holds`]);
  });

  it("publishes the gzip's unterminated last line, as the end of any rotated file", async () => {
    const { path, store } = await stoppedAfter("unterminated", 10, 12);
    await appendFile(path, line("last", 13));
    await rename(path, `${path}.1`);
    await gzipAway(`${path}.1`);
    const published: NumberedLine[][] = [];
    const tailer = tailed(path, store, published);
    await tailer.restore();
    await tailer.poll();
    await tailer.close();
    expect(published.flat()).toEqual([
      { text: line("more", 11), lineNumber: 11 },
      { text: line("more", 12), lineNumber: 12 },
      { text: line("last", 13), lineNumber: 13 },
    ]);
  });

  it("sends the complete lines of a gzip cut short, then says the rest is lost and reads the new file", async () => {
    const { path, store } = await stoppedAfter("cut-short", 10, 40);
    await rename(path, `${path}.1`);
    await writeFile(path, `${line("new", 1)}\n`);
    await gzipAway(`${path}.1`);
    // Without its last 40 bytes (the trailer and some deflate data) the gzip stops with "unexpected end of file".
    const whole = await readFile(`${path}.1.gz`);
    await writeFile(`${path}.1.gz`, whole.subarray(0, whole.length - 40));
    const published: NumberedLine[][] = [];
    const logs: string[] = [];
    const tailer = tailed(path, store, published, { logs });
    await tailer.restore();
    await tailer.poll();
    await tailer.close();
    const lines = published.flat();
    // Some of lines 11..40, in order and whole, then the new file's first line.
    const fromGzip = lines.slice(0, -1);
    expect(fromGzip.length).toBeGreaterThan(0);
    expect(fromGzip.length).toBeLessThan(30);
    expect(fromGzip).toEqual(Array.from({ length: fromGzip.length }, (_, n) => ({ text: line("more", n + 11), lineNumber: n + 11 })));
    expect(lines.at(-1)).toEqual({ text: line("new", 1), lineNumber: 1 });
    const lostFrom = 10 * (line("read", 1).length + 1) + fromGzip.length * (line("more", 11).length + 1);
    expect(logs[1]).toMatch(new RegExp(`access\\.log\\.1\\.gz cannot be decompressed past byte \\d+ \\(unexpected end of file\\); the lines after byte ${lostFrom} are lost`));
  });

  it("takes no gzip whose start differs, and none whose bytes before the saved offset differ: it says the lines are lost", async () => {
    const { path, store } = await stoppedAfter("other-gzips", 20, 22);
    // An older rotation (another start), and a copy whose first KiB matches but whose 20th line (the last read) differs
    // near its end, where the position's fingerprint looks.
    await writeFile(`${path}.2.gz`, gzipSync(Array.from({ length: 22 }, (_, n) => line("old", n + 1) + "\n").join("")));
    const text = await readFile(path, "utf8");
    const lastReadAt = text.lastIndexOf(line("read", 20));
    await writeFile(`${path}.1.gz`, gzipSync(text.slice(0, lastReadAt) + line("read", 20).replace("liveness", "LIVENESS") + text.slice(lastReadAt + line("read", 20).length)));
    expect(lastReadAt).toBeGreaterThan(1024);
    // The new file is made while the old one still exists: it cannot get its inode.
    await writeFile(`${path}.new`, `${line("new", 1)}\n`);
    await unlink(path);
    await rename(`${path}.new`, path);
    const published: NumberedLine[][] = [];
    const logs: string[] = [];
    const tailer = tailed(path, store, published, { logs });
    await tailer.restore();
    await tailer.poll();
    await tailer.close();
    expect(published.flat()).toEqual([{ text: line("new", 1), lineNumber: 1 }]);
    const savedAt = lastReadAt + line("read", 20).length + 1;
    expect(logs).toEqual([
      `access log ${path}: finishing ${path}.1.gz (rotated and compressed while stopped) from byte ${savedAt} of the file it holds`,
      `access log ${path}: ${path}.1.gz holds other bytes before byte ${savedAt} than the file read; the lines after byte ${savedAt} are lost, reading ${path}`,
    ]);
  });
});
