// Where a partitioned drain ends, decided once per drain in the lease bucket (decideDrainTargets), against a real
// NATS KV bucket: a worker joins a drain whose targets were recorded a moment ago even before the worker that recorded
// them announced itself (workers started together), and starts a new one otherwise; "a moment ago" by the NATS server's
// clock, whatever this host's says. Oracle: the targets written by hand.
import { Kvm, type KV } from "@nats-io/kv";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { parsePipelineText } from "../../src/config/load.ts";
import { DRAIN_KEY, decideDrainTargets, type DrainRecord } from "../../src/runtime/partitioned-worker.ts";
import { planTasks, type TaskPlan } from "../../src/runtime/tasks.ts";
import { jetStreamScratchAll } from "../helpers/jetstream-scratch.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const STREAM_CREATED = "2026-12-05T00:00:00.000000000Z";

describe("decideDrainTargets: one set of targets per partitioned drain", () => {
  const scratch = jetStreamScratchAll("clickpipe-drain-targets-");
  const { natsUrl, buckets } = scratch;
  const staleBefore = process.env.CLICKPIPE_LEASE_STALE_MS;
  let plans: TaskPlan[];

  beforeAll(async () => {
    const config = parsePipelineText(
      ["name: targets", "nats:", `  url: "${natsUrl}"`, "  stream: T", "  partitions: 2", "operators:", "  - { type: sessionize }", "  - { type: basket }", "sinks:", '  - { type: parquet, path: "/tmp/unused" }'].join("\n"),
      "targets.yaml",
      {},
    );
    if (!config.ok) throw new Error(JSON.stringify(config.errors));
    plans = planTasks(config.config);
  });

  afterEach(() => {
    vi.restoreAllMocks();
    if (staleBefore === undefined) delete process.env.CLICKPIPE_LEASE_STALE_MS;
    else process.env.CLICKPIPE_LEASE_STALE_MS = staleBefore;
  });

  async function bucket(): Promise<KV> {
    const name = uniqueStreamName("zzdraintargets").toLowerCase();
    buckets.push(name);
    return new Kvm(scratch.connection).create(name, { history: 1 });
  }

  /** Targets for every task of `plans` (events tasks one sequence, customers one per events partition), all `at`. */
  function targetsAt(at: number): Map<string, number[]> {
    return new Map(plans.map((plan) => [plan.name, plan.kind === "customers" ? [at, at] : [at]]));
  }

  const recordOf = async (kv: KV) => (await kv.get(DRAIN_KEY))!.json<DrainRecord>();
  const noneComplete = async () => false;

  it("plans the tasks these cases need: two events tasks, a customers task, the dead letters", () => {
    expect(plans.map((plan) => plan.name).sort()).toEqual(["customers-0", "dlq", "events-0", "events-1"]);
  });

  it("records the stream as it is now when no drain is recorded", async () => {
    const kv = await bucket();
    const decided = await decideDrainTargets(kv, STREAM_CREATED, targetsAt(40), noneComplete, plans);
    expect(decided).toEqual(targetsAt(40));
    expect(await recordOf(kv)).toEqual({ targets: Object.fromEntries(targetsAt(40)), streamCreated: STREAM_CREATED });
  });

  it("joins targets recorded a moment ago though no worker announced itself yet (workers started together)", async () => {
    const kv = await bucket();
    await kv.put(DRAIN_KEY, JSON.stringify({ targets: Object.fromEntries(targetsAt(25)), streamCreated: STREAM_CREATED }));
    // Events arrived since the first worker looked: this one sees 40, and must still end where the drain does.
    const decided = await decideDrainTargets(kv, STREAM_CREATED, targetsAt(40), noneComplete, plans);
    expect(decided).toEqual(targetsAt(25));
    expect((await recordOf(kv)).targets).toEqual(Object.fromEntries(targetsAt(25)));
  });

  it("starts a new drain over recorded targets older than the lease staleness limit when no worker is present", async () => {
    process.env.CLICKPIPE_LEASE_STALE_MS = "300";
    const kv = await bucket();
    await kv.put(DRAIN_KEY, JSON.stringify({ targets: Object.fromEntries(targetsAt(25)), streamCreated: STREAM_CREATED }));
    await new Promise((resolve) => setTimeout(resolve, 600));
    const decided = await decideDrainTargets(kv, STREAM_CREATED, targetsAt(40), noneComplete, plans);
    expect(decided).toEqual(targetsAt(40));
    expect((await recordOf(kv)).targets).toEqual(Object.fromEntries(targetsAt(40)));
  });

  /** This host's clock `skewMs` off the NATS server's (which stamps the KV records), as on a host whose clock drifted. */
  function skewHostClock(skewMs: number): void {
    const real = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => real() + skewMs);
  }

  it("joins targets recorded a moment ago though this host's clock runs an hour ahead of the NATS server's", async () => {
    const kv = await bucket();
    await kv.put(DRAIN_KEY, JSON.stringify({ targets: Object.fromEntries(targetsAt(25)), streamCreated: STREAM_CREATED }));
    skewHostClock(3_600_000);
    // Before: the record looked an hour old, and with no worker present yet this one started a drain of its own at 40.
    const decided = await decideDrainTargets(kv, STREAM_CREATED, targetsAt(40), noneComplete, plans);
    expect(decided).toEqual(targetsAt(25));
    expect((await recordOf(kv)).targets).toEqual(Object.fromEntries(targetsAt(25)));
  });

  it("starts a new drain over targets older than the lease staleness limit though this host's clock runs an hour behind the NATS server's", async () => {
    process.env.CLICKPIPE_LEASE_STALE_MS = "300";
    const kv = await bucket();
    await kv.put(DRAIN_KEY, JSON.stringify({ targets: Object.fromEntries(targetsAt(25)), streamCreated: STREAM_CREATED }));
    await new Promise((resolve) => setTimeout(resolve, 600));
    skewHostClock(-3_600_000);
    // Before: the record looked recorded in the future, so fresh, and this drain ended at an earlier drain's targets.
    const decided = await decideDrainTargets(kv, STREAM_CREATED, targetsAt(40), noneComplete, plans);
    expect(decided).toEqual(targetsAt(40));
    expect((await recordOf(kv)).targets).toEqual(Object.fromEntries(targetsAt(40)));
  });

  /** Another worker's presence in the lease bucket, its heartbeat written now by a host whose clock is right. */
  async function announceWorker(kv: KV, workerId: string): Promise<void> {
    const now = Date.now();
    await kv.put(`workers.${workerId}`, JSON.stringify({ workerId, token: `${workerId}-token`, pid: 1, host: "elsewhere", acquiredAt: now, heartbeatAt: now }));
  }

  it("joins targets older than the lease staleness limit while another worker is present, though this host's clock runs an hour ahead", async () => {
    process.env.CLICKPIPE_LEASE_STALE_MS = "300";
    const kv = await bucket();
    await kv.put(DRAIN_KEY, JSON.stringify({ targets: Object.fromEntries(targetsAt(25)), streamCreated: STREAM_CREATED }));
    await new Promise((resolve) => setTimeout(resolve, 600));
    await announceWorker(kv, "other");
    skewHostClock(3_600_000);
    // Before: the other worker's heartbeat looked an hour old, so nobody present, and this one started a drain at 40.
    const decided = await decideDrainTargets(kv, STREAM_CREATED, targetsAt(40), noneComplete, plans);
    expect(decided).toEqual(targetsAt(25));
  });

  it("starts a new drain when the only worker's presence is older than the limit, though this host's clock runs an hour behind", async () => {
    process.env.CLICKPIPE_LEASE_STALE_MS = "300";
    const kv = await bucket();
    await kv.put(DRAIN_KEY, JSON.stringify({ targets: Object.fromEntries(targetsAt(25)), streamCreated: STREAM_CREATED }));
    await announceWorker(kv, "gone");
    await new Promise((resolve) => setTimeout(resolve, 600));
    skewHostClock(-3_600_000);
    // Before: the dead worker's heartbeat looked written in the future, so present, and this drain ended at 25.
    const decided = await decideDrainTargets(kv, STREAM_CREATED, targetsAt(40), noneComplete, plans);
    expect(decided).toEqual(targetsAt(40));
  });

  it("starts a new drain when every task reached the recorded targets, however fresh they are (a drain just ended)", async () => {
    const kv = await bucket();
    await kv.put(DRAIN_KEY, JSON.stringify({ targets: Object.fromEntries(targetsAt(25)), streamCreated: STREAM_CREATED }));
    const decided = await decideDrainTargets(kv, STREAM_CREATED, targetsAt(40), async () => true, plans);
    expect(decided).toEqual(targetsAt(40));
  });

  it("starts a new drain over targets recorded for an earlier stream of the same name", async () => {
    const kv = await bucket();
    await kv.put(DRAIN_KEY, JSON.stringify({ targets: Object.fromEntries(targetsAt(25)), streamCreated: "2026-01-01T00:00:00Z" }));
    const decided = await decideDrainTargets(kv, STREAM_CREATED, targetsAt(40), noneComplete, plans);
    expect(decided).toEqual(targetsAt(40));
  });

  it("does not take the previous drain's record for this one's when its own write did not land", async () => {
    const kv = await bucket();
    // A drain that ended at 25 (every task reached it); this one starts at 40, and its write times out.
    await kv.put(DRAIN_KEY, JSON.stringify({ targets: Object.fromEntries(targetsAt(25)), streamCreated: STREAM_CREATED }));
    const failing = new Proxy(kv, {
      get: (target, key) => (key === "update" || key === "create" ? () => Promise.reject(new Error("TIMEOUT")) : Reflect.get(target, key, target)),
    });
    const decided = await decideDrainTargets(failing, STREAM_CREATED, targetsAt(40), async (_plan, targets) => targets.get("events-0")![0] <= 25, plans).catch(() => "failed");
    // Before: the drain took the record of the one that ended at 25, found every task complete, and drained nothing.
    expect(decided).not.toEqual(targetsAt(25));
  });
});
