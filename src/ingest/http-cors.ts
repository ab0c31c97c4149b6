// CORS for the collector: which origins may post from a browser, and the headers an allowed one gets.
import { isIP } from "node:net";
import type { OutgoingHttpHeaders } from "node:http";

const ALLOWED_METHODS = "POST, GET, OPTIONS";
const ALLOWED_HEADERS = "Content-Type, Content-Encoding, Authorization, X-Write-Key";
/** Answer headers a page's script may read beyond the CORS-safelisted ones: Retry-After of a 429 or 503. */
const EXPOSED_HEADERS = "Retry-After";
const PREFLIGHT_MAX_AGE_SECONDS = "86400";
const WEB_SCHEMES = new Set(["http:", "https:"]);

export class AllowedOriginError extends Error {
  override name = "AllowedOriginError";
}

/** One `allowedOrigins` entry, read: "*", an exact origin, or every subdomain of a host (`https://*.shop.example`). */
export type AllowedOrigin =
  | { kind: "any" }
  | { kind: "exact"; origin: string }
  /** Matches `${prefix}<labels>${suffix}`: prefix "https://", suffix ".shop.example" (with ":port" when not the default). */
  | { kind: "subdomains"; prefix: string; suffix: string };

type Reading = AllowedOrigin | { problem: string; hint: string };

const ORIGIN_HINT = "Write an origin as a browser sends it: scheme://host[:port], such as https://shop.example, https://*.shop.example for its subdomains, or \"*\" for any.";

/**
 * Reads an `allowedOrigins` entry the way a browser serializes an origin (RFC 6454): scheme and host lower-cased,
 * an internationalized host in punycode, the default port (:443 for https, :80 for http) and trailing slashes left
 * out. A wildcard is accepted only as a whole first label over at least two labels (`https://*.shop.example`, not
 * `https://*.com`): it stands for one or more labels, so it never matches the host itself nor another site.
 */
export function readAllowedOrigin(entry: string): Reading {
  const text = entry.trim();
  if (text === "*") return { kind: "any" };
  if (text === "null") {
    return { problem: '"null" is the origin of sandboxed frames and file: pages, which any site can create', hint: 'Leave it out; "*" allows requests without credentials from any page.' };
  }
  const schemeEnd = text.indexOf("://");
  if (schemeEnd === -1) return { problem: `"${entry}" is not an origin: it has no scheme`, hint: `Write https://${text.replace(/^\/+/, "")} (or http://).` };
  const scheme = text.slice(0, schemeEnd).toLowerCase();
  const rest = text.slice(schemeEnd + 3).replace(/\/+$/, "");
  const extra = /[/?#]/.exec(rest);
  if (extra !== null) {
    const part = extra[0] === "/" ? "a path" : extra[0] === "?" ? "a query" : "a fragment";
    return { problem: `"${entry}" is not an origin: it has ${part} (${rest.slice(extra.index)})`, hint: `An origin is scheme://host[:port]: write ${scheme}://${rest.slice(0, extra.index)}.` };
  }
  if (rest.includes("@")) return { problem: `"${entry}" is not an origin: it has a user name`, hint: ORIGIN_HINT };
  const wildcard = rest.startsWith("*.");
  const host = wildcard ? rest.slice(2) : rest;
  if (host.includes("*")) {
    return { problem: `"${entry}" has a wildcard that is not the whole first label`, hint: "Write https://*.shop.example for every subdomain of shop.example, or \"*\" alone for any origin." };
  }
  let url: URL;
  try {
    url = new URL(`${scheme}://${host}`);
  } catch {
    return { problem: `"${entry}" is not an origin`, hint: ORIGIN_HINT };
  }
  if (!WEB_SCHEMES.has(url.protocol)) return { problem: `"${entry}" has the scheme ${scheme}, not http or https`, hint: ORIGIN_HINT };
  if (url.hostname === "") return { problem: `"${entry}" names no host`, hint: ORIGIN_HINT };
  if (!wildcard) return { kind: "exact", origin: `${url.protocol}//${url.host}` };
  // Labels, not dots, are counted: "*.com." (a trailing dot, as in https://evil.com./) is a wildcard over one label.
  const labels = url.hostname.split(".").filter((label) => label !== "").length;
  if (url.hostname.startsWith("[") || isIP(url.hostname) !== 0 || labels < 2) {
    return { problem: `"${entry}" puts a wildcard over ${url.hostname}, which would match other sites or none`, hint: "A wildcard needs a domain of at least two labels under it, such as https://*.shop.example." };
  }
  return { kind: "subdomains", prefix: `${url.protocol}//`, suffix: `.${url.host}` };
}

/** An entry as it is matched (see readAllowedOrigin); throws AllowedOriginError for one that is no origin. */
export function normalizeAllowedOrigin(entry: string): string {
  const read = readAllowedOrigin(entry);
  if ("problem" in read) throw new AllowedOriginError(`allowedOrigins: ${read.problem}`);
  return read.kind === "any" ? "*" : read.kind === "exact" ? read.origin : `${read.prefix}*${read.suffix}`;
}

/** Why `entry` cannot be an `allowedOrigins` entry, with a hint, or undefined. */
export function allowedOriginProblem(entry: string): { problem: string; hint: string } | undefined {
  const read = readAllowedOrigin(entry);
  return "problem" in read ? read : undefined;
}

export class CorsPolicy {
  /** The origins listed, exactly or under a wildcard: only they may send credentials (cookies, Basic auth the browser keeps). */
  private readonly origins: ReadonlySet<string>;
  private readonly subdomains: readonly { prefix: string; suffix: string }[];
  private readonly anyOrigin: boolean;

  /**
   * `allowedOrigins`: origins ("https://shop.example"), every subdomain of a host ("https://*.shop.example"), and/or
   * "*" for any; read by readAllowedOrigin (throws AllowedOriginError for an entry that is no origin).
   */
  constructor(allowedOrigins: readonly string[]) {
    const read = allowedOrigins.map((entry) => {
      const reading = readAllowedOrigin(entry);
      if ("problem" in reading) throw new AllowedOriginError(`allowedOrigins: ${reading.problem}`);
      return reading;
    });
    this.anyOrigin = read.some((entry) => entry.kind === "any");
    this.origins = new Set(read.flatMap((entry) => (entry.kind === "exact" ? [entry.origin] : [])));
    this.subdomains = read.flatMap((entry) => (entry.kind === "subdomains" ? [entry] : []));
  }

  /**
   * Whether `origin` is listed, exactly or under a wildcard. Browsers send origins lower-case; another client's is
   * lower-cased. Allocates nothing for a lower-case origin: this runs twice per request.
   */
  private lists(origin: string): boolean {
    if (this.origins.has(origin)) return true;
    if (this.origins.size === 0 && this.subdomains.length === 0) return false;
    const lower = hasUpperCase(origin) ? origin.toLowerCase() : origin;
    if (lower !== origin && this.origins.has(lower)) return true;
    for (const { prefix, suffix } of this.subdomains) {
      if (lower.length > prefix.length + suffix.length && lower.startsWith(prefix) && lower.endsWith(suffix)) {
        if (areSubdomainLabels(lower, prefix.length, lower.length - suffix.length)) return true;
      }
    }
    return false;
  }

  /** How `origin` is allowed: "listed" (echoed, with credentials), "any" (answered "*"), or undefined when it is not. */
  private standing(origin: string | undefined): "listed" | "any" | undefined {
    if (origin === undefined) return undefined;
    if (this.lists(origin)) return "listed";
    return this.anyOrigin ? "any" : undefined;
  }

  /**
   * Whether a request may post at all. With origins listed, a browser request from another origin is refused: CORS
   * alone would only hide the answer, while sendBeacon and simple requests store their events without a preflight.
   * Requests without an Origin header (servers, `<img>` pixels) and an empty list (the default) are not limited.
   */
  permits(origin: string | undefined): boolean {
    return origin === undefined || (!this.anyOrigin && this.origins.size === 0 && this.subdomains.length === 0) || this.standing(origin) !== undefined;
  }

  /**
   * Adds the headers of an actual answer (any status: a page learns of a 401, 429 or 500 only through them) to
   * `headers` when `origin` is allowed. A listed origin is echoed with Allow-Credentials, so its pages may send
   * credentials; any other origin "*" allows gets "*", which browsers never combine with credentials (Fetch, CORS
   * check): echoing every origin with credentials would let any page send requests with the visitor's cookies or
   * cached Basic auth and read the answers. Vary keeps caches per origin, on every answer once any origin is
   * configured (also to no Origin or a refused one): a cache must not serve an answer without these headers to a page
   * of an allowed origin, nor one with them to another.
   */
  addResponseHeaders(headers: OutgoingHttpHeaders, origin: string | undefined): void {
    if (this.anyOrigin || this.origins.size > 0 || this.subdomains.length > 0) headers.vary = "Origin";
    const standing = this.standing(origin);
    if (standing === undefined) return;
    if (standing === "listed") {
      headers["access-control-allow-origin"] = origin;
      headers["access-control-allow-credentials"] = "true";
    } else headers["access-control-allow-origin"] = "*";
    headers["access-control-expose-headers"] = EXPOSED_HEADERS;
    headers.vary = "Origin";
  }

  /** The headers of a preflight (OPTIONS) answer; none for an origin that is not allowed, so the browser refuses. */
  preflightHeaders(origin: string | undefined): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = { vary: "Origin" };
    if (this.standing(origin) === undefined) return headers;
    this.addResponseHeaders(headers, origin);
    delete headers["access-control-expose-headers"]; // read from actual answers only
    headers["access-control-allow-methods"] = ALLOWED_METHODS;
    headers["access-control-allow-headers"] = ALLOWED_HEADERS;
    headers["access-control-max-age"] = PREFLIGHT_MAX_AGE_SECONDS;
    return headers;
  }
}

/** Whether `text` has a letter A–Z (String.prototype.toLowerCase copies even a string that has none). */
function hasUpperCase(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code >= 0x41 && code <= 0x5a) return true;
  }
  return false;
}

/**
 * Whether text[start, end) is what a wildcard stands for: one or more DNS labels (a–z, digits, `-`, `_`) joined by
 * single dots, as a browser serializes a host. Read in place: a slice would be a new string per request.
 */
function areSubdomainLabels(text: string, start: number, end: number): boolean {
  let labelLength = 0;
  for (let index = start; index < end; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x2e) {
      if (labelLength === 0) return false;
      labelLength = 0;
    } else if ((code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x5f) labelLength++;
    else return false;
  }
  return labelLength > 0;
}
