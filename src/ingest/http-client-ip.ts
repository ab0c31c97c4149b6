// The client address of a collector request: the socket peer, or X-Forwarded-For when the peer is a trusted proxy.
import { BlockList, isIP } from "node:net";

export class TrustedProxyError extends Error {
  override name = "TrustedProxyError";
}

/** `::ffff:1.2.3.4` (how a dual-stack socket reports an IPv4 peer) → `1.2.3.4`; other addresses unchanged. */
export function normalizeAddress(address: string): string {
  return address.length > 7 && address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * What a per-client budget is kept for: an IPv4 address, or an IPv6 address's /64 as its first four groups
 * ("2001:db8:0:2"). A host or a LAN gets a whole /64 and its privacy addresses change within it, so a budget per IPv6
 * address was renewed by taking another. Anything that is not an address stays as it is.
 */
export function clientBlock(address: string): string {
  if (!address.includes(":")) return address;
  const normalized = normalizeAddress(address);
  if (normalized !== address) return normalized;
  return canonicalPrefix(address) ?? expandedPrefix(address) ?? address;
}

/**
 * The first four groups of an address written as RFC 5952 has it (as a socket reports it: lowercase, no leading
 * zeros, none of them in the `::`), without splitting: every request of an IPv6 client asks. Else undefined.
 */
function canonicalPrefix(address: string): string | undefined {
  let colons = 0;
  let groupStart = 0;
  for (let at = 0; at < address.length; at++) {
    const code = address.charCodeAt(at);
    if (code === 0x3a /* : */) {
      if (at === groupStart) return undefined; // "::" or a leading ":"
      if (++colons === 4) return address.slice(0, at);
      groupStart = at + 1;
    } else if (!((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66))) return undefined;
    else if (code === 0x30 && at === groupStart && address.charCodeAt(at + 1) !== 0x3a) return undefined; // a leading zero
  }
  return undefined;
}

/** The first four groups of any IPv6 address (`::`, capitals, leading zeros, a dotted ending, a zone), as canonicalPrefix writes them. */
function expandedPrefix(address: string): string | undefined {
  const zone = address.indexOf("%");
  const text = zone === -1 ? address : address.slice(0, zone);
  if (isIP(text) !== 6) return undefined;
  const double = text.indexOf("::");
  const head = double === -1 ? text.split(":") : text.slice(0, double).split(":").filter((group) => group !== "");
  const tail = double === -1 ? [] : text.slice(double + 2).split(":").filter((group) => group !== "");
  // A dotted IPv4 ending is the last two groups.
  const written = head.length + tail.length + (text.includes(".") ? 1 : 0);
  const groups = [...head, ...new Array<string>(8 - written).fill("0"), ...tail];
  return groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(":");
}

export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly empty: boolean;

  /** `entries`: addresses or CIDRs ("10.0.0.0/8", "fd00::/8", "127.0.0.1"); throws TrustedProxyError for a bad one. */
  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0;
    for (const entry of entries) addEntry(this.list, entry);
  }

  isTrusted(address: string): boolean {
    if (this.empty) return false;
    const normalized = normalizeAddress(address);
    const family = isIP(normalized);
    if (family === 0) return false;
    return this.list.check(normalized, family === 4 ? "ipv4" : "ipv6");
  }

  /**
   * The peer, unless it is trusted: then X-Forwarded-For read from the right, skipping trusted hops, and the first
   * untrusted address is the client (the left-most entries are whatever the client claimed, so they are not believed
   * past an untrusted hop). A malformed entry ends the walk at the last good address.
   */
  clientAddress(peer: string, forwardedFor: string | string[] | undefined): string {
    const client = normalizeAddress(peer);
    if (forwardedFor === undefined || !this.isTrusted(client)) return client;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",");
    let current = client;
    for (let index = hops.length - 1; index >= 0; index--) {
      const hop = normalizeAddress(stripPort(hops[index].trim()));
      if (isIP(hop) === 0) return current;
      current = hop;
      if (!this.isTrusted(hop)) return hop;
    }
    return current;
  }
}

function addEntry(list: BlockList, entry: string): void {
  const slash = entry.indexOf("/");
  const address = normalizeAddress(slash === -1 ? entry.trim() : entry.slice(0, slash).trim());
  const family = isIP(address);
  if (family === 0) throw new TrustedProxyError(`trustedProxies: "${entry}" is not an IP address or CIDR (e.g. 10.0.0.0/8)`);
  const type = family === 4 ? "ipv4" : "ipv6";
  if (slash === -1) return list.addAddress(address, type);
  const prefix = Number(entry.slice(slash + 1));
  const maxPrefix = family === 4 ? 32 : 128;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > maxPrefix) {
    throw new TrustedProxyError(`trustedProxies: "${entry}" has a prefix length outside 0..${maxPrefix}`);
  }
  list.addSubnet(address, prefix, type);
}

/** "1.2.3.4:5678" and "[2001:db8::1]:443" as some proxies write them → the address alone. */
function stripPort(hop: string): string {
  if (hop.startsWith("[")) {
    const end = hop.indexOf("]");
    return end === -1 ? hop : hop.slice(1, end);
  }
  const colon = hop.indexOf(":");
  return colon !== -1 && hop.indexOf(":", colon + 1) === -1 ? hop.slice(0, colon) : hop;
}
