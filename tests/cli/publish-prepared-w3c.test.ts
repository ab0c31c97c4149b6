// A W3C log on access-log parse threads (publishPrepared): each piece goes with the last #Fields before it, so a thread
// handed a piece without one reads its lines as one thread reading the whole file does. Oracle: publishLineChunks.
import type { Worker } from "node:worker_threads";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { messagesOf, publishPrepared, startPrepareWorker } from "../../src/cli/publish.ts";
import { ChunkIds, lineChunks, publishLineChunks, publishOptionsKey, type PublishLinesOptions } from "../../src/cli/publish-lines.ts";
import type { PrepareRequest, PrepareResponse } from "../../src/cli/publish-prepare-worker.ts";
import { ChunkSink } from "../../src/cli/publish-worker.ts";
import { parsePipelineText } from "../../src/config/load.ts";
import { EdgeProcessor } from "../../src/ingest/edge.ts";
import { RecordPublisher } from "../../src/ingest/record-publisher.ts";

/** A ChunkSink that also keeps every batch id prefix it is told, in order. */
class PrefixRecordingSink extends ChunkSink {
  prefixes: string[] = [];

  override useMsgIdPrefix(prefix: string): void {
    super.useMsgIdPrefix(prefix);
    this.prefixes.push(prefix);
  }
}

function clock(n: number): string {
  const seconds = n % 86_400;
  return [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60].map((part) => String(part).padStart(2, "0")).join(":");
}

describe("publish - W3C pieces on parse threads", () => {
  it("parses every piece under the #Fields before it, with the one-thread events, dead letters and batch id prefixes", { timeout: 60_000 }, async () => {
    // ≈ 5.5 MB: two 4 MiB pieces, the second (the other thread's) starting with lines of the first block, then a
    // second directive in lower case with its columns in another order.
    const lines = ["#Software: Microsoft Internet Information Services 10.0", "#Fields: date time c-ip cs-method cs-uri-stem sc-status cs(User-Agent)"];
    for (let n = 0; n < 48_000; n++) lines.push(`2024-03-04 ${clock(n)} 192.0.2.${n % 200} GET /page/${n % 97} ${n % 50 === 0 ? 404 : 200} Mozilla/5.0+(X11;+Linux+x86_64)+agent/${n % 7}`);
    lines.push("#fields: c-ip sc-status time date cs-uri-stem");
    for (let n = 0; n < 10_000; n++) lines.push(n === 5_000 ? "cut short" : `198.51.100.${n % 200} 200 ${clock(n)} 2024-03-05 /other/${n % 89}`);
    const content = Buffer.from(`${lines.join("\r\n")}\r\n`);
    expect(content.length).toBeGreaterThan(4 * 1024 * 1024);
    expect(content.indexOf("#fields:")).toBeGreaterThan(4 * 1024 * 1024);

    const text = ["name: w3c-pieces", "nats:", "  stream: W3C_PIECES", "  partitions: 3", "ingest:", "  pages: { exclude: [4xx] }"];
    const loaded = parsePipelineText([...text, "sinks:", "  - type: parquet", `    path: ${join(tmpdir(), "unused")}`].join("\n"), "w3c-pieces.yaml", {});
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const config = loaded.config;
    const options: PublishLinesOptions & { receivedAt: number } = { format: "w3c", receivedAt: 1_700_000_000_000 };
    const optionsKey = publishOptionsKey(options);

    const reference = new PrefixRecordingSink();
    const counts = await publishLineChunks(new RecordPublisher({ config, sink: reference, source: "publish" }), lineChunks(content, content.length, new ChunkIds(optionsKey)), options);
    // 58,000 entries read (the 3 directives are not): 960 of the first block's are 404s (filtered), one line is cut short.
    expect(counts).toMatchObject({ read: 58_000, published: 57_039, rejected: 1, filtered: 960 });

    const workers: Worker[] = [startPrepareWorker(), startPrepareWorker()];
    try {
      const inboxes = workers.map((worker) => messagesOf(worker) as unknown as AsyncIterableIterator<[PrepareResponse]>);
      for (const worker of workers) worker.postMessage({ type: "config", config, options } satisfies PrepareRequest);
      const prepared = new PrefixRecordingSink();
      const edge = EdgeProcessor.fromConfig(config.ingest, { pipelineName: config.name, env: process.env });
      const threaded = await publishPrepared(content, content.length, workers, inboxes, prepared, edge, optionsKey, true);
      expect(threaded).toEqual(counts);
      expect(prepared.prefixes).toHaveLength(2);
      expect(prepared.prefixes).toEqual(reference.prefixes);
      expect(prepared.events).toEqual(reference.events);
      expect(prepared.partitions).toEqual(reference.partitions);
      expect(prepared.deadLetters).toEqual(reference.deadLetters);
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  });
});
