// sampleServerClock: the NATS server's time from the stamp of a write, on an R3 bucket whose gets any replica answers.
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { serverNowMs } from "../../src/runtime/partitioned-worker.ts";
import { sampleServerClock, serverTimeNow } from "../../src/transport/server-clock.ts";
import { startNatsCluster } from "../helpers/nats-cluster.ts";

describe("sampleServerClock: the NATS server's time, from the stamp of a write it makes", () => {
  it("is never earlier than a write acknowledged before it, on an R3 bucket read through each node", { timeout: 120_000 }, async () => {
    // KV gets are direct gets, which any replica answers, a follower before it applied the latest writes: the scratch
    // key read back right after its write was then an earlier one, so the time "now" was that write's. Partitioned
    // drains took an abandoned drain's record for fresh (serverNowMs); a checkpoint stand-by aged a live holder's lock
    // by it and took the lock over (the holder was fenced).
    const cluster = await startNatsCluster();
    try {
      const behind: string[] = [];
      for (const node of cluster.nodes) {
        const connection = await connect({ servers: node.url });
        try {
          const kv = await new Kvm(connection).create(`server_clock_${node.name.replace(/[^A-Za-z0-9]/g, "_")}`, { history: 1, replicas: 3 });
          for (let round = 0; round < 100; round++) {
            const revision = await kv.put("probe", "");
            let probe = await kv.get("probe");
            while (probe === null || probe.revision < revision) probe = await kv.get("probe");
            const written = probe.created.getTime();
            const clock = await sampleServerClock(kv, "clock");
            // The sample's time carried forward, and the drain's serverNowMs, both at or after the acknowledged write.
            if (serverTimeNow(clock) < written) behind.push(`${node.name} round ${round}: sample ${written - serverTimeNow(clock)} ms behind`);
            const now = await serverNowMs(kv);
            if (now < written) behind.push(`${node.name} round ${round}: serverNowMs ${written - now} ms behind`);
          }
        } finally {
          await connection.close();
        }
      }
      expect(behind).toEqual([]);
    } finally {
      await cluster.stop();
    }
  });
});
