// Consecutive free ports for tests of port ranges: found by binding them, never fixed numbers another test may use.
import { createServer, type Server } from "node:net";

export interface HeldPorts {
  first: number;
  /** One server per port, first to last, each holding 127.0.0.1:<port> as another process would. */
  servers: Server[];
  /** Closes the servers of the given ports (every port when none is given). */
  release(...ports: number[]): Promise<void>;
}

/** Binds 127.0.0.1:`port` as another program (or a stalled holder's metrics server) would; rejects when it is taken. */
export async function occupyPort(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return server;
}

function bind(port: number): Promise<Server | undefined> {
  return occupyPort(port).catch(() => undefined);
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Holds `count` consecutive ports of 127.0.0.1, starting at a port the system picked free. */
export async function holdPortRange(count: number): Promise<HeldPorts> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = await bind(0);
    if (start === undefined) continue;
    const first = (start.address() as { port: number }).port;
    const servers = [start];
    while (servers.length < count && first + servers.length <= 65535) {
      const next = await bind(first + servers.length);
      if (next === undefined) break;
      servers.push(next);
    }
    if (servers.length === count) {
      const open = new Set(servers);
      const release = async (...ports: number[]) => {
        const chosen = ports.length === 0 ? servers : ports.map((port) => servers[port - first]);
        for (const server of chosen) if (open.delete(server)) await close(server);
      };
      return { first, servers, release };
    }
    for (const server of servers) await close(server);
  }
  throw new Error(`found no ${count} consecutive free ports on 127.0.0.1`);
}

/** The first of `count` consecutive ports of 127.0.0.1 free when it returns. */
export async function freePortRange(count: number): Promise<number> {
  const held = await holdPortRange(count);
  await held.release();
  return held.first;
}
