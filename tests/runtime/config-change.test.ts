// The settings a checkpoint records and the comparison with the config a worker resumes under: which changes refuse
// (with the key, both values and the fix), which apply from there on, operators added or dropped, the stream, the
// sink path of a kv store, and the check before a partitioned pipeline's tasks start, over real checkpoint directories.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pipelineSchema } from "../../src/config/pipeline.ts";
import { DirectoryCheckpointStore, type Checkpoint } from "../../src/runtime/checkpoint.ts";
import {
  assertConfigUnchanged,
  compareWithCheckpoint,
  ConfigChangedError,
  recordedSettingsOf,
  sharedLakeError,
  type RecordedSettings,
} from "../../src/runtime/config-change.ts";

const LOCATION = "out/_checkpoints/web";
const FIX = "or run the new setting as a new pipeline: another `name` and another sinks[0].path (it reads the stream from its first message).";

function config(operators: Record<string, unknown>[], extra: { stream?: string; store?: "directory" | "kv"; path?: string; partitions?: number } = {}) {
  return pipelineSchema.parse({
    name: "web",
    nats: { stream: extra.stream ?? "S", ...(extra.partitions !== undefined && { partitions: extra.partitions }) },
    operators,
    sinks: [{ type: "parquet", path: extra.path ?? "./out" }],
    ...(extra.store !== undefined && { checkpoint: { store: extra.store } }),
  });
}

const typesOf = (c: ReturnType<typeof config>) => c.operators.map((op) => op.type);

/** compareWithCheckpoint of a checkpoint at sequence 41 written under `before`, resumed under `after`. */
function compare(before: ReturnType<typeof config>, after: ReturnType<typeof config>, stateKeys?: string[]) {
  const settings = stateKeys === undefined ? recordedSettingsOf(before, typesOf(before)) : undefined;
  return compareWithCheckpoint({ stream: before.nats.stream, position: 41, settings }, after, { location: LOCATION, operatorTypes: typesOf(after), stateKeys });
}

describe("config changes against a checkpoint", () => {
  it("records each operator's config with durations in ms, what it takes from the pipeline, and the sink's resolved path", () => {
    const settings = recordedSettingsOf(
      config([{ type: "sessionize", allowedLateness: "10m" }, { type: "sequencePatterns", window: "1h" }, { type: "churnFeatures" }]),
      ["sessionize", "sequencePatterns", "churnFeatures"],
    );
    expect(settings.sinkPath).toBe(resolve("./out"));
    expect(settings.operators.sessionize).toMatchObject({ gap: 1_800_000, allowedLateness: 600_000 });
    expect(settings.operators.sessionize).not.toHaveProperty("type");
    // Unset optional keys are recorded as null, so that a key a record lacks means a version that did not know it.
    expect(settings.operators.sessionize).toHaveProperty("splitAtMidnight", null);
    // sequencePatterns closes windows after sessionize's allowedLateness when it has none of its own.
    expect(settings.operators.sequencePatterns).toMatchObject({ window: 3_600_000, allowedLateness: 600_000, minSupport: 0.01 });
    expect(settings.operators.churnFeatures).toMatchObject({ snapshotEvery: 86_400_000, sessionize: true });
  });

  it.each([
    [
      [{ type: "basket", window: "1d" }],
      [{ type: "basket", window: "12h" }],
      "operators[0].window is 12h, but the checkpoint in out/_checkpoints/web was written with 1d: its open windows hold orders by the old bounds, and windows of the new size would overlap the ones already written. Set operators[0].window: 1d again, ",
    ],
    [
      [{ type: "basket", item: "sku" }],
      [{ type: "basket", item: "category" }],
      "operators[0].item is category, but the checkpoint in out/_checkpoints/web was written with sku: its open windows hold the orders' old items, so a window would mix both kinds. Set operators[0].item: sku again, ",
    ],
    [
      [{ type: "basket", allowedLateness: "1h" }],
      [{ type: "basket", allowedLateness: "6h" }],
      "operators[0].allowedLateness is 6h, but the checkpoint in out/_checkpoints/web was written with 1h: windows it already wrote would count as open again and be written a second time (a shorter one would apply). Set operators[0].allowedLateness: 1h again, ",
    ],
    [
      [{ type: "sessionize", gap: "30m" }],
      [{ type: "sessionize", gap: "20m" }],
      "operators[0].gap is 20m, but the checkpoint in out/_checkpoints/web was written with 30m: its retained sessions were cut under the old rules and the sessions already written would not be cut again. Set operators[0].gap: 30m again, ",
    ],
    [
      [{ type: "sessionize" }],
      [{ type: "sessionize", splitAtMidnight: "Europe/Berlin" }],
      "operators[0].splitAtMidnight is Europe/Berlin, but the checkpoint in out/_checkpoints/web was written with (not set): its retained sessions were cut under the old rules and the sessions already written would not be cut again. Remove operators[0].splitAtMidnight, ",
    ],
    [
      [{ type: "sessionize", allowedLateness: "10m" }],
      [{ type: "sessionize", allowedLateness: "2h" }],
      "operators[0].allowedLateness is 2h, but the checkpoint in out/_checkpoints/web was written with 10m: the sessions it already let go would not take the events a longer lateness accepts: those would start second sessions beside them (a shorter one would apply). Set operators[0].allowedLateness: 10m again, ",
    ],
    [
      [{ type: "sessionize" }, { type: "sequencePatterns", window: "1h" }],
      [{ type: "sessionize" }, { type: "sequencePatterns", window: "1h", every: "30m" }],
      "operators[1].every is 30m, but the checkpoint in out/_checkpoints/web was written with (not set): its open windows hold sessions by the old bounds, and windows of the new hop would overlap the ones already written. Remove operators[1].every, ",
    ],
    [
      [{ type: "sessionize" }, { type: "sequencePatterns", item: "page_item" }],
      [{ type: "sessionize" }, { type: "sequencePatterns", item: "page_path" }],
      "operators[1].item is page_path, but the checkpoint in out/_checkpoints/web was written with page_item: its open windows hold the sessions' old items, so a window would mix both kinds. Set operators[1].item: page_item again, ",
    ],
    [
      [{ type: "sessionize", allowedLateness: "1h" }, { type: "sequencePatterns" }],
      [{ type: "sessionize", allowedLateness: "1h" }, { type: "sequencePatterns", allowedLateness: "3h" }],
      "operators[1].allowedLateness is 3h, but the checkpoint in out/_checkpoints/web was written with 1h: windows it already wrote would count as open again and be written a second time (a shorter one would apply). Set operators[1].allowedLateness: 1h again, ",
    ],
    [
      [{ type: "churnFeatures", snapshotEvery: "1d" }],
      [{ type: "churnFeatures", snapshotEvery: "7d" }],
      "operators[0].snapshotEvery is 7d, but the checkpoint in out/_checkpoints/web was written with 1d: its state counts snapshot periods of the old length, so snapshots would be skipped or written twice. Set operators[0].snapshotEvery: 1d again, ",
    ],
    [
      [{ type: "churnFeatures" }],
      [{ type: "churnFeatures" }, { type: "sessionize" }],
      "operators[0] (churnFeatures) now runs with a sessionize operator, but the checkpoint in out/_checkpoints/web was written without one: its pending days counted cart adds from add_to_cart events without sessionize and from sessions with it, so they would be counted twice or not at all. Remove the sessionize operator, ",
    ],
  ])("refuses %j → %j, naming the key, both values and the fix", (before, after, message) => {
    const { error } = compare(config(before), config(after));
    expect(error).toBeInstanceOf(ConfigChangedError);
    expect(error!.message).toBe(message + FIX);
  });

  it("applies what is read when a window or snapshot is written, and a shorter lateness, from the checkpoint's next sequence on", () => {
    const before = config([{ type: "sessionize", allowedLateness: "1h" }, { type: "sequencePatterns" }, { type: "basket", minSupport: 0.01 }, { type: "churnFeatures" }]);
    const after = config([{ type: "sessionize", allowedLateness: "30m" }, { type: "sequencePatterns", topK: 100 }, { type: "basket", minSupport: 0.05 }, { type: "churnFeatures", identityRetention: "30d" }]);
    const { error, notes } = compare(before, after);
    expect(error).toBeUndefined();
    const since = "since the checkpoint in out/_checkpoints/web: it applies to what is written from S sequence 42 on";
    expect(notes).toEqual([
      `operators[0].allowedLateness changed from 1h to 30m ${since}`,
      `operators[1].topK changed from (not set) to 100 ${since}`,
      `operators[1].allowedLateness (taken from sessionize) changed from 1h to 30m ${since}`,
      `operators[2].minSupport changed from 0.01 to 0.05 ${since}`,
      `operators[3].identityRetention changed from 90d to 30d ${since}`,
    ]);
  });

  it("announces an operator added (empty state at the next sequence) and the state of one removed", () => {
    const { error, notes } = compare(config([{ type: "sessionize" }, { type: "basket" }]), config([{ type: "sessionize" }, { type: "churnFeatures" }]));
    expect(error).toBeUndefined();
    expect(notes).toEqual([
      "the checkpoint in out/_checkpoints/web holds state of a basket operator, which the pipeline no longer has: it is dropped with the next checkpoint",
      "operators[1] (churnFeatures) is new to the checkpoint in out/_checkpoints/web: it starts with empty state at S sequence 42 and never sees the events before it",
    ]);
  });

  it("compares no settings of a checkpoint from before they were recorded, but tells operators added from its state", () => {
    const { error, notes } = compare(config([{ type: "basket", window: "1d" }]), config([{ type: "basket", window: "2d" }, { type: "sessionize" }]), ["basket", "_tombstones"]);
    expect(error).toBeUndefined();
    expect(notes).toEqual([
      "operators[1] (sessionize) is new to the checkpoint in out/_checkpoints/web: it starts with empty state at S sequence 42 and never sees the events before it",
    ]);
  });

  it("does not compare a key the checkpoint's record lacks: a version that wrote it did not know that setting", () => {
    const before = config([{ type: "basket", window: "1d" }]);
    const settings = recordedSettingsOf(before, ["basket"]);
    delete settings.operators.basket.window;
    const { error, notes } = compareWithCheckpoint({ stream: "S", position: 41, settings }, config([{ type: "basket", window: "2d" }]), { location: LOCATION, operatorTypes: ["basket"] });
    expect(error).toBeUndefined();
    expect(notes).toEqual([]);
  });

  it("refuses another stream's name, whose messages the checkpoint's position does not count", () => {
    const { error } = compare(config([{ type: "basket" }]), config([{ type: "basket" }], { stream: "T" }));
    expect(error?.message).toBe(
      "nats.stream is T, but the checkpoint in out/_checkpoints/web was taken from stream S (through its sequence 41): its position counts S's messages and its state holds what they left open. Set nats.stream: S again, " + FIX,
    );
  });

  it("refuses another sink path under a kv store, whose checkpoint is not in the lake; a directory store's path is the checkpoint's own", () => {
    const kv = compare(config([{ type: "basket" }], { store: "kv", path: "/lake/a" }), config([{ type: "basket" }], { store: "kv", path: "/lake/b" }));
    expect(kv.error?.message).toBe(
      "sinks[0].path is /lake/b, but the checkpoint in out/_checkpoints/web committed its parts under /lake/a: the new path would get only what comes after S sequence 42. Set sinks[0].path: /lake/a again, " + FIX,
    );
    // A directory store found the checkpoint under the new path: the lake moved with it (or is reached another way).
    expect(compare(config([{ type: "basket" }], { path: "/lake/a" }), config([{ type: "basket" }], { path: "/mnt/lake/a" })).error).toBeUndefined();
  });
});

describe("assertConfigUnchanged", () => {
  let lake: string;
  const storeOf = (name: string) => new DirectoryCheckpointStore(lake, name);
  const openExisting = (name: string) => Promise.resolve(storeOf(name));

  async function commit(name: string, settings: RecordedSettings, options: { streamCreated?: string; position?: number } = {}) {
    const checkpoint: Omit<Checkpoint, "state"> = {
      format: 1,
      pipeline: name,
      stream: "S",
      streamCreated: options.streamCreated ?? "2026-01-01T00:00:00Z",
      epoch: 1,
      position: options.position ?? 10,
      pending: undefined,
      workerId: "w",
      committedAt: 0,
      settings,
    };
    await storeOf(name).commit(checkpoint, "{}");
  }

  beforeEach(async () => {
    lake = await mkdtemp(join(tmpdir(), "clickpipe-config-change-"));
  });

  afterEach(async () => {
    await rm(lake, { recursive: true, force: true });
  });

  it("refuses before a partitioned pipeline's tasks start when its customers task's checkpoint cannot follow", async () => {
    const before = config([{ type: "sessionize" }, { type: "basket", window: "1d" }], { partitions: 2 });
    await commit("web.events-0", recordedSettingsOf(before, ["sessionize"]));
    await commit("web.customers-0", recordedSettingsOf(before, ["basket"]));
    await expect(assertConfigUnchanged(before, "2026-01-01T00:00:00Z", openExisting)).resolves.toBeUndefined();
    const after = config([{ type: "sessionize" }, { type: "basket", window: "2d" }], { partitions: 2 });
    await expect(assertConfigUnchanged(after, "2026-01-01T00:00:00Z", openExisting)).rejects.toThrow(
      `operators[1].window is 2d, but the checkpoint in ${join(lake, "_checkpoints", "web.customers-0")} was written with 1d`,
    );
    // A stream deleted and created again under its name is another stream: its checkpoints are not resumed, so not compared.
    await expect(assertConfigUnchanged(after, "2026-02-02T00:00:00Z", openExisting)).resolves.toBeUndefined();
  });

  it("refuses an unpartitioned pipeline's checkpoint of another stream's name, and passes one at sequence 0", async () => {
    const before = config([{ type: "basket" }]);
    await commit("web", recordedSettingsOf(before, ["basket"]), { position: 0 });
    const elsewhere = config([{ type: "basket" }], { stream: "T" });
    await expect(assertConfigUnchanged(elsewhere, undefined, openExisting)).resolves.toBeUndefined();
    // A later epoch at sequence 5, from before settings were recorded: the stream's name is compared all the same.
    await storeOf("web").commit({ format: 1, pipeline: "web", stream: "S", streamCreated: "c", epoch: 2, position: 5, pending: undefined, workerId: "w", committedAt: 0 }, "{}");
    await expect(assertConfigUnchanged(elsewhere, undefined, openExisting)).rejects.toThrow("nats.stream is T, but the checkpoint in");
  });

  it("refuses a pipeline whose checkpoint is in the other checkpoint.store, before any task starts", async () => {
    const before = config([{ type: "basket" }]);
    await commit("web", recordedSettingsOf(before, ["basket"]));
    const kv = config([{ type: "basket" }], { store: "kv" });
    // The kv store has none; the directory store (the other kind) has the pipeline's checkpoint at sequence 10.
    const none = () => Promise.resolve(undefined);
    await expect(assertConfigUnchanged(kv, "2026-01-01T00:00:00Z", none, openExisting)).rejects.toThrow(
      `checkpoint.store is kv, but the pipeline's checkpoint is in ${join(lake, "_checkpoints", "web")} (checkpoint.store: directory), through S sequence 10: `,
    );
    await expect(assertConfigUnchanged(kv, "2026-01-01T00:00:00Z", none, none)).resolves.toBeUndefined();
  });

  it("refuses a pipeline without a checkpoint whose lake holds another name's tables from its stream, by settings or by state", async () => {
    const inLake = (operators: Record<string, unknown>[], stream = "S") =>
      pipelineSchema.parse({ name: "renamed", nats: { stream }, operators, sinks: [{ type: "parquet", path: lake }] });
    // web.events-0: a partitioned run from before settings were recorded, its sessionize state in the document.
    await storeOf("web.events-0").commit(
      { format: 1, pipeline: "web.events-0", stream: "S", streamCreated: "c", epoch: 1, position: 7, pending: undefined, workerId: "w", committedAt: 0 },
      JSON.stringify({ sessionize: {}, _forward: null }),
    );
    await commit("web.customers-0", recordedSettingsOf(config([{ type: "basket" }]), ["basket"]));
    expect((await sharedLakeError(inLake([{ type: "sessionize" }]), ["sessionize"]))?.message).toBe(
      `pipeline web wrote the sessions tables of ${lake} from stream S (its checkpoint in ${join(lake, "_checkpoints", "web.events-0")}, through sequence 7), ` +
        "and renamed, which has no checkpoint, would write them again from the stream's first message. If the pipeline was renamed, set name: web again; " +
        "to run both, give this one another sinks[0].path.",
    );
    expect((await sharedLakeError(inLake([{ type: "basket" }]), ["basket"]))?.message).toMatch(/^pipeline web wrote the basket_rules and cross_sell tables of /);
    // Another stream's pipeline, or other tables, share the lake without writing the same rows.
    expect(await sharedLakeError(inLake([{ type: "sessionize" }], "T"), ["sessionize"])).toBeUndefined();
    expect(await sharedLakeError(inLake([{ type: "churnFeatures" }]), ["churnFeatures"])).toBeUndefined();
    // The pipeline's own tasks are its own.
    const web = pipelineSchema.parse({ name: "web", nats: { stream: "S", partitions: 2 }, operators: [{ type: "sessionize" }], sinks: [{ type: "parquet", path: lake }] });
    expect(await sharedLakeError(web, ["sessionize"])).toBeUndefined();
  });
});
