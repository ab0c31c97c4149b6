// HTTP collectors for integration tests on the suite's nats-server: one connection per test file, each collector on a
// stream of its own and a free loopback port, stopped after each test; the streams deleted after the file's tests.
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, afterEach, beforeAll, inject } from "vitest";
import { httpSource, pipelineSchema, type PipelineInput } from "../../src/config/pipeline.ts";
import { createHttpCollector, type HttpCollector, type HttpCollectorOptions } from "../../src/ingest/http-collector.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { uniqueStreamName } from "./nats-server.ts";

export interface StartedCollector {
  collector: HttpCollector;
  /** http://127.0.0.1:<port> */
  base: string;
  stream: string;
  metrics: Metrics;
  /** The collector's log lines. */
  logs: string[];
}

export interface HttpCollectorScratch {
  readonly connection: NatsConnection;
  readonly manager: JetStreamManager;
  /**
   * Starts a collector of an http source on 127.0.0.1, port 0, taking the write key (plus `source`'s settings), for
   * the pipeline (plus `pipeline`'s settings) on a new stream.
   */
  startCollector(source?: Record<string, unknown>, pipeline?: Partial<PipelineInput>, options?: HttpCollectorOptions): Promise<StartedCollector>;
}

/**
 * Registers the file's beforeAll, afterEach and afterAll (call it at the top of a test file); the connection and
 * manager exist from beforeAll on.
 */
export function httpCollectorScratch(settings: {
  /** The NATS connection's name. */
  connection: string;
  streamPrefix: string;
  pipelineName: string;
  writeKey: string;
}): HttpCollectorScratch {
  const natsUrl = inject("natsUrl");
  const running: HttpCollector[] = [];
  const streams: string[] = [];
  let opened: { connection: NatsConnection; manager: JetStreamManager } | undefined;
  beforeAll(async () => {
    const connection = await connectNats({ url: natsUrl, name: settings.connection });
    opened = { connection, manager: await jetstreamManager(connection) };
  });
  afterEach(async () => {
    while (running.length > 0) await running.pop()!.stop();
  });
  afterAll(async () => {
    if (opened === undefined) return;
    for (const stream of streams) await opened.manager.streams.delete(stream).catch(() => undefined);
    await opened.connection.close();
  });
  const open = () => {
    if (opened === undefined) throw new Error("httpCollectorScratch: used before its beforeAll ran");
    return opened;
  };
  return {
    get connection() {
      return open().connection;
    },
    get manager() {
      return open().manager;
    },
    async startCollector(source = {}, pipeline = {}, options = {}) {
      const stream = uniqueStreamName(settings.streamPrefix);
      streams.push(stream);
      const config = pipelineSchema.parse({
        name: settings.pipelineName,
        nats: { url: natsUrl, stream },
        sinks: [{ type: "parquet", path: "/tmp/unused" }],
        ...pipeline,
      });
      const sourceConfig = httpSource.parse({ type: "http", port: 0, host: "127.0.0.1", writeKeys: [settings.writeKey], ...source });
      const metrics = new Metrics();
      const logs: string[] = [];
      const collector = createHttpCollector(
        sourceConfig,
        { pipeline: config, connection: open().connection, metrics, stateDirectory: "/tmp/unused", log: (line) => logs.push(line) },
        options,
      );
      await collector.start();
      running.push(collector);
      return { collector, base: `http://127.0.0.1:${collector.address().port}`, stream, metrics, logs };
    },
  };
}
