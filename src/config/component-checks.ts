// Config values checked by the parsers of the components that use them, so `validate` fails on what `run` or `publish`
// would fail on later (a log format without a status, a proxy that is not an address, a time zone that does not exist).
import { compileLogFormat } from "../ingest/access-log.ts";
import { LogFormatError } from "../ingest/access-log-format.ts";
import { TrustedProxies, TrustedProxyError } from "../ingest/http-client-ip.ts";
import { LocalTimeZone, UnknownTimeZoneError } from "../ingest/local-time-zone.ts";
import { compileUrlRules, UrlRuleError } from "../ingest/url-rules.ts";
import { withUrlCredentialsRedacted } from "./secrets.ts";

/** Why the access-log tailer cannot read lines of `format`, or undefined. */
export function logFormatProblem(format: string): string | undefined {
  return problemOf(() => compileLogFormat(format), LogFormatError);
}

/** Why the collector cannot trust `entry` as a proxy address or CIDR, or undefined. */
export function trustedProxyProblem(entry: string): string | undefined {
  return problemOf(() => new TrustedProxies([entry]), TrustedProxyError)?.replace(/^trustedProxies: /, "");
}

/** Why `rule` cannot be compiled into a URL → page item rule, or undefined (its own fields named, e.g. `match "x" must …`). */
export function urlRuleProblem(rule: { match: string; item: string }): string | undefined {
  return problemOf(() => compileUrlRules([rule]), UrlRuleError)?.replaceAll("urlRules[0].", "");
}

// The TCP transport (src/transport/connection.ts); websockets would need another.
const NATS_SCHEMES = new Set(["nats:", "tls:"]);

/** Why `entry` (one of nats.url's comma-separated servers) is no server URL nats.js connects to, or undefined. */
export function natsUrlProblem(entry: string): string | undefined {
  // Messages quote the entry with its password redacted: they go to terminals, logs and tickets.
  const shown = withUrlCredentialsRedacted(entry);
  if (entry === "" || /\s/.test(entry)) return `"${shown}" is not a server URL`;
  let url: URL;
  try {
    url = new URL(entry.includes("://") ? entry : `nats://${entry}`);
  } catch {
    return `"${shown}" is not a server URL`;
  }
  if (!NATS_SCHEMES.has(url.protocol)) return `"${shown}" has the scheme ${url.protocol.slice(0, -1)}, not nats or tls`;
  if (url.hostname === "") return `"${shown}" names no host`;
  return undefined;
}

/**
 * Why `host` is no address a server can listen on (Node's listen fails with ENOTFOUND only when `run` starts), with the
 * fix; undefined for an IP address or a host name. Whether a name resolves is left to the host that runs the pipeline.
 */
export function listenHostProblem(host: string): { problem: string; hint: string } | undefined {
  // An empty host is the schema's own "must not be empty".
  if (host === "") return undefined;
  const ipv6 = /^\[([0-9a-fA-F:.]+(?:%[\w.-]+)?)\](?::\d+)?$/.exec(host);
  if (ipv6 !== null) return { problem: `"${host}" has brackets`, hint: `Write the IPv6 address without them (${ipv6[1]}), and any port in port:.` };
  if (host.includes("://")) {
    const bare = host.slice(host.indexOf("://") + 3).replace(/[/:].*$/, "");
    return { problem: `"${host}" is a URL, not an address to listen on`, hint: `Write the host alone (${bare === "" ? "0.0.0.0" : bare}), and any port in port:.` };
  }
  const withPort = /^([^:]+):(\d*)$/.exec(host);
  if (withPort !== null) return { problem: `"${host}" holds a port`, hint: `Write the host alone (${withPort[1]}) and the port in port:.` };
  if (/\s/.test(host) || !/^[0-9A-Za-z.:%_-]+$/.test(host)) {
    return { problem: `"${host}" is not an address to listen on`, hint: 'Write an IP address such as "0.0.0.0" (every IPv4 interface), "::" (every interface) or "127.0.0.1", or a host name.' };
  }
  return undefined;
}

/** Why `timeZone` is not an IANA time zone this runtime knows, or undefined. */
export function timeZoneProblem(timeZone: string): string | undefined {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return undefined;
  } catch {
    return `unknown time zone "${timeZone}"`;
  }
}

/** Why `timeZone` cannot read local wall-clock times (LocalTimeZone), naming a close zone name when there is one; or undefined. */
export function localTimeZoneProblem(timeZone: string): string | undefined {
  return problemOf(() => new LocalTimeZone(timeZone), UnknownTimeZoneError);
}

function problemOf(check: () => unknown, expected: abstract new (...args: never[]) => Error): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof expected) return error.message;
    throw error;
  }
}
