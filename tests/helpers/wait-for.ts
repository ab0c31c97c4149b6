// Polls a condition until it holds, for tests that watch a running worker, collector or Prometheus.

/** Resolves once `check` answers true; rejects naming `what` after `timeoutMs`. Polls every `intervalMs`. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Resolves with `read()`'s value once `done` holds for it; after `timeoutMs`, rejects naming `what` and the value (or
 * error) last seen, so that a failure says how far it got.
 */
export async function waitForValue<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: { value: T } | { error: unknown } | undefined;
  while (Date.now() < deadline) {
    try {
      const value = await read();
      if (done(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const seen = last === undefined ? "nothing" : "value" in last ? JSON.stringify(last.value) : `the error ${String(last.error)}`;
  throw new Error(`timed out waiting for ${what}; last seen: ${seen}`);
}
