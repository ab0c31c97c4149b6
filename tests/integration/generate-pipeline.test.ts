// `clickpipe generate --pipeline p.yaml --rate R` sends the same traffic `--out` writes, into the pipeline's stream.
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { generateLines } from "../../src/ingest/generate.ts";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

describe("clickpipe generate --pipeline", () => {
  it("publishes every generated event once, in event-time order, and a re-run adds nothing", async () => {
    const natsUrl = inject("natsUrl");
    const stream = uniqueStreamName("GENERATE");
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-generate-"));
    try {
      const pipeline = join(directory, "p.yaml");
      await writeFile(
        pipeline,
        `name: gen\nnats:\n  url: ${natsUrl}\n  stream: ${stream}\nsinks:\n  - type: parquet\n    path: ${join(directory, "out")}\n`,
      );
      const args = ["generate", "--visitors", "60", "--days", "2", "--seed", "5", "--pipeline", pipeline, "--rate", "20000"];
      const first = await runCli(args);
      expect(first.code, first.stderr).toBe(0);
      const second = await runCli(args);
      expect(second.code, second.stderr).toBe(0);

      const expected = [...generateLines({ visitors: 60, days: 2, seed: 5 })].map((line) => JSON.parse(line).event_id as string);
      const connection = await connect({ servers: natsUrl });
      const reader = await StreamReader.open(jetstream(connection), stream, { startSequence: 1, drainUntil: true });
      const stored: string[] = [];
      for await (const message of reader) for (const line of splitBatch(message.data)) stored.push(JSON.parse(line).event_id);
      await reader.close();
      await connection.close();
      expect(stored).toEqual(expected);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
