// Creating (idempotently) the JetStream stream that holds a pipeline's events and dead letters.
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { customersWildcard, dlqSubject, eventsWildcard, parseSubject } from "./subjects.ts";

/** Two minutes: re-publishing the same batch within this window is recognised by its Nats-Msg-Id. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

export type EnsureStreamOptions = {
  /** Age limit of stored messages in ms; 0 (default) keeps them until other limits apply. */
  maxAgeMs?: number;
  /** Size limit of the stream in bytes; -1 (default) unlimited. */
  maxBytes?: number;
  storage?: "file" | "memory";
  /** Copies of the stream on a cluster (pipeline `nats.replicas`); default 1. An existing stream keeps its own. */
  replicas?: number;
};

/** The subjects a clickpipe stream must capture. */
export function streamSubjects(stream: string): string[] {
  return [eventsWildcard(stream), dlqSubject(stream), customersWildcard(stream)];
}

/** The configuration of a new stream: limits retention so it stays replayable from any sequence. */
export function streamConfig(stream: string, options: EnsureStreamOptions = {}): Partial<StreamConfig> & { name: string } {
  return {
    name: stream,
    subjects: streamSubjects(stream),
    retention: RetentionPolicy.Limits,
    storage: options.storage === "memory" ? StorageType.Memory : StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(options.maxAgeMs ?? 0),
    max_bytes: options.maxBytes ?? -1,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    num_replicas: options.replicas ?? 1,
  };
}

/**
 * Creates the stream when missing; an existing stream is left as it is except that missing clickpipe subjects are
 * added. Safe to call concurrently from many processes.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  stream: string,
  options: EnsureStreamOptions = {},
): Promise<StreamInfo> {
  let info = await streamInfoOrUndefined(jsm, stream);
  if (info === undefined) {
    try {
      info = await jsm.streams.add(streamConfig(stream, options));
    } catch (error) {
      // A concurrent caller created it first (possibly with other limits): use theirs.
      info = await streamInfoOrUndefined(jsm, stream);
      if (info === undefined) throw error;
    }
  }
  const present = new Set(info.config.subjects ?? []);
  const missing = streamSubjects(stream).filter((subject) => !present.has(subject));
  if (missing.length === 0) return info;
  return jsm.streams.update(stream, { ...info.config, subjects: [...present, ...missing] });
}

/** The stream's info, or undefined when it does not exist (yet). */
export async function streamInfoOrUndefined(jsm: JetStreamManager, stream: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(stream);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return undefined;
    throw error;
  }
}

/** The stream sequence of the last message on `subject` (0 when it has none): where a drain of that subject ends. */
export async function lastSequenceOfSubject(jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  try {
    return (await jsm.streams.getMessage(stream, { last_by_subj: subject }))?.seq ?? 0;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.NoMessageFound) return 0;
    throw error;
  }
}

/** The event partitions that hold messages in the stream (from its `<S>.events.<p>` subjects), ascending. */
export async function partitionsInStream(jsm: JetStreamManager, stream: string): Promise<number[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: `${stream}.events.>` });
  return partitionsOfSubjects(stream, Object.keys(info.state.subjects ?? {}));
}

/** The partitions of the stream's `<S>.events.<p>` subjects among `subjects` (others are ignored), ascending. */
export function partitionsOfSubjects(stream: string, subjects: readonly string[]): number[] {
  const partitions: number[] = [];
  for (const subject of subjects) {
    const kind = parseSubject(stream, subject);
    if (kind?.kind === "events") partitions.push(kind.partition);
  }
  return partitions.sort((a, b) => a - b);
}

/** partitionMismatch of a pipeline with `configured` partitions against what the stream holds now. */
export async function streamPartitionMismatch(jsm: JetStreamManager, stream: string, configured: number): Promise<{ error?: string; warning?: string }> {
  return partitionMismatch(stream, configured, await partitionsInStream(jsm, stream));
}

/**
 * What a pipeline with `configured` partitions makes of a stream holding events of `present` partitions: nothing
 * when they fit. A partitioned pipeline runs one task per configured partition, so the events of a higher partition
 * would never be read: an error naming the fix. An unpartitioned worker reads every partition, but one it has not read
 * yet does not hold its watermark back, so more of the others' events can come out late: a warning.
 */
export function partitionMismatch(stream: string, configured: number, present: readonly number[]): { error?: string; warning?: string } {
  const highest = present.at(-1);
  if (highest === undefined || highest < configured) return {};
  const found = `stream ${stream} holds events of ${present.length} partitions (up to ${stream}.events.${highest}) but nats.partitions is ${configured}`;
  const fix = `publish and run with the same pipeline file, or set nats.partitions: ${highest + 1}`;
  if (configured > 1) return { error: `${found}: the events of partitions ${configured}–${highest} would never be read; ${fix}` };
  return { warning: `${found}: this worker reads them all, but one it has not read yet does not hold its watermark back, so events may come out late; ${fix}` };
}

