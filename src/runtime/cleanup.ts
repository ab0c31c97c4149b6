// Cleanup after work that may have failed: every step runs, whatever the earlier ones did.

/**
 * Runs every step in turn, each even when an earlier one threw or rejected; failures are logged, not thrown, so the
 * error that ended the work is the one its caller sees. (A lock release that failed with EMFILE skipped closing the
 * NATS connection, which then kept the process alive after it had printed its error.)
 */
export async function runEach(log: (line: string) => void, steps: readonly (() => unknown)[]): Promise<void> {
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      log(`cleanup: ${(error as Error).message}`);
    }
  }
}
