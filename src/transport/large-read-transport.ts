// NATS over TCP with socket reads into large buffers: fewer reads, and far fewer messages copied across two reads.
//
// nats.js's Node transport takes whatever a socket 'data' event gives, and Node reads a socket 64 KiB at a time. A
// worker's messages (100 events, ≈ 40 KB) then mostly span two reads, and the client's parser copies each such message
// into a growing buffer of its own: ≈ 0.5 GB of ArrayBuffers per million events, which V8 counts as external memory and
// answers with full garbage collections of the whole heap (bench/OPTIMIZATIONS.md, sessions 12 and 13). Node's `onread`
// option reads into buffers we hand it instead, as much as the kernel holds (≈ 0.9 MB per read in a drain), so a
// message spans two reads about once per read. A read that fills a large part of its buffer hands the buffer over to
// the parser (its messages are views into it); a small one (the common case at low rates) is copied out and the buffer
// reused, so a quiet connection holds no more than the default transport does.
//
// Everything else is nats.js's NodeTransport: the connection handshake, TLS, writes, close. TLS replaces the socket
// with a TLSSocket layered on this one, which reads for itself and emits 'data' events as before; the large reads
// then simply stop. Only the plain TCP socket of `dial` reads this way (not `tls.handshakeFirst`).
import { Socket, createConnection } from "node:net";
import { DataBuffer, INFO, NatsConnectionImpl, deferred, extractProtocolMessage, setTransportFactory } from "@nats-io/nats-core/internal";
import type { ConnectionOptions, NatsConnection, ServerInfo } from "@nats-io/nats-core";
import { NodeTransport, nodeResolveHost } from "@nats-io/transport-node/lib/node_transport.js";

/** Bytes one socket read may fill. */
export const READ_BUFFER_BYTES = 1024 * 1024;
/** A read of at least this many bytes hands its buffer to the parser; smaller reads are copied out of it. */
const HAND_OVER_BYTES = READ_BUFFER_BYTES / 4;

export class LargeReadTransport extends NodeTransport {
  /** Called after each read is queued: the INFO check while connecting, then waking the protocol's reader. */
  #onFrame: () => void = () => {};
  /** The read buffer Node fills next; null once handed over (a fresh one is made for the next read). */
  #buffer: Buffer | null = null;

  override dial(hp: { hostname: string; port: number }): Promise<Socket> {
    const dialed = deferred<Socket>();
    let dialError: Error | undefined;
    const socket = createConnection(
      {
        port: hp.port,
        host: hp.hostname,
        onread: { buffer: () => this.#readBuffer(), callback: (bytes, buffer) => this.#onRead(bytes, buffer) },
      },
      () => {
        dialed.resolve(socket);
        socket.removeAllListeners();
      },
    );
    socket.on("error", (error) => {
      dialError = error;
    });
    socket.on("close", () => {
      socket.removeAllListeners();
      dialed.reject(dialError);
    });
    socket.setNoDelay(true);
    return dialed;
  }

  /** NodeTransport's peekInfo over our reads: the first protocol line must be the server's INFO. */
  override peekInfo(): Promise<ServerInfo> {
    const info = deferred<ServerInfo>();
    let peekError: Error | undefined;
    this.#onFrame = () => {
      const line = extractProtocolMessage(DataBuffer.concat(...this.yields));
      if (line === "") return;
      try {
        const match = INFO.exec(line);
        if (match === null) throw new Error("unexpected response from server");
        info.resolve(JSON.parse(match[1]) as ServerInfo);
      } catch (error) {
        info.reject(error as Error);
      } finally {
        this.socket.removeAllListeners();
        this.#onFrame = () => {};
      }
    };
    this.socket.on("error", (error) => {
      peekError = error;
    });
    this.socket.on("close", () => {
      this.socket.removeAllListeners();
      info.reject(peekError);
    });
    if (this.yields.length > 0) this.#onFrame();
    return info;
  }

  override setupHandlers(): void {
    super.setupHandlers();
    this.#onFrame = () => this.signal.resolve();
  }

  #readBuffer(): Buffer {
    this.#buffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
    return this.#buffer;
  }

  /** Always true: reading never pauses here (the pull's byte limit bounds what the server sends). */
  #onRead(bytes: number, buffer: Uint8Array): boolean {
    let frame: Uint8Array;
    if (bytes >= HAND_OVER_BYTES) {
      frame = buffer.subarray(0, bytes);
      this.#buffer = null;
    } else {
      frame = Uint8Array.prototype.slice.call(buffer, 0, bytes); // a plain copy: Buffer's own slice is a view
    }
    this.yields.push(frame);
    this.#onFrame();
    return true;
  }
}

/**
 * nats.js's `connect` (transport-node) with LargeReadTransport. The transport factory is process-wide in nats.js: it
 * is set again on every connect, and reconnects use whichever was set last.
 */
export function connectWithLargeReads(options: ConnectionOptions): Promise<NatsConnection> {
  setTransportFactory({ factory: () => new LargeReadTransport(), dnsResolveFn: nodeResolveHost });
  return NatsConnectionImpl.connect(options);
}
