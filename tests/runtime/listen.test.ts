// listen: a port or host a server cannot take is named by the pipeline file's key, with what to set it to.
import { createServer } from "node:http";
import { describe, expect, it } from "vitest";
import { listen, listenError } from "../../src/runtime/listen.ts";

const place = { name: "sources[1] (http)", key: "sources[1]" };
const failed = (code: string, message: string) => Object.assign(new Error(message), { code });

describe("listen", () => {
  it("names a port in use by its key", async () => {
    const holder = createServer();
    await listen(holder, 0, "127.0.0.1", place);
    const port = (holder.address() as { port: number }).port;
    try {
      await expect(listen(createServer(), port, "127.0.0.1", place)).rejects.toThrow(
        `sources[1] (http): port ${port} on 127.0.0.1 is in use (another clickpipe run or process?): set sources[1].port to a free port`,
      );
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("names a host that is not an address of this machine by its key", async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): no machine has it.
    await expect(listen(createServer(), 0, "192.0.2.1", { name: "metrics", key: "metrics" })).rejects.toThrow(
      "metrics: 192.0.2.1 is not an address of this machine: set metrics.host to one of its addresses, or 0.0.0.0 for all",
    );
  });

  it("says a privileged port needs privileges (root may take one, so the error is made here)", () => {
    expect(listenError(failed("EACCES", "listen EACCES: permission denied 0.0.0.0:80"), 80, "0.0.0.0", place).message).toBe(
      "sources[1] (http): port 80 on 0.0.0.0 needs privileges this user lacks (ports below 1024 do): set sources[1].port to 1024 or above",
    );
  });
});
