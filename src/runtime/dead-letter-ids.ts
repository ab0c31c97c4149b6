// The ids of dead letters written to invalid_events, so a letter sent again after the stream's duplicate window (a
// re-run `clickpipe publish`, a tailer re-reading a log) is written once. Checkpointed with the position it belongs to.

/** Checkpoint state key of the ids (no operator has this id). */
export const DEAD_LETTER_IDS_KEY = "_deadLetterIds";

/** How long an id is remembered when the stream has no nats.maxAge: a re-send within a week is written once. */
export const DEFAULT_DEAD_LETTER_ID_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * At most this many ids are remembered; beyond it the oldest is forgotten first (and its letter, sent again, is
 * written again). About 40 bytes each in the checkpoint state: 100,000 ids are about 4 MB.
 */
export const MAX_DEAD_LETTER_IDS = 100_000;

/** The checkpointed form: ids and the stream time each was first written at, oldest first. */
export interface DeadLetterIdsState {
  ids: string[];
  at: number[];
}

/**
 * The discard rule: an id goes once the stream time of a later letter is more than `retentionMs` past its own, or
 * when `maxIds` newer ones came after it. Times are the letters' JetStream timestamps, so a replay from the checkpoint
 * takes the same decisions.
 */
export class DeadLetterIds {
  /** id → stream time it was written at; Map order is write order, which is time order on one stream. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly retentionMs: number,
    private readonly maxIds: number = MAX_DEAD_LETTER_IDS,
  ) {}

  /** The retention for a stream: its nats.maxAge when set (0 is none), else the default. */
  static retentionFor(maxAgeMs: number | undefined): number {
    return maxAgeMs !== undefined && maxAgeMs > 0 ? maxAgeMs : DEFAULT_DEAD_LETTER_ID_RETENTION_MS;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Whether the letter `id`, written at stream time `at`, is new; a new one is remembered from here. */
  admit(id: string, at: number): boolean {
    this.sweep(at);
    const writtenAt = this.seen.get(id);
    if (writtenAt !== undefined && at - writtenAt <= this.retentionMs) return false;
    // Expired but not yet swept (an out-of-order time): written again, and remembered as of now.
    this.seen.delete(id);
    this.seen.set(id, at);
    if (this.seen.size > this.maxIds) this.seen.delete(this.seen.keys().next().value!);
    return true;
  }

  /** Drops the ids older than the retention before `now`, oldest first. */
  sweep(now: number): void {
    for (const [id, writtenAt] of this.seen) {
      if (now - writtenAt <= this.retentionMs) break;
      this.seen.delete(id);
    }
  }

  snapshot(): DeadLetterIdsState {
    return { ids: [...this.seen.keys()], at: [...this.seen.values()] };
  }

  /** Replaces the ids with a checkpoint's; anything else (an older checkpoint without them) leaves none. */
  restore(state: unknown): void {
    this.seen.clear();
    if (typeof state !== "object" || state === null) return;
    const { ids, at } = state as Partial<DeadLetterIdsState>;
    if (!Array.isArray(ids) || !Array.isArray(at) || ids.length !== at.length) return;
    for (let index = 0; index < ids.length; index++) {
      if (typeof ids[index] === "string" && typeof at[index] === "number") this.seen.set(ids[index], at[index]);
    }
    while (this.seen.size > this.maxIds) this.seen.delete(this.seen.keys().next().value!);
  }
}
