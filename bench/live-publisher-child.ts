// Benchmark child: the live run's publisher. Publishes the first events of the bench's generated traffic at a fixed
// rate, each stamped with its publish time as `ts`, flushing every ~5 ms; reports what it published and how fast.
//
// In a process of its own for the reason the ceiling has one (bench/ceiling-child.ts): in the bench's process, beside
// the million lines it keeps, garbage collections stalled this loop with stamped events not yet flushed (their wait
// counted as the worker's latency) and it fell behind the rate (19,839 of 40,477 events/s in the session-8 full run).
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parsePipelineText } from "../src/config/load.ts";
import { generateLines } from "../src/ingest/generate.ts";
import { streamRecordPublisher } from "../src/ingest/stream-record-publisher.ts";

export interface LivePublishResult {
  published: number;
  seconds: number;
}

const [pipelineText, rateText, totalText, visitorsText, daysText] = process.argv.slice(2);
const rate = Number(rateText);
const total = Number(totalText);
const loaded = parsePipelineText(pipelineText, "bench-live.yaml", process.env);
if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
const config = loaded.config;

// The same traffic as the bench's lines (same generator and seed), parsed before the clock starts.
const events: Record<string, unknown>[] = [];
for (const line of generateLines({ visitors: Number(visitorsText), days: Number(daysText), seed: 42 })) {
  if (events.length === total) break;
  events.push(JSON.parse(line) as Record<string, unknown>);
}

const connection = await connect({ servers: config.nats.url });
const publisher = streamRecordPublisher({ config, js: jetstream(connection), connection, source: "publish", msgIdPrefix: config.nats.stream });
const began = performance.now();
let sent = 0;
while (sent < events.length) {
  const due = Math.min(events.length, Math.floor((rate * (performance.now() - began)) / 1000));
  for (; sent < due; sent++) {
    const event = events[sent];
    const now = Date.now();
    event.ts = now;
    await publisher.publishJsonLine(JSON.stringify(event), now);
  }
  // A flush every ~5 ms: batching adds at most that much to the latency.
  await publisher.flush();
  await new Promise((resolve) => setTimeout(resolve, 5));
}
const result: LivePublishResult = { published: sent, seconds: (performance.now() - began) / 1000 };
await connection.close();
console.log(JSON.stringify(result));
