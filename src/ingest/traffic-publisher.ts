// Publishes generated traffic into a pipeline's stream at a steady rate (the demo and `generate --pipeline`).
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { PipelineConfig } from "../config/pipeline.ts";
import type { Metrics } from "../metrics/registry.ts";
import { connectNats } from "../transport/connection.ts";
import { ensureStream, streamOptions } from "../transport/stream.ts";
import { generateTraffic, toNdjsonLine, type GenerateOptions } from "./generate.ts";
import type { IngestCounts } from "./record-publisher.ts";
import { streamRecordPublisher } from "./stream-record-publisher.ts";

export interface TrafficPublishOptions {
  config: PipelineConfig;
  traffic: GenerateOptions;
  /** Events per second; Infinity sends as fast as JetStream acknowledges. */
  rate: number;
  signal?: AbortSignal;
  metrics?: Metrics;
  /** Where what was changed on the stream is said; default stderr. */
  log?: (line: string) => void;
  /**
   * Every this many events, one record a sloppy website sends as well: an invalid one (dead-lettered) and a page view
   * dated at the traffic's start (late by then). The demo shows its invalid_events and late_events tables this way.
   */
  faultsEvery?: number;
  /**
   * Each event arrives (received_at) at its own event time instead of the wall clock's now: for traffic in accelerated
   * event time (the demo), whose days pass in seconds and soon run ahead of the clock. Arriving "now", those events
   * would be a clock ahead for the watermark (held at received_at + maxFutureSkew), so sessions and windows would stop
   * closing and every later event would stay in state.
   */
  arrivalAtEventTime?: boolean;
}

/** The invalid records faultsEvery cycles through, each with a reason the worker's dead letters name. */
const INVALID_RECORDS = [
  "not json at all",
  '{"type":"page_view","ts":"2026-13-45T99:00:00Z","anon_id":"sloppy","url":"/"}',
  '{"type":"page_view","anon_id":"sloppy","url":"/"}',
  '{"type":"purchase","ts":1,"user_id":"sloppy","order_id":"x","revenue":"12,50"}',
];

/**
 * Sends the generated events in event-time order, pacing by the wall clock. Event time then runs far faster than
 * the clock (days of traffic in minutes), so windows and snapshots close quickly.
 */
export async function publishTraffic(options: TrafficPublishOptions): Promise<IngestCounts> {
  const { config, traffic, rate, signal } = options;
  const connection = await connectNats(config.nats);
  try {
    await ensureStream(await jetstreamManager(connection), config.nats.stream, streamOptions(config.nats, options.log ?? ((line) => console.error(line))));
    const publisher = streamRecordPublisher({
      config,
      js: jetstream(connection),
      connection,
      source: "publish",
      // The same traffic (seed, start, size) always gets the same batch ids: a re-run is deduplicated.
      msgIdPrefix: `generate-${traffic.seed ?? 1}-${traffic.start ?? "default"}-${traffic.visitors}-${traffic.days}`,
      metrics: options.metrics,
    });
    const pacing = Number.isFinite(rate) && rate > 0;
    const step = pacing ? Math.max(1, Math.round(rate / 20)) : Number.POSITIVE_INFINITY;
    const began = Date.now();
    let sent = 0;
    const faultsEvery = options.faultsEvery ?? 0;
    const lateTs = traffic.start ?? Date.now();
    const arrivalAtEventTime = options.arrivalAtEventTime ?? false;
    for (const event of generateTraffic(traffic)) {
      if (signal?.aborted) break;
      const receivedAt = arrivalAtEventTime ? event.ts : Date.now();
      await publisher.publishJsonLine(toNdjsonLine(event), receivedAt);
      sent++;
      if (faultsEvery > 0 && sent % faultsEvery === 0) {
        const fault = sent / faultsEvery;
        await publisher.publishJsonLine(INVALID_RECORDS[fault % INVALID_RECORDS.length], receivedAt);
        const late = { type: "page_view", ts: lateTs, event_id: `late-${traffic.seed ?? 1}-${fault}`, anon_id: `late-${fault}`, url: "/late" };
        await publisher.publishJsonLine(JSON.stringify(late), receivedAt);
      }
      if (sent % step === 0) {
        await publisher.flush();
        const ahead = (sent / rate) * 1000 - (Date.now() - began);
        if (ahead > 0) await sleep(ahead, signal);
      }
    }
    return await publisher.flush();
  } finally {
    await connection.drain().catch(() => connection.close());
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
