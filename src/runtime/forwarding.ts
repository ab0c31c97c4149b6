// Re-keying between the two task families of a partitioned pipeline: events tasks forward what the customer-level
// operators need to `<S>.customers.<q>` (q by customer), customers tasks merge it back into one ordered input.
//
// Exactly once, the way Flink's two-phase-commit sinks do it: a task's forwarded records of an epoch are stored in
// that epoch's checkpoint and published only after it commits (and again after a recovery, with the same ids); the
// receiving task keeps, per source task, the last (epoch, index) it took and skips anything not newer.
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { ClickEvent } from "../events/event.ts";
import { detachedLine, encodeBatch } from "../transport/batch-codec.ts";
import { partitionOf } from "../transport/partition.ts";
import { messageBytesWithin } from "../transport/connection.ts";
import { customersSubject } from "../transport/subjects.ts";
import type { CheckpointStore } from "./checkpoint-store.ts";
import type { Operator, OperatorContext, SessionRecord } from "./operator.ts";
import { PartitionCountChangedError } from "./partition-count.ts";
import { idOfSiteKey, siteKey } from "../operators/site-key.ts";

/** What the customers tasks need from the events tasks. */
export interface ForwardingPlan {
  customerPartitions: number;
  /** Event types forwarded: every type (churnFeatures reads them all), a set (basket: purchases), or none. */
  eventTypes: "all" | ReadonlySet<string>;
  /** Whether session versions are forwarded (sequencePatterns, churnFeatures). */
  sessions: boolean;
}

export function forwardingPlan(customerOperators: readonly string[], customerPartitions: number): ForwardingPlan {
  const types = new Set(customerOperators);
  return {
    customerPartitions,
    eventTypes: types.has("churnFeatures") ? "all" : types.has("basket") ? new Set(["purchase"]) : new Set(),
    sessions: types.has("sequencePatterns") || types.has("churnFeatures"),
  };
}

/**
 * One forwarded record, a line of text: `e\t<received_at>\t<ts>\t<event JSON>` (a purchase's raw line, any other
 * event as customerStageEvent writes it; the kind `el`, `ed` or `eld` when the events task counted the event late,
 * duplicate or both, see EVENT_KINDS), `s\t<end_ts>\t<session JSON>`, `w\t<session watermark>` (sessionize's
 * watermark advanced), `a\t<arrived through>` (sessionize's drain ended: the latest event time that arrived, before
 * its `w\tInfinity`), `x\t<through>` (a drain of the source partition ended, through that stream sequence). The
 * leading time is the merge key of a drain.
 */
export type ForwardedRecord =
  | {
      kind: "event";
      receivedAt: number;
      ts: number;
      raw: string;
      /** What the events task counted it as (pipeline.ts: COUNTED_LATE, COUNTED_DUPLICATE): the customers task does not again. */
      counted: number;
    }
  | { kind: "session"; endTs: number; session: SessionRecord }
  | { kind: "watermark"; value: number }
  | { kind: "inputEnd"; arrivedThrough: number }
  | { kind: "end"; through: number };

/**
 * A forwarded event's kind, indexed by what the events task counted it as (COUNTED_LATE | COUNTED_DUPLICATE): `e`
 * for neither, as every event line forwarded before the flags existed reads (the customers task counts those again).
 */
const EVENT_KINDS = ["e", "el", "ed", "eld"] as const;

export function parseForwardedLine(line: string): ForwardedRecord {
  const tab = line.indexOf("\t");
  const kind = line.slice(0, tab);
  const counted = kind.charCodeAt(0) === 0x65 /* e */ ? EVENT_KINDS.indexOf(kind as (typeof EVENT_KINDS)[number]) : -1;
  if (counted >= 0) {
    const second = line.indexOf("\t", tab + 1);
    const third = line.indexOf("\t", second + 1);
    return { kind: "event", receivedAt: Number(line.slice(tab + 1, second)), ts: Number(line.slice(second + 1, third)), raw: line.slice(third + 1), counted };
  }
  if (kind === "s") {
    const second = line.indexOf("\t", tab + 1);
    return { kind: "session", endTs: Number(line.slice(tab + 1, second)), session: JSON.parse(line.slice(second + 1)) as SessionRecord };
  }
  if (kind === "w") return { kind: "watermark", value: Number(line.slice(tab + 1)) };
  if (kind === "a") return { kind: "inputEnd", arrivedThrough: Number(line.slice(tab + 1)) };
  if (kind === "x") return { kind: "end", through: Number(line.slice(tab + 1)) };
  throw new Error(`not a forwarded record: ${line.slice(0, 80)}`);
}

/** The key a drain merges sources by: event time, so the customer stage sees roughly the order one stream gives. */
export function mergeKeyOf(line: string): number {
  const tab = line.indexOf("\t");
  const kind = line.charCodeAt(0);
  // Both end their source's lines (`a` comes just before its `w\tInfinity`).
  if (kind === 0x78 /* x */ || kind === 0x61 /* a */) return Infinity;
  if (kind === 0x77 /* w */) return Number(line.slice(tab + 1));
  const second = line.indexOf("\t", tab + 1);
  if (kind === 0x73 /* s */) return Number(line.slice(tab + 1, second));
  const third = line.indexOf("\t", second + 1);
  return Number(line.slice(second + 1, third));
}

/**
 * A forwarded event other than a purchase, as the customer stage reads it. Of the customer-level operators only
 * churnFeatures takes such events, and it reads their type, time, ids and received_at; basket takes purchases, which
 * travel whole (items, revenue, and the late_events row keeps the record). The raw line also carried what the visitor's
 * browser sent (user agent, title, referrer: ≈ 2/3 of its bytes) into the events task's checkpoint, through JetStream
 * and through a second JSON.parse. What each type requires stays (a page view's url, a cart add's sku), so the line
 * is a valid event, and event_id is always written, so nothing is derived again from different content.
 */
export function customerStageEvent(event: ClickEvent): string {
  const record: Partial<ClickEvent> = { type: event.type, ts: event.ts, event_id: event.event_id };
  if (event.anon_id) record.anon_id = event.anon_id;
  if (event.user_id) record.user_id = event.user_id;
  if (event.site_id) record.site_id = event.site_id;
  if (event.received_at !== undefined) record.received_at = event.received_at;
  if (event.url !== undefined) record.url = event.url;
  if (event.sku !== undefined) record.sku = event.sku;
  if (event.is_bot !== undefined) record.is_bot = event.is_bot;
  return JSON.stringify(record);
}

/** Forwarded lines of one epoch, per customer partition. */
export interface ForwardBatch {
  epoch: number;
  /**
   * Per customer partition, the forwarded lines in order; since session 31 joined by "\n" into blocks (batchLines
   * splits them), before it one line an element. Either way a message body is the elements it holds joined by "\n".
   */
  lines: string[][];
  /**
   * How the lines are cut into messages (messageChunks): by their UTF-8 bytes, at most `utf8Bytes` a message. A batch
   * keeps the rule it was taken with, so that when it is published again after a recovery it gets the same messages,
   * hence the same ids, and the customer stage's (epoch, index) dedupe holds. Batches checkpointed before session 31
   * say "utf8" (64 KiB by bytes); before session 30, nothing (64 KiB counted as 3 bytes per character).
   */
  chunks?: "utf8" | { utf8Bytes: number };
}

/**
 * Bytes of forwarded lines per message: as the publisher and the collector send them. Messages of 64 KiB (sessions
 * 29–30) made a drain's customer stage wait on one acknowledgement after another: 512 KiB was 5–10% faster over a
 * partitioned drain (bench/OPTIMIZATIONS.md, session 31).
 */
export const FORWARD_MESSAGE_BYTES = 512 * 1024;
/**
 * Forwarded lines are kept joined into blocks of up to this many characters (a line longer than that alone): a
 * string above 128 KB is allocated where the scavenger never copies it, and the lines it replaces mostly die young.
 * Held one by one until their epoch's checkpoint committed, 300k lines of a partitioned drain were copied and promoted
 * by the scavenger: a quarter of the events tasks' main thread went to the collector (bench/OPTIMIZATIONS.md, session 31).
 */
const FORWARD_BLOCK_CHARS = 160 * 1024;
/** The cut of batches taken before session 31 ("utf8") or session 30 (no rule). */
const EARLIER_MESSAGE_BYTES = 64 * 1024;

/** FORWARD_MESSAGE_BYTES, or half the server's max_payload when that is smaller: lines, headers and all fit a message. */
export function forwardMessageBytes(maxPayload: number | undefined): number {
  return messageBytesWithin(FORWARD_MESSAGE_BYTES, maxPayload);
}

/**
 * How often a drain forwards sessionize's watermark: when it enters a new minute of event time (live: a new second).
 * Live, a source partition that forwards no watermark for idleTimeout (processing time) stops holding the customer
 * stage back, so an active one must forward often; a drain has no such rule (it waits for every partition). On sparse
 * traffic, about one event per second of event time per partition as in the bench, forwarding per second sent a
 * watermark line for nearly every event (61,246 beside 74,614 events per events task), each one parsed, merged and
 * handed to every customer-level operator. A minute is 1/30 of the default session gap, and those operators act at
 * watermark ≥ end + gap or later, on sessions that sessionize's watermark guarantees complete: what they write does
 * not change, only how soon in the merged input (bench/OPTIMIZATIONS.md, session 30).
 */
const DRAIN_WATERMARK_STEP_SECONDS = 60;

interface ForwarderState {
  identities: [string, string][];
  lastWatermarkSecond: number | null;
  /** As churnFeatures' (ChurnFeaturesState.deviceKeys): absent in a checkpoint whose identities are keyed by anon_id alone. */
  deviceKeys?: "site" | "site, then anon_id";
}

/**
 * The events tasks' last operator: collects what the customer stage needs, keyed by customer. A customer is the
 * user_id, else the user this visitor identified as earlier in its partition (every event of a visitor is in one
 * partition), else the visitor.
 */
export class Forwarder implements Operator {
  readonly id = "forward";
  readonly tables = [];
  /** Per customer partition: blocks of lines joined by "\n", each within #blockChars unless it is one line. */
  #lines: string[][];
  /** Per customer partition: the lines not joined into a block yet, and their characters with newlines. */
  #pending: string[][];
  #pendingChars: number[];
  readonly #blockChars: number;
  /**
   * Device → user_id, only needed (and kept) when there are several customer partitions. A device is (site_id,
   * anon_id) as churnFeatures stitches it (siteKey: the anon_id alone without a site_id, as checkpoints before held it).
   */
  #identities = new Map<string, string>();
  /** Restored from a checkpoint keyed by anon_id alone: a site's device without an identity of its own falls back to its anon_id's. */
  #anonIdDevices = false;
  /** Session watermarks are forwarded when they enter a new second (a drain: minute): deterministic, and far fewer records. */
  #lastWatermarkSecond = -Infinity;
  readonly #stepSeconds: number;
  readonly #messageBytes: number;

  constructor(
    private readonly plan: ForwardingPlan,
    options: { drain?: boolean; messageBytes?: number } = {},
  ) {
    this.#lines = this.#empty();
    this.#pending = this.#empty();
    this.#pendingChars = new Array<number>(plan.customerPartitions).fill(0);
    this.#stepSeconds = options.drain === true ? DRAIN_WATERMARK_STEP_SECONDS : 1;
    this.#messageBytes = options.messageBytes ?? FORWARD_MESSAGE_BYTES;
    // At most 3 UTF-8 bytes a character: a block always fits one message.
    this.#blockChars = Math.min(FORWARD_BLOCK_CHARS, Math.floor(this.#messageBytes / 3));
  }

  /**
   * Called by the worker with the raw line behind each event, after the operators took it; `counted`: what they
   * counted it as (Pipeline.countedAs), so that the customers task, which finds it late or repeated too, does not
   * count it again: one event counts once, as in an unpartitioned run.
   */
  forwardEvent(event: ClickEvent, raw: string, receivedAt: number, counted = 0): void {
    const types = this.plan.eventTypes;
    if (types !== "all" && !types.has(event.type)) return;
    const anon = event.anon_id || undefined;
    const user = event.user_id || undefined;
    if (this.plan.customerPartitions > 1 && anon !== undefined && user !== undefined) this.#identities.set(siteKey(event.site_id, anon), user);
    const line = event.type === "purchase" ? detachedLine(raw) : customerStageEvent(event);
    this.#append(this.#route(user, event.site_id, anon), `${EVENT_KINDS[counted]}\t${receivedAt}\t${event.ts}\t${line}`);
  }

  onSession(session: SessionRecord): void {
    if (!this.plan.sessions) return;
    const partition = this.#route(session.user_id || undefined, session.site_id, session.visitor_id);
    this.#append(partition, `s\t${session.end_ts}\t${JSON.stringify(session)}`);
  }

  onSessionWatermark(watermark: number): void {
    const second = Math.floor(watermark / 1000);
    if (!(Math.floor(second / this.#stepSeconds) > Math.floor(this.#lastWatermarkSecond / this.#stepSeconds))) return;
    this.#lastWatermarkSecond = second;
    this.#broadcast(`w\t${watermark}`);
  }

  /** Every customer task's sequencePatterns writes its windows through the latest of these (see Operator.onSessionInputEnd). */
  onSessionInputEnd(arrivedThrough: number): void {
    if (!this.plan.sessions) return;
    this.#broadcast(`a\t${arrivedThrough}`);
  }

  onEnd(_ctx: OperatorContext): void {}

  /** The drain of this partition ended through `through`: the customer stage may end once every partition did. */
  endOfInput(through: number): void {
    this.#broadcast(`x\t${through}`);
  }

  /** Whether lines were collected since the last take (the next checkpoint would publish them). */
  hasPending(): boolean {
    return this.#pendingChars.some((chars) => chars > 0) || this.#lines.some((blocks) => blocks.length > 0);
  }

  /** The lines collected since the last call. */
  take(epoch: number): ForwardBatch {
    for (let partition = 0; partition < this.#pending.length; partition++) this.#join(partition);
    const lines = this.#lines;
    this.#lines = this.#empty();
    return { epoch, lines, chunks: { utf8Bytes: this.#messageBytes } };
  }

  snapshot(): ForwarderState {
    return {
      identities: [...this.#identities],
      lastWatermarkSecond: Number.isFinite(this.#lastWatermarkSecond) ? this.#lastWatermarkSecond : null,
      deviceKeys: this.#anonIdDevices ? "site, then anon_id" : "site",
    };
  }

  /**
   * `clickpipe forget`: the people's identity links go, as churnFeatures' do (an anon_id on every site, tombstones name
   * no site). They were kept in every events task's checkpoint, and went on routing the device by the erased user_id.
   */
  forget(ids: ReadonlySet<string>): void {
    for (const [device, user] of this.#identities) if (ids.has(user) || ids.has(idOfSiteKey(device))) this.#identities.delete(device);
  }

  restore(state: unknown): void {
    const saved = state as ForwarderState;
    this.#identities = new Map(saved.identities);
    this.#lastWatermarkSecond = saved.lastWatermarkSecond ?? -Infinity;
    this.#anonIdDevices = saved.deviceKeys !== "site";
  }

  /** By user, else by the user the device (site_id, anon_id) identified as, else by the anon_id. */
  #route(user: string | undefined, siteId: string | null | undefined, visitor: string | undefined): number {
    const partitions = this.plan.customerPartitions;
    if (partitions === 1) return 0;
    return partitionOf(user ?? (visitor === undefined ? undefined : (this.#identityOf(siteId, visitor) ?? visitor)), partitions);
  }

  #identityOf(siteId: string | null | undefined, anonId: string): string | undefined {
    const user = this.#identities.get(siteKey(siteId, anonId));
    return user === undefined && this.#anonIdDevices && siteId ? this.#identities.get(anonId) : user;
  }

  #broadcast(line: string): void {
    for (let partition = 0; partition < this.#pending.length; partition++) this.#append(partition, line);
  }

  #append(partition: number, line: string): void {
    const chars = this.#pendingChars[partition];
    if (chars > 0 && chars + line.length + 1 > this.#blockChars) this.#join(partition);
    this.#pending[partition].push(line);
    this.#pendingChars[partition] += line.length + 1;
  }

  /** The partition's pending lines as one block. */
  #join(partition: number): void {
    const pending = this.#pending[partition];
    if (pending.length === 0) return;
    this.#lines[partition].push(pending.join("\n"));
    this.#pending[partition] = [];
    this.#pendingChars[partition] = 0;
  }

  #empty(): string[][] {
    return Array.from({ length: this.plan.customerPartitions }, () => []);
  }
}

/**
 * The state key of an events task's lineage: made when the task starts without a checkpoint, kept in every checkpoint
 * after (in the state, and in the metadata, where a customers task reads it). Forwarded messages carry it, so a
 * customers task takes only the current lineage's records, not those a wiped and restarted pipeline of the same name
 * left in the stream. (Operator ids never start with "_".)
 */
export const LINEAGE_KEY = "_lineage";

/**
 * An events task's lineage as of its last committed checkpoint (undefined before its first). Read from the metadata:
 * the whole document, its forwarded records included, took 0.3–0.4 s to load per events task, and its garbage was half
 * of what a 4-partition drain promoted to the old generation (bench/OPTIMIZATIONS.md, session 30). A checkpoint from
 * before the metadata held the lineage has it in its state only.
 */
export async function committedLineage(store: Pick<CheckpointStore, "load" | "loadMeta">): Promise<string | undefined> {
  const meta = await store.loadMeta();
  if (meta === undefined || meta.lineage !== undefined) return meta?.lineage;
  const value = ((await store.load())?.state as Record<string, unknown> | undefined)?.[LINEAGE_KEY];
  return typeof value === "string" ? value : undefined;
}

/** A forwarded message's origin, from its headers. */
export interface ForwardSource {
  pipeline: string;
  task: string;
  /** The source task's lineage: it changes only when that task starts over without a checkpoint. */
  lineage: string;
  partition: number;
  epoch: number;
  index: number;
}

const HEADER = {
  pipeline: "Clickpipe-Pipeline",
  task: "Clickpipe-Source-Task",
  lineage: "Clickpipe-Lineage",
  partition: "Clickpipe-Source-Partition",
  epoch: "Clickpipe-Epoch",
  index: "Clickpipe-Index",
} as const;

/** A batch's lines one by one, per customer partition, as the customer stage reads them (an element may hold several). */
export function batchLines(batch: ForwardBatch): string[][] {
  return batch.lines.map((elements) => elements.flatMap((element) => element.split("\n")));
}

/**
 * Publishes a committed batch, each customer partition's lines in order, with ids that repeat exactly when the same
 * batch is published again after a recovery. Retries until acknowledged (a NATS restart), unless `signal` aborts.
 */
export async function publishForwardBatch(
  js: JetStreamClient,
  stream: string,
  source: Omit<ForwardSource, "epoch" | "index">,
  batch: ForwardBatch,
  signal?: AbortSignal,
): Promise<void> {
  await Promise.all(
    batch.lines.map(async (lines, customerPartition) => {
      let index = 0;
      for (const chunk of messageChunks(lines, batch.chunks)) {
        const headers = natsHeaders();
        headers.set(HEADER.pipeline, source.pipeline);
        headers.set(HEADER.task, source.task);
        headers.set(HEADER.lineage, source.lineage);
        headers.set(HEADER.partition, String(source.partition));
        headers.set(HEADER.epoch, String(batch.epoch));
        headers.set(HEADER.index, String(index));
        const msgID = `${source.pipeline}/${source.task}/${source.lineage}/${batch.epoch}/${customerPartition}/${index}`;
        const data = encodeBatch(chunk);
        for (let attempt = 1; ; attempt++) {
          try {
            await js.publish(customersSubject(stream, customerPartition), data, { msgID, headers, timeout: 10_000 });
            break;
          } catch (error) {
            if (signal?.aborted || attempt >= 120) throw error;
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
        index++;
      }
    }),
  );
}

export function forwardSourceOf(headers: { get(name: string): string } | undefined): ForwardSource | undefined {
  if (headers === undefined) return undefined;
  const task = headers.get(HEADER.task);
  if (task === "") return undefined;
  return {
    pipeline: headers.get(HEADER.pipeline),
    task,
    lineage: headers.get(HEADER.lineage),
    partition: Number(headers.get(HEADER.partition)),
    epoch: Number(headers.get(HEADER.epoch)),
    index: Number(headers.get(HEADER.index)),
  };
}

/**
 * A customer partition's lines of one batch, cut into messages in order, each within the batch rule's bytes (a line
 * longer than that alone). The cut is a pure function of the lines and the rule: a batch published again after a
 * recovery gets the same messages, hence the same ids. By UTF-8 bytes, messages are full; the earliest rule (a batch
 * without `chunks`) counted 3 bytes per character, which left ASCII messages a third full: three times the publishes,
 * acknowledgements and socket writes (bench/OPTIMIZATIONS.md, session 30).
 */
export function messageChunks(lines: readonly string[], rule: ForwardBatch["chunks"]): string[][] {
  const chunks: string[][] = [];
  let chunk: string[] = [];
  let bytes = 0;
  const maxBytes = typeof rule === "object" ? rule.utf8Bytes : EARLIER_MESSAGE_BYTES;
  for (const line of lines) {
    if (rule !== undefined) {
      const lineBytes = Buffer.byteLength(line, "utf8") + 1;
      if (chunk.length > 0 && bytes + lineBytes > maxBytes + 1) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      bytes += lineBytes;
    } else {
      if (chunk.length > 0 && bytes + line.length + 1 > maxBytes) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      bytes += line.length * 3 + 1; // UTF-8 upper bound
    }
    chunk.push(line);
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** Where the customer stage sends merged records. */
export interface ForwardedRecordHandler {
  /** `counted`: what the events task counted it as (COUNTED_LATE, COUNTED_DUPLICATE; 0: neither, or an older line). */
  event(raw: string, receivedAt: number, sourcePartition: number, counted: number): void;
  session(session: SessionRecord): void;
  sessionWatermark(watermark: number): void;
  /** A source partition's sessionize drain ended: the latest event time that arrived there. */
  sessionInputEnd(arrivedThrough: number): void;
}

export interface ForwardedInputState {
  /** Per source task and lineage (`<task>@<lineage>`): the last [epoch, index] taken. */
  taken: Record<string, [number, number]>;
  /** Per source partition: the `through` of the last end record processed (-1 before any). */
  ended: number[];
  /** Per source partition: its forwarded session watermark. */
  watermarks: (number | null)[];
  /** Drain only: lines received but not merged yet (another partition had nothing to compare with). */
  queued: string[][];
}

/**
 * The customer stage's input: dedupes re-published messages, combines the source partitions' session watermarks
 * (the minimum, as for any multi-input operator) and, in a drain, merges the sources by event time so that the
 * result does not depend on how their messages happened to interleave in the stream.
 */
export class ForwardedInput {
  #taken = new Map<string, [number, number]>();
  #ended: number[];
  #watermarks: number[];
  #queued: string[][];
  /** Per source partition: how many of its queued lines are merged already (dropped in bulk, see #merge). */
  #heads: number[];
  #combinedWatermark = -Infinity;
  /** Live: when each source partition's watermark last advanced (processing time; the stage's start before that). */
  #advancedAt: number[];
  /** Drain: per source partition, the stream sequence its end record must reach (the subject's last at start). */
  #targets: number[] | undefined;

  constructor(
    private readonly pipelineName: string,
    private readonly sourcePartitions: number,
    private readonly handler: ForwardedRecordHandler,
    /** Live: a source partition whose watermark stood still this long stops holding the combined one back. */
    private readonly idleTimeoutMs: number,
    private readonly now: () => number,
  ) {
    this.#ended = new Array<number>(sourcePartitions).fill(-1);
    this.#watermarks = new Array<number>(sourcePartitions).fill(-Infinity);
    // Every source counts as active from the start: one not heard from yet (its events task starts later, or reads a
    // longer backlog) holds the combined watermark back until idleTimeout, instead of being skipped as idle at once.
    this.#advancedAt = new Array<number>(sourcePartitions).fill(now());
    this.#queued = Array.from({ length: sourcePartitions }, () => []);
    this.#heads = new Array<number>(sourcePartitions).fill(0);
  }

  /** Live: processing-time tick, so that idle source partitions stop holding the watermark back. */
  tick(): void {
    this.#recombine();
  }

  /** Drain mode: merge the sources and end once each partition's end record reaches its target. */
  setDrainTargets(targets: number[]): void {
    this.#targets = targets;
  }

  /** True in a drain once every source partition ended at or past its target and everything was merged. */
  get complete(): boolean {
    const targets = this.#targets;
    if (targets === undefined) return false;
    for (let partition = 0; partition < this.sourcePartitions; partition++) {
      if (this.#ended[partition] < targets[partition] || this.#queued[partition].length > this.#heads[partition]) return false;
    }
    return true;
  }

  /** Drain: the source partitions the merge waits on: not ended at their target, and nothing of them queued. */
  waitingFor(): number[] {
    const targets = this.#targets;
    if (targets === undefined) return [];
    return targets.flatMap((target, partition) => (this.#ended[partition] < target && this.#queued[partition].length === this.#heads[partition] ? [partition] : []));
  }

  /**
   * Drain: a source partition whose end record the stream discarded before this task read it (its events task drained
   * already, so none comes again). It ends here at its target, after whatever of it is queued, as that record would have.
   */
  endDiscarded(partition: number): void {
    const targets = this.#targets!;
    if (this.#ended[partition] >= targets[partition]) return;
    this.#queued[partition].push(`x\t${targets[partition]}`);
    this.#merge();
  }

  /** One message of the customer subject; false when it is a repeat (or another pipeline's) and was skipped. */
  take(source: ForwardSource, lines: readonly string[]): boolean {
    if (source.pipeline !== this.pipelineName || !(source.partition >= 0 && source.partition < this.sourcePartitions)) return false;
    const key = `${source.task}@${source.lineage}`;
    const last = this.#taken.get(key);
    if (last !== undefined && (source.epoch < last[0] || (source.epoch === last[0] && source.index <= last[1]))) return false;
    this.#taken.set(key, [source.epoch, source.index]);
    if (this.#targets === undefined) {
      for (const line of lines) this.#apply(parseForwardedLine(line), source.partition);
    } else {
      this.#queued[source.partition].push(...lines);
      this.#merge();
    }
    return true;
  }

  snapshot(): ForwardedInputState {
    return {
      taken: Object.fromEntries(this.#taken),
      ended: [...this.#ended],
      watermarks: this.#watermarks.map((value) => (Number.isFinite(value) ? value : value > 0 ? 1e300 : null)),
      queued: this.#queued.map((lines, partition) => lines.slice(this.#heads[partition])),
    };
  }

  restore(state: ForwardedInputState): void {
    // The worker checks the counts before any task starts; this is the last line for a state that slipped through.
    if (state.ended.length !== this.sourcePartitions) throw new PartitionCountChangedError(state.ended.length, this.sourcePartitions);
    this.#taken = new Map(Object.entries(state.taken));
    this.#ended = [...state.ended];
    // +∞ is a drained source's end: what it flushed is closed in the operators' own state, and a later run's sources
    // forward their watermarks from the start again.
    this.#watermarks = state.watermarks.map((value) => (value === null || value >= 1e300 ? -Infinity : value));
    this.#queued = state.queued.map((lines) => [...lines]);
    this.#heads = new Array<number>(this.sourcePartitions).fill(0);
    // Idleness restarts with this process: a restarted stage must not call the sources of its backlog idle.
    this.#advancedAt = new Array<number>(this.sourcePartitions).fill(this.now());
    this.#combinedWatermark = Math.min(...this.#watermarks);
  }

  /** Drain: repeatedly takes the earliest head among the sources, while no unfinished source is empty. */
  #merge(): void {
    const queues = this.#queued;
    const targets = this.#targets!;
    const heads = [...this.#heads];
    // Each head's key is parsed once, when it becomes the head, not at every comparison.
    const keys = queues.map((lines, partition) => (heads[partition] < lines.length ? mergeKeyOf(lines[heads[partition]]) : Infinity));
    for (;;) {
      let best = -1;
      let bestKey = Infinity;
      let blocked = false;
      for (let partition = 0; partition < queues.length; partition++) {
        if (heads[partition] >= queues[partition].length) {
          if (this.#ended[partition] < targets[partition]) blocked = true;
          continue;
        }
        if (best === -1 || keys[partition] < bestKey) {
          best = partition;
          bestKey = keys[partition];
        }
      }
      if (best === -1 || blocked) break;
      this.#apply(parseForwardedLine(queues[best][heads[best]]), best);
      const next = ++heads[best];
      if (next < queues[best].length) keys[best] = mergeKeyOf(queues[best][next]);
    }
    for (let partition = 0; partition < queues.length; partition++) {
      const queue = queues[partition];
      const head = heads[partition];
      // A partition far ahead of the others can hold tens of thousands of lines: copying the rest after every message
      // made merging quadratic in that backlog. The taken lines are dropped once they are half the queue.
      if (head === queue.length) {
        queue.length = 0;
        this.#heads[partition] = 0;
      } else if (head * 2 > queue.length) {
        queue.copyWithin(0, head);
        queue.length -= head;
        this.#heads[partition] = 0;
      } else {
        this.#heads[partition] = head;
      }
    }
  }

  #apply(record: ForwardedRecord, partition: number): void {
    switch (record.kind) {
      case "event":
        this.handler.event(record.raw, record.receivedAt, partition, record.counted);
        return;
      case "session":
        this.handler.session(record.session);
        return;
      case "watermark":
        this.#advance(partition, record.value);
        return;
      case "inputEnd":
        this.handler.sessionInputEnd(record.arrivedThrough);
        return;
      case "end":
        this.#ended[partition] = Math.max(this.#ended[partition], record.through);
        this.#advance(partition, Infinity);
        return;
    }
  }

  #advance(partition: number, value: number): void {
    if (!(value > this.#watermarks[partition])) return;
    this.#watermarks[partition] = value;
    if (this.#targets === undefined) this.#advancedAt[partition] = this.now();
    this.#recombine();
  }

  /**
   * The minimum over the source partitions; live, over those that advanced within idleTimeout (a partition with no
   * traffic forwards no watermark). A drain waits for every partition: the result must not depend on timing.
   */
  #recombine(): void {
    const live = this.#targets === undefined;
    const now = live ? this.now() : 0;
    let combined = Infinity;
    let counted = 0;
    for (let partition = 0; partition < this.sourcePartitions; partition++) {
      const watermark = this.#watermarks[partition];
      if (live && watermark !== Infinity && now - this.#advancedAt[partition] >= this.idleTimeoutMs) continue;
      counted++;
      if (watermark < combined) combined = watermark;
    }
    if (counted > 0 && combined > this.#combinedWatermark) {
      this.#combinedWatermark = combined;
      this.handler.sessionWatermark(combined);
    }
  }
}
