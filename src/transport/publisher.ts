// Batched, pipelined, deduplicated publishing of event lines and dead letters into a clickpipe stream.
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { idWithinBytes } from "../events/event-id.ts";
import { encodeDeadLetter, type DeadLetter } from "./dead-letter.ts";
import { isJetStreamNotEnabled, isTransientNatsError } from "./nats-retry.ts";
import { dlqSubject, eventsSubject } from "./subjects.ts";

export type BatchPublisherOptions = {
  stream: string;
  partitions: number;
  /** Event lines per message at most. Default 100. */
  maxBatchEvents?: number;
  /** Message body bytes at most; stays under the server's max_payload (default 1 MiB). Default 512 KiB. */
  maxBatchBytes?: number;
  /** Messages published but not yet acknowledged at most; `add` waits beyond that (backpressure). Default 64. */
  maxInFlight?: number;
  /** Start of every Nats-Msg-Id: the same input published with the same prefix is stored once. */
  msgIdPrefix: string;
  /** How long one batch is retried (same Nats-Msg-Id) through disconnects and server restarts. Default 60 s. */
  retryForMs?: number;
  /** How long to wait for one JetStream ack before retrying. Default 4 s. */
  ackTimeoutMs?: number;
  /** The connection under `js`: watching it keeps batch order across disconnects (recommended). */
  connection?: NatsConnection;
  /**
   * Mixes the current batch prefix into each dead letter's id (idWithinBytes): for `clickpipe publish`, whose prefix
   * names the file's bytes so far, so that one file's bad line is not taken for another file's. Default false (a
   * tailer's prefix names its instance, and a re-read under another instance must keep the letters' ids).
   */
  deadLetterIdsWithinPrefix?: boolean;
};

export type PublishStats = {
  /** Event lines acknowledged by JetStream (including ones in batches it recognised as duplicates). */
  events: number;
  /** Event messages (batches) acknowledged. */
  batches: number;
  /** Dead letters acknowledged. */
  deadLetters: number;
  deadLetterBatches: number;
  /** Acknowledged messages JetStream did not store again because their Nats-Msg-Id was seen in the duplicate window. */
  duplicateBatches: number;
  duplicateEvents: number;
};

/** A batch that could not be published: after its retries, or rejected by the server outright. */
export class PublishError extends Error {
  override name = "PublishError";
}

/** The batch being gathered for one subject, and the index the next batch on that subject gets. */
type SubjectBuffer = {
  subject: string;
  /** "0", "1", … or "dlq": the subject's part of the Nats-Msg-Id. */
  idLabel: string;
  isDeadLetter: boolean;
  /**
   * The batch's NDJSON body, each line written as it arrives (so no line outlives its add, and no joined string is
   * built); undefined while the batch is empty.
   */
  body: Buffer | undefined;
  /** Bytes written into `body`. */
  bytes: number;
  lines: number;
  nextBatchIndex: number;
};

/** A batch waiting in the recovery queue; `order` is its position in publish order. */
type QueuedBatch = {
  order: number;
  subject: string;
  data: Uint8Array;
  msgID: string;
  resolve: (ack: PubAck) => void;
  reject: (error: unknown) => void;
};

const KIB = 1024;
/** Spare bodies kept at most: enough for the batches in flight of a busy publisher. */
const MAX_SPARE_BODIES = 16;

/**
 * Buffers lines per partition and publishes NDJSON batches with deterministic Nats-Msg-Ids
 * (`<prefix>:<partition|dlq>:<batch index on that subject>`), keeping at most `maxInFlight` batches unacknowledged.
 * Order on a subject is publish order, also across server restarts when `connection` is given (see startRecovery).
 */
export class BatchPublisher {
  readonly stats: PublishStats = {
    events: 0,
    batches: 0,
    deadLetters: 0,
    deadLetterBatches: 0,
    duplicateBatches: 0,
    duplicateEvents: 0,
  };
  private readonly maxBatchEvents: number;
  private readonly maxBatchBytes: number;
  private readonly maxInFlight: number;
  private readonly retryForMs: number;
  private readonly ackTimeoutMs: number;
  private msgIdPrefix: string;
  private readonly deadLetterIdsWithinPrefix: boolean;
  private readonly partitionBuffers: SubjectBuffer[];
  private readonly deadLetterBuffer: SubjectBuffer;
  /** Unacknowledged batches, oldest first; each promise never rejects (failures land in `failure`). */
  private readonly inFlight: Promise<void>[] = [];
  private failure: Error | undefined;
  private batchesStarted = 0;
  /** First publish attempts not yet settled. */
  private readonly firstAttempts = new Set<Promise<PubAck>>();
  /** Batches to republish one at a time, in publish order. */
  private readonly recoveryQueue: QueuedBatch[] = [];
  /** Bodies of maxBatchBytes whose batches were acknowledged, to be written again (see newBody). */
  private readonly spareBodies: Buffer[] = [];
  private recoveryGate: Promise<unknown> = Promise.resolve();
  private recovering = false;

  constructor(
    private readonly js: JetStreamClient,
    options: BatchPublisherOptions,
  ) {
    this.maxBatchEvents = positive("maxBatchEvents", options.maxBatchEvents ?? 100);
    this.maxBatchBytes = positive("maxBatchBytes", options.maxBatchBytes ?? 512 * KIB);
    this.maxInFlight = positive("maxInFlight", options.maxInFlight ?? 64);
    this.retryForMs = options.retryForMs ?? 60_000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 4_000;
    this.msgIdPrefix = options.msgIdPrefix;
    this.deadLetterIdsWithinPrefix = options.deadLetterIdsWithinPrefix ?? false;
    positive("partitions", options.partitions);
    this.partitionBuffers = Array.from({ length: options.partitions }, (_, partition) =>
      subjectBuffer(eventsSubject(options.stream, partition), String(partition), false),
    );
    this.deadLetterBuffer = subjectBuffer(dlqSubject(options.stream), "dlq", true);
    if (options.connection !== undefined) this.watchConnection(options.connection);
  }

  /**
   * Names the batches published from now on (`<prefix>:<partition|dlq>:<n>`, n running on): for input whose later
   * batches depend on more of it than earlier ones (cli/publish-lines.ts ChunkIds).
   */
  useMsgIdPrefix(prefix: string): void {
    this.msgIdPrefix = prefix;
  }

  /**
   * Buffers one serialized event for `partition`; returns a promise only when the caller must wait (backpressure).
   * `ascii`: the caller knows the line is ASCII, so its length is its size in bytes and it encodes faster.
   */
  add(line: string, partition: number, ascii = false): Promise<void> | void {
    return this.appendString(this.partitionBuffer(partition), line, ascii);
  }

  /**
   * add for an event serialized as UTF-8 bytes elsewhere (another thread): bytes `start`…`end` of `source`, then
   * `suffix`, make its line.
   */
  addBytes(source: Uint8Array, start: number, end: number, suffix: Uint8Array, partition: number): Promise<void> | void {
    const buffer = this.partitionBuffer(partition);
    const wait = this.startLine(buffer, end - start + suffix.length);
    const body = buffer.body as Buffer;
    body.set(source.subarray(start, end), buffer.bytes);
    buffer.bytes += end - start;
    body.set(suffix, buffer.bytes);
    buffer.bytes += suffix.length;
    return this.endLine(buffer, wait);
  }

  /** Buffers one dead letter for `<stream>.dlq`. */
  addDeadLetter(letter: DeadLetter): Promise<void> | void {
    const named = this.deadLetterIdsWithinPrefix && letter.id !== undefined ? { ...letter, id: idWithinBytes(this.msgIdPrefix, letter.id) } : letter;
    return this.appendString(this.deadLetterBuffer, encodeDeadLetter(named), false);
  }

  /** Publishes every partial batch and waits for every acknowledgement; rejects with the first publish failure. */
  async flush(): Promise<void> {
    this.throwIfFailed();
    for (const buffer of this.partitionBuffers) {
      if (buffer.lines > 0) await this.publish(buffer);
    }
    if (this.deadLetterBuffer.lines > 0) await this.publish(this.deadLetterBuffer);
    while (this.inFlight.length > 0) await this.inFlight.shift();
    this.throwIfFailed();
  }

  private partitionBuffer(partition: number): SubjectBuffer {
    const buffer = this.partitionBuffers[partition];
    if (buffer === undefined) {
      throw new RangeError(`partition ${partition} is outside 0..${this.partitionBuffers.length - 1}`);
    }
    return buffer;
  }

  /** Writes one serialized line into the buffer's batch body (`ascii`: its length is its size in bytes). */
  private appendString(buffer: SubjectBuffer, line: string, ascii: boolean): Promise<void> | void {
    const size = ascii ? line.length : Buffer.byteLength(line, "utf8");
    const wait = this.startLine(buffer, size);
    buffer.bytes += (buffer.body as Buffer).write(line, buffer.bytes, size, ascii ? "latin1" : "utf8");
    return this.endLine(buffer, wait);
  }

  /**
   * Makes room in the buffer's body for a line of `size` bytes (and the newline before it): publishes the batch first
   * when the line would take it past maxBatchBytes (a line alone may be bigger).
   */
  private startLine(buffer: SubjectBuffer, size: number): Promise<void> | void {
    this.throwIfFailed();
    let wait: Promise<void> | void = undefined;
    if (buffer.lines > 0 && buffer.bytes + 1 + size > this.maxBatchBytes) wait = this.publish(buffer);
    if (buffer.body === undefined) buffer.body = this.newBody(size);
    else buffer.body[buffer.bytes++] = 0x0a;
    return wait;
  }

  /** Counts the line just written; a batch that is full now is published. */
  private endLine(buffer: SubjectBuffer, wait: Promise<void> | void): Promise<void> | void {
    if (++buffer.lines >= this.maxBatchEvents) {
      // Both publishes are registered before either wait, so a full batch is never held back.
      const second = this.publish(buffer);
      return wait === undefined ? second : wait.then(() => second);
    }
    return wait;
  }

  /**
   * A body for a batch starting with a line of `size` bytes: a spare one when the line fits. Reusing bodies matters on
   * VMs where touching newly mapped memory is slow (about 1 ms per MiB on this project's machines): a new 512 KiB body
   * per batch cost more page faults than writing it.
   */
  private newBody(size: number): Buffer {
    if (size > this.maxBatchBytes) return Buffer.allocUnsafeSlow(size);
    return this.spareBodies.pop() ?? Buffer.allocUnsafeSlow(this.maxBatchBytes);
  }

  /** Starts publishing the buffer's batch as one message; returns a promise when too many are in flight. */
  private publish(buffer: SubjectBuffer): Promise<void> | void {
    const body = buffer.body as Buffer;
    const data = body.subarray(0, buffer.bytes);
    // The count, not the body's lines: a batch waiting for its ack keeps no strings alive.
    const lineCount = buffer.lines;
    buffer.body = undefined;
    buffer.bytes = 0;
    buffer.lines = 0;
    const msgId = `${this.msgIdPrefix}:${buffer.idLabel}:${buffer.nextBatchIndex++}`;
    const pending = this.publishWithRetry(buffer.subject, data, msgId).then(
      (ack) => {
        this.count(buffer.isDeadLetter, lineCount, ack);
        // Acknowledged means sent, and nats.js copies a message into its outbound buffer before it sends it: nothing
        // reads the body any more.
        if (body.length === this.maxBatchBytes && this.spareBodies.length < MAX_SPARE_BODIES) this.spareBodies.push(body);
      },
      (error: Error) => {
        this.failure ??= error;
      },
    );
    this.inFlight.push(pending);
    if (this.inFlight.length >= this.maxInFlight) return this.waitForRoom();
  }

  private async waitForRoom(): Promise<void> {
    while (this.inFlight.length >= this.maxInFlight) await this.inFlight.shift();
    this.throwIfFailed();
  }

  private count(isDeadLetter: boolean, lineCount: number, ack: PubAck): void {
    if (isDeadLetter) {
      this.stats.deadLetters += lineCount;
      this.stats.deadLetterBatches++;
    } else {
      this.stats.events += lineCount;
      this.stats.batches++;
    }
    if (ack.duplicate) {
      this.stats.duplicateBatches++;
      if (!isDeadLetter) this.stats.duplicateEvents += lineCount;
    }
  }

  /** Pipelined first attempt; a transient failure sends the batch to the ordered recovery queue. */
  private publishWithRetry(subject: string, data: Uint8Array, msgID: string): Promise<PubAck> {
    const batch = { order: this.batchesStarted++, subject, data, msgID };
    if (this.recovering) return this.queueForRecovery(batch);
    const attempt = this.js.publish(subject, data, { msgID, timeout: this.ackTimeoutMs });
    this.firstAttempts.add(attempt);
    const forget = () => {
      this.firstAttempts.delete(attempt);
    };
    attempt.then(forget, forget);
    return attempt.catch((error: unknown) => {
      if (!isTransientNatsError(error)) throw publishError(subject, msgID, error);
      return this.queueForRecovery(batch);
    });
  }

  private queueForRecovery(batch: Omit<QueuedBatch, "resolve" | "reject">): Promise<PubAck> {
    return new Promise<PubAck>((resolve, reject) => {
      const queued = { ...batch, resolve, reject };
      let at = this.recoveryQueue.length;
      while (at > 0 && this.recoveryQueue[at - 1].order > batch.order) at--;
      this.recoveryQueue.splice(at, 0, queued);
      this.startRecovery();
    });
  }

  /**
   * Recovery waits until every first attempt then in flight has settled (so every failed batch is queued), then
   * republishes the queue one batch at a time in publish order; new batches queue behind. This keeps an outage from
   * letting later batches overtake earlier ones.
   */
  private startRecovery(): void {
    const inFlightNow = Promise.allSettled([...this.firstAttempts]);
    this.recoveryGate = Promise.all([this.recoveryGate, inFlightNow]);
    if (this.recovering) return;
    this.recovering = true;
    void (async () => {
      do {
        await this.recoveryGate;
        const next = this.recoveryQueue.shift();
        if (next === undefined) continue;
        try {
          next.resolve(await this.publishUntilStored(next.subject, next.data, next.msgID));
        } catch (error) {
          next.reject(error);
        }
      } while (this.recoveryQueue.length > 0);
      this.recovering = false;
    })();
  }

  private watchConnection(connection: NatsConnection): void {
    void (async () => {
      for await (const status of connection.status()) {
        // Requests written just before a disconnect may be lost without an error until their ack times out.
        if (status.type === "disconnect") this.startRecovery();
      }
    })();
  }

  /** Same Nats-Msg-Id on every attempt, so a batch stored before its ack was lost is not stored twice. */
  private async publishUntilStored(subject: string, data: Uint8Array, msgID: string): Promise<PubAck> {
    const deadline = Date.now() + this.retryForMs;
    for (let attempt = 0; ; attempt++) {
      if (this.failure !== undefined) {
        throw new PublishError(`batch ${msgID} to ${subject} not published: an earlier batch failed`);
      }
      try {
        return await this.js.publish(subject, data, { msgID, timeout: this.ackTimeoutMs });
      } catch (error) {
        if (!isTransientNatsError(error) || Date.now() >= deadline) throw publishError(subject, msgID, error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2_000)));
      }
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

function subjectBuffer(subject: string, idLabel: string, isDeadLetter: boolean): SubjectBuffer {
  return { subject, idLabel, isDeadLetter, body: undefined, bytes: 0, lines: 0, nextBatchIndex: 0 };
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function publishError(subject: string, msgId: string, error: unknown): PublishError {
  const reason = error instanceof Error ? error.message : String(error);
  const hint =
    isJetStreamNotEnabled(error)
      ? " (no stream captures this subject, or JetStream is not enabled: create the stream first)"
      : "";
  return new PublishError(`publishing batch ${msgId} to ${subject} failed: ${reason}${hint}`, { cause: error });
}
