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
import { customersWildcard, dlqSubject, eventsWildcard } from "./subjects.ts";

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

async function streamInfoOrUndefined(jsm: JetStreamManager, stream: string): Promise<StreamInfo | undefined> {
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
