// Serves the registry on GET /metrics (Prometheus text format).
import { createServer, type Server } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import type { PortRange } from "../config/port-range.ts";
import { isPortInUse, listen, listenInRange, type ListenerPlace } from "../runtime/listen.ts";
import type { Metrics } from "./registry.ts";

/** The URL a started server answers on: the port it bound (port 0 picks a free one), not the one asked for. */
export function metricsUrl(server: Server, host: string): string {
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`;
}

/**
 * On `port`, or on the first free port of a range (portsOf(metrics.port)); `place`: the pipeline file's key for a port
 * it cannot take (in use, privileged).
 */
export async function startMetricsServer(
  metrics: Metrics,
  port: number | PortRange,
  host = "0.0.0.0",
  place: ListenerPlace = { name: "metrics", key: "metrics" },
): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method === "GET" && request.url?.split("?")[0] === "/metrics") {
      metrics.registry
        .metrics()
        .then((body) => {
          response.writeHead(200, { "content-type": metrics.registry.contentType });
          response.end(body);
        })
        .catch((error: unknown) => {
          response.writeHead(500, { "content-type": "text/plain" });
          response.end(String(error));
        });
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" });
    response.end("not found: try /metrics\n");
  });
  if (typeof port === "number") await listen(server, port, host, place);
  else await listenInRange(server, port, host, place);
  return server;
}

/** Retries of a metrics server whose port was in use (retryMetricsServer). */
export interface MetricsServerRetry {
  /** Ends the retries (an attempt under way finishes first), and closes the server if one bound. */
  stop(): Promise<void>;
}

/**
 * Calls `start` every `retryMs` (the first time `retryMs` from now) while it fails with the port in use, until a server
 * binds (`onServing`) or stop(). Any other error ends the retries (`onError`): it would recur.
 */
export function retryMetricsServer(
  start: () => Promise<Server>,
  options: { retryMs: number; onServing: (server: Server) => void; onError: (error: unknown) => void },
): MetricsServerRetry {
  const stopping = new AbortController();
  let server: Server | undefined;
  const attempts = (async () => {
    for (;;) {
      await delay(options.retryMs, undefined, { signal: stopping.signal }).catch(() => undefined);
      if (stopping.signal.aborted) return;
      try {
        server = await start();
      } catch (error) {
        if (isPortInUse(error)) continue;
        options.onError(error);
        return;
      }
      // Bound while stop() waited for this attempt: stop() closes it, unannounced.
      if (!stopping.signal.aborted) options.onServing(server);
      return;
    }
  })();
  return {
    async stop() {
      stopping.abort();
      await attempts;
      server?.close();
    },
  };
}
