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
import { formatDuration } from "../config/duration.ts";
import { formatSize } from "../config/size.ts";
import type { NatsSection } from "../config/pipeline.ts";
import { customersWildcard, dlqSubject, eventsWildcard, parseSubject } from "./subjects.ts";

/** The default window (pipeline `nats.duplicateWindow`): re-publishing a batch within it is recognised by its Nats-Msg-Id. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

export type EnsureStreamOptions = {
  /**
   * Age limit of stored messages in ms (pipeline `nats.maxAge`). A new stream gets it (none: unlimited); an existing
   * stream's is set to it (ensureStream, see limitsChange). Undefined leaves an existing stream's as it is.
   */
  maxAgeMs?: number;
  /** Size limit of the stream in bytes (pipeline `nats.maxBytes`), as maxAgeMs: undefined is unlimited on a new stream. */
  maxBytes?: number;
  storage?: "file" | "memory";
  /** Copies of the stream on a cluster (pipeline `nats.replicas`); default 1. An existing stream keeps its own. */
  replicas?: number;
  /**
   * How long the stream remembers a Nats-Msg-Id, in ms (pipeline `nats.duplicateWindow`); default DUPLICATE_WINDOW_MS.
   * A new stream gets it (at most its max age); an existing stream's shorter window is widened to it (ensureStream).
   */
  duplicateWindowMs?: number;
  /** Where ensureStream says what it did to, or would not do to, an existing stream's window; default nowhere. */
  log?: (line: string) => void;
};

/**
 * The stream options a pipeline's `nats:` section asks for: every caller of ensureStream takes them from here, so a
 * new stream setting in the pipeline file is one change.
 */
export function streamOptions(nats: Pick<NatsSection, "replicas" | "duplicateWindow" | "maxAge" | "maxBytes">, log?: (line: string) => void): EnsureStreamOptions {
  return {
    replicas: nats.replicas,
    duplicateWindowMs: nats.duplicateWindow,
    ...(nats.maxAge !== undefined && { maxAgeMs: nats.maxAge }),
    ...(nats.maxBytes !== undefined && { maxBytes: nats.maxBytes }),
    log,
  };
}

/** The subjects a clickpipe stream must capture. */
export function streamSubjects(stream: string): string[] {
  return [eventsWildcard(stream), dlqSubject(stream), customersWildcard(stream)];
}

/** The configuration of a new stream: limits retention so it stays replayable from any sequence. */
export function streamConfig(stream: string, options: EnsureStreamOptions = {}): Partial<StreamConfig> & { name: string } {
  const maxAgeMs = options.maxAgeMs ?? 0;
  const windowMs = options.duplicateWindowMs ?? DUPLICATE_WINDOW_MS;
  return {
    name: stream,
    subjects: streamSubjects(stream),
    retention: RetentionPolicy.Limits,
    storage: options.storage === "memory" ? StorageType.Memory : StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(maxAgeMs),
    max_bytes: options.maxBytes ?? -1,
    // nats-server refuses a window longer than the max age (an id would outlive its message); it uses the max age then.
    duplicate_window: nanos(maxAgeMs > 0 ? Math.min(maxAgeMs, windowMs) : windowMs),
    num_replicas: options.replicas ?? 1,
  };
}

/**
 * Creates the stream when missing; an existing stream is left as it is except that missing clickpipe subjects are
 * added, its age and size limits are set to the configured ones (see limitsChange) and a duplicate window shorter than
 * `duplicateWindowMs` is widened (see windowChange). Safe to call concurrently from many processes.
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
  const limits = limitsChange(stream, info.config, options);
  if (limits.note !== undefined) sayOnce(options.log, limits.note);
  const limited = { ...info.config, ...limits.update };
  const window = windowChange(stream, limited, options.duplicateWindowMs ?? DUPLICATE_WINDOW_MS);
  if (window.note !== undefined) sayOnce(options.log, window.note);
  if (missing.length === 0 && limits.update === undefined && window.widenTo === undefined) return info;
  const config = { ...limited, subjects: [...present, ...missing] };
  if (window.widenTo !== undefined) config.duplicate_window = nanos(window.widenTo);
  return jsm.streams.update(stream, config);
}

/**
 * What ensureStream changes in an existing stream's limits: max_age and max_bytes set to the configured ones (those
 * configured; an unset key leaves the stream's as it is, so a limit set by hand stays). JetStream updates both in
 * place; a lower limit discards the messages beyond it at once, which is what the setting asks for, so the line says
 * so. A max age below the stream's duplicate window takes the window down with it (nats-server requires window ≤ age).
 */
export function limitsChange(
  stream: string,
  existing: Pick<StreamConfig, "max_age" | "max_bytes" | "duplicate_window">,
  options: Pick<EnsureStreamOptions, "maxAgeMs" | "maxBytes">,
): { update?: Pick<StreamConfig, "max_age" | "max_bytes" | "duplicate_window">; note?: string } {
  const changes: string[] = [];
  const update: Pick<StreamConfig, "max_age" | "max_bytes" | "duplicate_window"> = {
    max_age: existing.max_age ?? 0,
    max_bytes: existing.max_bytes ?? -1,
    duplicate_window: existing.duplicate_window ?? 0,
  };
  const currentAgeMs = Math.round((existing.max_age ?? 0) / 1_000_000);
  const age = (ms: number) => (ms > 0 ? formatDuration(ms) : "none");
  if (options.maxAgeMs !== undefined && options.maxAgeMs !== currentAgeMs) {
    update.max_age = nanos(options.maxAgeMs);
    changes.push(`max age ${age(currentAgeMs)} → ${age(options.maxAgeMs)} (nats.maxAge)`);
    const windowMs = Math.round(update.duplicate_window / 1_000_000);
    if (options.maxAgeMs > 0 && windowMs > options.maxAgeMs) {
      update.duplicate_window = nanos(options.maxAgeMs);
      changes.push(`duplicate window ${formatDuration(windowMs)} → ${formatDuration(options.maxAgeMs)} (at most the max age)`);
    }
  }
  const currentBytes = existing.max_bytes ?? -1;
  const bytes = (value: number) => (value > 0 ? formatSize(value) : "none");
  if (options.maxBytes !== undefined && options.maxBytes !== currentBytes) {
    update.max_bytes = options.maxBytes;
    changes.push(`max bytes ${bytes(currentBytes)} → ${bytes(options.maxBytes)} (nats.maxBytes)`);
  }
  if (changes.length === 0) return {};
  return {
    update,
    note: `stream ${stream}: set ${changes.join(", ")}; messages beyond the limits are discarded, read or not (workers say how many they lost)`,
  };
}

/**
 * What ensureStream does when an existing stream's duplicate window differs from the configured one.
 *
 * Wider: the stream is updated. JetStream allows it on a live stream, and nats-server then only re-arms the timer that
 * forgets old ids: messages, sequences and consumers stay, and the ids it holds are kept for the longer window. It is
 * what the user who raised `nats.duplicateWindow` asked for, and all it costs is the memory they chose to spend.
 * Narrower: left alone with a warning. Narrowing makes nats-server drop at once the ids older than the new window, so
 * it is the one direction that loses something, and pipelines sharing a stream with different windows would
 * otherwise narrow each other's on every start; widening only is monotone, so the stream settles on the widest one.
 * Longer than the stream's max age: nats-server refuses it, so a warning.
 */
export function windowChange(stream: string, existing: Pick<StreamConfig, "duplicate_window" | "max_age">, configuredMs: number): { widenTo?: number; note?: string } {
  const currentMs = Math.round((existing.duplicate_window ?? 0) / 1_000_000);
  const maxAgeMs = Math.round((existing.max_age ?? 0) / 1_000_000);
  if (currentMs === configuredMs) return {};
  const values = `stream ${stream} has a duplicate window of ${formatDuration(currentMs)}, nats.duplicateWindow is ${formatDuration(configuredMs)}`;
  if (configuredMs < currentMs) {
    return {
      note: `warning: ${values}; clickpipe only widens an existing stream's window, so it keeps ${formatDuration(currentMs)} (more nats-server memory, no lost duplicates). To narrow it: nats stream edit ${stream} --dupe-window ${goDuration(configuredMs)}`,
    };
  }
  if (maxAgeMs > 0 && configuredMs > maxAgeMs) {
    return {
      note: `warning: ${values}, longer than the stream's max age of ${formatDuration(maxAgeMs)}, which nats-server does not allow; the window stays ${formatDuration(currentMs)}. Set nats.duplicateWindow to at most ${formatDuration(maxAgeMs)}, or raise the max age (nats stream edit ${stream} --max-age …)`,
    };
  }
  return { widenTo: configuredMs, note: `${values}: widened it to ${formatDuration(configuredMs)} (nats stream edit ${stream} --dupe-window ${goDuration(currentMs)} would change it back)` };
}

// One line per stream and pair of windows per process: a worker, its sources and retries all call ensureStream.
const said = new Set<string>();
function sayOnce(log: ((line: string) => void) | undefined, line: string): void {
  if (log === undefined || said.has(line)) return;
  said.add(line);
  log(line);
}

/** A duration as the nats CLI's flags read it (Go's: no "d" unit). */
function goDuration(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : formatDuration(ms);
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

