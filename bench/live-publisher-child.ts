// Benchmark child: the live run's publisher. Publishes the first events of the bench's generated traffic at a fixed
// rate, each stamped with its publish time as `ts`, flushing every ~5 ms; reports what it published and how fast.
//
// In a process of its own for the reason the ceiling has one (bench/ceiling-child.ts): in the bench's process, beside
// the million lines it keeps, garbage collections stalled this loop with stamped events not yet flushed (their wait
// counted as the worker's latency) and it fell behind the rate (19,839 of 40,477 events/s in the session-8 full run).
//
// The events go through the edge (validation, bot rules, privacy, as `clickpipe publish` does) before the clock starts,
// and the timed loop only stamps `ts` and `received_at` and publishes: with the edge in the loop this publisher reached
// 58k events/s on an idle 2-core machine and 25–46k beside the worker, short of the half of the drain's rate that the
// live run is meant to offer (session 24).
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parsePipelineText } from "../src/config/load.ts";
import { generateLines } from "../src/ingest/generate.ts";
import { RecordPublisher, type RecordSink } from "../src/ingest/record-publisher.ts";
import { BatchPublisher } from "../src/transport/publisher.ts";

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

// The same traffic as the bench's lines (same generator and seed), through the edge before the clock starts: each
// record as the edge would publish it, with the partition it goes to. The edge sees each event stamped with the time
// it passes, as it did when it ran in the loop.
const prepared: { record: Record<string, unknown>; partition: number }[] = [];
let deadLetters = 0;
const capture: RecordSink = {
  add: (line, partition) => void prepared.push({ record: JSON.parse(line) as Record<string, unknown>, partition }),
  addDeadLetter: () => void deadLetters++,
  flush: async () => undefined,
};
const edge = new RecordPublisher({ config, sink: capture, source: "publish" });
let read = 0;
for (const line of generateLines({ visitors: Number(visitorsText), days: Number(daysText), seed: 42 })) {
  if (read === total) break;
  read++;
  const event = JSON.parse(line) as Record<string, unknown>;
  const now = Date.now();
  event.ts = now;
  await edge.publishJsonLine(JSON.stringify(event), now);
}
// The parent waits for `total` events in the stream: every one must pass the edge.
if (prepared.length !== total) throw new Error(`the edge published ${prepared.length} of ${total} events (${deadLetters} dead letters)`);

const connection = await connect({ servers: config.nats.url });
const publisher = new BatchPublisher(jetstream(connection), {
  stream: config.nats.stream,
  partitions: config.nats.partitions,
  msgIdPrefix: config.nats.stream,
  connection,
});
const began = performance.now();
let sent = 0;
while (sent < prepared.length) {
  const due = Math.min(prepared.length, Math.floor((rate * (performance.now() - began)) / 1000));
  for (; sent < due; sent++) {
    const { record, partition } = prepared[sent];
    const now = Date.now();
    record.ts = now;
    record.received_at = now;
    const wait = publisher.add(JSON.stringify(record), partition);
    if (wait !== undefined) await wait;
  }
  // A flush every ~5 ms: batching adds at most that much to the latency.
  await publisher.flush();
  await new Promise((resolve) => setTimeout(resolve, 5));
}
const result: LivePublishResult = { published: sent, seconds: (performance.now() - began) / 1000 };
await connection.close();
console.log(JSON.stringify(result));
