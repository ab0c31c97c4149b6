// What a stream holds, counted: the oracle of tests that check a source stored every record exactly once.
import { jetstream } from "@nats-io/jetstream";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { decodeDeadLetters } from "../../src/transport/dead-letter.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { parseSubject } from "../../src/transport/subjects.ts";

/** Every event of `stream` counted by `eventKey`, every dead letter by its raw record. */
export async function countStreamContent(natsUrl: string, stream: string, eventKey: (event: Record<string, unknown>) => string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const count = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
  const connection = await connectNats({ url: natsUrl });
  try {
    const reader = await StreamReader.open(jetstream(connection), stream, { drainUntil: true });
    for await (const message of reader) {
      if (parseSubject(stream, message.subject)?.kind === "dlq") for (const letter of decodeDeadLetters(message.data)) count(letter.raw);
      else for (const line of splitBatch(message.data)) count(eventKey(JSON.parse(line) as Record<string, unknown>));
    }
  } finally {
    await connection.close();
  }
  return counts;
}
