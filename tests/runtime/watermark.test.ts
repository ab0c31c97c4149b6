// WatermarkTracker: per-partition max event time minus out-of-orderness, minimum over active partitions, skew guard.
import { describe, expect, it } from "vitest";
import { WatermarkTracker } from "../../src/runtime/watermark.ts";

const MINUTE = 60_000;
const T0 = Date.UTC(2024, 0, 1, 12);

function tracker() {
  return new WatermarkTracker({ outOfOrderness: MINUTE, idleTimeout: MINUTE, maxFutureSkew: 5 * MINUTE });
}

describe("WatermarkTracker", () => {
  it("is -Infinity before any event", () => {
    expect(tracker().current).toBe(-Infinity);
  });

  it("is the max event time minus outOfOrderness and never moves back", () => {
    const watermark = tracker();
    expect(watermark.observe(0, T0, undefined, 0)).toBe(T0 - MINUTE);
    expect(watermark.observe(0, T0 - 10 * MINUTE, undefined, 1)).toBe(T0 - MINUTE);
    expect(watermark.observe(0, T0 + 5 * MINUTE, undefined, 2)).toBe(T0 + 4 * MINUTE);
  });

  it("takes the minimum over active partitions", () => {
    const watermark = tracker();
    watermark.observe(0, T0 + 30 * MINUTE, undefined, 0);
    expect(watermark.observe(1, T0, undefined, 0)).toBe(T0 + 29 * MINUTE);
    // Once partition 1 is known, partition 0 alone cannot move the watermark past partition 1.
    expect(watermark.observe(0, T0 + 40 * MINUTE, undefined, 1000)).toBe(T0 + 29 * MINUTE);
    expect(watermark.observe(1, T0 + 35 * MINUTE, undefined, 2000)).toBe(T0 + 34 * MINUTE);
  });

  it("with expected partitions, one not seen yet holds the watermark back until idle, also after a restore", () => {
    const watermark = new WatermarkTracker({ outOfOrderness: MINUTE, idleTimeout: MINUTE, maxFutureSkew: 5 * MINUTE }, 2);
    expect(watermark.observe(0, T0 + 30 * MINUTE, undefined, 0)).toBe(-Infinity);
    expect(watermark.tick(MINUTE - 1)).toBe(-Infinity);
    watermark.observe(0, T0 + 31 * MINUTE, undefined, MINUTE - 1);
    expect(watermark.tick(MINUTE)).toBe(T0 + 30 * MINUTE); // partition 1 silent since the start: idle
    const snapshot = JSON.parse(JSON.stringify(watermark.snapshot())) as ReturnType<WatermarkTracker["snapshot"]>;
    expect(snapshot.partitions).toEqual([[0, T0 + 31 * MINUTE]]);
    const restored = new WatermarkTracker({ outOfOrderness: MINUTE, idleTimeout: MINUTE, maxFutureSkew: 5 * MINUTE }, 2);
    restored.restore(snapshot);
    expect(restored.observe(0, T0 + 40 * MINUTE, undefined, 10 * MINUTE)).toBe(T0 + 30 * MINUTE);
    expect(restored.observe(1, T0 + 35 * MINUTE, undefined, 10 * MINUTE)).toBe(T0 + 34 * MINUTE);
  });

  it("stops waiting for a partition silent for idleTimeout of processing time", () => {
    const watermark = tracker();
    watermark.observe(1, T0, undefined, 0);
    watermark.observe(0, T0 + 30 * MINUTE, undefined, 0);
    expect(watermark.tick(MINUTE - 1)).toBe(T0 - MINUTE);
    watermark.observe(0, T0 + 31 * MINUTE, undefined, MINUTE - 1);
    expect(watermark.tick(MINUTE)).toBe(T0 + 30 * MINUTE);
  });

  it("caps an event stamped more than maxFutureSkew after received_at at received_at + skew", () => {
    const watermark = tracker();
    expect(watermark.observe(0, T0 + 24 * 60 * MINUTE, T0, 0)).toBe(T0 + 5 * MINUTE - MINUTE);
    // Within the skew the event time counts as is.
    expect(watermark.observe(0, T0 + 5 * MINUTE, T0 + MINUTE, 0)).toBe(T0 + 4 * MINUTE);
  });

  it("goes to +Infinity at end of input", () => {
    const watermark = tracker();
    watermark.observe(0, T0, undefined, 0);
    expect(watermark.advanceToEnd()).toBe(Infinity);
  });

  it("survives snapshot -> JSON -> restore, including infinities", () => {
    const watermark = tracker();
    watermark.observe(0, T0, undefined, 0);
    watermark.observe(1, T0 + 10 * MINUTE, undefined, 0);
    const restored = tracker();
    restored.restore(JSON.parse(JSON.stringify(watermark.snapshot())));
    expect(restored.current).toBe(T0 - MINUTE);
    // Restored partitions count as active until idleTimeout after their first use in the new process.
    expect(restored.observe(1, T0 + 11 * MINUTE, undefined, 5_000_000)).toBe(T0 - MINUTE);
    expect(restored.tick(5_000_000 + MINUTE)).toBe(T0 + 10 * MINUTE);

    const fresh = tracker();
    fresh.restore(JSON.parse(JSON.stringify(tracker().snapshot())));
    expect(fresh.current).toBe(-Infinity);
  });

  it("goes on after a drain's end at the latest event time it saw, and remembers that end through later snapshots", () => {
    const empty = tracker();
    empty.advanceToEnd();
    const afterEmpty = tracker();
    afterEmpty.restore(JSON.parse(JSON.stringify(empty.snapshot())));
    expect([afterEmpty.current, afterEmpty.endedAt]).toEqual([-Infinity, -Infinity]);

    const drained = tracker();
    drained.observe(0, T0, undefined, 0);
    drained.observe(1, T0 + 10 * MINUTE, undefined, 0);
    expect(drained.advanceToEnd()).toBe(Infinity);
    const resumed = tracker();
    resumed.restore(JSON.parse(JSON.stringify(drained.snapshot())));
    // Not +∞ (every later event would be late) and not T0 + 9 min (the drain already flushed everything up to T0 + 10 min).
    expect([resumed.current, resumed.endedAt]).toEqual([T0 + 10 * MINUTE, T0 + 10 * MINUTE]);
    expect(resumed.observe(0, T0 + 5 * MINUTE, undefined, 0)).toBe(T0 + 10 * MINUTE);
    resumed.observe(0, T0 + 20 * MINUTE, undefined, 0);
    expect(resumed.observe(1, T0 + 30 * MINUTE, undefined, 0)).toBe(T0 + 19 * MINUTE);
    const later = tracker();
    later.restore(JSON.parse(JSON.stringify(resumed.snapshot())));
    expect([later.current, later.endedAt]).toEqual([T0 + 19 * MINUTE, T0 + 10 * MINUTE]);
  });
  it("knows the latest event time that arrived: each ts at most its received_at, across partitions", () => {
    const watermark = tracker();
    expect(watermark.arrivedThrough).toBe(-Infinity);
    watermark.observe(0, T0, T0 + MINUTE, 0);
    expect(watermark.arrivedThrough).toBe(T0);
    // A clock 4 minutes ahead: the watermark takes its time (within maxFutureSkew), what arrived is its received_at.
    expect(watermark.observe(1, T0 + 6 * MINUTE, T0 + 2 * MINUTE, 0)).toBe(T0 - MINUTE);
    expect(watermark.arrivedThrough).toBe(T0 + 2 * MINUTE);
    // A clock days ahead, and an event without received_at (its ts stands).
    watermark.observe(0, T0 + 2 * 24 * 60 * MINUTE, T0 + 3 * MINUTE, 0);
    expect(watermark.arrivedThrough).toBe(T0 + 3 * MINUTE);
    watermark.observe(1, T0 + 4 * MINUTE, undefined, 0);
    expect(watermark.arrivedThrough).toBe(T0 + 4 * MINUTE);
    watermark.observe(1, T0 + MINUTE, T0 + 10 * MINUTE, 0);
    expect(watermark.arrivedThrough).toBe(T0 + 4 * MINUTE);
  });

  it("after a drain whose input held a clock ahead, goes on with the watermark at its latest capped time and ends at what arrived", () => {
    const drained = tracker();
    drained.observe(0, T0, T0, 0);
    // Sent at T0 + 1 min, stamped T0 + 5 min.
    drained.observe(0, T0 + 5 * MINUTE, T0 + MINUTE, 0);
    drained.advanceToEnd();
    const resumed = tracker();
    resumed.restore(JSON.parse(JSON.stringify(drained.snapshot())));
    expect([resumed.current, resumed.endedAt, resumed.arrivedThrough]).toEqual([T0 + 5 * MINUTE, T0 + MINUTE, T0 + MINUTE]);
    resumed.observe(0, T0 + 7 * MINUTE, T0 + 7 * MINUTE, 0);
    const later = tracker();
    later.restore(JSON.parse(JSON.stringify(resumed.snapshot())));
    expect([later.endedAt, later.arrivedThrough]).toEqual([T0 + MINUTE, T0 + 7 * MINUTE]);
  });

  it("restores a snapshot of an earlier version (no arrivedThrough) with the drain's end at its latest capped time, as then", () => {
    const resumed = tracker();
    resumed.restore({ current: "Infinity", partitions: [[0, T0 + 5 * MINUTE]] });
    expect([resumed.current, resumed.endedAt, resumed.arrivedThrough]).toEqual([T0 + 5 * MINUTE, T0 + 5 * MINUTE, T0 + 5 * MINUTE]);
    const live = tracker();
    live.restore({ current: T0 + 4 * MINUTE, partitions: [[0, T0 + 5 * MINUTE]] });
    expect([live.endedAt, live.arrivedThrough]).toEqual([-Infinity, T0 + 5 * MINUTE]);
  });
});
