// TailedPath on real files: which lines of a log path go out, across restarts, when a file is replaced under its inode.
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

  function tailed(path: string, store: TailPositionStore, published: NumberedLine[][]): TailedPath {
    return new TailedPath({
      path,
      store,
      publisher: { publish: async (_prefix: string, lines: readonly NumberedLine[]) => void published.push([...lines]) },
      log: () => undefined,
      now: Date.now,
      stopping: () => false,
    });
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
});
