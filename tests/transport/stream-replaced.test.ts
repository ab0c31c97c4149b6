// streamReplaced: whether the stream a reader opened is still the one created at a given time. A stub client answers
// (a unit test of the decision; the integration test tests/integration/stream-deleted.test.ts covers a real server).
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { streamReplaced } from "../../src/transport/reader.ts";

const CREATED = "2026-12-06T13:18:10.68867881Z";

/** A client whose stream info answers, call after call, `answers` (a creation time, or undefined for "not found"). */
function answering(...answers: (string | undefined)[]): Pick<JetStreamClient, "streams"> {
  let call = 0;
  const streams = {
    get: async () => {
      const created = answers[Math.min(call++, answers.length - 1)];
      if (created === undefined) throw new JetStreamApiError({ code: 404, err_code: JetStreamApiCodes.StreamNotFound, description: "stream not found" });
      return { info: async () => ({ created }) };
    },
  };
  return { streams } as unknown as Pick<JetStreamClient, "streams">;
}

describe("streamReplaced", () => {
  it("streamReplaced - the same creation time is the same stream", async () => {
    expect(await streamReplaced(answering(CREATED), "S", CREATED, 0)).toBeUndefined();
  });

  it("streamReplaced - another creation time is a stream deleted and created again", async () => {
    expect(await streamReplaced(answering("2026-12-06T14:00:00Z"), "S", CREATED, 0)).toMatch(/^was deleted and created again \(now created 2026-12-06T14:00:00Z/);
  });

  it("streamReplaced - a stream not found twice was deleted", async () => {
    expect(await streamReplaced(answering(undefined, undefined), "S", CREATED, 0)).toBe("was deleted");
  });

  it("streamReplaced - one 'stream not found' (a meta leader changing) then the same stream is no deletion", async () => {
    expect(await streamReplaced(answering(undefined, CREATED), "S", CREATED, 0)).toBeUndefined();
  });
});
