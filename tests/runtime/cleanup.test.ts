// runEach: every cleanup step runs in order, whatever the earlier ones did; failures are logged, not thrown.
import { describe, expect, it } from "vitest";
import { runEach } from "../../src/runtime/cleanup.ts";

describe("runEach", () => {
  it("runs each step after one that threw or rejected, logging both failures", async () => {
    const ran: string[] = [];
    const logged: string[] = [];
    await runEach((line) => logged.push(line), [
      () => ran.push("sink"),
      () => {
        throw new Error("EMFILE: too many open files");
      },
      () => Promise.reject(new Error("lock gone")),
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        ran.push("connection");
      },
      () => undefined,
    ]);
    expect(ran).toEqual(["sink", "connection"]);
    expect(logged).toEqual(["cleanup: EMFILE: too many open files", "cleanup: lock gone"]);
  });
});
