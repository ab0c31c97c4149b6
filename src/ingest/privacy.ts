// Privacy at the edge: IP anonymization, HMAC pseudonymization of ids, removal of configured PII fields, secrets and
// email addresses in URLs (query, fragment, nested parameters, path) and page items redacted.
import { createHmac } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import type { ClickEvent } from "../events/event.ts";
import type { IngestConfig } from "../config/ingest.ts";
import { compileQueryRedaction, redactPathAddresses, redactUrl, type QueryRedaction } from "./query-redaction.ts";

export const PSEUDONYM_KEY_ENV = "CLICKPIPE_PSEUDONYM_KEY";

export class PseudonymKeyMissingError extends Error {
  override name = "PseudonymKeyMissingError";
}

/**
 * IPv4: last octet zeroed (1.2.3.4 → 1.2.3.0). IPv6: the last `ipv6Bits` bits zeroed, printed in RFC 5952 form.
 * IPv4-mapped IPv6 (::ffff:1.2.3.4) is treated as IPv4 (→ ::ffff:1.2.3.0). Anything that is not an address
 * (the host names of old NCSA logs) identifies a client as well as an address does, so it yields undefined.
 */
export function anonymizeIp(ip: string, ipv6Bits = 80): string | undefined {
  if (isIPv4(ip)) return ip.slice(0, ip.lastIndexOf(".")) + ".0";
  const address = ip.includes("%") ? ip.slice(0, ip.indexOf("%")) : ip;
  if (!isIPv6(address)) return undefined;
  const groups = parseIpv6(address);
  if (isIpv4Mapped(groups)) return `::ffff:${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.0`;
  for (let bit = 128 - ipv6Bits; bit < 128; bit++) {
    const group = bit >> 4;
    groups[group] &= ~(0x8000 >> (bit & 15)) & 0xffff;
  }
  return formatIpv6(groups);
}

/** Eight 16-bit groups of a valid IPv6 text (node:net has checked it), embedded IPv4 tails included. */
function parseIpv6(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = text.match(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const headGroups = head === "" ? [] : head.split(":").map((group) => Number.parseInt(group, 16));
  if (tail === undefined) return headGroups;
  const tailGroups = tail === "" ? [] : tail.split(":").map((group) => Number.parseInt(group, 16));
  const zeros = new Array<number>(8 - headGroups.length - tailGroups.length).fill(0);
  return [...headGroups, ...zeros, ...tailGroups];
}

function isIpv4Mapped(groups: number[]): boolean {
  return groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff;
}

/** RFC 5952: lowercase, no leading zeros, the longest run (≥ 2) of zero groups as "::", the first on a tie. */
export function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; ) {
    if (groups[start] !== 0) {
      start++;
      continue;
    }
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** The pseudonym of an id: HMAC-SHA256 under the key, lowercase hex (the same for `clickpipe forget`). */
export function pseudonymize(value: string, key: string): string {
  return createHmac("sha256", key).update(value).digest("hex");
}

/** A copy of `value` without the named fields at any depth; objects without such fields are returned as they are. */
export function withoutFields<T>(value: T, fields: ReadonlySet<string>): T {
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let index = 0; index < value.length; index++) {
      const cleaned = withoutFields(value[index], fields);
      if (cleaned !== value[index]) {
        copy ??= value.slice();
        copy[index] = cleaned;
      }
    }
    return (copy ?? value) as T;
  }
  if (value === null || typeof value !== "object") return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, field] of Object.entries(value)) {
    if (fields.has(key)) {
      copy ??= { ...(value as Record<string, unknown>) };
      delete copy[key];
      continue;
    }
    const cleaned = typeof field === "object" && field !== null ? withoutFields(field, fields) : field;
    if (cleaned !== field) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = cleaned;
    }
  }
  return (copy ?? value) as T;
}

export type PrivacyConfig = IngestConfig["privacy"];

/** The configured privacy steps, applied to an event the edge owns (it is changed in place). */
export class PrivacyFilter {
  private readonly dropFields: ReadonlySet<string>;
  private readonly queryRedaction: QueryRedaction;

  constructor(
    private readonly config: PrivacyConfig,
    private readonly pseudonymKey: string | undefined,
  ) {
    this.dropFields = new Set(config.dropFields);
    this.queryRedaction = compileQueryRedaction(config.redactQueryParams, config.redactEmails);
    if (config.pseudonymize.length > 0 && (pseudonymKey === undefined || pseudonymKey === "")) {
      throw new PseudonymKeyMissingError(
        `ingest.privacy.pseudonymize is [${config.pseudonymize.join(", ")}] but ${PSEUDONYM_KEY_ENV} is not set: ` +
          `export a secret key (e.g. ${PSEUDONYM_KEY_ENV}=$(openssl rand -hex 32)) and keep it: the same key gives the same pseudonyms`,
      );
    }
  }

  apply(event: ClickEvent): ClickEvent {
    if (this.config.anonymizeIp && typeof event.ip === "string") {
      const anonymized = anonymizeIp(event.ip, this.config.ipv6Bits);
      if (anonymized === undefined) delete event.ip;
      else event.ip = anonymized;
    }
    // The event schema's URL fields, the browser tracker's click target (a link's URL holds tokens as a page's does),
    // and page_item, taken from the url's path before: it holds the path's addresses.
    if (typeof event.url === "string") event.url = redactUrl(event.url, this.queryRedaction);
    if (typeof event.referrer === "string") event.referrer = redactUrl(event.referrer, this.queryRedaction);
    if (typeof event.target_url === "string") event.target_url = redactUrl(event.target_url, this.queryRedaction);
    if (this.config.redactEmails && typeof event.page_item === "string") event.page_item = redactPathAddresses(event.page_item);
    if (this.pseudonymKey !== undefined) {
      for (const field of this.config.pseudonymize) {
        const value = event[field];
        if (typeof value === "string") event[field] = pseudonymize(value, this.pseudonymKey);
      }
    }
    return this.dropFields.size > 0 ? withoutFields(event, this.dropFields) : event;
  }
}
