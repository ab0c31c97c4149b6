// Group commit for the collector: the records of concurrent requests gathered for a few ms, published, acked together.
import type { JetStreamClient } from "@nats-io/jetstream";
import { encodeBatch } from "../transport/batch-codec.ts";
import { dlqSubject, eventsSubject } from "../transport/subjects.ts";

export interface GroupCommitOptions<Tally> {
  stream: string;
  partitions: number;
  /** Unique per collector process: message ids are `<instanceId>:<message counter>`, never reused. */
  instanceId: string;
  /** How long the first record of a group waits for company before the group is published. */
  windowMs: number;
  /** A group holding this many records is published at once, without waiting for the window. */
  maxGroupRecords: number;
  /** Bytes per JetStream message at most (under the server's max_payload); larger groups become several messages. */
  maxMessageBytes: number;
  ackTimeoutMs: number;
  /** What the requests of a group count (received, invalid, …), handed to onCommitted once all of it is stored. */
  newTally(): Tally;
  onCommitted(tally: Tally): void;
}

/** The records of the requests that arrived within one window; `committed` settles when JetStream acked all of them. */
export class CommitGroup<Tally> {
  /** Serialized events per partition; a partition without events has none. */
  readonly eventLines: (string[] | undefined)[];
  /** Characters (not bytes) per partition: a cheap bound, since UTF-8 takes at most 3 bytes per UTF-16 unit. */
  readonly eventChars: number[];
  readonly deadLetters: string[] = [];
  deadLetterChars = 0;
  records = 0;
  /** Characters of all its records (events and dead letters): what load shedding bounds besides the record count. */
  chars = 0;
  readonly tally: Tally;
  readonly committed: Promise<void>;
  resolve!: () => void;
  reject!: (error: Error) => void;

  constructor(partitions: number, tally: Tally) {
    this.eventLines = new Array<string[] | undefined>(partitions);
    this.eventChars = new Array<number>(partitions).fill(0);
    this.tally = tally;
    this.committed = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A group nobody awaits any more (its requests were aborted) must not become an unhandled rejection.
    this.committed.catch(() => undefined);
  }

  addEvent(line: string, partition: number): void {
    const lines = this.eventLines[partition];
    if (lines === undefined) this.eventLines[partition] = [line];
    else lines.push(line);
    this.eventChars[partition] += line.length + 1;
    this.chars += line.length + 1;
    this.records++;
  }

  addDeadLetter(line: string): void {
    this.deadLetters.push(line);
    this.deadLetterChars += line.length + 1;
    this.chars += line.length + 1;
    this.records++;
  }
}

export class GroupCommitter<Tally> {
  /** Records added and not yet acknowledged or failed (for load shedding). */
  pendingRecords = 0;
  /**
   * Characters of those records (serialized, so roughly their bytes): a record count alone lets 32 KiB records hold
   * gigabytes while NATS is slow or down and acks wait out their timeout.
   */
  pendingChars = 0;
  private open: CommitGroup<Tally> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private messageCounter = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly publishWindow: () => void;

  constructor(
    private readonly js: JetStreamClient,
    private readonly options: GroupCommitOptions<Tally>,
  ) {
    this.publishWindow = () => {
      this.timer = undefined;
      this.flush();
    };
  }

  /** The group new records join; opening one starts its window. */
  current(): CommitGroup<Tally> {
    if (this.open !== undefined) return this.open;
    const group = new CommitGroup<Tally>(this.options.partitions, this.options.newTally());
    this.open = group;
    this.timer = this.closing ? setTimeout(this.publishWindow, 0) : setTimeout(this.publishWindow, this.options.windowMs);
    return group;
  }

  /** Called after a request added all its records (so one request is never split across groups by the size rule). */
  added(group: CommitGroup<Tally>, records: number, chars: number): void {
    this.pendingRecords += records;
    this.pendingChars += chars;
    if (group === this.open && group.records >= this.options.maxGroupRecords) this.flush();
  }

  /** Publishes the open group now. */
  flush(): void {
    const group = this.open;
    if (group === undefined) return;
    this.open = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const publishing = this.publish(group).then(
      () => {
        this.pendingRecords -= group.records;
        this.pendingChars -= group.chars;
        this.options.onCommitted(group.tally);
        group.resolve();
      },
      (error: unknown) => {
        this.pendingRecords -= group.records;
        this.pendingChars -= group.chars;
        group.reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
    this.inFlight.add(publishing);
    void publishing.finally(() => this.inFlight.delete(publishing));
  }

  /** Stops waiting for company: publishes what is open, later groups at once, and resolves when all have settled. */
  async close(): Promise<void> {
    this.closing = true;
    this.flush();
    while (this.inFlight.size > 0 || this.open !== undefined) {
      this.flush();
      await Promise.allSettled([...this.inFlight]);
    }
  }

  private publish(group: CommitGroup<Tally>): Promise<unknown> {
    const acks: Promise<unknown>[] = [];
    const { stream, partitions } = this.options;
    for (let partition = 0; partition < partitions; partition++) {
      const lines = group.eventLines[partition];
      if (lines !== undefined) this.publishLines(eventsSubject(stream, partition), lines, group.eventChars[partition], acks);
    }
    if (group.deadLetters.length > 0) this.publishLines(dlqSubject(stream), group.deadLetters, group.deadLetterChars, acks);
    return Promise.all(acks);
  }

  private publishLines(subject: string, lines: string[], chars: number, acks: Promise<unknown>[]): void {
    const limit = this.options.maxMessageBytes;
    if (chars * 3 <= limit) {
      acks.push(this.publishMessage(subject, encodeBatch(lines)));
      return;
    }
    let start = 0;
    let bytes = 0;
    for (let index = 0; index < lines.length; index++) {
      const size = Buffer.byteLength(lines[index], "utf8") + 1;
      if (index > start && bytes + size > limit) {
        acks.push(this.publishMessage(subject, encodeBatch(lines.slice(start, index))));
        start = index;
        bytes = 0;
      }
      bytes += size;
    }
    acks.push(this.publishMessage(subject, encodeBatch(start === 0 ? lines : lines.slice(start))));
  }

  private publishMessage(subject: string, data: Uint8Array): Promise<unknown> {
    const msgID = `${this.options.instanceId}:${this.messageCounter++}`;
    return this.js.publish(subject, data, { msgID, timeout: this.options.ackTimeoutMs });
  }
}
