// Which partitions a stream holds, and what a pipeline configured for another count makes of it.
import { describe, expect, it } from "vitest";
import { partitionMismatch, partitionsOfSubjects } from "../../src/transport/stream.ts";

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
