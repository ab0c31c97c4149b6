// Which partitions a stream holds, and what a pipeline configured for another count makes of it.
import { describe, expect, it } from "vitest";
import { pipelineSchema } from "../../src/config/pipeline.ts";
import { DUPLICATE_WINDOW_MS, limitsChange, partitionMismatch, partitionsOfSubjects, streamConfig, streamOptions, windowChange } from "../../src/transport/stream.ts";

describe("stream - partitions in a stream", () => {
  it("reads the event partitions from the stream's subjects, ignoring dead letters, re-keyed records and other streams", () => {
    const subjects = ["S.events.10", "S.dlq", "S.events.2", "S.customers.0", "S.events.0", "SX.events.99", "S.events.x"];
    expect(partitionsOfSubjects("S", subjects)).toEqual([0, 2, 10]);
  });

  it("accepts a stream with the configured partitions or fewer", () => {
    expect(partitionMismatch("S", 1, [0])).toEqual({});
    expect(partitionMismatch("S", 4, [0, 1, 2, 3])).toEqual({});
    expect(partitionMismatch("S", 8, [0, 3])).toEqual({});
    expect(partitionMismatch("S", 1, [])).toEqual({});
  });

  it("refuses a partitioned pipeline that would leave partitions unread, naming the count to set", () => {
    const { error, warning } = partitionMismatch("S", 4, [0, 1, 5, 7]);
    expect(warning).toBeUndefined();
    expect(error).toBe(
      "stream S holds events of 4 partitions (up to S.events.7) but nats.partitions is 4: the events of partitions 4–7 would never be read; publish and run with the same pipeline file, or set nats.partitions: 8",
    );
  });

  it("warns an unpartitioned worker that reads several partitions about late events", () => {
    const { error, warning } = partitionMismatch("S", 1, [0, 1, 2]);
    expect(error).toBeUndefined();
    expect(warning).toMatch(/^stream S holds events of 3 partitions \(up to S\.events\.2\) but nats\.partitions is 1: .*late; .*nats\.partitions: 3$/);
  });
});

describe("stream - duplicate window", () => {
  const ns = (ms: number) => ms * 1_000_000;

  it("takes the stream options from the pipeline's nats section", () => {
    const nats = pipelineSchema.parse({ name: "t", nats: { stream: "S", replicas: 3, duplicateWindow: "10m" }, sinks: [{ type: "parquet", path: "x" }] }).nats;
    const log = () => undefined;
    expect(streamOptions(nats, log)).toEqual({ replicas: 3, duplicateWindowMs: 600_000, log });
  });

  it("creates a stream with the configured window, 2 minutes by default, at most its max age", () => {
    expect(streamConfig("S").duplicate_window).toBe(ns(DUPLICATE_WINDOW_MS));
    expect(streamConfig("S", { duplicateWindowMs: 600_000 }).duplicate_window).toBe(ns(600_000));
    expect(streamConfig("S", { duplicateWindowMs: 600_000, maxAgeMs: 60_000 }).duplicate_window).toBe(ns(60_000));
  });

  it("leaves an equal window alone, widens a shorter one and says so", () => {
    expect(windowChange("S", { duplicate_window: ns(120_000), max_age: 0 }, 120_000)).toEqual({});
    const { widenTo, note } = windowChange("S", { duplicate_window: ns(120_000), max_age: 0 }, 5_400_000);
    expect(widenTo).toBe(5_400_000);
    expect(note).toBe("stream S has a duplicate window of 2m, nats.duplicateWindow is 90m: widened it to 90m (nats stream edit S --dupe-window 2m would change it back)");
  });

  it("keeps a longer window, warning with the nats CLI command that narrows it (in hours: Go durations have no days)", () => {
    const { widenTo, note } = windowChange("S", { duplicate_window: ns(7 * 86_400_000), max_age: 0 }, 86_400_000);
    expect(widenTo).toBeUndefined();
    expect(note).toMatch(/^warning: stream S has a duplicate window of 7d, nats\.duplicateWindow is 1d; .* keeps 7d .*nats stream edit S --dupe-window 24h$/);
  });

  it("does not widen past the stream's max age (nats-server refuses it), warning instead", () => {
    const { widenTo, note } = windowChange("S", { duplicate_window: ns(60_000), max_age: ns(3_600_000) }, 7_200_000);
    expect(widenTo).toBeUndefined();
    expect(note).toMatch(/^warning: stream S .* longer than the stream's max age of 1h.*at most 1h/);
  });
});

describe("stream - limits", () => {
  const ns = (ms: number) => ms * 1_000_000;
  const HOUR = 3_600_000;

  it("takes max age and max bytes from the pipeline's nats section, none when unset", () => {
    const parse = (nats: Record<string, unknown>) => pipelineSchema.parse({ name: "t", nats: { stream: "S", ...nats }, sinks: [{ type: "parquet", path: "x" }] }).nats;
    expect(streamOptions(parse({ maxAge: "3h", maxBytes: "4GiB" }))).toMatchObject({ maxAgeMs: 3 * HOUR, maxBytes: 4 * 1024 ** 3 });
    const unset = streamOptions(parse({}));
    expect("maxAgeMs" in unset || "maxBytes" in unset).toBe(false);
  });

  it("creates a stream without limits by default, and with the configured ones", () => {
    expect([streamConfig("S").max_age, streamConfig("S").max_bytes]).toEqual([0, -1]);
    const limited = streamConfig("S", { maxAgeMs: 3 * HOUR, maxBytes: 1024 ** 3 });
    expect([limited.max_age, limited.max_bytes]).toEqual([ns(3 * HOUR), 1024 ** 3]);
  });

  it("leaves an existing stream's limits alone when unset or equal", () => {
    const existing = { max_age: ns(HOUR), max_bytes: 1024 ** 3, duplicate_window: ns(120_000) };
    expect(limitsChange("S", existing, {})).toEqual({});
    expect(limitsChange("S", existing, { maxAgeMs: HOUR, maxBytes: 1024 ** 3 })).toEqual({});
  });

  it("sets changed limits, lowering a duplicate window longer than the new max age, and says so", () => {
    const { update, note } = limitsChange("S", { max_age: 0, max_bytes: -1, duplicate_window: ns(2 * HOUR) }, { maxAgeMs: HOUR, maxBytes: 10 * 1024 ** 3 });
    expect(update).toEqual({ max_age: ns(HOUR), max_bytes: 10 * 1024 ** 3, duplicate_window: ns(HOUR) });
    expect(note).toBe(
      "stream S: set max age none → 1h (nats.maxAge), duplicate window 2h → 1h (at most the max age), max bytes none → 10GiB (nats.maxBytes); messages beyond the limits are discarded, read or not (workers say how many they lost)",
    );
    const raised = limitsChange("S", { max_age: ns(HOUR), max_bytes: 1024 ** 3, duplicate_window: ns(120_000) }, { maxAgeMs: 24 * HOUR });
    expect(raised.update).toEqual({ max_age: ns(24 * HOUR), max_bytes: 1024 ** 3, duplicate_window: ns(120_000) });
    expect(raised.note).toMatch(/^stream S: set max age 1h → 1d \(nats\.maxAge\); /);
  });
});
