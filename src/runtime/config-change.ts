// The pipeline settings a checkpoint's state and output depend on, recorded in every checkpoint and compared when a
// worker resumes: a change the restored state cannot honour stops the worker before it reads or commits anything,
// naming the key, both values and the fix; a change it can honour is applied from there on and said in the log.
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { PipelineConfig } from "../config/pipeline.ts";
import { operatorRegistry } from "../operators/index.ts";
import { formatDuration } from "../config/duration.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { streamInfoOrUndefined } from "../transport/stream.ts";
import { DirectoryCheckpointStore, type CheckpointMeta } from "./checkpoint.ts";
import { openExistingCheckpointStore } from "./checkpoint-store.ts";
import type { OpenExistingStore } from "./partition-count.ts";
import { isPartitioned, planTasks, taskCheckpointName } from "./tasks.ts";

/** What a checkpoint records (Checkpoint.settings). */
export interface RecordedSettings {
  /**
   * Per operator the worker runs (keyed by its step id, its type): its config as run, durations in ms and defaults
   * filled, plus what it takes from the pipeline (see `effective`).
   */
  operators: Record<string, Record<string, unknown>>;
  /** The first parquet sink's path, resolved: where the committed parts are. */
  sinkPath: string;
}

/** `any`: every change is refused; `longer`: a longer duration is refused, a shorter one applies. */
interface Rule {
  refuse: "any" | "longer";
  why: string;
}

const CUTS = "its retained sessions were cut under the old rules and the sessions already written would not be cut again";

/**
 * The settings a restored state cannot follow, and why. Every other setting (minimum support and confidence, pattern
 * and rule lengths, topK, crossSellTop, outOfOrderness, idleTimeout, maxFutureSkew, identityRetention, churnFeatures'
 * allowedLateness) applies to what is written from the restart on: each is read when a window or snapshot is written,
 * or moves a watermark that only ever advances.
 */
const RULES: Record<string, Record<string, Rule>> = {
  sessionize: {
    gap: { refuse: "any", why: CUTS },
    maxDuration: { refuse: "any", why: CUTS },
    maxEvents: { refuse: "any", why: CUTS },
    splitAtMidnight: { refuse: "any", why: CUTS },
    splitOnCampaignChange: { refuse: "any", why: CUTS },
    allowedLateness: {
      refuse: "longer",
      why: "the sessions it already let go would not take the events a longer lateness accepts: those would start second sessions beside them",
    },
  },
  sequencePatterns: {
    window: { refuse: "any", why: "its open windows hold sessions by the old bounds, and windows of the new size would overlap the ones already written" },
    every: { refuse: "any", why: "its open windows hold sessions by the old bounds, and windows of the new hop would overlap the ones already written" },
    item: { refuse: "any", why: "its open windows hold the sessions' old items, so a window would mix both kinds" },
    allowedLateness: { refuse: "longer", why: "windows it already wrote would count as open again and be written a second time" },
  },
  basket: {
    window: { refuse: "any", why: "its open windows hold orders by the old bounds, and windows of the new size would overlap the ones already written" },
    item: { refuse: "any", why: "its open windows hold the orders' old items, so a window would mix both kinds" },
    allowedLateness: { refuse: "longer", why: "windows it already wrote would count as open again and be written a second time" },
  },
  churnFeatures: {
    snapshotEvery: { refuse: "any", why: "its state counts snapshot periods of the old length, so snapshots would be skipped or written twice" },
    sessionize: {
      refuse: "any",
      why: "its pending days counted cart adds from add_to_cart events without sessionize and from sessions with it, so they would be counted twice or not at all",
    },
  },
};

const DURATION_KEYS = new Set(["gap", "maxDuration", "allowedLateness", "outOfOrderness", "idleTimeout", "maxFutureSkew", "window", "every", "snapshotEvery", "identityRetention"]);

/** An operator's settings as recorded: its config and what it takes from the pipeline. */
function effective(operator: PipelineConfig["operators"][number], config: PipelineConfig): Record<string, unknown> {
  // Every key of the operator's schema, an unset one as null: a key missing from a record was not known to the version
  // that wrote it, and is not compared.
  const settings: Record<string, unknown> = {};
  for (const key of Object.keys(operatorRegistry[operator.type].config.shape)) {
    if (key !== "type") settings[key] = (operator as Record<string, unknown>)[key] ?? null;
  }
  const sessionize = config.operators.find((op) => op.type === "sessionize");
  // Without its own, sequencePatterns closes windows after sessionize's allowedLateness (SequencePatternsOperator).
  if (operator.type === "sequencePatterns" && operator.allowedLateness === undefined && sessionize?.type === "sessionize") {
    return { ...settings, allowedLateness: sessionize.allowedLateness };
  }
  if (operator.type === "churnFeatures") return { ...settings, sessionize: sessionize !== undefined };
  return settings;
}

/** The settings a worker running `operatorTypes` of `config` records in its checkpoints. */
export function recordedSettingsOf(config: PipelineConfig, operatorTypes: readonly string[]): RecordedSettings {
  const operators: Record<string, Record<string, unknown>> = {};
  for (const operator of config.operators) if (operatorTypes.includes(operator.type)) operators[operator.type] = effective(operator, config);
  const sink = config.sinks.find((s) => s.type === "parquet");
  return { operators, sinkPath: resolve(sink?.type === "parquet" ? sink.path : ".") };
}

/** A checkpoint was written under settings the config no longer has, and its state cannot follow the change. */
export class ConfigChangedError extends Error {
  override name = "ConfigChangedError";
}

/** A setting's value as a pipeline file writes it. */
function shown(key: string, value: unknown): string {
  if (value === undefined || value === null) return "(not set)";
  if (typeof value === "number" && DURATION_KEYS.has(key)) return formatDuration(value);
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The fix every refusal offers: the old value back, or the new one as a new pipeline (clickpipe has no reset command). */
function startOver(sinkIndex: number): string {
  return `or run the new setting as a new pipeline: another \`name\` and another sinks[${sinkIndex}].path (it reads the stream from its first message)`;
}

export interface ConfigComparison {
  /** The first change the checkpoint cannot follow, when there is one. */
  error?: ConfigChangedError;
  /** Changes applied from here on, operators added and state dropped: one log line each. */
  notes: string[];
}

/**
 * Compares what a resumable checkpoint recorded with the config. `stateKeys` (the checkpoint's state keys) tells the
 * operators of a checkpoint from before settings were recorded; without either, only the stream is compared.
 * `location` names the checkpoint; `operatorTypes` are the operators this worker runs.
 */
export function compareWithCheckpoint(
  checkpoint: Pick<CheckpointMeta, "stream" | "position" | "settings">,
  config: PipelineConfig,
  options: { location: string; operatorTypes: readonly string[]; stateKeys?: readonly string[] },
): ConfigComparison {
  const notes: string[] = [];
  const sinkIndex = Math.max(0, config.sinks.findIndex((sink) => sink.type === "parquet"));
  const where = `the checkpoint in ${options.location}`;
  const after = `${config.nats.stream} sequence ${checkpoint.position + 1}`;
  if (checkpoint.stream !== config.nats.stream) {
    return {
      notes,
      error: new ConfigChangedError(
        `nats.stream is ${config.nats.stream}, but ${where} was taken from stream ${checkpoint.stream} (through its sequence ${checkpoint.position}): ` +
          `its position counts ${checkpoint.stream}'s messages and its state holds what they left open. ` +
          `Set nats.stream: ${checkpoint.stream} again, ${startOver(sinkIndex)}.`,
      ),
    };
  }
  const recorded = checkpoint.settings;
  const current = recordedSettingsOf(config, options.operatorTypes);
  if (recorded !== undefined && config.checkpoint.store === "kv" && recorded.sinkPath !== current.sinkPath) {
    // A directory store lives in the lake it commits to; a KV bucket does not, so the lake may move away from it.
    return {
      notes,
      error: new ConfigChangedError(
        `sinks[${sinkIndex}].path is ${current.sinkPath}, but ${where} committed its parts under ${recorded.sinkPath}: ` +
          `the new path would get only what comes after ${after}. Set sinks[${sinkIndex}].path: ${recorded.sinkPath} again, ${startOver(sinkIndex)}.`,
      ),
    };
  }
  const before = recorded !== undefined ? Object.keys(recorded.operators) : options.stateKeys?.filter((key) => key in RULES);
  if (before === undefined) return { notes };
  for (const type of before) {
    if (!options.operatorTypes.includes(type)) {
      notes.push(`${where} holds state of a ${type} operator, which the pipeline no longer has: it is dropped with the next checkpoint`);
    }
  }
  for (const [index, operator] of config.operators.entries()) {
    if (!options.operatorTypes.includes(operator.type)) continue;
    const path = `operators[${index}]`;
    if (!before.includes(operator.type)) {
      notes.push(`${path} (${operator.type}) is new to ${where}: it starts with empty state at ${after} and never sees the events before it`);
      continue;
    }
    const old = recorded?.operators[operator.type];
    if (old === undefined) continue;
    const now = current.operators[operator.type];
    const rules = RULES[operator.type] ?? {};
    for (const key of Object.keys(now)) {
      if (!(key in old)) continue;
      const [was, is] = [old[key], now[key]];
      if (JSON.stringify(was) === JSON.stringify(is)) continue;
      const rule = rules[key];
      const taken = operator.type === "sequencePatterns" && key === "allowedLateness" && operator.allowedLateness === undefined ? " (taken from sessionize)" : "";
      const refused = rule !== undefined && (rule.refuse === "any" || typeof was !== "number" || typeof is !== "number" || is > was);
      if (refused) {
        const setting = key === "sessionize" ? `${path} (churnFeatures) now runs ${is ? "with" : "without"} a sessionize operator` : `${path}.${key}${taken} is ${shown(key, is)}`;
        const written = key === "sessionize" ? `${was ? "with" : "without"} one` : `with ${shown(key, was)}`;
        const back =
          key === "sessionize"
            ? `${was ? "Put the sessionize operator back" : "Remove the sessionize operator"}`
            : was === null
              ? `Remove ${path}.${key}`
              : `Set ${path}.${key}: ${shown(key, was)} again`;
        const shorter = rule.refuse === "longer" ? " (a shorter one would apply)" : "";
        return {
          notes,
          error: new ConfigChangedError(`${setting}, but ${where} was written ${written}: ${rule.why}${shorter}. ${back}, ${startOver(sinkIndex)}.`),
        };
      }
      notes.push(`${path}.${key}${taken} changed from ${shown(key, was)} to ${shown(key, is)} since ${where}: it applies to what is written from ${after} on`);
    }
  }
  return { notes };
}

/**
 * A pipeline starting without a checkpoint in its `checkpoint.store` whose other store kind holds one (`otherStore`
 * opens it for a checkpoint name, undefined when it has none): started afresh, it would read the stream again into the
 * same lake, and its epochs, counted from 1 again, would name parts like the committed ones and replace them.
 */
export async function storeSwitchError(config: PipelineConfig, checkpointName: string, otherStore: OpenExistingStore): Promise<ConfigChangedError | undefined> {
  const store = await otherStore(checkpointName);
  const meta = await store?.loadMeta();
  if (store === undefined || meta === undefined || meta.pipeline !== checkpointName || meta.position === 0) return undefined;
  const configured = config.checkpoint.store;
  const other = configured === "kv" ? "directory" : "kv";
  const sinkIndex = Math.max(0, config.sinks.findIndex((sink) => sink.type === "parquet"));
  return new ConfigChangedError(
    `checkpoint.store is ${configured}, but the pipeline's checkpoint is in ${store.location} (checkpoint.store: ${other}), through ${meta.stream} sequence ${meta.position}: ` +
      `started without it, the pipeline would read the stream again into the same lake, writing its rows a second time and parts over the committed ones. ` +
      `Set checkpoint.store: ${other} again, ${startOver(sinkIndex)}.`,
  );
}

/** The tables each operator writes (a shared lake's refusal names them). */
const TABLES_OF: Record<string, string> = {
  sessionize: "sessions",
  sequencePatterns: "patterns",
  basket: "basket_rules and cross_sell",
  churnFeatures: "customer_features",
};

/**
 * A pipeline starting without a checkpoint whose lake holds the checkpoint of a pipeline of another name that read the
 * same stream with an operator this one runs (the pipeline renamed, or a second one): those tables would get every row
 * a second time. Sees the checkpoints in the lake (directory stores), not those in KV buckets.
 */
export async function sharedLakeError(config: PipelineConfig, operatorTypes: readonly string[]): Promise<ConfigChangedError | undefined> {
  if (operatorTypes.length === 0) return undefined;
  const sinkIndex = Math.max(0, config.sinks.findIndex((sink) => sink.type === "parquet"));
  const sink = config.sinks[sinkIndex];
  const sinkPath = sink?.type === "parquet" ? sink.path : ".";
  let names: string[];
  try {
    names = await readdir(join(sinkPath, "_checkpoints"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  for (const name of names.sort()) {
    // A partitioned pipeline's tasks checkpoint as <pipeline>.<task>; a pipeline's name has no dot.
    const owner = name.split(".")[0];
    if (owner === config.name) continue;
    const store = new DirectoryCheckpointStore(sinkPath, name);
    const meta = await store.loadMeta().catch(() => undefined);
    if (meta === undefined || meta.pipeline !== name || meta.stream !== config.nats.stream || meta.position === 0) continue;
    // A checkpoint from before settings were recorded tells its operators by its state's keys.
    const theirs = meta.settings !== undefined ? Object.keys(meta.settings.operators) : Object.keys((await store.load())?.state ?? {});
    const shared = operatorTypes.filter((type) => theirs.includes(type));
    if (shared.length === 0) continue;
    return new ConfigChangedError(
      `pipeline ${owner} wrote the ${shared.map((type) => TABLES_OF[type] ?? type).join(", ")} tables of ${sinkPath} from stream ${config.nats.stream} ` +
        `(its checkpoint in ${store.location}, through sequence ${meta.position}), and ${config.name}, which has no checkpoint, would write them ` +
        `again from the stream's first message. If the pipeline was renamed, set name: ${owner} again; to run both, give this one another sinks[${sinkIndex}].path.`,
    );
  }
  return undefined;
}

/**
 * Before a worker claims anything (a partitioned pipeline's tasks) or `run` starts its sources: throws
 * ConfigChangedError when the last checkpoint of the pipeline, or of any of its tasks, cannot follow the config.
 * `streamCreated` is the configured stream's creation time (undefined: it does not exist yet); a checkpoint of a stream
 * deleted and created again under its name is not resumed, so not compared. Reads checkpoint metadata only.
 */
export async function assertConfigUnchanged(
  config: PipelineConfig,
  streamCreated: string | undefined,
  openExisting: OpenExistingStore,
  otherStore?: OpenExistingStore,
): Promise<void> {
  const checkpoints = isPartitioned(config)
    ? planTasks(config).map((plan) => ({ name: taskCheckpointName(config.name, plan), operatorTypes: plan.operators }))
    : [{ name: config.name, operatorTypes: config.operators.map((op) => op.type) }];
  for (const { name, operatorTypes } of checkpoints) {
    const store = await openExisting(name);
    const meta = await store?.loadMeta();
    if (meta === undefined) {
      const switched = otherStore === undefined ? undefined : await storeSwitchError(config, name, otherStore);
      const shared = switched ?? (await sharedLakeError(config, operatorTypes));
      if (shared !== undefined) throw shared;
    }
    if (store === undefined || meta === undefined || meta.pipeline !== name || meta.position === 0) continue;
    if (meta.stream === config.nats.stream && meta.streamCreated !== streamCreated) continue;
    const { error } = compareWithCheckpoint(meta, config, { location: store.location, operatorTypes });
    if (error !== undefined) throw error;
  }
}

/** assertConfigUnchanged before `run` starts its collector and tailers, which would otherwise feed a changed stream. */
export async function assertConfigUnchangedBeforeIntake(config: PipelineConfig, connection: NatsConnection): Promise<void> {
  const info = await streamInfoOrUndefined(await jetstreamManager(connection), config.nats.stream);
  await assertConfigUnchanged(config, info?.created, ...checkpointStoresOf(config, connection));
}

/** Opens an existing checkpoint by name in the config's checkpoint.store, and in the other kind (storeSwitchError). */
export function checkpointStoresOf(config: PipelineConfig, connection: NatsConnection): [configured: OpenExistingStore, other: OpenExistingStore] {
  const sinkPath = config.sinks.find((sink) => sink.type === "parquet")?.path ?? ".";
  const open = (kind: "directory" | "kv") => (name: string) => openExistingCheckpointStore(kind, { sinkPath, pipelineName: name, connection, replicas: config.nats.replicas });
  return [open(config.checkpoint.store), open(config.checkpoint.store === "kv" ? "directory" : "kv")];
}
