// Partition leases in a NATS KV bucket: each worker claims a fair share of a pipeline's tasks, heartbeats them, takes stale ones over.
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { createHash } from "node:crypto";
import { StaleCheckpointError, holderIsGone, lostLockError, newLockHolder, type LockHolder } from "./checkpoint.ts";
import type { HeldCheckpointLock } from "./checkpoint-store.ts";
import { locksHeldInThisProcess } from "./lock-file.ts";
import { serverTimeNow, type ServerClock } from "../transport/server-clock.ts";
import { DEFAULT_RETRY_FOR_MS, isTransientNatsError } from "../transport/nats-retry.ts";
import { StreamGoneError } from "../transport/reader.ts";

export interface TaskLease extends HeldCheckpointLock {
  readonly task: string;
  /** Aborted when this worker should hand the task over (rebalancing, shutdown): the task stops intake, checkpoints, returns. */
  readonly handOver: AbortSignal;
  /** Aborted when the lease was lost (taken over or deleted): the task must stop WITHOUT committing; verify() throws then. */
  readonly lost: AbortSignal;
}

export type TaskOutcome = "finished" | "handedOver";

export interface LeasedTasksOptions {
  workerId: string;
  /** Task names: letters, digits, `_`, `=` and `-` (each is one KV key `tasks.<task>`). */
  tasks: readonly string[];
  /**
   * A lease or presence not refreshed for this long (by the NATS server's clock) is stale. Default CLICKPIPE_LEASE_STALE_MS
   * or 10 s; heartbeats every quarter.
   */
  staleAfterMs?: number;
  /** Resolve once every task is finished (by this worker, or `isComplete`) instead of running until `signal` aborts. */
  drain?: boolean;
  /** Drain mode: whether a task needs no more work from anyone (e.g. another worker drained it after we started). */
  isComplete?: (task: string) => Promise<boolean>;
  /** Copies of the lease bucket when it is created (nats.replicas on a cluster); default 1. */
  replicas?: number;
  /** Shutdown: hand over every task, wait for them, release leases and presence, return. */
  signal?: AbortSignal;
  log?: (line: string) => void;
  /**
   * This host's clock (default Date.now): the times it writes into its leases (heartbeatAt, for people reading the
   * bucket) and local timeouts. Staleness does not read it: it is judged on the NATS server's stamps (see LeaseTable).
   */
  now?: () => number;
  testing?: {
    /** Simulates kill -9: heartbeats and ticks stop, nothing is released (leases go stale for others), the call resolves. */
    abandon?: AbortSignal;
    /** Simulates a paused process (SIGSTOP, long GC): no heartbeat or tick runs while this returns true. */
    paused?: () => boolean;
  };
}

export const DEFAULT_LEASE_STALE_AFTER_MS = 10_000;
/** A draining worker with no task left looks this often whether the others' tasks completed. */
const DRAIN_IDLE_TICK_MS = 200;
const TASK_NAME = /^[A-Za-z0-9_=-]+$/;
/** A presence this many staleAfterMs old is deleted. */
const FORGET_AFTER_STALE = 10;
/** How long a draining worker keeps looking whether the drain completed while NATS does not answer. */
const DRAINED_UNANSWERED_MS = DEFAULT_RETRY_FOR_MS;

/** The KV bucket of a pipeline's leases: its name when that is a valid bucket name, else a readable form plus a hash. */
export function leaseBucketName(pipelineName: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(pipelineName)) return `clickpipe_leases_${pipelineName}`;
  const hash = createHash("sha256").update(pipelineName).digest("hex").slice(0, 8);
  return `clickpipe_leases_${pipelineName.replace(/[^A-Za-z0-9_-]/g, "_")}_${hash}`;
}

/** How long a lease or a worker's presence stays fresh without a heartbeat: CLICKPIPE_LEASE_STALE_MS or 10 s. */
export function leaseStaleAfterMs(): number {
  return Number(process.env.CLICKPIPE_LEASE_STALE_MS) || DEFAULT_LEASE_STALE_AFTER_MS;
}

/**
 * Whether a worker announced itself in the lease bucket within the staleness limit, at one look: `serverNow` is the NATS
 * server's time now (the stamp of a write this worker just made to `kv`), compared with the server's stamps of the
 * workers' heartbeats, so that no host's clock, this one's or the worker's, counts.
 */
export async function anyWorkerPresent(kv: KV, serverNow: number): Promise<boolean> {
  const staleAfterMs = leaseStaleAfterMs();
  const keys: string[] = [];
  for await (const key of await kv.keys("workers.>")) keys.push(key);
  const entries = await Promise.all(keys.map((key) => kv.get(key)));
  return entries.some((entry) => entry?.operation === "PUT" && serverNow - entry.created.getTime() <= staleAfterMs);
}

/** Rendezvous (highest random weight) score: each worker ranks the tasks in its own stable order, so claimers rarely collide. */
export function rendezvousScore(workerId: string, task: string): number {
  return createHash("sha256").update(`${workerId}\u0000${task}`).digest().readUInt32BE(0);
}

/** What one worker sees in the lease table at a tick, for planBalance. */
export interface BalanceView {
  /** Tasks that still need work (all of them in live mode). */
  taskCount: number;
  self: string;
  /** Live workers (fresh presence), this one included. */
  live: readonly string[];
  /** Tasks held by each live worker by a fresh lease (this worker's count is `held`). */
  heldBy: ReadonlyMap<string, number>;
  /** Tasks this worker holds, preferred first; the last ones are handed over first. */
  held: readonly string[];
  /** Of those, already being handed over. */
  handingOver: number;
  /** Free or stale tasks this worker may claim, preferred first. */
  claimable: readonly string[];
}

/**
 * Each live worker should hold ⌊T/L⌋ or ⌈T/L⌉ of T tasks. A worker below ⌊T/L⌋ claims; one below ⌈T/L⌉ claims
 * only while no other worker is below ⌊T/L⌋ (free tasks go to starving workers first). A worker above ⌈T/L⌉ hands
 * the surplus over, the tasks it prefers least first.
 */
export function planBalance(view: BalanceView): { claim: string[]; handOver: string[] } {
  const workers = Math.max(1, view.live.length);
  const floor = Math.floor(view.taskCount / workers);
  const ceil = Math.ceil(view.taskCount / workers);
  const held = view.held.length;
  const count = (worker: string) => (worker === view.self ? held : (view.heldBy.get(worker) ?? 0));
  const starving = view.live.reduce((sum, worker) => sum + (worker === view.self ? 0 : Math.max(0, floor - count(worker))), 0);
  const claims = Math.max(0, (starving === 0 ? ceil : floor) - held);
  const unmet = starving - view.claimable.length;
  const yields = yieldsOne(view.self, view.live, count, ceil, { unmet, remainder: view.taskCount % workers });
  const handOvers = Math.max(held - ceil, yields ? 1 : 0) - view.handingOver;
  return { claim: view.claimable.slice(0, claims), handOver: view.held.slice(held - Math.max(0, handOvers)) };
}

/**
 * When workers starve and too few tasks are free for them, the workers at ⌈T/L⌉ beyond the T mod L that may stay
 * there yield one task each: the first ones by token, so that all workers agree which ones without talking.
 */
function yieldsOne(
  self: string,
  live: readonly string[],
  count: (worker: string) => number,
  ceil: number,
  { unmet, remainder }: { unmet: number; remainder: number },
): boolean {
  if (remainder === 0 || count(self) < ceil) return false;
  const atCeil = live.filter((worker) => count(worker) >= ceil).sort();
  return atCeil.indexOf(self) < Math.min(unmet, atCeil.length - remainder);
}

/** Runs `runTask` for a fair share of `options.tasks` under leases, rebalancing as workers come and go (see LeasedTasksOptions). */
export async function runLeasedTasks(
  connection: NatsConnection,
  pipelineName: string,
  options: LeasedTasksOptions,
  runTask: (lease: TaskLease) => Promise<TaskOutcome>,
): Promise<void> {
  const invalid = options.tasks.find((task) => !TASK_NAME.test(task));
  if (invalid !== undefined) throw new Error(`task name "${invalid}" is not a valid lease key: use letters, digits, _, = and -`);
  if (new Set(options.tasks).size !== options.tasks.length) throw new Error(`task names repeat: ${options.tasks.join(", ")}`);
  const kv = await new Kvm(connection).create(leaseBucketName(pipelineName), { history: 1, replicas: options.replicas ?? 1 });
  const table = new LeaseTable(kv, `nats kv ${leaseBucketName(pipelineName)}`, options, runTask);
  // A closed connection never comes back: the tasks are stopped and the error returned, as for a task's failure.
  void connection.closed().then(() => table.fail(new Error(`the NATS connection of ${leaseBucketName(pipelineName)} closed`)));
  await table.run();
}

interface LeaseValue extends LockHolder {
  /** The writer's host clock at the write: for people reading the bucket (and older workers); staleness reads the server's stamp. */
  heartbeatAt: number;
}

type Lookup = { entry: KvEntry; value: LeaseValue } | undefined;

/** One worker's view and actions on the lease bucket; `run` is its tick loop. */
class LeaseTable {
  private readonly holder: LockHolder;
  private readonly staleAfterMs: number;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly running = new Map<string, NatsTaskLease>();
  /** Tasks this worker finished in this call (drain) and tasks reported complete: never claimed again. */
  private readonly done = new Set<string>();
  /** Per key, the revision last seen and when (this process's clock): a revision unchanged for staleAfterMs is stale. */
  private readonly seen = new Map<string, { revision: number; since: number }>();
  /** This worker's last acknowledged presence write: its revision, and when (performance.now()) the ack came. */
  private presenceWrite: { revision: number; ackedAt: number } | undefined;
  /** The NATS server's clock, from the stamp of one of this worker's presence writes (see serverAgeMs). */
  private serverClock: ServerClock | undefined;
  private fatal: { error: unknown } | undefined;
  private stopping = false;
  /** When reading the drain's markers first failed for want of NATS, since the last answer. */
  private drainedUnansweredSince: number | undefined;
  private abandoned = false;
  private wake: () => void = () => undefined;

  constructor(
    private readonly kv: KV,
    private readonly location: string,
    private readonly options: LeasedTasksOptions,
    private readonly runTask: (lease: TaskLease) => Promise<TaskOutcome>,
  ) {
    this.now = options.now ?? Date.now;
    this.holder = newLockHolder(options.workerId, this.now());
    this.staleAfterMs = options.staleAfterMs ?? leaseStaleAfterMs();
    this.log = options.log ?? (() => undefined);
  }

  private get presenceKey(): string {
    return `workers.${this.options.workerId.replace(/[^A-Za-z0-9_=-]/g, "_")}`;
  }

  private get tickMs(): number {
    return Math.max(20, Math.floor(this.staleAfterMs / 4));
  }

  fail(error: unknown): void {
    this.fatal ??= { error };
    this.wake();
  }

  async run(): Promise<void> {
    const onAbandon = () => ((this.abandoned = true), this.wake());
    const onStop = () => this.wake();
    this.options.testing?.abandon?.addEventListener("abort", onAbandon);
    this.options.signal?.addEventListener("abort", onStop);
    // A table's leases and presence all name its token: held in this process while it runs (and, abandoned as by a
    // kill -9, left to go stale rather than taken for an earlier process's by another table here).
    locksHeldInThisProcess.add(this.holder.token);
    try {
      for (let tick = 0; ; tick++) {
        const started = performance.now();
        if (this.abandoned || this.options.testing?.abandon?.aborted) return;
        if (!this.options.testing?.paused?.()) {
          // The first tick only announces this worker, so that workers starting together see each other before claiming.
          const finished = await this.tick(tick > 0).catch((error: unknown) => {
            this.fatal ??= { error };
            return false;
          });
          if (finished) break;
        }
        // After the announcing tick a short pause suffices: the first claims should not wait a whole heartbeat. A
        // draining worker with no task left waits for the others' to complete (or go stale): it looks often, or its
        // exit trailed the last task's by up to a heartbeat (2.5 s by default).
        const pause = tick === 0 ? Math.min(this.tickMs, 500) : this.options.drain && this.running.size === 0 ? Math.min(this.tickMs, DRAIN_IDLE_TICK_MS) : this.tickMs;
        await this.sleep(pause - (performance.now() - started));
      }
    } finally {
      this.options.testing?.abandon?.removeEventListener("abort", onAbandon);
      this.options.signal?.removeEventListener("abort", onStop);
      if (!this.abandoned) locksHeldInThisProcess.delete(this.holder.token);
    }
    if (this.fatal) throw this.fatal.error;
  }

  /** One heartbeat of presence and leases, then claims or handovers; true once this worker is done and gone. */
  private async tick(mayClaim: boolean): Promise<boolean> {
    // NATS away for a moment: the markers are read again next tick, as the heartbeats carry on across it (for up to
    // DRAINED_UNANSWERED_MS, as retryWhileNatsRecovers; then the error fails the run as it did at once before).
    const drained = async () =>
      this.drained().then(
        (done) => ((this.drainedUnansweredSince = undefined), done),
        (error: unknown) => {
          this.drainedUnansweredSince ??= this.now();
          return isTransientNatsError(error) && this.now() - this.drainedUnansweredSince < DRAINED_UNANSWERED_MS ? false : Promise.reject(error);
        },
      );
    if (!this.stopping && (this.options.signal?.aborted || this.fatal !== undefined || (await drained()))) {
      this.stopping = true;
      // Gone from the live workers first: the others' fair share then covers every task this worker hands over.
      await this.kv.delete(this.presenceKey).catch(() => undefined);
    }
    if (this.stopping) {
      for (const lease of this.running.values()) lease.handOverNow();
    } else {
      const beat = this.kv.put(this.presenceKey, this.value()).then((revision) => (this.presenceWrite = { revision, ackedAt: performance.now() }));
      await beat.catch((error) => this.log(`heartbeat of ${this.presenceKey} failed: ${error}`));
    }
    await Promise.all([...this.running.values()].map((lease) => lease.heartbeat()));
    if (this.stopping) return this.running.size === 0;
    if (mayClaim) await this.balance().catch((error) => this.log(`lease balancing failed, retrying next tick: ${error}`));
    return false;
  }

  private async balance(): Promise<void> {
    const live = await this.liveWorkers();
    const others = this.options.tasks.filter((task) => !this.running.has(task));
    const entries = await Promise.all(others.map((task) => this.lookup(`tasks.${task}`)));
    const heldBy = new Map<string, number>();
    const claimable: { task: string; revision: number | undefined }[] = [];
    for (const [index, task] of others.entries()) {
      const found = entries[index];
      if (found !== undefined && !this.isStale(found)) {
        heldBy.set(found.value.token, (heldBy.get(found.value.token) ?? 0) + 1);
      } else if (!this.done.has(task) && !(await this.isComplete(task))) {
        claimable.push({ task, revision: found?.entry.revision });
      }
    }
    const preference = (task: string) => rendezvousScore(this.options.workerId, task);
    claimable.sort((a, b) => preference(b.task) - preference(a.task));
    const held = [...this.running.values()].filter((lease) => lease.held).map((lease) => lease.task);
    const plan = planBalance({
      taskCount: this.options.tasks.length - (this.options.drain ? this.done.size : 0),
      self: this.holder.token,
      live: [...new Set([this.holder.token, ...live])],
      heldBy,
      held: held.sort((a, b) => preference(b) - preference(a)),
      handingOver: held.filter((task) => this.running.get(task)!.handOver.aborted).length,
      claimable: claimable.map(({ task }) => task),
    });
    for (const task of plan.handOver) {
      this.log(`handing task ${task} over (fair share of ${live.length} live workers)`);
      this.running.get(task)!.handOverNow();
    }
    // A claim lost to a worker that claimed at the same moment (workers started together see each other holding
    // nothing) is made up for further down this worker's preference order, up to the planned number: waiting for the
    // next tick left a worker short of its share for a whole heartbeat (2.5 s by default) at the start of a drain.
    let wanted = plan.claim.length;
    for (const { task, revision } of claimable) {
      if (wanted === 0 || this.stopping || this.abandoned) break;
      if (await this.claim(task, revision)) wanted--;
    }
  }

  /**
   * Creates the task's lease when absent, or swaps it on the stale revision seen: of several takers, exactly one wins.
   * True when this worker won and runs the task.
   */
  private async claim(task: string, staleRevision: number | undefined): Promise<boolean> {
    const key = `tasks.${task}`;
    const write = staleRevision === undefined ? this.kv.create(key, this.value()) : this.kv.update(key, this.value(), staleRevision);
    const revision = await write.catch(() => undefined);
    if (revision === undefined || this.abandoned) return false;
    if (this.stopping) {
      await this.kv.delete(key, { previousSeq: revision }).catch(() => undefined);
      return false;
    }
    const lease = new NatsTaskLease(this.kv, task, key, `${this.location} key ${key}`, this.holder, revision, {
      staleAfterMs: this.staleAfterMs,
      value: () => this.value(),
      log: this.log,
    });
    this.log(staleRevision === undefined ? `claimed task ${task}` : `took task ${task} over from a stale lease`);
    this.running.set(task, lease);
    void this.start(lease);
    return true;
  }

  private async start(lease: NatsTaskLease): Promise<void> {
    let outcome: TaskOutcome | undefined;
    try {
      outcome = await this.runTask(lease);
    } catch (error) {
      // A stale commit may come before this lease's heartbeat noticed the takeover: look at the lease first.
      if (error instanceof StaleCheckpointError && !lease.lost.aborted) await lease.verify().catch(() => undefined);
      if (lease.lost.aborted && error instanceof StaleCheckpointError) this.log(`task ${lease.task} was fenced: ${error.message}`);
      // Every task notices a deleted stream: the run's failure says it once (not one stack per task).
      else if (error instanceof StreamGoneError) this.fatal ??= { error };
      else {
        this.log(`task ${lease.task} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        this.fatal ??= { error };
      }
    }
    if (this.abandoned) return;
    // A task stopped by a lost lease committed nothing: finished or not, its work is not done.
    if (outcome === "finished" && !lease.lost.aborted) this.done.add(lease.task);
    // A lost lease is someone else's now; a handed-over or finished one is deleted so that the next holder need not wait.
    await lease.release().catch((error) => this.log(`releasing the lease of task ${lease.task} failed: ${error}`));
    this.running.delete(lease.task);
    this.wake();
  }

  /** Drain mode: every task finished by this worker or reported complete. */
  private async drained(): Promise<boolean> {
    if (!this.options.drain) return false;
    for (const task of this.options.tasks) if (!this.done.has(task) && !(await this.isComplete(task))) return false;
    return this.running.size === 0;
  }

  private async isComplete(task: string): Promise<boolean> {
    if (this.done.has(task)) return true;
    if (!this.options.drain || this.options.isComplete === undefined || this.running.has(task)) return false;
    const complete = await this.options.isComplete(task);
    if (complete) this.done.add(task);
    return complete;
  }

  /** Tokens of workers whose presence is fresh. */
  private async liveWorkers(): Promise<string[]> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys("workers.>")) keys.push(key);
    const found = (await Promise.all(keys.map((key) => this.lookup(key)))).filter((entry) => entry !== undefined);
    // This worker's own presence, as written this tick: its stamp is the server's time at that write.
    const own = found.find(({ entry }) => entry.key === this.presenceKey && entry.revision === this.presenceWrite?.revision);
    if (own !== undefined) this.serverClock = { stamp: own.entry.created.getTime(), at: this.presenceWrite!.ackedAt };
    // Workers that died long ago are forgotten, so that restarts under new ids do not make every tick read more keys.
    const forgotten = found.filter(({ entry }) => (this.serverAgeMs(entry) ?? 0) > FORGET_AFTER_STALE * this.staleAfterMs);
    for (const { entry } of forgotten) await this.kv.delete(entry.key, { previousSeq: entry.revision }).catch(() => undefined);
    return found.filter((entry) => !this.isStale(entry)).map((entry) => entry.value.token);
  }

  private async lookup(key: string): Promise<Lookup> {
    const entry = await this.kv.get(key);
    if (entry?.operation !== "PUT") return undefined;
    return { entry, value: parseLeaseValue(entry) };
  }

  /**
   * How long ago `entry` was last written, on the NATS server's clock alone, or undefined before this worker learnt that
   * clock. The server stamps every write (`created`, on a cluster by the bucket stream's leader); this worker's presence
   * heartbeat, written at the start of each tick, is read back with every other presence by liveWorkers anyway, so its
   * stamp gives the server's time at no extra round trip, carried forward by this process's monotonic clock from the
   * moment its put was acknowledged (which comes after the stamp: ages come out short by at most that put's return trip,
   * never long). Comparing this host's clock with a time another host wrote (heartbeatAt) added the skew between the
   * two hosts: a worker whose clock ran staleAfterMs ahead took every live lease for stale and took it over (thrashing,
   * its holders fenced), one behind took dead leases for live ones. Other ways cost more: a scratch write and read per
   * tick (as serverNowMs in partitioned-worker.ts does once per drain start) is a round trip this read already makes;
   * stream info's `ts` is missing before nats-server 2.10.
   */
  private serverAgeMs(entry: KvEntry): number | undefined {
    if (this.serverClock === undefined) return undefined;
    return serverTimeNow(this.serverClock) - entry.created.getTime();
  }

  /**
   * Stale: its holder died in this host's boot and pid namespace (holderIsGone: a worker in a container sharing the
   * host's name is aged as any other host's, and so are the leases of a worker's earlier incarnation in a container
   * restarted after a kill -9, which has a new pid namespace), its last write is over staleAfterMs old by the server's
   * clock (serverAgeMs: what takes a dead worker's lease over at once at a fresh start, with no revision history here
   * yet), or its revision has not moved for staleAfterMs here (the rule that needs no clock but this process's
   * monotonic one).
   */
  private isStale({ entry, value }: NonNullable<Lookup>): boolean {
    let seen = this.seen.get(entry.key);
    if (seen?.revision !== entry.revision) this.seen.set(entry.key, (seen = { revision: entry.revision, since: performance.now() }));
    const gone = holderIsGone(value, this.holder);
    return gone || (this.serverAgeMs(entry) ?? 0) > this.staleAfterMs || performance.now() - seen.since > this.staleAfterMs;
  }

  private value(): string {
    return JSON.stringify({ ...this.holder, heartbeatAt: this.now() } satisfies LeaseValue);
  }

  private sleep(ms: number): Promise<void> {
    const stopRequested = this.options.signal?.aborted && !this.stopping && !this.options.testing?.paused?.();
    if (this.abandoned || stopRequested) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      this.wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

/** A held task lease: the table's tick refreshes it by compare-and-swap and notices when another worker took it over. */
class NatsTaskLease implements TaskLease {
  private readonly handOverController = new AbortController();
  private readonly lostController = new AbortController();
  private lostTo: LockHolder | undefined | null = null;
  private lastBeat = performance.now();
  private beating = false;

  constructor(
    private readonly kv: KV,
    readonly task: string,
    private readonly key: string,
    private readonly location: string,
    readonly holder: LockHolder,
    private revision: number,
    private readonly options: { staleAfterMs: number; value: () => string; log: (line: string) => void },
  ) {}

  get handOver(): AbortSignal {
    return this.handOverController.signal;
  }

  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  get held(): boolean {
    return this.lostTo === null;
  }

  handOverNow(): void {
    if (!this.handOver.aborted) this.handOverController.abort();
  }

  async verify(): Promise<void> {
    if (this.held) await this.stillOurs();
    if (!this.held) throw lostLockError(this.holder, this.location, this.lostTo);
  }

  /** Deletes the lease if still ours, by compare-and-swap: a heartbeat landing in between only costs another look. */
  async release(): Promise<void> {
    if (!this.held) return;
    this.lostTo = undefined;
    for (let attempt = 1; ; attempt++) {
      const entry = await this.kv.get(this.key);
      if (entry?.operation !== "PUT" || parseLeaseValue(entry).token !== this.holder.token) return;
      const deleted = await this.kv.delete(this.key, { previousSeq: entry.revision }).then(
        () => true,
        (error: unknown) => (attempt < 3 ? false : Promise.reject(error)),
      );
      if (deleted) return;
    }
  }

  /** Refreshes the lease by compare-and-swap on the revision this holder wrote last. */
  async heartbeat(): Promise<void> {
    if (!this.held || this.beating) return;
    this.beating = true;
    const beat = this.kv.update(this.key, this.options.value(), this.revision).then((revision) => {
      this.revision = revision;
      this.lastBeat = performance.now();
    });
    // A failed swap means another writer, or only a slow or broken connection: look before giving the lease up.
    await beat
      .catch(() => this.stillOurs())
      .catch(() => {
        // Unreachable for longer than others wait: they may have taken it over, so stop before they find out.
        if (performance.now() - this.lastBeat > this.options.staleAfterMs) this.lose(undefined);
      })
      .finally(() => (this.beating = false));
  }

  /** Reads the lease: while it names this holder its revision is adopted (our write landed, its ack was lost); else it is lost. */
  private async stillOurs(): Promise<void> {
    const entry = await this.kv.get(this.key);
    const current = entry?.operation === "PUT" ? parseLeaseValue(entry) : undefined;
    if (current?.token !== this.holder.token) return this.lose(current);
    this.revision = entry!.revision;
  }

  private lose(holder: LockHolder | undefined): void {
    if (!this.held) return;
    this.lostTo = holder;
    this.options.log(`lost the lease of task ${this.task}${holder ? ` to worker ${holder.workerId}` : ""}`);
    this.lostController.abort(lostLockError(this.holder, this.location, holder));
  }
}

/** A foreign or older value may lack fields: it then ages out like any stale lease. */
function parseLeaseValue(entry: KvEntry): LeaseValue {
  const unknown: LeaseValue = { workerId: "?", token: "?", pid: -1, host: "?", acquiredAt: 0, heartbeatAt: 0 };
  let parsed: Partial<LeaseValue> = {};
  try { parsed = entry.json<Partial<LeaseValue>>(); } catch { /* keeps the unknown holder */ }
  return { ...unknown, ...parsed };
}
