// Reading a clickpipe stream in stream order from a sequence with an ordered consumer (our checkpoint holds the position).
import type { Consumer, ConsumerMessages, JetStreamClient } from "@nats-io/jetstream";

export type StreamMessage = {
  /** Stream sequence: the position a checkpoint records. */
  seq: number;
  subject: string;
  data: Uint8Array;
  /** Messages after this one (matching the filter) still in the stream when it was delivered. */
  pending: number;
  /** When JetStream stored the message (epoch ms): the same on every replay, unlike the wall clock. */
  timestampMs: number;
};

export type StreamReaderOptions = {
  /** First stream sequence to deliver (checkpointed sequence + 1). Default 1. */
  startSequence?: number;
  /** Subjects to read; default all of the stream's subjects. More than one needs nats-server 2.10. */
  filterSubjects?: string[];
  /** Stop after the last message that was in the stream at open (`run --drain`); otherwise follow forever. */
  drainUntil?: boolean;
  /** Messages requested per pull and buffered at most. Default 1000; mutually exclusive with maxBytes. */
  maxMessages?: number;
  /** Bytes requested per pull and buffered at most (bounds memory when messages are large). */
  maxBytes?: number;
  /** Lifetime of one pull request in ms; heartbeats run at half of it. Default 3000. */
  expiresMs?: number;
};

const DEFAULT_MAX_MESSAGES = 1000;
/**
 * After a server restart the ordered consumer of @nats-io/jetstream 3.4 recreates itself but pulls nothing until two
 * idle heartbeats are missed; short pulls (heartbeat every 1.5 s) bound that stall to about 3 s instead of 30 s.
 */
const DEFAULT_EXPIRES_MS = 3_000;

/**
 * An async iterable over a stream's messages in sequence order. The ordered consumer recreates itself from the last
 * delivered sequence after disconnects and server restarts, so iteration continues without gaps or repeats.
 */
export class StreamReader implements AsyncIterable<StreamMessage> {
  /** num_pending of the last delivered message (for clickpipe_consumer_pending_messages). */
  pending: number;
  /** Sequence of the last delivered message; startSequence - 1 before the first. */
  lastDeliveredSequence: number;
  private closed = false;

  private constructor(
    readonly stream: string,
    /** The stream's last sequence when the reader opened: where drainUntil stops. */
    readonly lastSequenceAtOpen: number,
    private readonly drainUntil: boolean,
    private readonly consumer: Consumer | undefined,
    private readonly messages: ConsumerMessages | undefined,
    startSequence: number,
    initialPending: number,
  ) {
    this.pending = initialPending;
    this.lastDeliveredSequence = startSequence - 1;
  }

  static async open(js: JetStreamClient, stream: string, options: StreamReaderOptions = {}): Promise<StreamReader> {
    const startSequence = options.startSequence ?? 1;
    if (!Number.isInteger(startSequence) || startSequence < 1) {
      throw new RangeError(`startSequence must be an integer ≥ 1, got ${startSequence}`);
    }
    const handle = await js.streams.get(stream);
    const lastSequenceAtOpen = (await handle.info(true)).state.last_seq;
    const drainUntil = options.drainUntil === true;
    if (drainUntil && startSequence > lastSequenceAtOpen) {
      return new StreamReader(stream, lastSequenceAtOpen, true, undefined, undefined, startSequence, 0);
    }
    const filters = options.filterSubjects;
    const consumer = await handle.getConsumer({
      opt_start_seq: startSequence,
      ...(filters !== undefined && filters.length > 0 && { filter_subjects: filters.length === 1 ? filters[0] : filters }),
    });
    const initialPending = (await consumer.info(true)).num_pending;
    if (drainUntil && initialPending === 0) {
      await consumer.delete().catch(() => undefined);
      return new StreamReader(stream, lastSequenceAtOpen, true, undefined, undefined, startSequence, 0);
    }
    const expires = options.expiresMs ?? DEFAULT_EXPIRES_MS;
    const messages = await consumer.consume(
      options.maxBytes !== undefined
        ? { max_bytes: options.maxBytes, expires }
        : { max_messages: options.maxMessages ?? DEFAULT_MAX_MESSAGES, expires },
    );
    return new StreamReader(stream, lastSequenceAtOpen, drainUntil, consumer, messages, startSequence, initialPending);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamMessage> {
    if (this.messages === undefined) return;
    try {
      for await (const message of this.messages) {
        const seq = message.seq;
        const pending = message.info.pending;
        this.pending = pending;
        this.lastDeliveredSequence = seq;
        yield { seq, subject: message.subject, data: message.data, pending, timestampMs: Math.floor(message.info.timestampNanos / 1e6) };
        // pending 0 also ends a drain when the message at lastSequenceAtOpen is outside the filter.
        if (this.drainUntil && (seq >= this.lastSequenceAtOpen || pending === 0)) break;
      }
    } finally {
      await this.close();
    }
  }

  /** Stops reading and deletes the server-side consumer (it would expire by itself after inactivity). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.messages !== undefined) await this.messages.close();
    await this.consumer?.delete().catch(() => undefined);
  }
}
