// Open connections per client for the collector, so that one client's idle keep-alive connections cannot fill maxConnections.

/** Counts open connections per client block (an IPv4 address, an IPv6 /64: clientBlock) against one limit. */
export class ConnectionsPerClient {
  private readonly open = new Map<string, number>();

  constructor(private readonly limit: number) {}

  /** Takes a slot for a new connection of `block`: false (and nothing taken) when it holds `limit` already. */
  take(block: string): boolean {
    const count = this.open.get(block) ?? 0;
    if (count >= this.limit) return false;
    this.open.set(block, count + 1);
    return true;
  }

  /** Gives back the slot of a closed connection; a block with none open is forgotten (the map holds open ones only). */
  release(block: string): void {
    const count = this.open.get(block);
    if (count === undefined) return;
    if (count <= 1) this.open.delete(block);
    else this.open.set(block, count - 1);
  }

  /** Connections `block` holds open. */
  held(block: string): number {
    return this.open.get(block) ?? 0;
  }
}
