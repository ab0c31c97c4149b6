// TEST-ONLY fault injection, driven by environment variables the crash tests set; inert when they are unset.
import type { ClickEvent } from "../events/event.ts";
import type { Operator } from "./operator.ts";

/**
 * Steps of the commit protocol where `CLICKPIPE_CRASH_AT=<step>[:<renames>][@<checkpoint>]` SIGKILLs the process:
 * - `after-prepare`: the epoch's `.inprogress` parts are written and fsynced, the checkpoint is not;
 * - `checkpoint-written`: the checkpoint's temporary file is fsynced but not linked to its epoch name;
 * - `after-checkpoint`: the checkpoint is committed, no part renamed yet;
 * - `after-rename:<n>`: the checkpoint is committed and n of its parts are renamed;
 * - `tail-after-ack`: an access-log tailer's chunk is acknowledged by JetStream, its position not yet saved;
 * - `merge-prepared`: an epoch's merged part (compaction) is written and fsynced with its parts, the checkpoint is not;
 * - `merge-checkpointed`: the checkpoint recording the merge is committed, its parts renamed, the merged part not;
 * - `merge-renamed`: the merged part is renamed into place, none of its inputs deleted;
 * - `merge-deleted:<n>`: the merged part is in place and n of its inputs are deleted;
 * - `rewrite-written`: a part's rewrite (forget, erasing forgotten people) has written and fsynced its temporary file,
 *   not renamed it over the part: the first rewrite of the process (or thread) crashes, whatever `@<k>` says.
 * `@<k>` picks the k-th checkpoint this process commits (default 3), so earlier epochs are already durable; for
 * `tail-after-ack`, the k-th chunk this process's tailers publish; for the `merge-` steps, the first checkpoint from
 * the k-th on that carries a merge.
 */
export type CrashStep =
  | "after-prepare"
  | "checkpoint-written"
  | "after-checkpoint"
  | "after-rename"
  | "tail-after-ack"
  | "merge-prepared"
  | "merge-checkpointed"
  | "merge-renamed"
  | "merge-deleted"
  | "rewrite-written";

export interface CrashPlan {
  step: CrashStep;
  renames: number;
  checkpoint: number;
}

const CRASH_STEPS: readonly CrashStep[] = [
  "after-prepare",
  "checkpoint-written",
  "after-checkpoint",
  "after-rename",
  "tail-after-ack",
  "merge-prepared",
  "merge-checkpointed",
  "merge-renamed",
  "merge-deleted",
  "rewrite-written",
];

export function parseCrashPlan(text: string | undefined): CrashPlan | undefined {
  if (text === undefined || text === "") return undefined;
  const match = /^([a-z-]+)(?::(\d+))?(?:@(\d+))?$/.exec(text);
  const step = match?.[1] as CrashStep | undefined;
  if (!match || step === undefined || !CRASH_STEPS.includes(step)) {
    throw new Error(`CLICKPIPE_CRASH_AT=${text}: expected one of ${CRASH_STEPS.join(", ")} (after-rename:<n>, merge-deleted:<n>), optionally @<checkpoint>`);
  }
  return { step, renames: Number(match[2] ?? 0), checkpoint: Number(match[3] ?? 3) };
}

const crashPlan = parseCrashPlan(process.env.CLICKPIPE_CRASH_AT);
/** The epoch of this process's k-th checkpoint, learned when the worker starts its first one. */
let crashEpoch: number | undefined;

/** Tells the injector which epoch this process commits first; the planned crash hits the k-th from there. */
export function noteFirstEpoch(epoch: number): void {
  if (crashPlan !== undefined && crashEpoch === undefined) crashEpoch = epoch + crashPlan.checkpoint - 1;
}

/** The number of renames to do before crashing in this epoch, when an after-rename crash is planned for it. */
export function renamesBeforeCrash(epoch: number): number | undefined {
  return crashPlan?.step === "after-rename" && epoch === crashEpoch ? crashPlan.renames : undefined;
}

/** SIGKILLs this process when the planned crash is at `step` of `epoch`: no handler, no flush, like kill -9. */
export function crashIfInjected(step: CrashStep, epoch: number): void {
  if (crashPlan?.step === step && epoch === crashEpoch) process.kill(process.pid, "SIGKILL");
}

/** Whether the planned crash is at merge step `step` of `epoch`, an epoch with a merge. */
export function mergeCrashPlanned(step: "merge-prepared" | "merge-checkpointed", epoch: number): boolean {
  return crashPlan?.step === step && crashEpoch !== undefined && epoch >= crashEpoch;
}

/** SIGKILLs this process at merge step `step` of `epoch`, an epoch with a merge, when the planned crash is there. */
export function crashIfInjectedInMerge(step: "merge-prepared" | "merge-checkpointed", epoch: number): void {
  if (mergeCrashPlanned(step, epoch)) process.kill(process.pid, "SIGKILL");
}

/** The commit's merge hooks of an epoch with a merge: a crash after the rename, or after n input deletes, when planned. */
export function mergeCrashHooks(epoch: number): { afterRename?: () => void; afterDelete?: (deleted: number) => void } {
  if (crashPlan === undefined || crashEpoch === undefined || epoch < crashEpoch) return {};
  const plan = crashPlan;
  if (plan.step === "merge-renamed") return { afterRename: () => process.kill(process.pid, "SIGKILL") };
  if (plan.step === "merge-deleted") return { afterDelete: (deleted) => void (deleted === plan.renames && process.kill(process.pid, "SIGKILL")) };
  return {};
}

/** SIGKILLs this process when a `rewrite-written` crash is planned: a rewrite's temporary file is left behind. */
export function crashIfInjectedInRewrite(): void {
  if (crashPlan?.step === "rewrite-written") process.kill(process.pid, "SIGKILL");
}

/** Chunks the tailers of this process had acknowledged, counted only while a `tail-after-ack` crash is planned. */
let tailChunksAcked = 0;

/** SIGKILLs this process after the k-th tailed chunk's ack when a `tail-after-ack` crash is planned (TailedPath). */
export function crashIfInjectedAfterTailAck(): void {
  if (crashPlan?.step !== "tail-after-ack") return;
  if (++tailChunksAcked === crashPlan.checkpoint) process.kill(process.pid, "SIGKILL");
}

/**
 * `CLICKPIPE_THROW_ON_EVENTS=<event_id>,…` adds a last operator that throws on those events (after the real
 * operators changed their state: a poison message); `CLICKPIPE_THROW_TIMES=<n>` makes it throw only n times per
 * event in this process (a transient failure). Returns undefined when unset.
 */
export function poisonOperatorFromEnv(env: NodeJS.ProcessEnv = process.env): Operator | undefined {
  const ids = env.CLICKPIPE_THROW_ON_EVENTS;
  if (ids === undefined || ids === "") return undefined;
  const poisoned = new Set(ids.split(","));
  const times = env.CLICKPIPE_THROW_TIMES === undefined ? Number.POSITIVE_INFINITY : Number(env.CLICKPIPE_THROW_TIMES);
  const thrown = new Map<string, number>();
  return {
    id: "faultInjection",
    tables: [],
    onEvent(event: ClickEvent) {
      if (!poisoned.has(event.event_id)) return;
      const count = thrown.get(event.event_id) ?? 0;
      if (count >= times) return;
      thrown.set(event.event_id, count + 1);
      throw new Error(`injected failure on event ${event.event_id}`);
    },
    onEnd() {},
    snapshot: () => ({}),
    restore() {},
  };
}
