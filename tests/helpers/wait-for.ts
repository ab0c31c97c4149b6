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
