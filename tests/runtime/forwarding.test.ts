// Re-keying between task families: what an events task forwards, and how the customer stage dedupes and merges it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ClickEvent } from "../../src/events/event.ts";
import { decodeForOperators, isDecodeFailure } from "../../src/events/decode.ts";
import { generateLines } from "../../src/ingest/generate.ts";
import { churnFeaturesConfig, createChurnFeatures } from "../../src/operators/churn-features.ts";
import { DirectoryCheckpointStore, type Checkpoint } from "../../src/runtime/checkpoint.ts";
import {
  committedLineage,
  customerStageEvent,
  ForwardedInput,
  Forwarder,
  forwardingPlan,
  LINEAGE_KEY,
  mergeKeyOf,
  batchLines,
  forwardMessageBytes,
  messageChunks,
  parseForwardedLine,
  type ForwardSource,
} from "../../src/runtime/forwarding.ts";
import type { SessionRecord } from "../../src/runtime/operator.ts";
import { PartitionCountChangedError } from "../../src/runtime/partition-count.ts";
import { COUNTED_DUPLICATE, COUNTED_LATE } from "../../src/runtime/pipeline.ts";
import { partitionOf } from "../../src/transport/partition.ts";
import { OperatorHarness } from "../helpers/operator-harness.ts";

const event = (fields: Partial<ClickEvent> & { type: string; ts: number }): ClickEvent => ({ event_id: `e${fields.ts}`, ...fields }) as ClickEvent;
const session = (fields: Partial<SessionRecord>): SessionRecord => ({ session_id: "s", version: 1, visitor_id: "v", user_id: null, end_ts: 0, ...fields }) as SessionRecord;

describe("forwardingPlan", () => {
  it("forwards every event for churnFeatures, purchases only for basket alone, and sessions for session consumers", () => {
    expect(forwardingPlan(["churnFeatures"], 1)).toEqual({ customerPartitions: 1, eventTypes: "all", sessions: true });
    const basket = forwardingPlan(["basket"], 1);
    expect([...(basket.eventTypes as Set<string>)]).toEqual(["purchase"]);
    expect(basket.sessions).toBe(false);
    expect(forwardingPlan(["sequencePatterns"], 1).sessions).toBe(true);
  });
});

describe("Forwarder", () => {
  it("writes lines the customer stage parses back, with the merge key each kind sorts by", () => {
    const forwarder = new Forwarder(forwardingPlan(["churnFeatures"], 1));
    const raw = '{"type":"purchase","ts":"2026-01-05T10:00:00Z","anon_id":"a","revenue":5}';
    forwarder.forwardEvent(event({ type: "purchase", ts: 1767607200000, anon_id: "a" }), raw, 42);
    forwarder.onSession(session({ session_id: "s1", end_ts: 1767607300000 }));
    forwarder.onSessionWatermark(1767607000000);
    forwarder.onSessionInputEnd(1767607250000);
    forwarder.endOfInput(77);
    const [lines] = batchLines(forwarder.take(3));
    expect(lines.map(parseForwardedLine)).toEqual([
      { kind: "event", receivedAt: 42, ts: 1767607200000, raw, counted: 0 },
      { kind: "session", endTs: 1767607300000, session: session({ session_id: "s1", end_ts: 1767607300000 }) },
      { kind: "watermark", value: 1767607000000 },
      { kind: "inputEnd", arrivedThrough: 1767607250000 },
      { kind: "end", through: 77 },
    ]);
    expect(lines.map(mergeKeyOf)).toEqual([1767607200000, 1767607300000, 1767607000000, Infinity, Infinity]);
    expect(forwarder.take(4).lines).toEqual([[]]);
  });

  it("says what the events task counted an event as, and reads lines forwarded before that as counted nowhere", () => {
    const forwarder = new Forwarder(forwardingPlan(["basket"], 1));
    const raw = (id: string) => `{"type":"purchase","ts":"2026-01-05T10:00:00Z","event_id":"${id}","anon_id":"a"}`;
    const purchase = (id: string) => event({ type: "purchase", ts: 1767607200000, event_id: id, anon_id: "a" });
    forwarder.forwardEvent(purchase("none"), raw("none"), 1);
    forwarder.forwardEvent(purchase("late"), raw("late"), 2, COUNTED_LATE);
    forwarder.forwardEvent(purchase("dup"), raw("dup"), 3, COUNTED_DUPLICATE);
    forwarder.forwardEvent(purchase("both"), raw("both"), 4, COUNTED_LATE | COUNTED_DUPLICATE);
    const [lines] = batchLines(forwarder.take(1));
    expect(lines.map((line) => line.slice(0, line.indexOf("\t")))).toEqual(["e", "el", "ed", "eld"]);
    expect(lines.map(parseForwardedLine).map((record) => (record.kind === "event" ? [record.receivedAt, record.counted] : record.kind))).toEqual([
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 3],
    ]);
    // The merge orders them by event time whatever their kind.
    expect(lines.map(mergeKeyOf)).toEqual([1767607200000, 1767607200000, 1767607200000, 1767607200000]);
    // A line an earlier version forwarded (in the stream, or queued in a customers task's checkpoint) has no flag.
    expect(parseForwardedLine(`e\t5\t1767607200000\t${raw("old")}`)).toEqual({ kind: "event", receivedAt: 5, ts: 1767607200000, raw: raw("old"), counted: 0 });
    expect(() => parseForwardedLine("ex\t5\t1\t{}")).toThrow("not a forwarded record");
  });

  it("has lines pending from the first one collected until they are taken (an idle worker commits them)", () => {
    const forwarder = new Forwarder(forwardingPlan(["sequencePatterns"], 1));
    expect(forwarder.hasPending()).toBe(false);
    forwarder.onSessionWatermark(1_000);
    expect(forwarder.hasPending()).toBe(true);
    forwarder.take(1);
    expect(forwarder.hasPending()).toBe(false);
    forwarder.onSessionWatermark(1_500); // the same second: nothing forwarded
    expect(forwarder.hasPending()).toBe(false);
  });

  it("forwards a session watermark once per second of event time", () => {
    const forwarder = new Forwarder(forwardingPlan(["sequencePatterns"], 1));
    for (const watermark of [1_000, 1_500, 1_999, 2_000, 2_001, 5_250]) forwarder.onSessionWatermark(watermark);
    expect(batchLines(forwarder.take(1))[0]).toEqual(["w\t1000", "w\t2000", "w\t5250"]);
  });

  it("forwards a drain's session watermark once per minute of event time, and goes on per second after a restore live", () => {
    const drain = new Forwarder(forwardingPlan(["sequencePatterns"], 1), { drain: true });
    for (const watermark of [1_000, 59_999, 60_000, 60_500, 119_999, 185_250, 185_900]) drain.onSessionWatermark(watermark);
    expect(batchLines(drain.take(1))[0]).toEqual(["w\t1000", "w\t60000", "w\t185250"]);
    const live = new Forwarder(forwardingPlan(["sequencePatterns"], 1));
    live.restore(drain.snapshot());
    for (const watermark of [185_999, 186_000, 186_400, 187_000]) live.onSessionWatermark(watermark);
    expect(batchLines(live.take(2))[0]).toEqual(["w\t186000", "w\t187000"]);
  });

  it("routes by user, else by the user the visitor identified as earlier, else by the visitor; control lines go everywhere", () => {
    const partitions = 4;
    const forwarder = new Forwarder(forwardingPlan(["churnFeatures"], partitions));
    forwarder.forwardEvent(event({ type: "page_view", ts: 1, anon_id: "visitor-1" }), "raw1", 0);
    forwarder.forwardEvent(event({ type: "identify", ts: 2, anon_id: "visitor-1", user_id: "user-9" }), "raw2", 0);
    forwarder.forwardEvent(event({ type: "purchase", ts: 3, anon_id: "visitor-1" }), "raw3", 0);
    forwarder.onSession(session({ visitor_id: "visitor-1", end_ts: 4 }));
    forwarder.endOfInput(10);
    const lines = batchLines(forwarder.take(1));
    const where = (ts: number) => lines.findIndex((partitionLines) => partitionLines.some((line) => line.startsWith(`e\t0\t${ts}\t`)));
    expect(where(1)).toBe(partitionOf("visitor-1", partitions));
    expect(where(2)).toBe(partitionOf("user-9", partitions));
    expect(where(3)).toBe(partitionOf("user-9", partitions));
    expect(lines[partitionOf("user-9", partitions)].some((line) => line.startsWith("s\t4\t"))).toBe(true);
    for (const partitionLines of lines) expect(partitionLines.at(-1)).toBe("x\t10");
  });

  it("routes a visitor by the user it identified as on its own site only: another site's same anon_id is another device", () => {
    const partitions = 16;
    // Ids whose partitions differ, so that a route by the wrong one shows.
    const user = "user-9";
    const anon = ["visitor-1", "visitor-2", "visitor-3", "visitor-4"].find((id) => partitionOf(id, partitions) !== partitionOf(user, partitions))!;
    const forwarder = new Forwarder(forwardingPlan(["churnFeatures"], partitions));
    forwarder.forwardEvent(event({ type: "identify", ts: 1, anon_id: anon, user_id: user, site_id: "shop-de" }), "raw1", 0);
    forwarder.forwardEvent(event({ type: "purchase", ts: 2, anon_id: anon, site_id: "shop-de" }), "raw2", 0);
    forwarder.forwardEvent(event({ type: "purchase", ts: 3, anon_id: anon, site_id: "shop-fr" }), "raw3", 0);
    forwarder.onSession(session({ visitor_id: anon, site_id: "shop-fr", end_ts: 4 }));
    forwarder.onSession(session({ visitor_id: anon, site_id: "shop-de", end_ts: 5 }));
    const lines = batchLines(forwarder.take(1));
    const where = (prefix: string) => lines.findIndex((partitionLines) => partitionLines.some((line) => line.startsWith(prefix)));
    expect(where("e\t0\t2\t")).toBe(partitionOf(user, partitions));
    expect(where("e\t0\t3\t")).toBe(partitionOf(anon, partitions));
    expect(where("s\t4\t")).toBe(partitionOf(anon, partitions));
    expect(where("s\t5\t")).toBe(partitionOf(user, partitions));
  });

  it("restores identities from before site keys (anon_id alone) as the fallback of a site's device, as churnFeatures does", () => {
    const partitions = 16;
    const user = "user-9";
    const [anon, other] = ["visitor-1", "visitor-2", "visitor-3", "visitor-4", "visitor-5"].filter((id) => partitionOf(id, partitions) !== partitionOf(user, partitions));
    const forwarder = new Forwarder(forwardingPlan(["churnFeatures"], partitions));
    // A checkpoint written before site keys: the identity of a device that had a site_id, held by its anon_id alone.
    forwarder.restore({ identities: [[anon, user]], lastWatermarkSecond: null });
    forwarder.forwardEvent(event({ type: "purchase", ts: 2, anon_id: anon, site_id: "shop-de" }), "raw2", 0);
    forwarder.onSession(session({ visitor_id: anon, site_id: "shop-de", end_ts: 5 }));
    const lines = batchLines(forwarder.take(1));
    const where = (prefix: string) => lines.findIndex((partitionLines) => partitionLines.some((line) => line.startsWith(prefix)));
    expect(where("e\t0\t2\t")).toBe(partitionOf(user, partitions));
    expect(where("s\t5\t")).toBe(partitionOf(user, partitions));
    // One written since keeps a device without a site_id apart from a site's same anon_id.
    const since = new Forwarder(forwardingPlan(["churnFeatures"], partitions));
    since.forwardEvent(event({ type: "identify", ts: 1, anon_id: other, user_id: user }), "raw1", 0);
    const restored = new Forwarder(forwardingPlan(["churnFeatures"], partitions));
    restored.restore(JSON.parse(JSON.stringify(since.snapshot())));
    restored.forwardEvent(event({ type: "purchase", ts: 3, anon_id: other, site_id: "shop-fr" }), "raw3", 0);
    const restoredLines = batchLines(restored.take(2));
    expect(restoredLines.findIndex((partitionLines) => partitionLines.some((line) => line.startsWith("e\t0\t3\t")))).toBe(partitionOf(other, partitions));
  });

  it("forgets the identity links of forgotten people (by user_id, or by an anon_id on any site), as churnFeatures does", () => {
    const forwarder = new Forwarder(forwardingPlan(["churnFeatures"], 16));
    forwarder.forwardEvent(event({ type: "identify", ts: 1, anon_id: "dev", user_id: "alice", site_id: "shop-de" }), "raw1", 0);
    forwarder.forwardEvent(event({ type: "identify", ts: 2, anon_id: "phone", user_id: "alice" }), "raw2", 0);
    forwarder.forwardEvent(event({ type: "identify", ts: 3, anon_id: "dev", user_id: "bob", site_id: "shop-fr" }), "raw3", 0);
    forwarder.forwardEvent(event({ type: "identify", ts: 4, anon_id: "tablet", user_id: "carol", site_id: "shop-fr" }), "raw4", 0);
    forwarder.forget!(new Set(["alice", "dev"]));
    expect(forwarder.snapshot().identities).toEqual([["shop-fr\u0001tablet", "carol"]]);
  });
});

describe("Forwarder blocks", () => {
  it("joins lines into blocks within a third of the message bytes (a longer line alone), in order, each block within one message", () => {
    const messageBytes = 3_000; // blocks of at most 1,000 characters
    const forwarder = new Forwarder(forwardingPlan(["churnFeatures"], 1), { messageBytes });
    const sent: string[] = [];
    for (let ts = 1; ts <= 400; ts++) {
      // Mostly short lines; every 50th event a purchase whose raw line is longer than a block, some with 3-byte characters.
      const raw = ts % 50 === 0 ? `{"type":"purchase","title":"${"€".repeat(1_500)}"}` : `{"n":${ts}}`;
      const type = ts % 50 === 0 ? "purchase" : "page_view";
      forwarder.forwardEvent(event({ type, ts, anon_id: "a", url: "/" }), raw, 7);
      sent.push(ts % 50 === 0 ? `e\t7\t${ts}\t${raw}` : "");
    }
    const batch = forwarder.take(1);
    const [blocks] = batch.lines;
    const [lines] = batchLines(batch);
    expect(lines).toHaveLength(400);
    lines.forEach((line, index) => {
      expect(line.startsWith(`e\t7\t${index + 1}\t`)).toBe(true);
      if (sent[index] !== "") expect(line).toBe(sent[index]);
    });
    expect(blocks.length).toBeGreaterThan(8);
    for (const block of blocks) if (block.includes("\n")) expect(block.length).toBeLessThanOrEqual(1_000);
    // Each message: whole blocks within the bytes, or one block (a line) alone.
    for (const chunk of messageChunks(blocks, batch.chunks)) {
      if (chunk.length > 1) expect(Buffer.byteLength(chunk.join("\n"), "utf8")).toBeLessThanOrEqual(messageBytes);
    }
  });
});

describe("customerStageEvent", () => {
  it("keeps what the customer stage reads: churnFeatures writes the same snapshots from it as from the raw events", () => {
    // Oracle: the operator itself over the original events. Generated traffic has every event type, identified and
    // anonymous visitors, purchases and cart adds over three days.
    const receivedAt = Date.parse("2026-01-09T00:00:00Z");
    const config = churnFeaturesConfig.parse({ type: "churnFeatures" });
    const fromRaw = { operator: createChurnFeatures(config, { pipelineName: "t" }), harness: new OperatorHarness(receivedAt) };
    const forwarded = { operator: createChurnFeatures(config, { pipelineName: "t" }), harness: new OperatorHarness(receivedAt) };
    const types = new Set<string>();
    let rawBytes = 0;
    let forwardedBytes = 0;
    let sequence = 0;
    for (const raw of generateLines({ visitors: 400, days: 3, seed: 11 })) {
      const event = decodeForOperators(raw, receivedAt);
      if (isDecodeFailure(event)) continue;
      const line = event.type === "purchase" ? raw : customerStageEvent(event);
      const again = decodeForOperators(line, receivedAt);
      if (isDecodeFailure(again)) throw new Error(`${line}: ${again.message}`);
      for (const field of ["type", "ts", "event_id", "anon_id", "user_id", "site_id", "received_at", "order_id", "revenue"] as const) {
        expect(again[field], `${field} of ${raw}`).toEqual(event[field]);
      }
      types.add(event.type);
      if (event.type !== "purchase") {
        rawBytes += raw.length;
        forwardedBytes += line.length;
      }
      const origin = { partition: 0, sequence: ++sequence };
      fromRaw.operator.onEvent!(event, origin, fromRaw.harness);
      forwarded.operator.onEvent!(again, origin, forwarded.harness);
    }
    fromRaw.operator.onEnd(fromRaw.harness);
    forwarded.operator.onEnd(forwarded.harness);
    expect([...types].sort()).toEqual(["add_to_cart", "click", "identify", "page_view", "purchase"]);
    const expected = fromRaw.harness.rowsOf("customer_features");
    expect(expected.length).toBeGreaterThan(100);
    expect(expected.some((row) => row.orders_total !== 0 && row.cart_adds_30d !== 0)).toBe(true);
    expect(forwarded.harness.rowsOf("customer_features")).toEqual(expected);
    // What it is for: the lines that go through the checkpoint, JetStream and a second parse are far shorter.
    expect(forwardedBytes).toBeLessThan(rawBytes / 2);
  });
});

describe("ForwardedInput", () => {
  /** A customer stage input over `partitions` sources, recording what it hands to the operators. */
  function input(partitions: number, options: { drainTargets?: number[]; now?: () => number; idleMs?: number } = {}) {
    const seen: string[] = [];
    const forwarded = new ForwardedInput(
      "p",
      partitions,
      {
        event: (raw, _receivedAt, partition) => seen.push(`event ${raw} from ${partition}`),
        session: (record) => seen.push(`session ${record.session_id}`),
        sessionWatermark: (watermark) => seen.push(`watermark ${watermark}`),
        sessionInputEnd: (arrivedThrough) => seen.push(`input end ${arrivedThrough}`),
      },
      options.idleMs ?? 60_000,
      options.now ?? (() => 0),
    );
    if (options.drainTargets) forwarded.setDrainTargets(options.drainTargets);
    return { forwarded, seen };
  }
  const from = (partition: number, epoch: number, index: number): ForwardSource => ({ pipeline: "p", task: `events-${partition}`, lineage: "l1", partition, epoch, index });

  it("skips a message it already took (a re-publish after a recovery) and another pipeline's", () => {
    const { forwarded, seen } = input(1);
    expect(forwarded.take(from(0, 3, 0), ["e\t0\t1\ta"])).toBe(true);
    expect(forwarded.take(from(0, 3, 1), ["e\t0\t2\tb"])).toBe(true);
    expect(forwarded.take(from(0, 3, 0), ["e\t0\t1\ta"])).toBe(false);
    expect(forwarded.take(from(0, 2, 9), ["e\t0\t1\told"])).toBe(false);
    expect(forwarded.take({ ...from(0, 4, 0), pipeline: "other" }, ["e\t0\t3\tforeign"])).toBe(false);
    expect(forwarded.take(from(0, 4, 0), ["e\t0\t3\tc"])).toBe(true);
    expect(seen).toEqual(["event a from 0", "event b from 0", "event c from 0"]);
  });

  it("advances the session watermark to the minimum over the source partitions", () => {
    const { forwarded, seen } = input(2);
    forwarded.take(from(0, 1, 0), ["w\t100"]);
    forwarded.take(from(1, 1, 0), ["w\t50"]);
    forwarded.take(from(1, 1, 1), ["w\t300"]);
    forwarded.take(from(0, 1, 1), ["w\t200"]);
    expect(seen).toEqual(["watermark 50", "watermark 100", "watermark 200"]);
  });

  it("after a drained end (every source at +∞), forwards the sources' watermarks again from their start", () => {
    const ended = input(2);
    ended.forwarded.take(from(0, 1, 0), ["w\t100", "w\tInfinity"]);
    ended.forwarded.take(from(1, 1, 0), ["w\t80", "w\tInfinity"]);
    expect(ended.seen).toEqual(["watermark 80", "watermark Infinity"]);
    const { forwarded, seen } = input(2);
    forwarded.restore(JSON.parse(JSON.stringify(ended.forwarded.snapshot())));
    forwarded.take(from(0, 2, 0), ["w\t5000"]);
    forwarded.take(from(1, 2, 0), ["w\t4000"]);
    expect(seen).toEqual(["watermark 4000"]);
  });

  it("live, stops waiting for a source partition whose watermark stood still for the idle timeout", () => {
    let now = 0;
    const { forwarded, seen } = input(2, { now: () => now, idleMs: 1_000 });
    forwarded.take(from(0, 1, 0), ["w\t100"]);
    forwarded.take(from(1, 1, 0), ["w\t500"]);
    now = 500;
    forwarded.take(from(1, 1, 1), ["w\t900"]);
    forwarded.tick();
    expect(seen).toEqual(["watermark 100"]);
    now = 1_200; // partition 0 silent for 1.2 s: partition 1 alone decides
    forwarded.tick();
    expect(seen).toEqual(["watermark 100", "watermark 900"]);
  });

  it("live, a source not heard from yet holds the watermark back from the start until the idle timeout", () => {
    // Its events task starts later or reads a longer backlog: skipping it at once made its earlier events late.
    let now = 10_000;
    const { forwarded, seen } = input(3, { now: () => now, idleMs: 1_000 });
    forwarded.take(from(0, 1, 0), ["w\t100"]);
    now = 10_600;
    forwarded.take(from(0, 1, 1), ["w\t150"]);
    forwarded.take(from(1, 1, 0), ["w\t200"]);
    forwarded.tick();
    expect(seen).toEqual([]);
    now = 11_000; // partition 2 silent since the start for the idle timeout: the others decide
    forwarded.tick();
    expect(seen).toEqual(["watermark 150"]);
    // The same after a restore: idleness counts from the restart, not from the epoch.
    const restarted = input(3, { now: () => now, idleMs: 1_000 });
    restarted.forwarded.restore(JSON.parse(JSON.stringify(input(3).forwarded.snapshot())));
    restarted.forwarded.take(from(0, 2, 0), ["w\t300"]);
    expect(restarted.seen).toEqual([]);
  });

  it("refuses a checkpoint written for another number of events partitions, naming the fix", () => {
    const four = input(4);
    four.forwarded.take(from(2, 1, 0), ["w\t100"]);
    const eight = input(8);
    expect(() => eight.forwarded.restore(JSON.parse(JSON.stringify(four.forwarded.snapshot())))).toThrow(PartitionCountChangedError);
    expect(() => eight.forwarded.restore(four.forwarded.snapshot())).toThrow(
      "the customer stage's checkpoint was written for 4 events partitions, but nats.partitions is now 8",
    );
  });

  it("in a drain, merges the sources by event time whatever order their messages came in, and ends at the targets", () => {
    const run = (order: "zero first" | "one first") => {
      const { forwarded, seen } = input(2, { drainTargets: [7, 8] });
      const zero = () => forwarded.take(from(0, 1, 0), ["e\t0\t10\ta", "e\t0\t30\tc", "w\t30", "x\t7"]);
      const one = () => forwarded.take(from(1, 1, 0), ["e\t0\t20\tb", "s\t25\t" + JSON.stringify(session({ session_id: "s1" })), "x\t8"]);
      if (order === "zero first") {
        zero();
        expect(seen).toEqual([]); // partition 1 has not spoken: nothing can be ordered yet
        one();
      } else {
        one();
        zero();
      }
      expect(forwarded.complete).toBe(true);
      return seen;
    };
    // Partition 1 forwards no watermark before its end, so partition 0's 30 never is the minimum.
    const expected = ["event a from 0", "event b from 1", "session s1", "event c from 0", "watermark Infinity"];
    expect(run("zero first")).toEqual(expected);
    expect(run("one first")).toEqual(expected);
  });

  it("in a drain, ends a source whose end record the stream discarded at its target, once what of it came is merged", () => {
    const { forwarded, seen } = input(3, { drainTargets: [7, 8, 9] });
    // Partition 1's end record was discarded after an event of it came; nothing of partition 2 is left.
    forwarded.take(from(0, 1, 0), ["e\t0\t10\ta", "e\t0\t30\tc", "x\t7"]);
    forwarded.take(from(1, 1, 0), ["e\t0\t20\tb"]);
    // The merge waits on partition 2 alone: the others have lines queued.
    expect([forwarded.waitingFor(), seen]).toEqual([[2], []]);
    forwarded.endDiscarded(2);
    // Now on partition 1, once its event is merged.
    expect([forwarded.waitingFor(), seen, forwarded.complete]).toEqual([[1], ["event a from 0", "event b from 1"], false]);
    forwarded.endDiscarded(1);
    expect(seen).toEqual(["event a from 0", "event b from 1", "event c from 0", "watermark Infinity"]);
    expect([forwarded.waitingFor(), forwarded.complete]).toEqual([[], true]);
    // Its end is in the snapshot, as a record's would be.
    expect(forwarded.snapshot().ended).toEqual([7, 8, 9]);
    // Live there are no targets: nothing is waited for.
    expect(input(2).forwarded.waitingFor()).toEqual([]);
  });

  it("in a drain, merges a source far ahead of the others in event-time order, across snapshots taken mid-backlog", () => {
    // Partition 0 sends its whole input in many small messages before partitions 1 and 2 send theirs in a few large
    // ones; the customer stage is restored from a snapshot twice along the way. Oracle: a plain k-way merge of the three
    // complete inputs by event time, the lower partition first on equal times.
    const sources = [0, 1, 2].map((partition) =>
      Array.from({ length: 600 }, (_, index) => `e\t0\t${index * 10 + partition * 4 - ((index * 37) % 50)}\tp${partition}-${index}`),
    );
    const expected: string[] = [];
    const heads = [0, 0, 0];
    for (;;) {
      let best = -1;
      for (let partition = 0; partition < 3; partition++) {
        if (heads[partition] === sources[partition].length) continue;
        if (best === -1 || mergeKeyOf(sources[partition][heads[partition]]) < mergeKeyOf(sources[best][heads[best]])) best = partition;
      }
      if (best === -1) break;
      expected.push(`event ${sources[best][heads[best]].split("\t")[3]} from ${best}`);
      heads[best]++;
    }
    expected.push("watermark Infinity");

    const chunks = (partition: number, size: number) => {
      const lines = [...sources[partition], "x\t9"];
      const result: string[][] = [];
      for (let start = 0; start < lines.length; start += size) result.push(lines.slice(start, start + size));
      return result;
    };
    // Partitions 1 and 2 send a large message each, then partition 0 many small ones (it merges part of each one and
    // queues the rest ahead), then the others the rest of theirs.
    const [small, first, second] = [chunks(0, 7), chunks(1, 150), chunks(2, 250)];
    const messages: [number, string[]][] = [[1, first[0]], [2, second[0]]];
    for (const lines of small) messages.push([0, lines]);
    for (let at = 1; at < Math.max(first.length, second.length); at++) {
      if (at < first.length) messages.push([1, first[at]]);
      if (at < second.length) messages.push([2, second[at]]);
    }
    let stage = input(3, { drainTargets: [9, 9, 9] });
    const seen: string[] = [];
    const index = [0, 0, 0];
    messages.forEach(([partition, lines], at) => {
      if (at % 15 === 10) {
        seen.push(...stage.seen);
        const restored = input(3, { drainTargets: [9, 9, 9] });
        restored.forwarded.restore(JSON.parse(JSON.stringify(stage.forwarded.snapshot())));
        stage = restored;
      }
      expect(stage.forwarded.complete).toBe(false);
      stage.forwarded.take(from(partition, 1, index[partition]++), lines);
    });
    seen.push(...stage.seen);
    expect(stage.forwarded.complete).toBe(true);
    expect(seen).toEqual(expected);
  });

  it("hands each source's drain end (the latest event time that arrived there) on before its +∞ watermark", () => {
    const { forwarded, seen } = input(2, { drainTargets: [5, 6] });
    forwarded.take(from(0, 1, 0), ["w\t100", "a\t150", "w\tInfinity", "x\t5"]);
    forwarded.take(from(1, 1, 0), ["w\t80", "a\t-Infinity", "w\tInfinity", "x\t6"]);
    expect(seen).toEqual(["watermark 80", "input end 150", "input end -Infinity", "watermark Infinity"]);
    expect(forwarded.complete).toBe(true);
  });

  it("is not complete before every partition's end reached its target, and keeps what it queued across a snapshot", () => {
    const { forwarded, seen } = input(2, { drainTargets: [5, 5] });
    forwarded.take(from(0, 1, 0), ["e\t0\t10\ta", "x\t4"]); // an end from an older drain does not count
    expect(forwarded.complete).toBe(false);
    const restored = input(2, { drainTargets: [5, 5] });
    restored.forwarded.restore(JSON.parse(JSON.stringify(forwarded.snapshot())));
    restored.forwarded.take(from(1, 1, 0), ["e\t0\t5\tz", "x\t5"]);
    restored.forwarded.take(from(0, 2, 0), ["x\t5"]);
    expect(restored.forwarded.complete).toBe(true);
    expect(seen).toEqual([]);
    expect(restored.seen).toEqual(["event z from 1", "event a from 0", "watermark Infinity"]);
  });
});

describe("messageChunks", () => {
  const bodyBytes = (chunk: string[]) => Buffer.byteLength(chunk.join("\n"), "utf8");

  it.each([
    ["a batch's own limit (512 KiB by default)", { utf8Bytes: 512 * 1024 }, 512 * 1024],
    ["a small limit (half of a small max_payload)", { utf8Bytes: 20_000 }, 20_000],
    ["a batch taken before session 31 (\"utf8\": 64 KiB)", "utf8" as const, 64 * 1024],
  ])("cuts a batch into full messages within %s by UTF-8 bytes, in order", (_name, rule, max) => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme", maxLength: 8_000 }), { maxLength: 300 }), (texts) => {
        const chunks = messageChunks(texts, rule);
        expect(chunks.flat()).toEqual(texts);
        chunks.forEach((chunk, index) => {
          expect(chunk.length).toBeGreaterThan(0);
          if (chunk.length > 1) expect(bodyBytes(chunk)).toBeLessThanOrEqual(max);
          // Full: the next message's first line would not have fitted.
          if (index + 1 < chunks.length) expect(bodyBytes([...chunk, chunks[index + 1][0]])).toBeGreaterThan(max);
        });
      }),
      { numRuns: 60 },
    );
  });

  it("cuts by hand-counted bytes: 10,000 ASCII characters a line, or 2,500 four-byte ones, are 10,001 bytes with the newline", () => {
    // 64 KiB: 6 lines (60,005 bytes of body); 512 KiB: 52 lines (520,051 bytes; a 53rd would make 530,052).
    expect(messageChunks(Array(13).fill("a".repeat(10_000)), "utf8").map((chunk) => chunk.length)).toEqual([6, 6, 1]);
    expect(messageChunks(Array(7).fill("😀".repeat(2_500)), "utf8").map((chunk) => chunk.length)).toEqual([6, 1]);
    expect(messageChunks(Array(110).fill("a".repeat(10_000)), { utf8Bytes: 512 * 1024 }).map((chunk) => chunk.length)).toEqual([52, 52, 6]);
    expect(messageChunks(Array(60).fill("😀".repeat(2_500)), { utf8Bytes: 512 * 1024 }).map((chunk) => chunk.length)).toEqual([52, 8]);
  });

  it("cuts a batch checkpointed before any rule was stored as then (3 bytes per character), so republished ids match", () => {
    // 30,001 counted per line, and the next line fits while the count plus its length and newline stays within 64 KiB.
    expect(messageChunks(Array(5).fill("a".repeat(10_000)), undefined).map((chunk) => chunk.length)).toEqual([2, 2, 1]);
  });

  it("stores its rule in each batch: 512 KiB, or half the server's max_payload when that is smaller", () => {
    expect(new Forwarder(forwardingPlan(["churnFeatures"], 1)).take(1).chunks).toEqual({ utf8Bytes: 512 * 1024 });
    expect(forwardMessageBytes(undefined)).toBe(512 * 1024);
    expect(forwardMessageBytes(1024 * 1024)).toBe(512 * 1024);
    expect(forwardMessageBytes(8 * 1024 * 1024)).toBe(512 * 1024);
    expect(forwardMessageBytes(256 * 1024)).toBe(128 * 1024);
    const forwarder = new Forwarder(forwardingPlan(["churnFeatures"], 1), { messageBytes: forwardMessageBytes(100_000) });
    expect(forwarder.take(1).chunks).toEqual({ utf8Bytes: 50_000 });
  });
});

describe("committedLineage", () => {
  const head = (epoch: number, lineage?: string): Omit<Checkpoint<null>, "state"> => ({
    format: 1,
    pipeline: "p_events-0",
    stream: "S",
    streamCreated: "t0",
    epoch,
    position: epoch,
    pending: null,
    workerId: "w",
    committedAt: 0,
    ...(lineage !== undefined && { lineage }),
  });

  it("reads an events task's lineage from its last checkpoint's metadata, from the state of one written before, none before the first", async () => {
    const root = await mkdtemp(join(tmpdir(), "clickpipe-lineage-"));
    try {
      const store = new DirectoryCheckpointStore(root, "p_events-0");
      expect(await committedLineage(store)).toBeUndefined();
      // Written before the metadata held the lineage: the state's.
      await store.commit(head(1), JSON.stringify({ sessionize: {}, [LINEAGE_KEY]: "0a1b2c3d4e5f" }));
      expect(await committedLineage(store)).toBe("0a1b2c3d4e5f");
      // The metadata's is the one that counts (the worker writes the same into both).
      await store.commit(head(2, "9f8e7d6c5b4a"), JSON.stringify({ sessionize: {}, [LINEAGE_KEY]: "0a1b2c3d4e5f" }));
      expect(await committedLineage(store)).toBe("9f8e7d6c5b4a");
      // A checkpoint without one anywhere (not an events task's).
      await store.commit(head(3), JSON.stringify({ churnFeatures: {} }));
      expect(await committedLineage(store)).toBeUndefined();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
