// Starts a server listening on a port of the pipeline file; a port it cannot take is named by its key, with the fix.
import type { Server } from "node:http";
import type { PortRange } from "../config/port-range.ts";

/** Where the pipeline file declares a listener: `sources[0] (http)` at key `sources[0]`, or `metrics` at `metrics`. */
export interface ListenerPlace {
  /** What listens, as messages name it. */
  name: string;
  /** The config key that holds its `port` and `host`. */
  key: string;
}

export class ListenError extends Error {
  override name = "ListenError";

  /** Node's error code (EADDRINUSE also when every port of a range is in use). */
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Whether `error` is a listener's port (or every port of its range) in use. */
export function isPortInUse(error: unknown): boolean {
  return error instanceof ListenError && error.code === "EADDRINUSE";
}

/** Resolves once `server` listens on host:port; rejects with a ListenError that says which key to change. */
export async function listen(server: Server, port: number, host: string, place: ListenerPlace): Promise<void> {
  const error = await bind(server, port, host);
  if (error !== undefined) throw listenError(error, port, host, place);
}

/**
 * Resolves once `server` listens on the first port of `range` free on host (the next worker of a pipeline on the host
 * takes the next one); rejects naming the range when all are in use, and at once on any other error (it would recur).
 */
export async function listenInRange(server: Server, range: PortRange, host: string, place: ListenerPlace): Promise<void> {
  for (let port = range.first; port <= range.last; port++) {
    const error = await bind(server, port, host);
    if (error === undefined) return;
    if (error.code !== "EADDRINUSE") throw listenError(error, port, host, place);
  }
  throw new ListenError(
    `${place.name}: every port of ${range.first}-${range.last} on ${host} is in use (other workers on this host, or other processes): ` +
      `set ${place.key}.port to a range with a port for each worker on this host`,
    "EADDRINUSE",
  );
}

/** Node's listen, as the error it failed with (undefined: listening); a server may listen again after an error. */
function bind(server: Server, port: number, host: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const failed = (error: NodeJS.ErrnoException) => {
      server.off("listening", listening);
      resolve(error);
    };
    const listening = () => {
      server.off("error", failed);
      resolve(undefined);
    };
    server.once("error", failed);
    server.once("listening", listening);
    server.listen(port, host);
  });
}

/** Node's listen error as a sentence naming the listener, the port and host, and the key to change. */
export function listenError(error: NodeJS.ErrnoException, port: number, host: string, place: ListenerPlace): Error {
  const { name, key } = place;
  const { code } = error;
  switch (code) {
    case "EADDRINUSE":
      return new ListenError(`${name}: port ${port} on ${host} is in use (another clickpipe run or process?): set ${key}.port to a free port`, code);
    case "EACCES":
      return new ListenError(`${name}: port ${port} on ${host} needs privileges this user lacks (ports below 1024 do): set ${key}.port to 1024 or above`, code);
    case "EADDRNOTAVAIL":
      return new ListenError(`${name}: ${host} is not an address of this machine: set ${key}.host to one of its addresses, or 0.0.0.0 for all`, code);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new ListenError(`${name}: host name ${host} does not resolve: set ${key}.host to an address of this machine, or 0.0.0.0 for all`, code);
    default:
      return new ListenError(`${name}: cannot listen on port ${port} on ${host}: ${error.message}`, code);
  }
}
