// Bounded concurrency for file and network operations: an unbounded Promise.all over thousands of paths runs out of
// file descriptors (EMFILE at 20,000 `_SUCCESS` markers of a snapshot backlog, on every restart after).

/** Runs `task(0) … task(count − 1)` with at most `limit` running at once; rejects with the first failure. */
export async function inParallel(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
}

/** `fn` for every item, at most `limit` at once. */
export function forEachInParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  return inParallel(items.length, limit, (index) => fn(items[index]));
}
