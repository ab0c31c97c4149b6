// Requests that a NATS restart or a leader election fails for a moment (no answer in time, no responders yet,
// JetStream 503), and a retry with backoff that carries them across it. The client reconnects by itself; a request
// written while it is disconnected just times out.
import { JetStreamApiError } from "@nats-io/jetstream";
import { RequestError, TimeoutError } from "@nats-io/nats-core";

/** Failures a retry can cure: no answer in time, nobody answering yet (restart), JetStream temporarily unavailable. */
export function isTransientNatsError(error: unknown): boolean {
  if (error instanceof TimeoutError || error instanceof RequestError) return true;
  if (isJetStreamNotEnabled(error)) return true;
  if (error instanceof JetStreamApiError) return error.status === 503;
  return false;
}

/** `js.publish` reports "no responders" (no stream captures the subject, or JetStream is not up yet) this way. */
export function isJetStreamNotEnabled(error: unknown): boolean {
  return error instanceof Error && error.name === "JetStreamNotEnabled";
}

export class NatsUnansweredError extends Error {
  override name = "NatsUnansweredError";
}

/** How long a request to NATS is retried across transient failures by default (as the publisher's batches). */
export const DEFAULT_RETRY_FOR_MS = 60_000;

export type RetryOptions = {
  /** How long to keep retrying after the first failure. Default 60 s, as the publisher's batches. */
  retryForMs?: number;
  /** Told once, at the first transient failure. */
  log?: (line: string) => void;
  /** Stops retrying (the last error is thrown). */
  signal?: AbortSignal;
};

/**
 * `request()` until it answers, retrying transient failures with backoff (100 ms doubling to 2 s) for `retryForMs`.
 * Other errors, and a transient one past the deadline, are thrown, the latter naming `what` and how long it waited.
 */
export async function retryWhileNatsRecovers<T>(what: string, request: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retryForMs = options.retryForMs ?? DEFAULT_RETRY_FOR_MS;
  const deadline = Date.now() + retryForMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (!isTransientNatsError(error) || options.signal?.aborted) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      if (Date.now() >= deadline) {
        throw new NatsUnansweredError(`${what}: NATS did not answer for ${Math.round(retryForMs / 1000)} s (${reason})`, { cause: error });
      }
      if (attempt === 0) options.log?.(`${what}: NATS did not answer (${reason}); retrying for up to ${Math.round(retryForMs / 1000)} s`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2_000)));
    }
  }
}
