// The client address of a collector request: the socket peer, or X-Forwarded-For when the peer is a trusted proxy.
import { BlockList, isIP } from "node:net";

export class TrustedProxyError extends Error {
  override name = "TrustedProxyError";
}

/** `::ffff:1.2.3.4` (how a dual-stack socket reports an IPv4 peer) → `1.2.3.4`; other addresses unchanged. */
export function normalizeAddress(address: string): string {
  return address.length > 7 && address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
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
