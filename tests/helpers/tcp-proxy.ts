// A TCP proxy in front of a nats-server, for tests that must lose the server at an exact point of the protocol rather
// than at a moment a test process under load may reach too late.
import { connect, createServer, type Socket } from "node:net";

export type HoldingProxy = {
  /** nats://127.0.0.1:<the proxy's port>. */
  url: string;
  /** Resolves once a client sent `pattern`: from then on nothing that client connection sends reaches the server. */
  held: Promise<void>;
  close(): Promise<void>;
};

/**
 * Forwards every connection to 127.0.0.1:`targetPort`, until a client's bytes first contain `pattern`: that chunk and
 * all that connection sends after it are dropped (a request that left the client and never arrived). Connections made
 * later are forwarded again; a side that closes closes the other.
 */
export async function proxyHoldingAt(targetPort: number, pattern: string): Promise<HoldingProxy> {
  const sockets = new Set<Socket>();
  let holding = false;
  let onHeld: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (onHeld = resolve));
  const server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    // The last bytes of the previous chunk, so a pattern split across two reads is still seen.
    let tail = "";
    let dropping = false;
    client.on("data", (chunk: Buffer) => {
      if (dropping) return;
      const text = tail + chunk.toString("latin1");
      if (!holding && text.includes(pattern)) {
        holding = dropping = true;
        onHeld();
        return;
      }
      tail = text.slice(-(pattern.length - 1));
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no TCP port");
  return {
    url: `nats://127.0.0.1:${address.port}`,
    held,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
