// TailedPath on real files, killed after a chunk's ack and before its position was saved while the log kept growing:
// the restarted tailer re-sends exactly that chunk (same batch ids, lines, received_at), then reads on.
import { appendFile, copyFile, mkdir, mkdtemp, readFile, rm, truncate, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TailedPath } from "../../src/ingest/tailer-file.ts";
import { TailPositionStore } from "../../src/ingest/tailer-position.ts";
import type { NumberedLine } from "../../src/ingest/tailer-publisher.ts";

/** A log line, or (every fifth) garbage that becomes a dead letter: the content tells them apart. */
const line = (n: number) => (n % 5 === 0 ? `garbage ${n}` : `10.0.0.${n % 250} - - [17/May/2015:10:05:00 +0000] "GET /page/${n} HTTP/1.1" 200 ${n} "-" "test"`);
const linesOf = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => `${line(from + k)}\n`).join("");
/** The texts of lines `from` … `to - 1`. */
const textsOf = (from: number, to: number) => linesOf(from, to).trimEnd().split("\n");
/** The texts of the lines of these publishes, in order. */
const sentTexts = (sent: readonly Sent[]) => sent.flatMap((one) => one.lines.map((numbered) => numbered.text));

interface Sent {
  prefix: string;
  lines: NumberedLine[];
  receivedAt: number;
}

/** What JetStream got: every publish that resolved, and the one the crash came after. */
class Recorder {
  readonly sent: Sent[] = [];

  constructor(private readonly crashAfter?: number) {}

  readonly publish = async (prefix: string, lines: readonly NumberedLine[], receivedAt: number) => {
    this.sent.push({ prefix, lines: [...lines], receivedAt });
    // Acknowledged, then the process dies before the position is written.
    if (this.sent.length === this.crashAfter) throw new Error("killed after the ack");
  };
}

describe("TailedPath: a crash between a chunk's ack and its position write", () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-tail-inflight-"));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  function tailed(path: string, store: TailPositionStore, recorder: Recorder, now: number, logs: string[] = []): TailedPath {
    return new TailedPath({ path, store, publisher: recorder, log: (text) => logs.push(text), now: () => now, stopping: () => false, rotatedGraceMs: 0 });
  }

  /** A tailer started again after the crash: restored from the saved position, then `polls` polls, then closed. */
  async function restarted(path: string, store: TailPositionStore, polls: number, logs: string[] = []): Promise<Recorder> {
    const after = new Recorder();
    const second = tailed(path, store, after, 2_000, logs);
    await second.restore();
    for (let poll = 0; poll < polls; poll++) await second.poll();
    await second.close();
    return after;
  }

  /** A fresh folder whose tailer sent lines 1-10, then lines 11-17 as a second chunk and was killed after its ack. */
  async function killedAfterSecondChunk(name: string) {
    const folder = join(directory, name);
    await mkdir(folder);
    const path = join(folder, "access.log");
    const store = new TailPositionStore(join(folder, "state"));
    await writeFile(path, linesOf(1, 11));
    const before = new Recorder(2);
    const first = tailed(path, store, before, 1_000);
    await first.restore();
    await first.poll();
    await appendFile(path, linesOf(11, 18));
    await expect(first.poll()).rejects.toThrow(/killed/);
    await first.close();
    expect(before.sent.map((sent) => sent.lines.length)).toEqual([10, 7]);
    return { path, store, crashed: before.sent[1] };
  }

  it("re-sends exactly the chunk in flight, under the same ids with the same lines and received_at, though the log grew", async () => {
    const { path, store, crashed } = await killedAfterSecondChunk("grew");
    // The log grows while the tailer is down.
    await appendFile(path, linesOf(18, 25));
    const logs: string[] = [];
    const after = await restarted(path, store, 1, logs);

    expect(after.sent[0]).toEqual(crashed);
    expect(sentTexts(after.sent.slice(1))).toEqual(textsOf(18, 25));
    expect(after.sent[1].lines[0].lineNumber).toBe(18);
    expect(after.sent[1].receivedAt).toBe(2_000);
    const [, range] = /:(\d+-\d+)$/.exec(crashed.prefix)!;
    expect(logs).toContain(`access log ${path}: re-sending bytes ${range}, in flight when the tailer stopped, under the same ids`);
    // Acknowledged: nothing is in flight any more.
    expect((await store.load(path))?.inflight).toBeUndefined();
    expect((await store.load(path))?.offset).toBe(Buffer.byteLength(linesOf(1, 25)));
  });

  it("re-sends the chunk in flight from the gzip the log was rotated into while down, though it grew before the rotation", async () => {
    const { path, store, crashed } = await killedAfterSecondChunk("gzipped");
    await appendFile(path, linesOf(18, 25));
    // logrotate's rename and `compress`: the file read last is only in access.log.1.gz now, under a new inode.
    await writeFile(`${path}.1.gz`, gzipSync(await readFile(path)));
    await unlink(path);
    await writeFile(path, linesOf(100, 103));
    // The gzip is found by the saved position's head; its ids are those of the file it holds.
    const after = await restarted(path, store, 2);

    expect(after.sent[0]).toEqual(crashed);
    expect(sentTexts(after.sent.slice(1))).toEqual([...textsOf(18, 25), ...textsOf(100, 103)]);
  });

  it("reads a log truncated below the chunk in flight from its start under the next generation, as one truncated below its position", async () => {
    const { path, store, crashed } = await killedAfterSecondChunk("truncated");
    // The bytes before the saved offset stay, so only the chunk in flight tells the file was cut.
    const [, start] = /:(\d+)-\d+$/.exec(crashed.prefix)!;
    await truncate(path, Number(start) + 5);
    await appendFile(path, "\n");
    const logs: string[] = [];
    const after = await restarted(path, store, 1, logs);

    expect(logs).toContain(`access log ${path}: truncated or replaced (was at byte ${start}); reading from its start`);
    expect(sentTexts(after.sent)).toEqual([...textsOf(1, 11), line(11).slice(0, 5)]);
    expect(after.sent[0].prefix).toMatch(/:1:0-\d+$/);
    expect(await store.load(path)).toMatchObject({ generation: 1, offset: Number(start) + 6 });
  });

  it("takes a copytruncate copy that ends inside the chunk in flight as read, and reads the truncated log from its start", async () => {
    const { path, store, crashed } = await killedAfterSecondChunk("copytruncate");
    // logrotate copied the log before the tailer read lines 16 and 17, then truncated it; new lines came after.
    await copyFile(path, `${path}.1`);
    await truncate(`${path}.1`, Buffer.byteLength(linesOf(1, 16)));
    await truncate(path, 0);
    await appendFile(path, linesOf(200, 203));
    const after = await restarted(path, store, 2);

    expect(crashed.lines.map((numbered) => numbered.text)).toEqual(textsOf(11, 18));
    expect(sentTexts(after.sent)).toEqual(textsOf(200, 203));
  });
});
