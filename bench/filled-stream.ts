// The million generated events of the end-to-end section in a stream of their own, filled once and kept for reuse by
// the profiling helpers (bench/profile-drain.ts, bench/ab-drains.ts, bench/fill-stream.ts).
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parsePipelineText } from "../src/config/load.ts";
import { generateLines } from "../src/ingest/generate.ts";
import { streamRecordPublisher } from "../src/ingest/stream-record-publisher.ts";
import { ensureStream } from "../src/transport/stream.ts";
import { log } from "./bench-kit.ts";
import { benchPipeline } from "./pipeline.ts";

/**
 * Fills `stream` with `days` (default 3) of generated traffic from `visitors` visitors (seed 42, as `npm run bench`)
 * unless it exists already; `refill` deletes and fills it again. Returns how many events it published (0: kept).
 */
export async function ensureFilledStream(
  url: string,
  stream: string,
  options: { visitors: number; days?: number; refill?: boolean },
): Promise<number> {
  const connection = await connect({ servers: url });
  try {
    const manager = await jetstreamManager(connection);
    const existing = await manager.streams.info(stream).catch(() => undefined);
    if (existing !== undefined && options.refill !== true) return 0;
    await manager.streams.delete(stream).catch(() => undefined);
    const loaded = parsePipelineText(benchPipeline(url, stream, "/nonexistent"), "bench.yaml", process.env);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    await ensureStream(manager, stream);
    const publisher = streamRecordPublisher({ config: loaded.config, js: jetstream(connection), connection, source: "publish", msgIdPrefix: stream });
    let published = 0;
    for (const line of generateLines({ visitors: options.visitors, days: options.days ?? 3, seed: 42 })) {
      await publisher.publishJsonLine(line, Date.now());
      published++;
    }
    await publisher.flush();
    log(`filled ${stream}`);
    return published;
  } finally {
    await connection.drain();
  }
}
