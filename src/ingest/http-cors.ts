// CORS for the collector: which origins may post from a browser, and the headers an allowed one gets.
import { isIP } from "node:net";
import type { OutgoingHttpHeaders } from "node:http";
import { getPublicSuffix, parse as parseDomain } from "tldts";

const ALLOWED_METHODS = "POST, GET, OPTIONS";
const ALLOWED_HEADERS = "Content-Type, Content-Encoding, Authorization, X-Write-Key";
/** Answer headers a page's script may read beyond the CORS-safelisted ones: Retry-After of a 429 or 503. */
const EXPOSED_HEADERS = "Retry-After";
const PREFLIGHT_MAX_AGE_SECONDS = "86400";
/** Schemes whose URLs have a host and a default port, which a browser leaves out of the origin (WHATWG URL). */
const WEB_SCHEMES = new Set(["http", "https"]);
/** Special schemes of the URL standard that no page is served from, so no request carries them as its Origin. */
const NO_PAGE_SCHEMES = new Set(["ftp", "ws", "wss"]);
/** A scheme as RFC 3986 spells it: a letter, then letters, digits, "+", "-" and ".". */
const SCHEME = /^[a-z][a-z0-9+.-]*$/;
/** host[:port] of an app scheme: a bracketed IPv6 address or a name, then an optional port. */
const HOST_AND_PORT = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/;
/** Public suffixes of both sections of the Public Suffix List: `github.io` (private) is as shared as `co.uk` (ICANN). */
const PUBLIC_SUFFIX_OPTIONS = { allowPrivateDomains: true, extractHostname: false } as const;
/** Origins matched by a wildcard whose public suffix was looked up (CorsPolicy.publicSuffixLength); beyond it, forgotten at once. */
const MAX_REMEMBERED_SITES = 10_000;
/**
 * The longest DNS name and label (RFC 1035: 255 octets on the wire, 253 characters written; 63 per label). No page
 * is served from a longer host, and matching none keeps an attacker's Origin headers, up to 16 KiB each, out of the
 * remembered origins: 10,000 of them would hold about 160 MB.
 */
const MAX_HOST_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

export class AllowedOriginError extends Error {
  override name = "AllowedOriginError";
}

/**
 * An `allowedOrigins` entry as configured: the origin alone, or with `publicSuffixTenants: true`, which lets a
 * wildcard lie over a public suffix of the list's private section (`https://*.myshopify.com`) whose every subdomain is
 * then allowed, as a tenant's site, without credentials.
 */
export type AllowedOriginEntry = string | { readonly origin: string; readonly publicSuffixTenants?: boolean };

/**
 * One `allowedOrigins` entry, read: "*", the opaque origin "null", an exact origin, or every subdomain of a host
 * (`https://*.shop.example`).
 */
export type AllowedOrigin =
  | { kind: "any" }
  | { kind: "opaque" }
  | { kind: "exact"; origin: string }
  /**
   * Matches `${prefix}<labels>${suffix}`: prefix "https://", suffix ".shop.example" (with ":port" when not the
   * default); domain "shop.example", the host under the wildcard as written (a trailing dot kept). tenants: the
   * domain is a public suffix of the private section, opted in by publicSuffixTenants; its subdomains are its
   * tenants' sites, allowed without credentials.
   */
  | { kind: "subdomains"; prefix: string; suffix: string; domain: string; tenants: boolean };

/** Why an entry is refused and the fix; key: publicSuffixTenants when that key of an entry is at fault, not its origin. */
export interface OriginProblem {
  problem: string;
  hint: string;
  key?: "publicSuffixTenants";
}

type Reading = AllowedOrigin | OriginProblem;

const ORIGIN_HINT =
  'Write an origin as a browser sends it: scheme://host[:port], such as https://shop.example, https://*.shop.example for its subdomains, capacitor://localhost for an app\'s web view, or "*" for any.';

/**
 * Reads an `allowedOrigins` entry the way a browser serializes an origin (RFC 6454): scheme and host lower-cased,
 * an internationalized host in punycode, the default port (:443 for https, :80 for http) and trailing slashes left
 * out. Schemes other than http and https are those of hybrid apps' web views (`capacitor://localhost`,
 * `ionic://localhost`, Electron's `app://…`), which WebKit and Chromium send as scheme://host[:port]: they have no
 * default port, so a port is kept as written. "null" is the opaque origin (file: pages, Electron's among them,
 * sandboxed frames): CorsPolicy allows it without credentials. A wildcard is accepted only as a whole first label of
 * an http or https host over at least two labels that are no public suffix (`https://*.shop.example`, not
 * `https://*.com` nor `https://*.github.io`): it stands for one or more labels, so it never matches the host itself
 * nor another site. With publicSuffixTenants, it must instead lie over a public suffix of the private section
 * (`https://*.myshopify.com`), whose subdomains, its tenants' sites, CorsPolicy allows without credentials.
 */
export function readAllowedOrigin(configured: AllowedOriginEntry): Reading {
  const [entry, tenants] = typeof configured === "string" ? [configured, false] : [configured.origin, configured.publicSuffixTenants === true];
  const read = readOrigin(entry, tenants);
  if ("problem" in read || !tenants || read.kind === "subdomains") return read;
  return {
    problem: `"${entry}" has publicSuffixTenants, which only a wildcard over a public suffix may have (https://*.myshopify.com)`,
    hint: `Write the origin alone ("${entry}"), without publicSuffixTenants.`,
    key: "publicSuffixTenants",
  };
}

/** readAllowedOrigin of the origin text; `tenants`: publicSuffixTenants was set on it. */
function readOrigin(entry: string, tenants: boolean): Reading {
  const text = entry.trim();
  if (text === "*") return { kind: "any" };
  if (text === "null") return { kind: "opaque" };
  const schemeEnd = text.indexOf("://");
  if (schemeEnd === -1) return { problem: `"${entry}" is not an origin: it has no scheme`, hint: `Write https://${text.replace(/^\/+/, "")} (or http://).` };
  const scheme = text.slice(0, schemeEnd).toLowerCase();
  if (!SCHEME.test(scheme)) return { problem: `"${entry}" is not an origin: "${scheme}" is not a scheme`, hint: ORIGIN_HINT };
  if (scheme === "file") {
    return {
      problem: `"${entry}" is not an origin: a file: page sends the opaque origin "null"`,
      hint: 'List "null" to allow file: pages (any site\'s sandboxed frames send it too), or serve the app from a scheme of its own, such as app://localhost, and list that.',
    };
  }
  if (NO_PAGE_SCHEMES.has(scheme)) {
    return { problem: `"${entry}" has the scheme ${scheme}, which no page is served from`, hint: `A page's origin is http or https (or an app's scheme): write https://${text.slice(schemeEnd + 3)}.` };
  }
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
  if (!WEB_SCHEMES.has(scheme)) return readAppOrigin(entry, scheme, host, wildcard);
  let url: URL;
  try {
    url = new URL(`${scheme}://${host}`);
  } catch {
    return { problem: `"${entry}" is not an origin`, hint: ORIGIN_HINT };
  }
  if (url.hostname === "") return { problem: `"${entry}" names no host`, hint: ORIGIN_HINT };
  if (!wildcard) return { kind: "exact", origin: `${url.protocol}//${url.host}` };
  // Labels, not dots, are counted: "*.com." (a trailing dot, as in https://evil.com./) is a wildcard over one label.
  const labels = url.hostname.split(".").filter((label) => label !== "").length;
  if (url.hostname.startsWith("[") || isIP(url.hostname) !== 0 || labels < 2) {
    return { problem: `"${entry}" puts a wildcard over ${url.hostname}, which would match other sites or none`, hint: "A wildcard needs a domain of at least two labels under it, such as https://*.shop.example." };
  }
  const problem = publicSuffixProblem(entry, scheme, url, tenants);
  if (problem !== undefined) return problem;
  return { kind: "subdomains", prefix: `${url.protocol}//`, suffix: `.${url.host}`, domain: url.hostname, tenants };
}

/**
 * Why a wildcard over `url`'s host may not be listed as written. Without publicSuffixTenants, a public suffix of
 * either section is refused: its subdomains are other people's sites. With it, only a suffix of the private section
 * (a platform's own domain, whose owner submitted it: myshopify.com, github.io, vercel.app) is accepted: an ICANN one
 * (co.uk, com) is a registry's, and no one vouches for its registrants; a domain that is no public suffix has one
 * owner's subdomains, which the opt-in would only deny credentials.
 */
function publicSuffixProblem(entry: string, scheme: string, url: URL, tenants: boolean): OriginProblem | undefined {
  const domain = url.hostname.replace(/\.+$/, "");
  const port = url.port === "" ? "" : `:${url.port}`;
  const found = parseDomain(domain, PUBLIC_SUFFIX_OPTIONS);
  const isSuffix = found.publicSuffix === domain;
  if (!isSuffix) {
    if (!tenants) return undefined;
    return {
      problem: `"${entry}" has publicSuffixTenants, but ${domain} is no public suffix (Public Suffix List): its subdomains are one owner's sites`,
      hint: `Write the origin alone ("${entry}"), without publicSuffixTenants: its subdomains may then send credentials.`,
      key: "publicSuffixTenants",
    };
  }
  const ownDomain = `List your own domain under it, such as ${scheme}://*.shop.${domain}${port}, or each origin exactly (${scheme}://shop.${domain}${port}).`;
  const isPrivate = found.isPrivate === true;
  if (tenants && isPrivate) return suffixOfSuffixesProblem(entry, scheme, domain, port);
  if (tenants) {
    return {
      problem: `"${entry}" puts a wildcard over ${domain}, a public suffix of the Public Suffix List's ICANN section, which publicSuffixTenants cannot allow`,
      hint: `publicSuffixTenants is for a platform's own domain in the list's private section (myshopify.com, github.io); ${domain}'s subdomains are a registry's unrelated registrants. ${ownDomain}`,
    };
  }
  // The opt-in is offered only where it would match origins (a private suffix with no wildcard rule beneath it).
  const tenantsHint =
    isPrivate && suffixOfSuffixesProblem(entry, scheme, domain, port) === undefined
      ? ` If ${domain} is your platform and its tenants' pages are to post here, write ` +
        `{ origin: "${entry.trim()}", publicSuffixTenants: true }: they are then allowed without credentials.`
      : "";
  return {
    problem: `"${entry}" puts a wildcard over ${domain}, a public suffix (Public Suffix List): its subdomains are other people's sites`,
    hint: ownDomain + tenantsHint,
  };
}

/**
 * An app scheme's origin: the host read as http's is (lower case, punycode; Chromium's "standard" schemes, which
 * Electron's `app://` is registered as, do so), the port kept as written since the scheme has no default one.
 */
function readAppOrigin(entry: string, scheme: string, host: string, wildcard: boolean): Reading {
  if (wildcard) {
    return { problem: `"${entry}" has a wildcard, which only http and https origins may have`, hint: `List each of the app's origins exactly, such as ${scheme}://localhost.` };
  }
  const parts = HOST_AND_PORT.exec(host);
  if (parts === null) return { problem: `"${entry}" is not an origin`, hint: ORIGIN_HINT };
  const [, name, port] = parts;
  if (port !== undefined && port !== "" && Number(port) > 65_535) return { problem: `"${entry}" has the port ${port}, over 65535`, hint: ORIGIN_HINT };
  let hostname: string;
  try {
    hostname = new URL(`http://${name}`).hostname;
  } catch {
    return { problem: `"${entry}" is not an origin`, hint: ORIGIN_HINT };
  }
  if (hostname === "") return { problem: `"${entry}" names no host`, hint: ORIGIN_HINT };
  return { kind: "exact", origin: `${scheme}://${hostname}${port === undefined || port === "" ? "" : `:${Number(port)}`}` };
}

/**
 * Why a publicSuffixTenants wildcard over `domain` would match no origin: a wildcard rule of the list beneath it
 * (`*.r.appspot.com`, `*.compute.amazonaws.com`) makes each of its subdomains a public suffix of its own, whose
 * hosts are that suffix's tenants, never the wildcard's. A probe label no rule names (`--` in its third and fourth
 * characters is reserved) tells whether one does.
 */
function suffixOfSuffixesProblem(entry: string, scheme: string, domain: string, port: string): OriginProblem | undefined {
  const probe = getPublicSuffix(`zz--tenant.${domain}`, PUBLIC_SUFFIX_OPTIONS);
  if (probe === domain) return undefined;
  return {
    problem: `"${entry}" would match no origin: every subdomain of ${domain} is a public suffix of its own (Public Suffix List: *.${domain}), whose hosts are its tenants, not ${domain}'s`,
    hint: `List the suffix the tenants' sites are under, such as { origin: "${scheme}://*.<name>.${domain}${port}", publicSuffixTenants: true }.`,
  };
}

/**
 * An entry as it is matched (see readAllowedOrigin): the origin alone, or a mapping with publicSuffixTenants: true for
 * a wildcard so opted in. Throws AllowedOriginError for one that is no origin.
 */
export function normalizeAllowedOrigin(entry: string): string;
export function normalizeAllowedOrigin(entry: AllowedOriginEntry): AllowedOriginEntry;
export function normalizeAllowedOrigin(entry: AllowedOriginEntry): AllowedOriginEntry {
  const read = readAllowedOrigin(entry);
  if ("problem" in read) throw new AllowedOriginError(`allowedOrigins: ${read.problem}`);
  switch (read.kind) {
    case "any":
      return "*";
    case "opaque":
      return "null";
    case "exact":
      return read.origin;
    case "subdomains": {
      const origin = `${read.prefix}*${read.suffix}`;
      return read.tenants ? { origin, publicSuffixTenants: true } : origin;
    }
  }
}

/** Why `entry` cannot be an `allowedOrigins` entry, with a hint, or undefined. */
export function allowedOriginProblem(entry: AllowedOriginEntry): OriginProblem | undefined {
  const read = readAllowedOrigin(entry);
  return "problem" in read ? read : undefined;
}

/**
 * A wildcard entry as CorsPolicy matches it; siteLength: the length of its domain without trailing dots;
 * maxLabelsLength: the longest text the wildcard may stand for, for a host of at most MAX_HOST_LENGTH.
 */
type Wildcard = Extract<AllowedOrigin, { kind: "subdomains" }> & { siteLength: number; maxLabelsLength: number };

export class CorsPolicy {
  /**
   * The origins listed exactly, and the wildcards: only they may send credentials (cookies, Basic auth the browser
   * keeps), but for a wildcard's tenants (publicSuffixTenants), which are answered as "*" answers.
   */
  private readonly origins: ReadonlySet<string>;
  private readonly subdomains: readonly Wildcard[];
  private readonly anyOrigin: boolean;
  /** "null" listed: the opaque origin is allowed, without credentials, as "*" allows it. */
  private readonly opaqueOrigin: boolean;
  /** Whether any entry is configured: then other origins are refused, and every answer varies by Origin. */
  private readonly configured: boolean;
  /** Lower-case origin matched by a wildcard → the length of its host's public suffix, -1 for none (publicSuffixLength). */
  private readonly publicSuffixLengths = new Map<string, number>();

  /**
   * `allowedOrigins`: origins ("https://shop.example", "capacitor://localhost"), every subdomain of a host
   * ("https://*.shop.example"; { origin: "https://*.myshopify.com", publicSuffixTenants: true } for a platform's
   * tenants), "null" and/or "*" for any; read by readAllowedOrigin (throws AllowedOriginError for an entry that is no
   * origin).
   */
  constructor(allowedOrigins: readonly AllowedOriginEntry[]) {
    const read = allowedOrigins.map((entry) => {
      const reading = readAllowedOrigin(entry);
      if ("problem" in reading) throw new AllowedOriginError(`allowedOrigins: ${reading.problem}`);
      return reading;
    });
    // Nothing listed (the default) refuses no origin, so it answers every one as "*" does: without CORS headers a page
    // could post but never read the answer, and the browser tracker took each answer for a network failure and sent
    // its batch five times. Without credentials this tells a page nothing a script elsewhere could not learn.
    this.anyOrigin = read.length === 0 || read.some((entry) => entry.kind === "any");
    this.opaqueOrigin = read.some((entry) => entry.kind === "opaque");
    this.origins = new Set(read.flatMap((entry) => (entry.kind === "exact" ? [entry.origin] : [])));
    this.subdomains = read.flatMap((entry) => {
      if (entry.kind !== "subdomains") return [];
      const siteLength = entry.domain.replace(/\.+$/, "").length;
      return [{ ...entry, siteLength, maxLabelsLength: MAX_HOST_LENGTH - 1 - siteLength }];
    });
    this.configured = read.length > 0;
  }

  /**
   * How `origin` is listed: "owner" (exactly, or under a wildcard on a site of the wildcard's domain), "tenant" (under
   * a publicSuffixTenants wildcard only), or undefined. An origin both is "owner": listed so, it was meant to send
   * credentials. Browsers send origins lower-case; another client's is lower-cased. Allocates nothing for a lower-case
   * origin: this runs twice per request.
   */
  private listing(origin: string): "owner" | "tenant" | undefined {
    if (this.origins.has(origin)) return "owner";
    if (this.origins.size === 0 && this.subdomains.length === 0) return undefined;
    const lower = hasUpperCase(origin) ? origin.toLowerCase() : origin;
    if (lower !== origin && this.origins.has(lower)) return "owner";
    let listing: "tenant" | undefined;
    for (const entry of this.subdomains) {
      const { prefix, suffix } = entry;
      const labelsLength = lower.length - prefix.length - suffix.length;
      if (labelsLength > 0 && labelsLength <= entry.maxLabelsLength && lower.startsWith(prefix) && lower.endsWith(suffix)) {
        if (!areSubdomainLabels(lower, prefix.length, lower.length - suffix.length)) continue;
        const suffixLength = this.publicSuffixLength(lower, entry);
        // An owner's site: no public suffix lies between the host and the domain. Validation refuses a wildcard over
        // a public suffix, but one may lie beneath its domain (s3.amazonaws.com under `https://*.amazonaws.com`), and
        // a host at or under it (mybucket.s3.amazonaws.com) is another owner's site.
        if (!entry.tenants && suffixLength < entry.siteLength) return "owner";
        // A tenant's site: the host's public suffix is the domain itself (b.myshopify.com, a.b.myshopify.com), not one
        // beneath it, whose tenants are another platform's.
        if (entry.tenants && suffixLength === entry.siteLength) listing = "tenant";
      }
    }
    return listing;
  }

  /**
   * The length of the public suffix of the host of `origin`, which the wildcard `entry` matched; -1 when it has none.
   * Looked up once per origin (the list has no listing of the suffixes under a domain to check at validation), then
   * remembered, so a request allocates nothing. Keyed by origin alone: every wildcard that matches an origin reads
   * the same host from it, since its scheme and port are part of what matched.
   */
  private publicSuffixLength(origin: string, entry: Wildcard): number {
    const remembered = this.publicSuffixLengths.get(origin);
    if (remembered !== undefined) return remembered;
    const portLength = entry.suffix.length - 1 - entry.domain.length;
    const host = origin.slice(entry.prefix.length, origin.length - portLength).replace(/\.+$/, "");
    const length = getPublicSuffix(host, PUBLIC_SUFFIX_OPTIONS)?.length ?? -1;
    if (this.publicSuffixLengths.size >= MAX_REMEMBERED_SITES) this.publicSuffixLengths.clear();
    this.publicSuffixLengths.set(origin, length);
    return length;
  }

  /**
   * How `origin` is allowed: "listed" (echoed, with credentials), "any" (answered "*"), or undefined when it is not.
   * The opaque origin "null" is never "listed": any site can send it from a sandboxed frame, so echoing it with
   * credentials would hand the visitor's cookies to every site; listed, it is answered as "*" answers any origin. A
   * tenant of a publicSuffixTenants wildcard is answered so too: each tenant is another site, anyone's who signs up,
   * and echoed with credentials any of them could send requests with the visitor's cookies or Basic auth for the
   * collector and read the answers.
   */
  private standing(origin: string | undefined): "listed" | "any" | undefined {
    if (origin === undefined) return undefined;
    if (origin === "null") return this.opaqueOrigin || this.anyOrigin ? "any" : undefined;
    const listing = this.listing(origin);
    if (listing === "owner") return "listed";
    return listing === "tenant" || this.anyOrigin ? "any" : undefined;
  }

  /**
   * Whether a request may post at all. With origins listed, a browser request from another origin is refused: CORS
   * alone would only hide the answer, while sendBeacon and simple requests store their events without a preflight.
   * Requests without an Origin header (servers, `<img>` pixels) and an empty list (the default, answered as "*") are
   * not limited.
   */
  permits(origin: string | undefined): boolean {
    return origin === undefined || !this.configured || this.standing(origin) !== undefined;
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
    if (this.configured) headers.vary = "Origin";
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
 * Whether text[start, end) is what a wildcard stands for: one or more DNS labels (a–z, digits, `-`, `_`; at most
 * MAX_LABEL_LENGTH each) joined by single dots, as a browser serializes a host. Read in place: a slice would be a
 * new string per request.
 */
function areSubdomainLabels(text: string, start: number, end: number): boolean {
  let labelLength = 0;
  for (let index = start; index < end; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x2e) {
      if (labelLength === 0) return false;
      labelLength = 0;
    } else if ((code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x5f) {
      if (++labelLength > MAX_LABEL_LENGTH) return false;
    } else return false;
  }
  return labelLength > 0;
}
