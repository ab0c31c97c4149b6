// A RecordPublisher whose records go into the pipeline's stream through a BatchPublisher. Apart from
// record-publisher.ts so that parse threads, which hand their records to the main thread, do not load the NATS client.
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { BatchPublisher } from "../transport/publisher.ts";
import { RecordPublisher, type RecordPublisherOptions } from "./record-publisher.ts";

export interface StreamRecordPublisherOptions extends Omit<RecordPublisherOptions, "sink"> {
  js: JetStreamClient;
  /** Lets the publisher keep batch order across a NATS outage (it resends failed batches first). */
  connection?: NatsConnection;
  /** Prefix of the deterministic Nats-Msg-Id of every batch: the same input under the same prefix is stored once. */
  msgIdPrefix: string;
  /** Events per JetStream message at most; BatchPublisher's default 100. */
  maxBatchEvents?: number;
  /** Bytes per JetStream message at most; BatchPublisher's default 512 KiB. */
  maxBatchBytes?: number;
}

export function streamRecordPublisher(options: StreamRecordPublisherOptions): RecordPublisher {
  const { js, connection, msgIdPrefix, maxBatchEvents, maxBatchBytes, ...rest } = options;
  const sink = new BatchPublisher(js, {
    stream: options.config.nats.stream,
    partitions: options.config.nats.partitions,
    msgIdPrefix,
    connection,
    maxBatchEvents,
    maxBatchBytes,
  });
  return new RecordPublisher({ ...rest, sink });
}
