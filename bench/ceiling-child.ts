// Benchmark child: the (JetStream read + JSON.parse) ceiling in a fresh process, as the drain it is compared with runs.
//
// Until session 8 the loop ran in the bench's own process, beside the million generated lines the bench keeps for the
// other sections (≈ 0.4 GB of strings): the garbage collections of that heap slowed the loop by up to 2× (100–160k
// events/s there against 250–320k in a process of its own, in the same half hour) and so flattered the end-to-end
// ratio. Both sides of the ratio now start alike: a fresh process, its own connection, the clock started once connected.
// Since session 13 both also read through the same transport (src/transport/large-read-transport.ts), which made this
// loop 15–30% faster and the drain 5–15%: a faster read path raises the ceiling as well as what it bounds.
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { splitBatch } from "../src/transport/batch-codec.ts";
import { connectNats } from "../src/transport/connection.ts";
import { StreamReader } from "../src/transport/reader.ts";

export interface CeilingResult {
  read: number;
  seconds: number;
  /** The process's minor page faults over `seconds` (≈ 4 µs each on these VMs; they vary from run to run). */
  minorFaults?: number;
}

/**
 * The ceiling's loop: every message of the stream read back (no acks) and every event in it JSON.parsed; the count.
 * It reads with the reader's defaults, as the worker does (pulls of 8 MiB; until session 10 this loop pulled 1,000
 * messages at a time, which now and then passed nats-server's max_pending and stalled it as a slow consumer).
 */
export async function readAndParseStream(connection: NatsConnection, stream: string): Promise<number> {
  let read = 0;
  const reader = await StreamReader.open(jetstream(connection), stream, { startSequence: 1, drainUntil: true });
  for await (const message of reader) {
    for (const line of splitBatch(message.data)) {
      JSON.parse(line);
      read++;
    }
  }
  await reader.close();
  return read;
}

const [url, stream] = process.argv.slice(2);
if (url === undefined || stream === undefined) throw new Error("usage: ceiling-child.ts <nats url> <stream>");
// The worker's own connection (connectNats: nats.js over LargeReadTransport), so both sides of the ratio read alike.
const connection = await connectNats({ url });
const started = performance.now();
const faultsBefore = process.resourceUsage().minorPageFault;
const read = await readAndParseStream(connection, stream);
const result: CeilingResult = {
  read,
  seconds: (performance.now() - started) / 1000,
  minorFaults: process.resourceUsage().minorPageFault - faultsBefore,
};
await connection.close();
console.log(JSON.stringify(result));
