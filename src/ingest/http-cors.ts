// CORS for the collector: which origins may post from a browser, and the headers an allowed one gets.
import type { OutgoingHttpHeaders } from "node:http";

const ALLOWED_METHODS = "POST, GET, OPTIONS";
const ALLOWED_HEADERS = "Content-Type, Content-Encoding, Authorization, X-Write-Key";
const PREFLIGHT_MAX_AGE_SECONDS = "86400";

export class CorsPolicy {
  /** The origins listed exactly: only they may send credentials (cookies, Basic auth the browser keeps). */
  private readonly origins: ReadonlySet<string>;
  private readonly anyOrigin: boolean;

  /** `allowedOrigins`: exact origins ("https://shop.example"), and/or "*" for any. */
  constructor(allowedOrigins: readonly string[]) {
    this.anyOrigin = allowedOrigins.includes("*");
    this.origins = new Set(allowedOrigins.filter((origin) => origin !== "*").map((origin) => origin.replace(/\/+$/, "")));
  }

  private allows(origin: string | undefined): origin is string {
    return origin !== undefined && (this.anyOrigin || this.origins.has(origin));
  }

  /**
   * Whether a request may post at all. With origins listed, a browser request from another origin is refused: CORS
   * alone would only hide the answer, while sendBeacon and simple requests store their events without a preflight.
   * Requests without an Origin header (servers, `<img>` pixels) and an empty list (the default) are not limited.
   */
  permits(origin: string | undefined): boolean {
    return origin === undefined || (!this.anyOrigin && this.origins.size === 0) || this.allows(origin);
  }

  /**
   * Adds the headers of an actual request (POST, GET) to `headers` when `origin` is allowed. A listed origin is
   * echoed with Allow-Credentials, so its pages may send credentials; any other origin "*" allows gets "*", which
   * browsers never combine with credentials (Fetch, CORS check): echoing every origin with credentials would let any
   * page send requests with the visitor's cookies or cached Basic auth and read the answers. Vary keeps caches per
   * origin.
   */
  addResponseHeaders(headers: OutgoingHttpHeaders, origin: string | undefined): void {
    if (!this.allows(origin)) return;
    if (this.origins.has(origin)) {
      headers["access-control-allow-origin"] = origin;
      headers["access-control-allow-credentials"] = "true";
    } else headers["access-control-allow-origin"] = "*";
    headers.vary = "Origin";
  }

  /** The headers of a preflight (OPTIONS) answer; none for an origin that is not allowed, so the browser refuses. */
  preflightHeaders(origin: string | undefined): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = { vary: "Origin" };
    if (!this.allows(origin)) return headers;
    this.addResponseHeaders(headers, origin);
    headers["access-control-allow-methods"] = ALLOWED_METHODS;
    headers["access-control-allow-headers"] = ALLOWED_HEADERS;
    headers["access-control-max-age"] = PREFLIGHT_MAX_AGE_SECONDS;
    return headers;
  }
}
