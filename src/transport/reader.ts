// Reading a clickpipe stream in stream order from a sequence with an ordered consumer (our checkpoint holds the position).
import { JetStreamApiCodes, JetStreamApiError, type Consumer, type ConsumerMessages, type JetStreamClient } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/nats-core";

export type StreamMessage = {
  /** Stream sequence: the position a checkpoint records. */
  seq: number;
  subject: string;
  data: Uint8Array;
  /** Messages after this one (matching the filter) still in the stream when it was delivered. */
  pending: number;
  /** When JetStream stored the message (epoch ms): the same on every replay, unlike the wall clock. */
  timestampMs: number;
  headers?: MsgHdrs;
};

export type StreamReaderOptions = {
  /** First stream sequence to deliver (checkpointed sequence + 1). Default 1. */
  startSequence?: number;
  /** Subjects to read; default all of the stream's subjects. More than one needs nats-server 2.10. */
  filterSubjects?: string[];
  /** Stop after the last message that was in the stream at open (`run --drain`); otherwise follow forever. */
  drainUntil?: boolean;
  /** Messages requested per pull and buffered at most; mutually exclusive with maxBytes. */
  maxMessages?: number;
  /** Bytes requested per pull and buffered at most; the default (DEFAULT_MAX_BYTES) when neither is given. */
  maxBytes?: number;
  /** Lifetime of one pull request in ms; heartbeats run at half of it. Default 3000. */
  expiresMs?: number;
  /**
   * Told of stream sequences the reader should have delivered but the stream no longer holds (its limits, max age or
   * max bytes, discarded them, or someone deleted them): at open, when the stream's first sequence is past
   * startSequence, and, without filterSubjects, whenever a delivery skips sequences. Called before the next message
   * is delivered, so the caller's position may move past them.
   */
  onDiscarded?: (discarded: DiscardedSequences) => void;
  /**
   * A sequence through which the caller read every message of its subjects already, though its position (so
   * startSequence) may be lower: a filtered reader's position is its subject's last message, and the stream may since
   * have discarded other subjects' messages after it. Sequences discarded at or below it are no loss. Default none.
   */
  readThrough?: number;
  /**
   * Told once when the stream the reader opened was deleted, or deleted and created again under its name (another
   * creation time), after which the reader ends. An ordered consumer says nothing of it: it waited for ever, or, once
   * the stream was back, went on at the old sequence in the new stream's messages. The reader asks the stream only
   * after a sign that its consumer was lost (a missed heartbeat, a recreation, a stall), before delivering again.
   */
  onStreamGone?: (what: string) => void;
};

/** Sequences `from`..`to` (inclusive) that a reader never delivered because the stream discarded them. */
export type DiscardedSequences = {
  from: number;
  to: number;
  /**
   * Whether each of them was the reader's to read. A reader of every subject: yes. A filtered reader learns only the
   * stream's first sequence: the discarded range spans every subject, and which of them were its own is gone.
   */
  exact: boolean;
};

/**
 * Pulls are bounded in bytes, not messages: a message batches ~100 events (tens of KB), so the former default of 1,000
 * messages asked for ≈ 37 MB per pull, and with the next pull in flight that passed nats-server's 64 MiB max_pending
 * for a client: the server cut the reader off as a slow consumer (seen in the bench's ceiling loop, which then
 * stalled until it reconnected). 8 MiB keeps a worker fed: a drain waits for input 2–3% of its time.
 */
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
/**
 * When a byte-bounded pull is topped up: once 25 messages (or a quarter of maxBytes) are still to come. nats.js gives
 * such a pull a limit of 100 messages as well, and by default tops it up at three quarters of either limit, so the
 * worker asked for more every 25 messages (≈ 400 pull requests per million events, each waking nats-server on two busy
 * cores). Now it asks every ≈ 75 messages and still has ≈ 2,500 events in hand while the server answers: 17
 * alternating drains, faster in 12 (bench/OPTIMIZATIONS.md, session 13).
 */
const REFILL_AT_MESSAGES = 25;
/**
 * After a server restart the ordered consumer of @nats-io/jetstream 3.4 recreates itself but pulls nothing until two
 * idle heartbeats are missed; short pulls (heartbeat every 1.5 s) bound that stall to about 3 s instead of 30 s.
 */
const DEFAULT_EXPIRES_MS = 3_000;
/**
 * On a cluster the ordered consumer is one replica on one node. When that node dies, @nats-io/jetstream 3.3 keeps
 * asking the dead consumer for its info and never recreates it (the meta layer still lists it). So when the reader has
 * waited this many pull lifetimes without a message or a heartbeat, it recreates the consumer itself from its last
 * delivered sequence, on whichever node now leads the stream.
 */
const SILENT_PULLS_BEFORE_RECREATE = 2;
const RECREATE_RETRY_MS = 500;

/**
 * The stream this worker reads was deleted (and perhaps created again) while it ran: its consumer waits for a sequence
 * the stream will not reach again, or reaches in another stream's messages. The worker commits what it read and stops,
 * so that a restart (its checkpoint names the old stream's creation) reads the new stream from its first message.
 */
export class StreamGoneError extends Error {
  override name = "StreamGoneError";
}

/** Whether a JetStream request failed because the stream does not exist (deleted, or never created). */
export function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
}

/** Consumer statuses after which the stream may be gone: the next delivery waits until it is found to be the same. */
const CONSUMER_LOST: ReadonlySet<string> = new Set(["heartbeats_missed", "stream_not_found", "consumer_not_found", "consumer_deleted", "ordered_consumer_recreated", "reset"]);

/**
 * A stream that is not found is asked again this much later before it counts as deleted: a cluster whose meta leader
 * just changed may answer "stream not found" for a moment, and a worker stopped for that only to be restarted.
 */
const STREAM_NOT_FOUND_CONFIRM_MS = 1_000;

/**
 * What became of the stream opened when it was created at `created`: deleted, or deleted and created again; undefined
 * when it is still that stream. Throws when the server does not answer.
 */
export async function streamReplaced(
  js: Pick<JetStreamClient, "streams">,
  stream: string,
  created: string,
  confirmAfterMs = STREAM_NOT_FOUND_CONFIRM_MS,
): Promise<string | undefined> {
  /** The stream's creation time now; undefined when it is not found. */
  const createdNow = async () => {
    try {
      return (await (await js.streams.get(stream)).info(false)).created;
    } catch (error) {
      if (isStreamNotFound(error)) return undefined;
      throw error;
    }
  };
  let now = await createdNow();
  if (now === undefined) {
    await new Promise((resolve) => setTimeout(resolve, confirmAfterMs));
    now = await createdNow();
  }
  if (now === undefined) return "was deleted";
  return now === created ? undefined : `was deleted and created again (now created ${now}, read since its creation at ${created})`;
}

type StallWatch = { detected: boolean; waitingSince: number | undefined; lastSignOfLife: number };

/**
 * An async iterable over a stream's messages in sequence order. The ordered consumer recreates itself from the last
 * delivered sequence after disconnects and server restarts, so iteration continues without gaps or repeats.
 */
export class StreamReader implements AsyncIterable<StreamMessage> {
  /** num_pending of the last delivered message (for clickpipe_consumer_pending_messages). */
  pending: number;
  /** Sequence of the last delivered message; before the first, the one before max(startSequence, the stream's first). */
  lastDeliveredSequence: number;
  private closed = false;
  /** Whether the consumer showed a sign of being lost since the stream was last found to be the one opened. */
  private streamInDoubt = false;
  /** Whether the stream was found deleted or replaced (the reader ended). */
  private gone = false;
  /** Whether the messages were iterated: only then does closing wait for their iterator to end. */
  private iterated = false;

  private constructor(
    readonly stream: string,
    /** The stream's last sequence when the reader opened: where drainUntil stops. */
    readonly lastSequenceAtOpen: number,
    private readonly drainUntil: boolean,
    private consumer: Consumer | undefined,
    private messages: ConsumerMessages | undefined,
    /** The sequence before the first one to deliver. */
    deliveredThrough: number,
    initialPending: number,
    /** Opens a new ordered consumer from a sequence (after the node holding the current one is lost). */
    private readonly reopen?: (startSequence: number) => Promise<{ consumer: Consumer; messages: ConsumerMessages }>,
    private readonly stallAfterMs = SILENT_PULLS_BEFORE_RECREATE * DEFAULT_EXPIRES_MS,
    /** A reader of every subject: told when a delivery skips sequences (an ordered consumer passes discarded ones). */
    private readonly onSkipped?: (discarded: DiscardedSequences) => void,
    /** Asks whether the stream is still the one opened: what became of it if not (see onStreamGone). */
    private readonly streamReplaced?: () => Promise<string | undefined>,
    private readonly onStreamGone?: (what: string) => void,
  ) {
    this.pending = initialPending;
    this.lastDeliveredSequence = deliveredThrough;
  }

  static async open(js: JetStreamClient, stream: string, options: StreamReaderOptions = {}): Promise<StreamReader> {
    const startSequence = options.startSequence ?? 1;
    if (!Number.isInteger(startSequence) || startSequence < 1) {
      throw new RangeError(`startSequence must be an integer ≥ 1, got ${startSequence}`);
    }
    const handle = await js.streams.get(stream);
    const opened = await handle.info(true);
    const { first_seq: firstSequence, last_seq: lastSequenceAtOpen } = opened.state;
    const filters = options.filterSubjects;
    const unfiltered = filters === undefined || filters.length === 0;
    // An ordered consumer asked to start below the first sequence starts at it without a word: the messages between
    // were discarded before anyone read them, which must not go unsaid. A filtered reader names the whole range past
    // readThrough: its subject's messages still there (count, first, last) read the same whether some of the range
    // were its own or none, as the stream keeps nothing of a discarded message (stream-limits.test.ts).
    const unreadFrom = Math.max(startSequence, (options.readThrough ?? 0) + 1);
    if (options.onDiscarded !== undefined && firstSequence > unreadFrom) {
      options.onDiscarded({ from: unreadFrom, to: firstSequence - 1, exact: unfiltered });
    }
    const deliveredThrough = Math.max(startSequence, firstSequence) - 1;
    const drainUntil = options.drainUntil === true;
    if (drainUntil && startSequence > lastSequenceAtOpen) {
      return new StreamReader(stream, lastSequenceAtOpen, true, undefined, undefined, deliveredThrough, 0);
    }
    const orderedFrom = (sequence: number) =>
      handle.getConsumer({
        opt_start_seq: sequence,
        ...(filters !== undefined && filters.length > 0 && { filter_subjects: filters.length === 1 ? filters[0] : filters }),
      });
    const consumer = await orderedFrom(startSequence);
    const initialPending = (await consumer.info(true)).num_pending;
    if (drainUntil && initialPending === 0) {
      await consumer.delete().catch(() => undefined);
      return new StreamReader(stream, lastSequenceAtOpen, true, undefined, undefined, deliveredThrough, 0);
    }
    const expires = options.expiresMs ?? DEFAULT_EXPIRES_MS;
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const consumeOptions =
      options.maxMessages !== undefined
        ? { max_messages: options.maxMessages, expires }
        : {
            max_bytes: maxBytes,
            threshold_messages: REFILL_AT_MESSAGES,
            threshold_bytes: Math.floor(maxBytes / 4),
            expires,
          };
    const messages = await consumer.consume(consumeOptions);
    const reopen = async (sequence: number) => {
      const next = await orderedFrom(sequence);
      return { consumer: next, messages: await next.consume(consumeOptions) };
    };
    const onSkipped = unfiltered ? options.onDiscarded : undefined;
    return new StreamReader(
      stream,
      lastSequenceAtOpen,
      drainUntil,
      consumer,
      messages,
      deliveredThrough,
      initialPending,
      reopen,
      SILENT_PULLS_BEFORE_RECREATE * expires,
      onSkipped,
      () => streamReplaced(js, stream, opened.created),
      options.onStreamGone,
    );
  }

  /**
   * Stops `messages` once the reader has waited `afterMs` with neither a message nor a heartbeat nor an expired pull
   * from the server, and says so in `stall` first. (While the caller is busy no pull is open, so silence is normal.)
   */
  private static stopWhenSilent(messages: ConsumerMessages, stall: StallWatch, afterMs: number, onConsumerLost: () => void): NodeJS.Timeout {
    void (async () => {
      for await (const status of messages.status()) {
        if (status.type === "heartbeat" || status.type === "discard") stall.lastSignOfLife = Date.now();
        else if (CONSUMER_LOST.has(status.type)) onConsumerLost();
      }
    })();
    return setInterval(() => {
      if (stall.waitingSince === undefined || stall.detected) return;
      if (Date.now() - Math.max(stall.waitingSince, stall.lastSignOfLife) < afterMs) return;
      stall.detected = true;
      messages.stop();
    }, Math.max(100, afterMs / 10));
  }

  /** Replaces a stalled consumer with a new one from the next undelivered sequence, retrying until a node answers. */
  private async recreate(): Promise<void> {
    const stale = this.consumer;
    void stale?.delete().catch(() => undefined);
    this.streamInDoubt = true;
    while (!this.closed) {
      try {
        // Not on another stream of the same name: its sequences are not this one's.
        if (await this.streamWentAway()) return;
        const { consumer, messages } = await this.reopen!(this.lastDeliveredSequence + 1);
        if (this.closed) {
          // close() ran while the new consumer was being created: it only knew the stale one.
          await messages.close();
          await consumer.delete().catch(() => undefined);
          return;
        }
        this.consumer = consumer;
        this.messages = messages;
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, RECREATE_RETRY_MS));
      }
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamMessage> {
    if (this.messages === undefined) return;
    this.iterated = true;
    try {
      while (await (yield* this.readUntilSilent(this.messages))) {
        if (this.closed || this.reopen === undefined) return;
        await this.recreate();
        if (this.gone) return;
      }
    } finally {
      await this.close();
    }
  }

  /** Yields `messages` until they end; returns true when they ended because the server fell silent (a lost node). */
  private async *readUntilSilent(messages: ConsumerMessages): AsyncGenerator<StreamMessage, boolean> {
    const stall: StallWatch = { detected: false, waitingSince: Date.now(), lastSignOfLife: Date.now() };
    const watchdog = StreamReader.stopWhenSilent(messages, stall, this.stallAfterMs, () => (this.streamInDoubt = true));
    const drained = { ended: false };
    const endWatch = this.drainUntil ? this.stopWhenNothingLeft(messages, stall, drained) : undefined;
    try {
      for await (const message of messages) {
        // One boolean per message: the stream is asked only after a sign that the consumer was lost.
        if (this.streamInDoubt && (await this.streamWentAway())) return false;
        stall.waitingSince = undefined;
        stall.lastSignOfLife = Date.now();
        const seq = message.seq;
        // One comparison per message (a batch of events): a reader of every subject sees each sequence in turn.
        if (seq !== this.lastDeliveredSequence + 1 && this.onSkipped !== undefined && seq > this.lastDeliveredSequence + 1) {
          this.onSkipped({ from: this.lastDeliveredSequence + 1, to: seq - 1, exact: true });
        }
        const pending = message.info.pending;
        this.pending = pending;
        this.lastDeliveredSequence = seq;
        yield {
          seq,
          subject: message.subject,
          data: message.data,
          pending,
          timestampMs: Math.floor(message.info.timestampNanos / 1e6),
          // Decoded when read (only forwarded messages are): decoding every message's headers took ≈ 1% of a
          // drain's main thread.
          get headers() {
            return message.headers;
          },
        };
        // pending 0 also ends a drain when the message at lastSequenceAtOpen is outside the filter.
        if (this.drainUntil && (seq >= this.lastSequenceAtOpen || pending === 0)) return false;
        stall.waitingSince = Date.now();
      }
      if (drained.ended) {
        // Every sequence after the last delivered one through the drain's end is gone (a reader of every subject: each
        // of them was its own to read).
        if (this.onSkipped !== undefined && this.lastDeliveredSequence < this.lastSequenceAtOpen) {
          this.onSkipped({ from: this.lastDeliveredSequence + 1, to: this.lastSequenceAtOpen, exact: true });
        }
        return false;
      }
      return stall.detected;
    } finally {
      clearInterval(watchdog);
      if (endWatch !== undefined) clearInterval(endWatch);
    }
  }

  /**
   * A drain's end when the stream discarded (its limits, or a purge) every message the drain had still to read: no
   * delivery would ever reach lastSequenceAtOpen or carry pending 0. While the reader waits, its consumer is asked
   * now and then; when it has nothing pending twice in a row with no delivery in between (a message the server had
   * sent just before the first answer arrives in the meantime), `messages` are stopped and `drained` says so.
   */
  private stopWhenNothingLeft(messages: ConsumerMessages, stall: StallWatch, drained: { ended: boolean }): NodeJS.Timeout {
    let asking = false;
    /** The last delivered sequence when the consumer last said nothing was pending; undefined: it did not. */
    let emptyAt: number | undefined;
    return setInterval(() => {
      if (asking || drained.ended || this.consumer === undefined) return;
      if (stall.waitingSince === undefined) {
        emptyAt = undefined;
        return;
      }
      const consumer = this.consumer;
      const through = this.lastDeliveredSequence;
      asking = true;
      void consumer
        .info(false)
        .then((info) => {
          if (info.num_pending !== 0 || stall.waitingSince === undefined || this.lastDeliveredSequence !== through) {
            emptyAt = undefined;
            return;
          }
          if (emptyAt !== through) {
            emptyAt = through;
            return;
          }
          drained.ended = true;
          messages.stop();
        })
        // A server away for a moment: asked again next time (the stall watch handles a lost node).
        .catch(() => undefined)
        .finally(() => {
          asking = false;
        });
    }, Math.max(100, Math.min(1000, this.stallAfterMs / 10)));
  }

  /**
   * Whether the stream was deleted or replaced since the reader opened it; if so onStreamGone is told and the reader
   * closes. A server that does not answer leaves the question open: asked again until it answers or the reader closes.
   */
  private async streamWentAway(): Promise<boolean> {
    if (this.streamReplaced === undefined) return false;
    while (!this.closed) {
      try {
        const what = await this.streamReplaced();
        if (what === undefined) {
          this.streamInDoubt = false;
          return false;
        }
        this.gone = true;
        this.onStreamGone?.(what);
        void this.close();
        return true;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, RECREATE_RETRY_MS));
      }
    }
    return true;
  }

  /** Stops reading and deletes the server-side consumer (it would expire by itself after inactivity). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.messages !== undefined) {
      // close() waits until the messages' iterator has run to its end: never, for one nobody iterated (a reader
      // closed right after it opened, as when a task is handed over before its first message).
      if (this.iterated) await this.messages.close();
      else this.messages.stop();
    }
    await this.consumer?.delete().catch(() => undefined);
  }
}
