// The HTTP collector source (`sources: - type: http`): POST /v1/events and GET /v1/pixel.gif into the stream, acked;
// GET /v1/clickpipe.js serves the browser tracker that posts to it.
import { isUtf8 } from "node:buffer";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { Counter, Histogram } from "prom-client";
import type { z } from "zod";
import type { httpSource } from "../config/pipeline.ts";
import { MAX_NESTING_DEPTH, validateRecord } from "../events/decode.ts";
import { INVALID_REASONS, type InvalidReason, type SourceClaimSeries } from "../metrics/registry.ts";
import { listen, type ListenerPlace } from "../runtime/listen.ts";
import { deadLetterRaw, encodeDeadLetter } from "../transport/dead-letter.ts";
import { partitionOf } from "../transport/partition.ts";
import { ensureStream, streamOptions } from "../transport/stream.ts";
import { EdgeProcessor, type RequestInfo } from "./edge.ts";
import { PSEUDONYM_KEY_ENV } from "./privacy.ts";
import { deadLetterReasonRedactor, rawRecordRedactor, redactWriteKeys } from "./raw-redaction.ts";
import { WRITE_KEY_FIELD, WriteKeys, writeKeyFromHeaders, writeKeyOfRecord } from "./http-auth.ts";
import { decodeContent, discardRest, parseBody, readBody, RequestAbortedError, type BodyRecord, type ParsedBody } from "./http-body.ts";
import { clientBlock, normalizeAddress, TrustedProxies } from "./http-client-ip.ts";
import { ConnectionsPerClient } from "./http-connection-limit.ts";
import { CorsPolicy } from "./http-cors.ts";
import { GroupCommitter, type CommitGroup } from "./http-group-commit.ts";
import { queryIsUtf8, recordFromQuery, TRANSPARENT_GIF } from "./http-pixel.ts";
import { RateLimiter } from "./http-rate-limit.ts";
import { acceptsGzip, loadTrackerScript, noneMatchHits, type TrackerScript } from "./http-tracker-script.ts";
import { PortClaim } from "./port-claim.ts";
import type { Source, SourceDependencies } from "./source.ts";

const NOT_UTF8: ParsedBody = { ok: false, problem: "the body is not valid UTF-8 (JSON text is UTF-8, RFC 8259)" };

export type HttpSourceConfig = z.output<typeof httpSource>;

/** Tuning that is not part of the pipeline file; the defaults are what `clickpipe run` uses. */
export interface HttpCollectorOptions {
  /** Group-commit window: how long a request's records wait for other requests' before publishing. Default 2 ms. */
  commitWindowMs?: number;
  /** Records that publish a group at once. Default 2,000. */
  maxGroupRecords?: number;
  /** How long to wait for a JetStream ack before answering 503. Default 5 s. */
  ackTimeoutMs?: number;
  /** Records buffered or awaiting acks beyond which new requests get 503 (load shedding). Default 200,000. */
  maxPendingRecords?: number;
  /**
   * Characters of those records (serialized: roughly bytes) beyond which new requests get 503 as well, so that memory
   * stays bounded whatever the records' size while acks are slow. Default 64 Mi.
   */
  maxPendingBytes?: number;
  /**
   * How long a request may take to arrive (headers and body), and how long a connection may stay silent, before it
   * is closed: slow or idle clients cannot hold connections (file descriptors) for ever. Default 30 s.
   */
  requestTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface HttpCollector extends Source {
  /** Where it listens, once started (port 0 in the config picks a free one). */
  address(): { host: string; port: number };
}

type Route = "events" | "pixel" | "tracker" | "healthz" | "readyz" | "preflight" | "unknown";

/** What the records of one group count; added to the metrics only once JetStream acked the group. */
interface GroupTally {
  received: number;
  filtered: number;
  /** Indexed like INVALID_REASONS. */
  invalid: number[];
}

/** One request's records after validation and edge processing. */
interface IngestOutcome {
  accepted: number;
  rejected: number;
  errors: { index: number; reason: string }[];
  group: CommitGroup<GroupTally> | undefined;
}

/** Why a request is refused before its records are looked at: 401, or 429 with its Retry-After in seconds. */
type Refusal = { status: 401 } | { status: 429; retryAfter: number };

const UNAUTHORIZED: Refusal = { status: 401 };

interface RequestContext {
  receivedAt: number;
  ip: string;
  userAgent: string | undefined;
  request: RequestInfo;
}

const JSON_TYPE = "application/json; charset=utf-8";
/**
 * The tracker changes only with a new release: an hour's caching saves the fetch on most page views, and its ETag
 * makes the check after that a 304.
 */
const TRACKER_CACHE_CONTROL = "public, max-age=3600";
const READINESS_CACHE_MS = 1_000;
const MAX_MESSAGE_BYTES = 512 * 1024;
/** How much of a refused body is read and dropped so the client gets to read its 413 (see discardRest). */
const MAX_DISCARDED_BYTES = 1024 * 1024;
/**
 * The largest body (by Content-Length) that Node is left to read and drop after an answer given before it was read,
 * keeping the connection; a larger one, or one of unknown length, closes it (see closeUnlessSmallBody). 64 KiB is
 * what browsers let sendBeacon queue.
 */
const MAX_DROPPED_UNREAD_BYTES = 64 * 1024;
/** How often a collector standing by for its port tries to take it over. */
const PORT_RETRY_MS = 1_000;
const REASON_INDEX: ReadonlyMap<string, number> = new Map(INVALID_REASONS.map((reason, index) => [reason, index]));

export function createHttpCollector(
  config: HttpSourceConfig,
  deps: SourceDependencies,
  options: HttpCollectorOptions = {},
): HttpCollector {
  return new HttpCollectorSource(config, deps, options);
}

class HttpCollectorSource implements HttpCollector {
  private readonly server: Server;
  private readonly keys: WriteKeys;
  private readonly proxies: TrustedProxies;
  private readonly cors: CorsPolicy;
  private readonly limiter: RateLimiter;
  /** Per client IP (IPv6: per /64, clientBlock): requests with a missing or unknown write key (key guesses among them). */
  private readonly badKeyLimiter: RateLimiter;
  /** How many different write keys are configured (a key listed twice counts once). */
  private readonly distinctWriteKeys: number;
  private readonly edge: EdgeProcessor;
  private readonly redactRaw: (raw: string) => string;
  private readonly redactReason: (reason: string) => string;
  private readonly committer: GroupCommitter<GroupTally>;
  private readonly partitions: number;
  private readonly stream: string;
  private readonly maxPendingRecords: number;
  private readonly maxPendingBytes: number;
  private readonly durationByRouteAndCode = new Map<string, ReturnType<Histogram<"route" | "code">["labels"]>>();
  private readonly receivedHttp: ReturnType<Counter<"source">["labels"]>;
  private readonly countBodyBytes: (bytes: number) => void;
  private jsm: JetStreamManager | undefined;
  private natsConnected = true;
  private statusWatch: Partial<{ stop(): void }> | undefined;
  private readiness: { checkedAt: number; ready: boolean } = { checkedAt: -Infinity, ready: false };
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private place: ListenerPlace = { name: "sources[…] (http)", key: "sources[…]" };
  /** The claim on a configured port (none for port 0, which never collides). */
  private claim: PortClaim | undefined;
  /** clickpipe_source_claims of this collector: its port's claim, or (port 0, no claim) active once listening. */
  private series: SourceClaimSeries | undefined;
  /** While standing by: the next try to take the port over, and the try under way. */
  private retry: NodeJS.Timeout | undefined;
  private attempt: Promise<void> | undefined;
  /** The listener's close after the claim was lost: the port is listened on again only once it is done. */
  private closing: Promise<void> | undefined;
  /** The last error a try to listen after taking the claim over logged (logged once until it changes). */
  private listenProblem: string | undefined;
  /** GET /v1/clickpipe.js, read at start. */
  private tracker: TrackerScript | undefined;

  constructor(
    private readonly config: HttpSourceConfig,
    private readonly deps: SourceDependencies,
    options: HttpCollectorOptions,
  ) {
    const { pipeline } = deps;
    this.keys = new WriteKeys(config.writeKeys);
    this.distinctWriteKeys = new Set(config.writeKeys).size;
    this.proxies = new TrustedProxies(config.trustedProxies);
    this.cors = new CorsPolicy(config.allowedOrigins);
    this.limiter = new RateLimiter(config.rateLimit);
    this.badKeyLimiter = new RateLimiter({ requestsPerSecond: config.rateLimit.badKeysPerSecond, burst: config.rateLimit.badKeyBurst });
    this.edge = EdgeProcessor.fromConfig(pipeline.ingest, { pipelineName: pipeline.name, env: options.env ?? process.env });
    // Dead letters keep the raw record, so the privacy rules apply to it too, as publish and the tailer apply them.
    const pseudonymKey = (options.env ?? process.env)[PSEUDONYM_KEY_ENV] || undefined;
    this.redactRaw = rawRecordRedactor(pipeline.ingest.privacy, pseudonymKey);
    this.redactReason = deadLetterReasonRedactor(pipeline.ingest.privacy, pseudonymKey);
    this.partitions = pipeline.nats.partitions;
    this.stream = pipeline.nats.stream;
    this.maxPendingRecords = options.maxPendingRecords ?? 200_000;
    this.maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.receivedHttp = deps.metrics.eventsReceived.labels({ source: "http" });
    const bodyBytes = deps.metrics.httpRequestBodyBytes;
    this.countBodyBytes = (bytes) => bodyBytes.inc(bytes);
    this.committer = new GroupCommitter<GroupTally>(jetstream(deps.connection), {
      stream: this.stream,
      partitions: this.partitions,
      instanceId: `http-${randomBytes(8).toString("hex")}`,
      windowMs: options.commitWindowMs ?? 2,
      maxGroupRecords: options.maxGroupRecords ?? 2_000,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      ackTimeoutMs: options.ackTimeoutMs ?? 5_000,
      newTally: () => ({ received: 0, filtered: 0, invalid: new Array<number>(INVALID_REASONS.length).fill(0) }),
      onCommitted: (tally) => this.countCommitted(tally),
    });
    const requestTimeout = options.requestTimeoutMs ?? 30_000;
    // requestTimeout (and headersTimeout, which follows it) only applies once a request's first byte arrived, and is
    // checked every connectionsCheckingInterval: a connection that never sends a byte stays open without the socket
    // timeout, which closes a connection silent that long (a request awaiting its ack waits ackTimeoutMs, 5 s).
    this.server = createServer({ requestTimeout, connectionsCheckingInterval: Math.min(30_000, requestTimeout) }, (request, response) =>
      this.handle(request, response),
    );
    this.server.setTimeout(requestTimeout);
    // Each connection holds a file descriptor and memory: past the bound Node closes new ones unread ('drop').
    this.server.maxConnections = config.maxConnections;
    const refused = deps.metrics.httpConnectionsRefused;
    const refusedOverAll = refused.labels({ reason: "max_connections" });
    const refusedPerClient = refused.labels({ reason: "per_client" });
    this.server.on("drop", () => refusedOverAll.inc());
    if (config.maxConnectionsPerClient > 0) {
      const perClient = new ConnectionsPerClient(config.maxConnectionsPerClient);
      this.server.on("connection", (socket: Socket) => {
        if (!this.admitConnection(socket, perClient)) refusedPerClient.inc();
      });
    }
  }

  /**
   * Whether a new connection stays open under maxConnectionsPerClient; one past it is closed before its request is
   * read, as maxConnections closes one. The client is the socket peer (X-Forwarded-For is not read yet): a trusted
   * proxy's connections carry many clients, so they are not counted.
   */
  private admitConnection(socket: Socket, perClient: ConnectionsPerClient): boolean {
    const peer = socket.remoteAddress;
    if (peer === undefined || this.proxies.isTrusted(peer)) return true;
    const block = clientBlock(normalizeAddress(peer));
    if (!perClient.take(block)) {
      socket.destroy();
      return false;
    }
    socket.once("close", () => perClient.release(block));
    return true;
  }

  async start(): Promise<void> {
    this.tracker = await loadTrackerScript(this.deps.log);
    this.jsm = await jetstreamManager(this.deps.connection, { timeout: 2_000 });
    await ensureStream(this.jsm, this.stream, streamOptions(this.deps.pipeline.nats, this.deps.log));
    this.watchConnection();
    const key = this.deps.place ?? "sources[…]";
    this.place = { name: `${key} (http)`, key };
    this.series = this.deps.metrics.sourceSeries("http", key);
    if (this.config.port === 0) return this.listenNow();
    // Every worker of the pipeline runs this collector; on one host the port goes to one of them. A port held by a
    // worker of this pipeline (its claim, PortClaim) is waited for: startup goes on and the port is taken over once
    // that worker is gone, answering nothing meanwhile (a load balancer or the clients retry). Held by anything
    // else, the port is named by its key as before.
    this.claim = new PortClaim({
      stateDirectory: this.deps.stateDirectory,
      port: this.config.port,
      workerId: this.deps.workerId ?? `worker-${process.pid}`,
      name: this.place.name,
      log: this.deps.log,
      onLost: () => this.yieldPort(),
      series: this.series,
    });
    if (!(await this.claim.take())) return this.retryLater();
    try {
      await this.listenNow();
    } catch (error) {
      await this.claim.release();
      throw error;
    }
  }

  private async listenNow(): Promise<void> {
    await listen(this.server, this.config.port, this.config.host, this.place);
    if (this.claim === undefined) this.series?.set(this, "active");
    if (this.claim?.standingBy) {
      this.deps.log(`${this.place.name}: took over ${this.claim.lockFile}`);
      this.claim.tookOver();
    }
    const { host, port } = this.address();
    this.deps.log(`http collector listening on http://${host}:${port} (stream ${this.stream})`);
  }

  private retryLater(): void {
    if (this.stopping) return;
    this.retry = setTimeout(() => (this.attempt = this.takeOver()), PORT_RETRY_MS);
  }

  /**
   * One try at the port while standing by: take the claim when its holder is gone (pid dead or reused: at once; or
   * its heartbeat stale), then listen. A port still in use once the claim is ours (the former holder's process is
   * alive but stopped sending heartbeats, or some other process took the port meanwhile) keeps the claim, says so
   * once, and tries again: a former holder that wakes up finds its claim lost and closes the port (yieldPort).
   */
  private async takeOver(): Promise<void> {
    try {
      await this.closing;
      if (this.stopping || !(await this.claim!.take()) || this.stopping) return this.retryLater();
      await this.listenNow();
      this.listenProblem = undefined;
    } catch (error) {
      const problem = (error as Error).message;
      if (problem !== this.listenProblem) this.deps.log(`${problem}; retrying every second`);
      this.listenProblem = problem;
      this.retryLater();
    }
  }

  /** The claim was taken over (this process had stalled): stop listening, let requests under way finish, stand by. */
  private yieldPort(): void {
    if (this.stopping) return;
    this.closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    this.retryLater();
  }

  address(): { host: string; port: number } {
    const address = this.server.address() as AddressInfo | null;
    return { host: address?.address ?? this.config.host, port: address?.port ?? this.config.port };
  }

  /** Stops accepting, publishes the open group, answers every in-flight request, then closes the server. */
  stop(): Promise<void> {
    this.stopped ??= this.shutDown();
    return this.stopped;
  }

  private async shutDown(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retry);
    await this.attempt;
    await this.closing;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await this.committer.close();
    // Answers written while stopping say Connection: close; a connection still open after this is a stalled client.
    const deadline = setTimeout(() => this.server.closeAllConnections(), 5_000);
    await closed;
    clearTimeout(deadline);
    await this.committer.close();
    this.statusWatch?.stop?.();
    // Only once the port is closed: a standby that takes the claim binds at once.
    await this.claim?.release();
    this.series?.remove();
  }

  private watchConnection(): void {
    // The iterator nats-core returns has stop(), though the declared type is a plain AsyncIterable.
    const status = this.deps.connection.status();
    this.statusWatch = status as Partial<{ stop(): void }>;
    void (async () => {
      for await (const event of status) {
        if (event.type === "disconnect") this.natsConnected = false;
        else if (event.type === "reconnect") this.natsConnected = true;
      }
    })();
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const started = performance.now();
    const url = request.url ?? "/";
    const queryAt = url.indexOf("?");
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const query = queryAt === -1 ? "" : url.slice(queryAt + 1);
    const method = request.method;
    let work: Promise<void> | undefined;
    switch (path) {
      case "/v1/events":
        if (method === "POST") work = this.handleEvents(request, response, query, started);
        else if (method === "OPTIONS") this.preflight(request, response, started);
        else this.sendText(response, "events", started, 405, "use POST", { allow: "POST, OPTIONS" });
        break;
      case "/v1/pixel.gif":
        if (method === "GET") work = this.handlePixel(request, response, query, started);
        // Link checkers and prefetchers ask with HEAD: the GIF's headers, and no event (HEAD must change nothing).
        else if (method === "HEAD") this.send(response, "pixel", started, 200, { "content-type": "image/gif", "cache-control": "no-store" }, TRANSPARENT_GIF);
        else if (method === "OPTIONS") this.preflight(request, response, started);
        else this.sendText(response, "pixel", started, 405, "use GET", { allow: "GET, HEAD, OPTIONS" });
        break;
      case "/v1/clickpipe.js":
        if (method === "GET" || method === "HEAD") this.serveTracker(request, response, started);
        else this.sendText(response, "tracker", started, 405, "use GET", { allow: "GET, HEAD" });
        break;
      case "/healthz":
        if (method === "GET" || method === "HEAD") this.sendText(response, "healthz", started, 200, "ok");
        else this.sendText(response, "healthz", started, 405, "use GET", { allow: "GET, HEAD" });
        break;
      case "/readyz":
        if (method === "GET" || method === "HEAD") work = this.handleReadiness(response, started);
        else this.sendText(response, "readyz", started, 405, "use GET", { allow: "GET, HEAD" });
        break;
      default:
        this.sendText(response, "unknown", started, 404, "not found: the collector serves POST /v1/events, GET /v1/pixel.gif and GET /v1/clickpipe.js");
    }
    work?.catch((error: unknown) => this.failed(request, response, started, error));
  }

  /**
   * The browser tracker. No write key (the page's script tag carries it for the events) and no allowedOrigins check:
   * the script is public, and `*` lets a page load it with `crossorigin` (for Subresource Integrity) from any origin.
   */
  private serveTracker(request: IncomingMessage, response: ServerResponse, started: number): void {
    const gzip = acceptsGzip(request.headers["accept-encoding"]);
    const variant = gzip ? this.tracker!.gzip : this.tracker!.plain;
    const headers: OutgoingHttpHeaders = {
      "cache-control": TRACKER_CACHE_CONTROL,
      etag: variant.etag,
      vary: "Accept-Encoding",
    };
    if (noneMatchHits(request.headers["if-none-match"], variant.etag)) return this.send(response, "tracker", started, 304, headers, "");
    headers["content-type"] = "text/javascript; charset=utf-8";
    headers["x-content-type-options"] = "nosniff";
    // A cross-origin isolated site (Cross-Origin-Embedder-Policy: require-corp) loads no script of another origin
    // without it, unless its tag says crossorigin.
    headers["cross-origin-resource-policy"] = "cross-origin";
    if (gzip) headers["content-encoding"] = "gzip";
    this.send(response, "tracker", started, 200, headers, variant.body);
  }

  private failed(request: IncomingMessage, response: ServerResponse, started: number, error: unknown): void {
    if (error instanceof RequestAbortedError) return;
    this.deps.log(`http collector: ${request.method} ${request.url?.split("?", 1)[0]} failed: ${(error as Error).message}`);
    if (!response.headersSent) this.sendJson(response, "unknown", started, 500, { error: "internal error" }, {});
  }

  private async handleEvents(request: IncomingMessage, response: ServerResponse, query: string, started: number): Promise<void> {
    const headers: OutgoingHttpHeaders = {};
    if (this.stopping) return this.unavailable(response, "events", started, headers, "the collector is stopping");
    if (!this.cors.permits(request.headers.origin)) return this.forbiddenOrigin(request, response, "events", started, headers);
    const declared = request.headers["content-length"];
    if (declared !== undefined && Number(declared) > this.config.maxRequestBytes) {
      return this.tooLarge(request, response, started, headers);
    }
    const ip = this.clientIp(request);
    let writeKey = writeKeyFromHeaders(request.headers) ?? writeKeyFromQuery(query);
    const keyOutsideBody = writeKey !== undefined;
    // Judged before the body is read: a key outside it as ever, and a client whose body could carry no key let through
    // from it (over its bad-key budget, or every key's) gets its 429 without the collector reading and parsing it.
    const early = keyOutsideBody ? this.admission(writeKey, ip, Date.now()) : this.refusalBeforeBody(ip, Date.now());
    if (early !== undefined) {
      closeUnlessSmallBody(request, headers);
      return this.refuse(response, "events", started, headers, early);
    }

    const sent = await readBody(request, this.config.maxRequestBytes, this.countBodyBytes);
    if (sent === undefined) return this.tooLarge(request, response, started, headers);
    const content = await decodeContent(sent, request.headers["content-encoding"], this.config.maxRequestBytes);
    if (!content.ok) return this.sendJson(response, "events", started, content.status, { error: content.problem }, headers);
    const body = content.body;
    // JSON is UTF-8 (RFC 8259): decoding other bytes would turn them into U+FFFD without a word.
    const parsed = isUtf8(body) ? parseBody(body.toString("utf8"), this.config.maxBatchEvents) : NOT_UTF8;
    if (!parsed.ok) {
      if (!keyOutsideBody) {
        // No key anywhere: a bad key (401, or 429 past the IP's bad-key budget).
        return this.refuse(response, "events", started, headers, this.admission(undefined, ip, Date.now()) ?? UNAUTHORIZED);
      }
      return this.sendJson(response, "events", started, 400, { error: parsed.problem }, headers);
    }
    if (!keyOutsideBody) {
      // The batch's first JSON record carries the key (a broken first line of NDJSON does not hide it).
      writeKey = writeKeyOfRecord((parsed.shape === "too_many" ? parsed.first : parsed.records.find((record) => record.parseError === undefined))?.value);
      const refusal = this.admission(writeKey, ip, Date.now());
      if (refusal !== undefined) return this.refuse(response, "events", started, headers, refusal);
    }
    const count = parsed.shape === "too_many" ? parsed.count : parsed.records.length;
    if (parsed.shape === "too_many" || count > this.config.maxBatchEvents) {
      const problem = `${count} events in one request, over the limit of ${this.config.maxBatchEvents}`;
      return this.sendJson(response, "events", started, 413, { error: problem }, headers);
    }
    // An event over maxEventBytes is dead-lettered as too_large beside the good ones, as publish does with such a line.
    const oversized = oversizedRecords(parsed.records, body.length, this.config.maxEventBytes);
    if (this.overloaded()) {
      return this.unavailable(response, "events", started, headers, "the collector is overloaded");
    }
    const context = this.requestContext(request, ip);
    const outcome = this.ingest(parsed.records, context, oversized);
    if (outcome.group !== undefined) {
      try {
        await outcome.group.committed;
      } catch (error) {
        return this.publishFailed(response, "events", started, headers, error);
      }
    }
    headers["content-type"] = JSON_TYPE;
    this.send(response, "events", started, 200, headers, outcomeBody(outcome));
  }

  private async handlePixel(request: IncomingMessage, response: ServerResponse, query: string, started: number): Promise<void> {
    const headers: OutgoingHttpHeaders = {};
    if (this.stopping) return this.unavailable(response, "pixel", started, headers, "the collector is stopping");
    if (!this.cors.permits(request.headers.origin)) return this.forbiddenOrigin(request, response, "pixel", started, headers);
    const record = recordFromQuery(query);
    const writeKey = writeKeyFromHeaders(request.headers) ?? writeKeyOfRecord(record);
    const ip = this.clientIp(request);
    const refusal = this.admission(writeKey, ip, Date.now());
    if (refusal !== undefined) return this.refuse(response, "pixel", started, headers, refusal);
    if (Buffer.byteLength(query, "utf8") > this.config.maxEventBytes) {
      return this.sendJson(response, "pixel", started, 413, { error: `the event is over ${this.config.maxEventBytes} bytes` }, headers);
    }
    if (this.overloaded()) return this.unavailable(response, "pixel", started, headers, "the collector is overloaded");
    // Escapes that are not UTF-8 would be stored as U+FFFD: the event is dead-lettered (the pixel still answers).
    const unparseable = queryIsUtf8(query) ? undefined : "the query string's percent-escapes are not UTF-8";
    const outcome = this.ingest([{ value: record, raw: query, unparseable }], this.requestContext(request, ip));
    if (outcome.group !== undefined) {
      try {
        await outcome.group.committed;
      } catch (error) {
        return this.publishFailed(response, "pixel", started, headers, error);
      }
    }
    headers["content-type"] = "image/gif";
    headers["cache-control"] = "no-store";
    this.send(response, "pixel", started, 200, headers, TRANSPARENT_GIF);
  }

  /** Validates, edge-processes and adds one request's records to the open group; synchronous, so they stay together. */
  private ingest(records: readonly BodyRecord[], context: RequestContext, oversized?: ReadonlyMap<number, number>): IngestOutcome {
    const outcome: IngestOutcome = { accepted: 0, rejected: 0, errors: [], group: undefined };
    if (records.length === 0) return outcome;
    const group = this.committer.current();
    const tally = group.tally;
    const recordsBefore = group.records;
    const charsBefore = group.chars;
    tally.received += records.length;
    for (let index = 0; index < records.length; index++) {
      const record = records[index];
      if (record.parseError !== undefined) {
        this.reject(group, outcome, index, "not_json", `not JSON: ${record.parseError}`, record, context);
        continue;
      }
      if (record.unparseable !== undefined) {
        this.reject(group, outcome, index, "unparseable_line", record.unparseable, record, context);
        continue;
      }
      const bytes = oversized?.get(index);
      if (bytes !== undefined) {
        this.reject(group, outcome, index, "too_large", `record is ${bytes} bytes, over the ${this.config.maxEventBytes}-byte limit`, record, context);
        continue;
      }
      const value = record.value;
      if (typeof value === "object" && value !== null && WRITE_KEY_FIELD in value) {
        delete (value as Record<string, unknown>)[WRITE_KEY_FIELD];
      }
      const decoded = validateRecord(value, record.raw?.length ?? 0, context.receivedAt);
      if (!decoded.ok) {
        this.reject(group, outcome, index, decoded.reason, decoded.message, record, context);
        continue;
      }
      // Set after validation so the derived event_id depends only on what the client sent (retries dedupe).
      const event = decoded.event;
      event.received_at = context.receivedAt;
      event.ip = context.ip;
      if (event.ua === undefined && context.userAgent !== undefined) event.ua = context.userAgent;
      const result = this.edge.process(event, context.request);
      outcome.accepted++;
      if (result.kind === "filtered") {
        tally.filtered++;
        continue;
      }
      // Bots in drop mode travel flagged; the worker diverts them to the `bots` table before any operator.
      if (result.kind === "bot") result.event.is_bot = true;
      group.addEvent(JSON.stringify(result.event), partitionOf(result.event.anon_id, this.partitions));
    }
    const added = group.records - recordsBefore;
    if (added > 0) outcome.group = group;
    this.committer.added(group, added, group.chars - charsBefore);
    return outcome;
  }

  private reject(
    group: CommitGroup<GroupTally>,
    outcome: IngestOutcome,
    index: number,
    reason: InvalidReason,
    message: string,
    record: BodyRecord,
    context: RequestContext,
  ): void {
    // The reason is stored too, and a validation message quotes the value it refused (up to 60 characters of it).
    const text = redactWriteKeys(`${reason}: ${message}`, this.config.writeKeys);
    outcome.rejected++;
    outcome.errors.push({ index, reason: text });
    group.tally.invalid[REASON_INDEX.get(reason) ?? REASON_INDEX.get("unparseable_line")!]++;
    // Keys are cut out before the text is cut short, so no part of one can stay at the cut. Every configured key, not
    // only the request's: a record of a batch may carry another.
    const raw = this.redactRaw(deadLetterRaw(redactWriteKeys(record.raw ?? elementText(record.value), this.config.writeKeys)));
    group.addDeadLetter(encodeDeadLetter({ received_at: context.receivedAt, reason: this.redactReason(text), raw, source: "http" }));
  }

  /** Whether records awaiting acks are over either bound: new requests are then shed with 503. */
  private overloaded(): boolean {
    return this.committer.pendingRecords > this.maxPendingRecords || this.committer.pendingChars > this.maxPendingBytes;
  }

  private countCommitted(tally: GroupTally): void {
    const { metrics } = this.deps;
    this.receivedHttp.inc(tally.received);
    if (tally.filtered > 0) metrics.eventsFiltered.inc(tally.filtered);
    for (let index = 0; index < tally.invalid.length; index++) {
      if (tally.invalid[index] > 0) metrics.eventsInvalid.inc({ reason: INVALID_REASONS[index] }, tally.invalid[index]);
    }
  }

  private requestContext(request: IncomingMessage, ip: string): RequestContext {
    const userAgent = request.headers["user-agent"];
    return { receivedAt: Date.now(), ip, userAgent, request: { hasUserAgent: userAgent !== undefined } };
  }

  private clientIp(request: IncomingMessage): string {
    return this.proxies.clientAddress(request.socket.remoteAddress ?? "", request.headers["x-forwarded-for"]);
  }

  /**
   * Checks the write key (401) and the client's token buckets (429), taking a token; undefined when the request may go
   * on. A missing or unknown key takes a token of the client IP's bad-key bucket, and gets 429 once that is empty.
   * While it is, a right key the IP had not used before gets the same 429, or guessing the key would go on at full
   * speed (a right guess answered 200, wrong ones 429); keys it had used before (their buckets are known) go on, so a
   * good client beside a bad one (one NAT, one proxy) is not starved.
   */
  private admission(writeKey: string | undefined, ip: string, now: number): Refusal | undefined {
    // An IPv6 client's bad-key budget is its /64's: a budget per address was renewed by taking another.
    const block = clientBlock(ip);
    let retryAfter: number;
    if (!this.keys.accepts(writeKey)) {
      retryAfter = this.badKeyLimiter.take(block, now);
      if (retryAfter === 0) return UNAUTHORIZED;
    } else {
      const client = limiterClient(writeKey!, ip);
      retryAfter = this.badKeyLimiter.waitFor(block, now);
      if (retryAfter === 0 || this.limiter.knows(client)) retryAfter = this.limiter.take(client, now, ip);
    }
    return retryAfter === 0 ? undefined : { status: 429, retryAfter };
  }

  /**
   * For a request whose key can only be in its body, before the body is read: 429 when no key it could carry would be
   * let through from this IP, each configured key either used from it and out of tokens, or not used from it while
   * its bad-key budget is spent. Admission would then answer 429 whatever the body holds, or (all keys out of tokens,
   * bad-key budget left) 401 to a wrong key, which gets the 429 instead: reading 512 KiB to tell those apart is what
   * a client over its budget must not cost. Takes no token (a request let on takes one in admission, once); Retry-After
   * is when the first key could be let through. The limiter finds the buckets of the keys used from this IP by the IP
   * (one lookup, then those keys alone: one, as a rule), where a bucket key per configured key was built and looked up.
   */
  private refusalBeforeBody(ip: string, now: number): Refusal | undefined {
    const badKeyWait = this.badKeyLimiter.waitFor(clientBlock(ip), now);
    const keysWait = this.limiter.waitForAnyIn(ip, now);
    if (keysWait === 0) return undefined;
    // A key not used from this IP is let through (to admission) while the IP has bad-key budget left. The limiter holds
    // buckets of accepted keys only, so fewer of them than keys configured means such a key exists.
    if (badKeyWait === 0 && this.limiter.bucketsIn(ip) < this.distinctWriteKeys) return undefined;
    const retryAfter = Math.min(badKeyWait > 0 ? badKeyWait : Infinity, keysWait);
    return retryAfter === Infinity ? undefined : { status: 429, retryAfter };
  }

  private refuse(response: ServerResponse, route: Route, started: number, headers: OutgoingHttpHeaders, refusal: Refusal): void {
    if (refusal.status === 401) return this.unauthorized(response, route, started, headers);
    headers["retry-after"] = String(refusal.retryAfter);
    this.sendJson(response, route, started, 429, { error: "too many requests from this client" }, headers);
  }

  private async handleReadiness(response: ServerResponse, started: number): Promise<void> {
    const ready = await this.isReady();
    this.sendText(response, "readyz", started, ready ? 200 : 503, ready ? "ready" : "not ready: NATS or the stream is unreachable");
  }

  private async isReady(): Promise<boolean> {
    if (this.stopping || !this.natsConnected || this.deps.connection.isClosed() || this.jsm === undefined) return false;
    const now = performance.now();
    if (now - this.readiness.checkedAt < READINESS_CACHE_MS) return this.readiness.ready;
    let ready: boolean;
    try {
      await this.jsm.streams.info(this.stream);
      ready = true;
    } catch {
      ready = false;
    }
    this.readiness = { checkedAt: performance.now(), ready };
    return ready;
  }

  private preflight(request: IncomingMessage, response: ServerResponse, started: number): void {
    this.send(response, "preflight", started, 204, this.cors.preflightHeaders(request.headers.origin), "");
  }

  private unauthorized(response: ServerResponse, route: Route, started: number, headers: OutgoingHttpHeaders): void {
    headers["www-authenticate"] = challengeFor(response.req.headers);
    const error = "missing or unknown write key: send it as the Basic user name, in X-Write-Key, or as writeKey";
    this.sendJson(response, route, started, 401, { error }, headers);
  }

  /** 403 for a browser origin that allowedOrigins does not list; the body is not read (dropped up to a bound). */
  private forbiddenOrigin(request: IncomingMessage, response: ServerResponse, route: Route, started: number, headers: OutgoingHttpHeaders): void {
    const error = `origin ${request.headers.origin} may not post here: allowedOrigins of this collector does not list it`;
    this.sendJson(response, route, started, 403, { error }, headers);
    if (route === "events") discardRest(request, Math.max(MAX_DISCARDED_BYTES, this.config.maxRequestBytes));
  }

  /** 413 before or while reading the body: the rest is dropped up to a bound, past which the connection is closed. */
  private tooLarge(request: IncomingMessage, response: ServerResponse, started: number, headers: OutgoingHttpHeaders): void {
    const error = `the body is over the ${this.config.maxRequestBytes}-byte limit per request`;
    this.sendJson(response, "events", started, 413, { error }, headers);
    discardRest(request, Math.max(MAX_DISCARDED_BYTES, this.config.maxRequestBytes));
  }

  private unavailable(response: ServerResponse, route: Route, started: number, headers: OutgoingHttpHeaders, problem: string): void {
    headers["retry-after"] = "1";
    this.sendJson(response, route, started, 503, { error: problem }, headers);
  }

  private publishFailed(response: ServerResponse, route: Route, started: number, headers: OutgoingHttpHeaders, error: unknown): void {
    this.deps.log(`http collector: publishing to stream ${this.stream} failed: ${(error as Error).message}`);
    this.unavailable(response, route, started, headers, "the events could not be stored; retry later");
  }

  private sendJson(
    response: ServerResponse,
    route: Route,
    started: number,
    status: number,
    body: unknown,
    headers: OutgoingHttpHeaders,
  ): void {
    headers["content-type"] = JSON_TYPE;
    this.send(response, route, started, status, headers, JSON.stringify(body));
  }

  private sendText(
    response: ServerResponse,
    route: Route,
    started: number,
    status: number,
    text: string,
    headers: OutgoingHttpHeaders = {},
  ): void {
    headers["content-type"] = "text/plain; charset=utf-8";
    this.send(response, route, started, status, headers, text);
  }

  private send(
    response: ServerResponse,
    route: Route,
    started: number,
    status: number,
    headers: OutgoingHttpHeaders,
    body: string | Buffer,
  ): void {
    if (this.stopping) headers.connection = "close";
    // Every answer to an allowed origin carries the CORS headers (a preflight has its own): without them the browser
    // hides a 401, 413, 429, 500 or 503 from the page, which then cannot tell a refusal from a network failure.
    // The tracker script is public: the same `*` to every origin, so one cached copy serves all.
    if (route === "tracker") headers["access-control-allow-origin"] = "*";
    else if (route !== "preflight") this.cors.addResponseHeaders(headers, response.req.headers.origin);
    // A 304 has no body, and a Content-Length there would have to be the 200's (RFC 9110 §8.6).
    if (status !== 304) headers["content-length"] = typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.length;
    response.writeHead(status, headers);
    response.end(body);
    this.observe(route, status, started);
  }

  private observe(route: Route, status: number, started: number): void {
    const key = `${route} ${status}`;
    let child = this.durationByRouteAndCode.get(key);
    if (child === undefined) {
      child = this.deps.metrics.httpRequestDuration.labels({ route, code: String(status) });
      this.durationByRouteAndCode.set(key, child);
    }
    child.observe((performance.now() - started) / 1000);
  }
}

/**
 * An array element's JSON text. JSON.stringify recurses per level: an element nested thousands deep (validateRecord
 * rejects it) cannot be written back, so its dead letter says so instead of failing the request.
 */
function elementText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return `(an array element nested too deep to serialize; the limit is ${MAX_NESTING_DEPTH} levels)`;
  }
}

/**
 * The 401's challenge (RFC 9110 §11.6.1: a 401 must carry one). Basic only to a request that sent an Authorization
 * header (curl -u): a browser meeting Basic (or Digest, NTLM, Negotiate) on a page or pixel it opened shows a login
 * dialog, while a scheme it does not know, WriteKey, it leaves to the page.
 */
function challengeFor(headers: IncomingHttpHeaders): string {
  return headers.authorization === undefined ? 'WriteKey realm="clickpipe"' : 'Basic realm="clickpipe"';
}

/** The general rate limiter's client: a write key from one IP. */
function limiterClient(writeKey: string, ip: string): string {
  return `${writeKey}\u0000${ip}`;
}

/**
 * For an answer given before the body is read. Node reads and drops an unread body once the answer is written, to
 * keep the connection for the next request: a client could so still make it read 512 KiB (or, chunked, any amount
 * until the request timeout) per refusal. Past MAX_DROPPED_UNREAD_BYTES, or of unknown length (chunked), the answer
 * says Connection: close, and Node closes the connection once it is written, reading no more. A small body is
 * dropped as Node does: the client, mostly done sending, keeps its connection and reads its answer rather than a
 * reset (closing a socket with unread bytes resets it).
 */
function closeUnlessSmallBody(request: IncomingMessage, headers: OutgoingHttpHeaders): void {
  const declared = request.headers["content-length"];
  const small = request.headers["transfer-encoding"] === undefined && (declared === undefined || Number(declared) <= MAX_DROPPED_UNREAD_BYTES);
  if (!small) headers.connection = "close";
}

function writeKeyFromQuery(query: string): string | undefined {
  if (!query.includes(WRITE_KEY_FIELD)) return undefined;
  return new URLSearchParams(query).get(WRITE_KEY_FIELD) ?? undefined;
}

/**
 * The records over `maxEventBytes`, by index, with their size. A body within the limit holds none; otherwise records
 * with text are measured in UTF-8 and array elements by their JSON serialization.
 */
function oversizedRecords(records: readonly BodyRecord[], bodyBytes: number, maxEventBytes: number): Map<number, number> | undefined {
  if (bodyBytes <= maxEventBytes) return undefined;
  const oversized = new Map<number, number>();
  for (let index = 0; index < records.length; index++) {
    const record = records[index];
    if (record.raw === undefined) record.raw = elementText(record.value);
    const bytes = Buffer.byteLength(record.raw, "utf8");
    if (bytes > maxEventBytes) oversized.set(index, bytes);
  }
  return oversized;
}

function outcomeBody(outcome: IngestOutcome): string {
  if (outcome.rejected === 0) return `{"accepted":${outcome.accepted},"rejected":0,"errors":[]}`;
  return JSON.stringify({ accepted: outcome.accepted, rejected: outcome.rejected, errors: outcome.errors });
}
