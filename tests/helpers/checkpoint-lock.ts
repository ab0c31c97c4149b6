// Lock checks every checkpoint store must pass (directory and kv alike), with what each store's tests vary: how a
// second store of the pipeline opens, and how the lock's current holder is read back.
import { expect } from "vitest";
import type { CheckpointStore } from "../../src/runtime/checkpoint-store.ts";

type LockStore = Pick<CheckpointStore, "acquireLock">;
/** The lock as it is stored now (the directory's file, the kv key), or undefined when there is none. */
type ReadHolder = () => Promise<unknown>;

/**
 * `store` takes the lock; a second store of the pipeline in this process (our pid, another token) stands by for it
 * until `waitMs` ends its wait, learning whom it waited for. The lock is released afterwards.
 */
export async function expectSecondStoreStandsBy(store: LockStore, openSecond: () => LockStore | Promise<LockStore>, waitMs: number, readHolder: ReadHolder): Promise<void> {
  const held = await store.acquireLock({ workerId: "first", staleAfterMs: 60_000 });
  try {
    const waitedFor: string[] = [];
    const second = await (await openSecond()).acquireLock({
      workerId: "second",
      staleAfterMs: 60_000,
      signal: AbortSignal.timeout(waitMs),
      onWait: (holder) => waitedFor.push(holder.token),
    });
    expect(second).toBeUndefined();
    expect(waitedFor).toEqual([held!.holder.token]);
    expect(held!.held).toBe(true);
    expect(await readHolder()).toMatchObject({ workerId: "first", token: held!.holder.token });
  } finally {
    await held!.release();
  }
}

/** Of `stores` of one pipeline racing in this process, exactly one takes the lock; the others stand by. */
export async function expectOneRacerTakesTheLock(stores: readonly LockStore[], readHolder: ReadHolder): Promise<void> {
  const locks = await Promise.all(
    stores.map((racer, i) => racer.acquireLock({ workerId: `racer-${i}`, staleAfterMs: 60_000, signal: AbortSignal.timeout(1_000) })),
  );
  const held = locks.filter((lock) => lock !== undefined);
  try {
    expect(held).toHaveLength(1);
    expect(held[0]!.held).toBe(true);
    expect(await readHolder()).toMatchObject({ token: held[0]!.holder.token });
  } finally {
    await Promise.all(held.map((lock) => lock!.release()));
  }
}
