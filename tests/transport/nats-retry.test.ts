// Retrying NATS requests across a restart: transient failures are retried until an answer or the deadline, others not.
import { TimeoutError } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { isTransientNatsError, NatsUnansweredError, retryWhileNatsRecovers } from "../../src/transport/nats-retry.ts";

/** A request that times out `failures` times, then answers `answer`. */
function flaky<T>(failures: number, answer: T): { request: () => Promise<T>; calls: () => number } {
  let calls = 0;
  return {
    request: async () => {
      calls++;
      if (calls <= failures) throw new TimeoutError();
      return answer;
    },
    calls: () => calls,
  };
}

describe("retryWhileNatsRecovers", () => {
  it("retries timeouts until the request answers, and says so once", async () => {
    const lines: string[] = [];
    const { request, calls } = flaky(3, "info");
    expect(await retryWhileNatsRecovers("opening a reader on S", request, { log: (line) => lines.push(line) })).toBe("info");
    expect(calls()).toBe(4);
    expect(lines).toEqual(["opening a reader on S: NATS did not answer (timeout); retrying for up to 60 s"]);
  });

  it("throws an error that is not transient at once", async () => {
    let calls = 0;
    const request = async () => {
      calls++;
      throw new Error("stream not found");
    };
    await expect(retryWhileNatsRecovers("x", request)).rejects.toThrow("stream not found");
    expect(calls).toBe(1);
  });

  it("past the deadline, names what it waited for and how long", async () => {
    const { request, calls } = flaky(Number.POSITIVE_INFINITY, "never");
    const failure = retryWhileNatsRecovers("reading the drain's end", request, { retryForMs: 250 });
    await expect(failure).rejects.toThrow(NatsUnansweredError);
    await expect(failure).rejects.toThrow("reading the drain's end: NATS did not answer for 0 s (timeout)");
    expect(calls()).toBeGreaterThan(1);
  });

  it("stops retrying once aborted", async () => {
    const stop = new AbortController();
    stop.abort();
    const { request, calls } = flaky(5, "late");
    await expect(retryWhileNatsRecovers("x", request, { signal: stop.signal })).rejects.toThrow(TimeoutError);
    expect(calls()).toBe(1);
  });

  it("takes timeouts and JetStream being down for transient, other errors not", () => {
    const notEnabled = Object.assign(new Error("jetstream not enabled"), { name: "JetStreamNotEnabled" });
    expect([new TimeoutError(), notEnabled, new Error("bad subject")].map(isTransientNatsError)).toEqual([true, true, false]);
  });
});
