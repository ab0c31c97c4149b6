// Starts a server listening on a port of the pipeline file; a port it cannot take is named by its key, with the fix.
import type { Server } from "node:http";

/** Where the pipeline file declares a listener: `sources[0] (http)` at key `sources[0]`, or `metrics` at `metrics`. */
export interface ListenerPlace {
  /** What listens, as messages name it. */
  name: string;
  /** The config key that holds its `port` and `host`. */
  key: string;
}

export class ListenError extends Error {
  override name = "ListenError";
}

/** Resolves once `server` listens on host:port; rejects with a ListenError that says which key to change. */
export function listen(server: Server, port: number, host: string, place: ListenerPlace): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(listenError(error, port, host, place));
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
}

/** Node's listen error as a sentence naming the listener, the port and host, and the key to change. */
export function listenError(error: NodeJS.ErrnoException, port: number, host: string, place: ListenerPlace): Error {
  const { name, key } = place;
  switch (error.code) {
    case "EADDRINUSE":
      return new ListenError(`${name}: port ${port} on ${host} is in use (another clickpipe run or process?): set ${key}.port to a free port`);
    case "EACCES":
      return new ListenError(`${name}: port ${port} on ${host} needs privileges this user lacks (ports below 1024 do): set ${key}.port to 1024 or above`);
    case "EADDRNOTAVAIL":
      return new ListenError(`${name}: ${host} is not an address of this machine: set ${key}.host to one of its addresses, or 0.0.0.0 for all`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new ListenError(`${name}: host name ${host} does not resolve: set ${key}.host to an address of this machine, or 0.0.0.0 for all`);
    default:
      return new ListenError(`${name}: cannot listen on port ${port} on ${host}: ${error.message}`);
  }
}
