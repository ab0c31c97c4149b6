// The pipeline file's schema (ARCHITECTURE.md "Pipeline file"): strict zod objects with defaults, plus cross-field rules.
import { z } from "zod";
import { operatorConfigSchemas } from "../operators/index.ts";
import { duration, formatDuration } from "./duration.ts";
import { formatSize, size } from "./size.ts";
import { ingestConfig } from "./ingest.ts";
import { closestMatch } from "./did-you-mean.ts";
import { formatPath } from "./errors.ts";
import { durationsIn, isRecord } from "./schema-walk.ts";
import { listenHostProblem, localTimeZoneProblem, logFormatProblem, natsUrlProblem, trustedProxyProblem } from "./component-checks.ts";
import { instanceProblem } from "../ingest/tailer-instance.ts";
import { allowedOriginProblem, normalizeAllowedOrigin } from "../ingest/http-cors.ts";
import { secret } from "./secrets.ts";
import { DEFAULT_MERGES_PER_CHECKPOINT, DEFAULT_MIN_PARTS } from "../sinks/compaction.ts";
import { isPortRange, parsePortRange, portOrRange, portSpan, type PortRange } from "./port-range.ts";

// JetStream stream names: no whitespace, `.`, `*`, `>` or path separators (they become file names on the server).
const STREAM_NAME = /^[^\s.*>/\\]+$/;
// A NATS subject: dot-separated tokens, no whitespace, no wildcards (a publish subject).
const SUBJECT = /^[^\s.*>]+(?:\.[^\s.*>]+)*$/;
const port = (fallback: number) => z.number().int().min(0).max(65535).default(fallback);
const listenHost = () =>
  z
    .string()
    .min(1)
    .superRefine((host, ctx) => {
      const found = listenHostProblem(host);
      if (found !== undefined) ctx.addIssue({ code: "custom", message: found.problem, params: { hint: found.hint } });
    })
    .default("0.0.0.0");

export const natsSection = z
  .strictObject({
    // A server URL may carry `user:pass@` (other NATS clients read it): printed with the password redacted.
    url: secret(z.string(), "urlCredentials")
      .min(1)
      .superRefine((urls, ctx) => {
        for (const entry of urls.split(",")) {
          const problem = natsUrlProblem(entry.trim());
          if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, params: { hint: "Write nats://host:port (or tls://host:port), several separated by commas." } });
        }
      })
      .default("nats://127.0.0.1:4222")
      .describe("Server URL(s), comma-separated; default nats://127.0.0.1:4222."),
    stream: z
      .string()
      .max(255)
      .regex(STREAM_NAME, { error: "a JetStream stream name cannot be empty or contain spaces, dots, *, > or slashes" })
      .describe("JetStream stream (required), created if missing; subjects <stream>.events.<p> and <stream>.dlq."),
    partitions: z.number().int().min(1).max(1024).default(1).describe("Partitions of the stream (<stream>.events.<p>); default 1."),
    replicas: z
      .number()
      .int()
      .min(1)
      .max(5)
      .default(1)
      .describe("Copies of the stream when clickpipe creates it (3 on a 3-node cluster survives one node's loss); default 1."),
    duplicateWindow: duration("2m").describe(
      'How long the stream remembers each batch\'s Nats-Msg-Id: a batch sent again within it (a re-run publish of the same file, a tailer re-sending its chunk after an outage) is stored once, dead letters included. A longer window costs nats-server memory: it keeps every id sent within the window (roughly 200 bytes each). Set when clickpipe creates the stream; an existing stream\'s shorter window is widened to it. Default "2m", 1s to 7d.',
    ),
    maxAge: duration()
      .optional()
      .describe(
        'How long the stream keeps a message: older ones are discarded, read or not (a worker that falls further behind says how many it lost). Set on a new stream and applied to an existing one. At least duplicateWindow. Default none: kept until maxBytes or for ever. Example "7d".',
      ),
    maxBytes: size()
      .optional()
      .describe(
        'How much the stream holds: past it the oldest messages are discarded, read or not (a worker that falls further behind says how many it lost). Set on a new stream and applied to an existing one. At least 1MiB. Default none: unlimited, until the disk is full. Example "10GiB".',
      ),
    customerPartitions: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(1)
      .describe("With partitions > 1: partitions of the re-keyed customer family (<stream>.customers.<q>); default 1."),
    credentials: z.string().min(1).optional().describe("Path to a NATS .creds file (JWT + NKey seed); default none."),
    user: z.string().optional().describe("User name (with password); default none."),
    password: secret(z.string()).optional().describe("Password for user; default none."),
    token: secret(z.string()).optional().describe("Authentication token; default none."),
    tls: z
      .strictObject({
        ca: z.string().min(1).optional().describe("CA certificate file (PEM) trusted for the server."),
        cert: z.string().min(1).optional().describe("Client certificate file (PEM), with key."),
        key: z.string().min(1).optional().describe("Client private key file (PEM), with cert."),
      })
      .optional()
      .describe("TLS files {ca, cert, key}; default none (plain TCP unless the URL says tls://)."),
  })
  .describe("The NATS server and the JetStream stream the pipeline reads.");

export const httpSource = z
  .strictObject({
    type: z.literal("http"),
    port: port(8080).describe("Listen port; default 8080 (0 picks a free one)."),
    host: listenHost().describe('Listen address; default "0.0.0.0".'),
    writeKeys: z.array(secret(z.string().min(1))).min(1).describe("Accepted write keys (required, at least one)."),
    allowedOrigins: z
      .array(
        z.union([
          z.string().min(1),
          z.strictObject({
            origin: z.string().min(1).describe('The origin, as a plain entry is written (e.g. "https://*.myshopify.com").'),
            publicSuffixTenants: z
              .boolean()
              .default(false)
              .describe(
                "true lets a wildcard lie over a public suffix of the Public Suffix List's private section (a platform's own domain: myshopify.com, vercel.app, github.io), allowing every tenant's site under it without credentials (Access-Control-Allow-Origin: *); an ICANN suffix (co.uk, com) stays refused. Default false.",
              ),
          }),
        ]),
      )
      .superRefine((entries, ctx) => {
        entries.forEach((entry, index) => {
          const found = severalOriginsProblem(entry) ?? allowedOriginProblem(entry);
          if (found === undefined) return;
          const path = typeof entry === "string" ? [index] : [index, found.key ?? "origin"];
          ctx.addIssue({ code: "custom", path, message: found.problem, params: { hint: found.hint } });
        });
      })
      .transform((entries) => entries.map((entry) => normalizeAllowedOrigin(entry)))
      .default([])
      .describe(
        'Browser origins allowed to post: they get CORS headers on every answer, and a request from an origin not listed gets 403. Each is scheme://host[:port] (no path or query), matched as browsers send origins: scheme and host in any case, the default port of http and https (:80, :443) and a trailing slash left out. An app\'s web view sends its own scheme (capacitor://localhost, ionic://localhost, app://host): listed the same way, its port kept as written. "https://*.shop.example" lists every subdomain of shop.example (one or more labels, not shop.example itself); a wildcard over a public suffix (https://*.co.uk, https://*.github.io) is refused, and one over a domain with a public suffix beneath it (https://*.amazonaws.com) matches no host at or under that suffix (mybucket.s3.amazonaws.com). { origin: "https://*.myshopify.com", publicSuffixTenants: true } allows such a wildcard over a suffix of the list\'s private section, for a platform\'s tenants: each is allowed as "*" allows an origin, without credentials. An origin listed, exactly or by a wildcard, may send credentials (cookies, Basic auth); "*" allows any other origin without them (Access-Control-Allow-Origin: *). "null" (file: pages such as Electron\'s, and any site\'s sandboxed frames) is allowed only when listed, and as "*" allows it: without credentials. Default [] (no origin is refused, and each is answered as "*" answers it: Access-Control-Allow-Origin: *, without credentials).',
      ),
    trustedProxies: z
      .array(z.string().min(1))
      .superRefine((entries, ctx) => {
        entries.forEach((entry, index) => {
          const problem = trustedProxyProblem(entry);
          if (problem !== undefined) ctx.addIssue({ code: "custom", path: [index], message: problem, params: { hint: "Write an IPv4 or IPv6 address, or a CIDR such as 10.0.0.0/8 or fd00::/8." } });
        });
      })
      .default([])
      .describe("Proxy addresses/CIDRs whose X-Forwarded-For is believed; default [] (none)."),
    rateLimit: z
      .strictObject({
        requestsPerSecond: z.number().positive().default(100).describe("Sustained requests per second per client; default 100."),
        burst: z.number().int().positive().default(200).describe("Bucket size per client; default 200."),
        badKeysPerSecond: z
          .number()
          .positive()
          .default(0.1)
          .describe("Sustained requests per second per client IP (an IPv6 client's /64) with a missing or unknown write key (401), beyond which they get 429; default 0.1 (one per 10 s)."),
        badKeyBurst: z
          .number()
          .int()
          .positive()
          .default(20)
          .describe(
            "Requests with a missing or unknown write key a client IP may send at once; default 20. While an IP is over it, every request it sends with a key not accepted from it before gets 429 too, right or wrong, so guesses stay bounded.",
          ),
      })
      .prefault({})
      .describe("Token bucket per write key and client IP (default 100/s, burst 200), and a stricter one per client IP (an IPv6 client's /64) for requests without a known key (default 0.1/s, burst 20)."),
    maxEventBytes: z.number().int().positive().default(32_768).describe("Largest event; default 32768 (32 KiB)."),
    maxRequestBytes: z.number().int().positive().default(524_288).describe("Largest request body; default 524288 (512 KiB)."),
    maxBatchEvents: z.number().int().positive().default(2500).describe("Most events in one request; default 2500."),
    maxConnections: z
      .number()
      .int()
      .positive()
      .default(4096)
      .describe(
        "Open connections (idle keep-alive ones included) beyond which a new one is closed at once, before any byte is read, and counted in clickpipe_http_connections_refused_total{reason=\"max_connections\"}; default 4096. Keep it under the process's open-file limit.",
      ),
    maxConnectionsPerClient: z
      .number()
      .int()
      .nonnegative()
      .default(64)
      .describe(
        "Open connections one client IP (an IPv6 client's /64) may hold, beyond which its new one is closed at once and counted in clickpipe_http_connections_refused_total{reason=\"per_client\"}, so that one client cannot fill maxConnections with idle ones; default 64, 0 for no limit. It counts the socket peer, before X-Forwarded-For is read: connections from trustedProxies are not counted, and behind a proxy not listed there set it to 0 or above the proxy's connections.",
      ),
  })
  .describe("HTTP collector: POST /v1/events, GET /v1/pixel.gif.");

/**
 * Several origins written as one entry, separated as an Access-Control-Allow-Origin list or a CSV cell would be
 * ("https://a.example, https://b.example"): read as one origin, its fix would be a truncated host.
 */
function severalOriginsProblem(entry: string | { origin: string }): { problem: string; hint: string; key?: string } | undefined {
  const text = typeof entry === "string" ? entry : entry.origin;
  const parts = text.split(/[\s,;]+/).filter((part) => part !== "");
  if (parts.filter((part) => part.includes("://")).length < 2) return undefined;
  return {
    problem: `"${text}" holds ${parts.length} origins in one entry`,
    hint: `List each origin as its own entry: [${parts.map((part) => JSON.stringify(part)).join(", ")}].`,
    key: typeof entry === "string" ? undefined : "origin",
  };
}

const TIME_ZONE_HINT = 'Use an IANA time zone name such as "UTC", "Europe/Berlin" or "America/New_York": the zone of the server whose Caddy writes `wall` times with `time_local`.';

export const accessLogSource = z
  .strictObject({
    type: z.literal("accessLog"),
    paths: z.array(z.string().min(1)).min(1).describe("Log files to tail (required, at least one); rotation is followed."),
    format: z
      .string()
      .min(1)
      .default("combined")
      .describe(
        '"combined", "common", "w3c" (IIS, CloudFront: columns from #Fields), "caddy" (Caddy\'s JSON access log), an nginx log_format string ($variables; for escape=json its JSON text) or an Apache LogFormat string (%h %t …); default "combined".',
      ),
    pollInterval: duration("1s").describe('How often the files are checked for new lines; default "1s".'),
    timeZone: z
      .string()
      .superRefine((zone, ctx) => {
        const problem = localTimeZoneProblem(zone);
        if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, params: { hint: TIME_ZONE_HINT } });
      })
      .optional()
      .describe(
        'format caddy: the IANA time zone of `ts` written as `wall`, `wall_milli` or `wall_nano` (no zone of its own), e.g. "Europe/Berlin" for a Caddy with `time_local` on a server in Berlin. A local time skipped in spring is moved forward by the gap, one repeated in autumn is the earlier instant. Default "UTC", what Caddy writes without `time_local` (as `publish --timezone`).',
      ),
    instance: z
      .string()
      .superRefine((name, ctx) => {
        const problem = instanceProblem(name);
        if (problem !== undefined)
          ctx.addIssue({ code: "custom", message: problem, params: { hint: 'Write a stable name of the host whose logs these are, such as web-1, or a variable each host sets, such as "${CLICKPIPE_INSTANCE}" (letters, digits, ., _ and -, at most 128).' } });
      })
      .optional()
      .describe(
        'The host whose logs these paths are, e.g. "web-1" or "${CLICKPIPE_INSTANCE}" set per host: with it, each instance keeps its own positions and claims, so hosts sharing the sink path each tail their own log at the same path. Must stay the same across restarts (a new name reads the logs again from their start). Default none: one position per path for every host.',
      ),
  })
  .describe("Tails web server access logs; each request becomes a page_view.");

export const sourceConfig = z.discriminatedUnion("type", [httpSource, accessLogSource]);

const compactionPolicy = z
  .strictObject({
    minParts: z
      .number()
      .int()
      .min(2)
      .default(DEFAULT_MIN_PARTS)
      .describe("Parts under targetRows rows, of one worker task in one partition, that start a merge; default 16."),
    targetRows: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("Parts with fewer rows are small; a merge takes small parts up to this many rows in all. Default: the sink's rowGroupSize."),
    mergesPerCheckpoint: z
      .number()
      .int()
      .min(1)
      .max(16)
      .default(DEFAULT_MERGES_PER_CHECKPOINT)
      .describe("Merges per checkpoint at most (1 to 16), bounding the work a live worker's checkpoint adds; default 1."),
  })
  .describe("When and how much a worker compacts its parts.");

export const parquetSink = z
  .strictObject({
    type: z.literal("parquet"),
    path: z.string().min(1).describe("Output directory (required): <path>/<table>/<partition>/part-*.parquet."),
    compression: z
      .enum(["zstd", "snappy", "none"])
      .default("snappy")
      .describe("Parquet compression; default snappy (Spark's, pyarrow's and DuckDB's default too): ~4× faster to write than zstd, files ~1.5× bigger."),
    rowGroupSize: z.number().int().positive().default(100_000).describe("Rows per row group; default 100000."),
    compaction: z
      .union([z.literal("off"), compactionPolicy])
      .default({ minParts: DEFAULT_MIN_PARTS, mergesPerCheckpoint: DEFAULT_MERGES_PER_CHECKPOINT })
      .describe(
        'Merges a worker\'s small committed parts of a partition into one, within the commit protocol (exactly-once); "off": never. Default { minParts: 16, targetRows: rowGroupSize, mergesPerCheckpoint: 1 }.',
      ),
  })
  .describe("Writes every table as Parquet, atomically, with deterministic part names.");

export const natsSink = z
  .strictObject({
    type: z.literal("nats"),
    subject: z
      .string()
      .regex(SUBJECT, { error: "a subject prefix is dot-separated tokens without spaces, * or >" })
      .describe("Subject prefix (required): rows are republished on <subject>.<table>."),
    tables: z.array(z.string().min(1)).optional().describe("Tables to republish; default every table."),
  })
  .describe("Republishes output rows as JSON on NATS (optional, besides Parquet).");

export const sinkConfig = z.discriminatedUnion("type", [parquetSink, natsSink]);

export const metricsSection = z
  .strictObject({
    port: portOrRange(9464).describe(
      'Port of the Prometheus /metrics endpoint, or a range "9464-9467" (at most 256 ports, within 1-65535) of which each worker on a host takes the first free port; 0: a free port the system picks. Default 9464; `clickpipe run --metrics-port` overrides it.',
    ),
    host: listenHost().describe('Listen address; default "0.0.0.0".'),
  })
  .describe("Prometheus metrics server; omitted: none (tests and backfills).");

export const checkpointSection = z
  .strictObject({
    interval: duration("10s").describe('Time between checkpoints; default "10s".'),
    store: z
      .enum(["directory", "kv"])
      .default("directory")
      .describe("directory: <first parquet sink path>/_checkpoints/<name>/; kv: a NATS KV bucket. Default directory."),
  })
  .describe("How often and where state and stream positions are committed.");

export const operatorConfig = z.discriminatedUnion("type", [...operatorConfigSchemas]);

const pipelineObject = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, { error: "a pipeline name uses only letters, digits, _ and -" })
    .describe("Pipeline name (required): letters, digits, _ and -; keys checkpoints and metrics."),
  nats: natsSection,
  ingest: ingestConfig.prefault({}).describe("Edge processing (pages, urlRules, bots, privacy); defaults in src/config/ingest.ts."),
  sources: z.array(sourceConfig).optional().describe("Inputs feeding the stream (http, accessLog); default none."),
  operators: z.array(operatorConfig).default([]).describe("Operators, one of each type at most; default []."),
  sinks: z.array(sinkConfig).min(1).describe("Outputs (required): at least one parquet sink."),
  metrics: metricsSection.optional().describe('Prometheus metrics {port: 9464 or a range "9464-9467", host: 0.0.0.0}; omitted: no metrics server.'),
  // duration() is typed as a union, which makes its key look required in the input type; {} is a valid input.
  checkpoint: checkpointSection
    .prefault({} as z.input<typeof checkpointSection>)
    .describe('Checkpoints {interval: "10s", store: directory}.'),
});

type PipelineShape = z.output<typeof pipelineObject>;

/** Tables each operator writes; the rest are written by every pipeline. */
const TABLE_WRITERS: Record<string, string | undefined> = {
  sessions: "sessionize",
  patterns: "sequencePatterns",
  basket_rules: "basket",
  cross_sell: "basket",
  customer_features: "churnFeatures",
  invalid_events: undefined,
  late_events: undefined,
  bots: undefined,
};

// nats.duplicateWindow: below a second even a prompt retry is missed; beyond a week nats-server holds a week of ids.
export const MIN_DUPLICATE_WINDOW_MS = 1000;
export const MAX_DUPLICATE_WINDOW_MS = 7 * 86_400_000;

// nats.maxBytes: a stream below a MiB holds a few dozen of a publisher's batches (about 40 KB each) at most.
export const MIN_STREAM_BYTES = 1024 * 1024;

// Lateness and out-of-orderness may be zero (no slack); every other duration is a length of time and must be positive.
const ZERO_ALLOWED = new Set(["outOfOrderness", "allowedLateness", "maxFutureSkew"]);

export interface RuleViolation {
  path: PropertyKey[];
  message: string;
  hint?: string;
}

/** Cross-field rules, as plain sentences with the path they concern. */
export function pipelineRuleViolations(config: PipelineShape): RuleViolation[] {
  return [
    ...durationViolations(config),
    ...operatorViolations(config),
    ...sinkViolations(config),
    ...natsViolations(config),
    ...portViolations(config),
    ...logFormatViolations(config),
  ];
}

function durationViolations(config: PipelineShape): RuleViolation[] {
  return durationsIn(pipelineObject, config)
    .filter(({ path, ms }) => ms <= 0 && !ZERO_ALLOWED.has(String(path[path.length - 1])))
    .map(({ path }) => ({ path, message: "must be a positive duration", hint: 'Use a length of time like "30s" or "30m".' }));
}

function operatorViolations(config: PipelineShape): RuleViolation[] {
  const violations: RuleViolation[] = [];
  const firstIndex = new Map<string, number>();
  config.operators.forEach((operator, index) => {
    const earlier = firstIndex.get(operator.type);
    if (earlier === undefined) firstIndex.set(operator.type, index);
    else
      violations.push({
        path: ["operators", index, "type"],
        message: `a second ${operator.type} operator (the first is operators[${earlier}])`,
        hint: "Step ids are the operator types, so each type appears at most once; merge the two.",
      });
  });
  config.operators.forEach((operator, index) => {
    if (operator.type === "sequencePatterns" && !firstIndex.has("sessionize")) {
      violations.push({
        path: ["operators", index],
        message: "sequencePatterns mines sessions, but the pipeline has no sessionize operator",
        hint: "Add `- type: sessionize` to operators.",
      });
    }
    if (operator.type === "sequencePatterns" && operator.every !== undefined && operator.every > operator.window) {
      violations.push({
        path: ["operators", index, "every"],
        message: "the hop (every) is longer than the window, so some sessions would fall in no window",
        hint: "Make every at most window, or omit it for tumbling windows.",
      });
    }
    if (operator.type === "sequencePatterns" && operator.minSupport >= 1 && !Number.isInteger(operator.minSupport)) {
      violations.push({
        path: ["operators", index, "minSupport"],
        message: `minSupport ${operator.minSupport} is neither a ratio in (0,1) nor a whole count`,
        hint: "Write a ratio like 0.01 or a count like 5.",
      });
    }
  });
  return violations;
}

function sinkViolations(config: PipelineShape): RuleViolation[] {
  const violations: RuleViolation[] = [];
  // An empty list is already reported as too short.
  if (config.sinks.length > 0 && !config.sinks.some((sink) => sink.type === "parquet")) {
    violations.push({
      path: ["sinks"],
      message: "no parquet sink: tables and checkpoints are written under the first parquet sink's path",
      hint: "Add `- type: parquet` with a path.",
    });
  }
  const operatorTypes = new Set<string>(config.operators.map((operator) => operator.type));
  config.sinks.forEach((sink, sinkIndex) => {
    if (sink.type !== "nats") return;
    (sink.tables ?? []).forEach((table, tableIndex) => {
      const path = ["sinks", sinkIndex, "tables", tableIndex];
      if (!Object.hasOwn(TABLE_WRITERS, table)) {
        const suggestion = closestMatch(table, Object.keys(TABLE_WRITERS));
        violations.push({ path, message: `unknown table "${table}"`, hint: `${suggestion === undefined ? "" : `Did you mean "${suggestion}"? `}Tables: ${Object.keys(TABLE_WRITERS).join(", ")}.` });
        return;
      }
      const writer = TABLE_WRITERS[table];
      if (writer !== undefined && !operatorTypes.has(writer)) {
        violations.push({ path, message: `table "${table}" is written by a ${writer} operator, and the pipeline has none`, hint: `Add a ${writer} operator or drop the table.` });
      }
    });
  });
  return violations;
}

function natsViolations(config: PipelineShape): RuleViolation[] {
  const { user, password, token, tls } = config.nats;
  const violations: RuleViolation[] = [];
  const window = config.nats.duplicateWindow;
  // Zero and below are already reported as not positive.
  if (window > 0 && (window < MIN_DUPLICATE_WINDOW_MS || window > MAX_DUPLICATE_WINDOW_MS)) {
    violations.push({
      path: ["nats", "duplicateWindow"],
      message: `${formatDuration(window)} is ${window < MIN_DUPLICATE_WINDOW_MS ? "shorter than 1s" : "longer than 7d"}`,
      hint: 'Use 1s to 7d (default "2m"): as long as a batch may be sent again after its first send (a re-run publish, a tailer\'s outage); nats-server keeps every id sent within the window in memory.',
    });
  }
  const maxAge = config.nats.maxAge;
  // nats-server refuses a duplicate window longer than the max age (an id would outlive its message).
  if (maxAge !== undefined && maxAge > 0 && window > 0 && maxAge < window) {
    violations.push({
      path: ["nats", "maxAge"],
      message: `${formatDuration(maxAge)} is shorter than nats.duplicateWindow (${formatDuration(window)}), which nats-server does not allow`,
      hint: `Make maxAge at least ${formatDuration(window)}, or shorten nats.duplicateWindow to at most ${formatDuration(maxAge)}.`,
    });
  }
  const maxBytes = config.nats.maxBytes;
  if (maxBytes !== undefined && maxBytes < MIN_STREAM_BYTES) {
    violations.push({
      path: ["nats", "maxBytes"],
      message: `${formatSize(maxBytes)} is less than 1MiB`,
      hint: 'Use at least "1MiB": a publisher\'s batch is about 40 KB; size it for the traffic your workers may fall behind by, e.g. "10GiB".',
    });
  }
  if ((user === undefined) !== (password === undefined)) {
    violations.push({
      path: ["nats", user === undefined ? "password" : "user"],
      message: "user and password go together",
      hint: "Set both (e.g. from ${NATS_USER} and ${NATS_PASSWORD}) or neither.",
    });
  }
  if (token !== undefined && user !== undefined) {
    violations.push({ path: ["nats", "token"], message: "token and user/password are two ways to log in; pick one" });
  }
  if (tls !== undefined && (tls.cert === undefined) !== (tls.key === undefined)) {
    violations.push({ path: ["nats", "tls"], message: "a client certificate needs its key (cert and key go together)" });
  }
  // Every customer-level operator needs a view over all customers: sequencePatterns and basket count over every
  // session or order of a window, churnFeatures ranks RFM quintiles over every customer and marks a day's snapshot
  // complete once. Split over customer tasks, each would rank and commit its share alone.
  const global = config.operators.find((operator) => operator.type === "sequencePatterns" || operator.type === "basket" || operator.type === "churnFeatures");
  if (config.nats.customerPartitions > 1 && global !== undefined) {
    const over = global.type === "basket" ? "counts over every order of a window" : global.type === "sequencePatterns" ? "counts over every session of a window" : "ranks RFM quintiles over every customer and commits one snapshot per day";
    violations.push({
      path: ["nats", "customerPartitions"],
      message: `${global.type} ${over}, so it cannot be split over ${config.nats.customerPartitions} customer partitions`,
      hint: "Set customerPartitions: 1 (one worker runs the customer-level operators; the events stage still scales with nats.partitions), or run that operator in a pipeline of its own.",
    });
  }
  return violations;
}

/** Two servers of the pipeline on one port: a source's port, or any port of metrics.port's range. */
export function portViolations(config: Pick<PipelineShape, "sources" | "metrics">): RuleViolation[] {
  const taken: { span: PortRange; owner: string }[] = [];
  const violations: RuleViolation[] = [];
  const claim = (ports: number | string, path: PropertyKey[]) => {
    // A range with a problem of its own was named already (zod's refinements run on).
    if (typeof ports === "string" && !isPortRange(parsePortRange(ports))) return;
    const span = portSpan(ports);
    if (span.last === 0) return;
    const clash = taken.find(({ span: other }) => other.first <= span.last && span.first <= other.last);
    if (clash === undefined) taken.push({ span, owner: formatPath(path) });
    else {
      const shared = Math.max(span.first, clash.span.first);
      const mine = span.first === span.last ? `port ${shared}` : `range ${ports} includes port ${shared}, which`;
      violations.push({ path, message: `${mine} is already used by ${clash.owner}`, hint: "Give each server its own port." });
    }
  };
  (config.sources ?? []).forEach((source, index) => {
    if (source.type === "http") claim(source.port, ["sources", index, "port"]);
  });
  if (config.metrics !== undefined) claim(config.metrics.port, ["metrics", "port"]);
  return violations;
}

const NAMED_LOG_FORMATS = ["combined", "common", "w3c", "caddy"];
const LOG_FORMAT_EXAMPLES = `Use combined, common, w3c (IIS and CloudFront logs), caddy (Caddy's JSON access log), an Apache LogFormat string such as '%h %l %u %t "%r" %>s %b', or an nginx log_format string such as '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent' (for escape=json, its JSON text such as '{"ip":"$remote_addr","time":"$time_iso8601","request":"$request","status":"$status"}').`;

function logFormatViolations(config: PipelineShape): RuleViolation[] {
  const violations: RuleViolation[] = [];
  (config.sources ?? []).forEach((source, index) => {
    if (source.type !== "accessLog") return;
    // It would change nothing: only Caddy's `wall` times lack an offset.
    if (source.timeZone !== undefined && source.format !== "caddy") {
      violations.push({
        path: ["sources", index, "timeZone"],
        message: `timeZone only applies to format caddy (its wall times), and this source's format is ${JSON.stringify(source.format)}`,
        hint: "Leave timeZone out: the other formats' times carry their offset (combined, common, nginx, Apache) or are UTC (w3c).",
      });
    }
    const refusal = logFormatRefusal(source.format);
    if (refusal !== undefined) violations.push({ path: ["sources", index, "format"], ...refusal });
  });
  return violations;
}

function logFormatRefusal(format: string): { message: string; hint: string } | undefined {
  if (NAMED_LOG_FORMATS.includes(format)) return undefined;
  // A custom format is an nginx log_format ($variables) or an Apache LogFormat (%directives).
  if (!/\$[a-z_]+|%[>{a-zA-Z]/.test(format)) {
    const suggestion = closestMatch(format, NAMED_LOG_FORMATS);
    return { message: `unknown log format "${format}"`, hint: `${suggestion === undefined ? "" : `Did you mean "${suggestion}"? `}${LOG_FORMAT_EXAMPLES}` };
  }
  // The tailer's own compiler: what it cannot read fails here, not when `run` starts the source.
  const problem = logFormatProblem(format);
  return problem === undefined ? undefined : { message: problem, hint: LOG_FORMAT_EXAMPLES };
}

/**
 * Whether text at `path` would be refused by a check that runs across the pipeline once every key has parsed (an
 * access log's format, a nats sink's table), which a key's own schema does not see: `format: true` quoted is no log
 * format either, so quoting it is no advice.
 */
export function refusedAcrossPipeline(path: readonly PropertyKey[], text: string, input: unknown): boolean {
  const [section, index, key, ...rest] = path;
  const list = isRecord(input) ? input[String(section)] : undefined;
  const entry = Array.isArray(list) && typeof index === "number" ? (list[index] as unknown) : undefined;
  if (!isRecord(entry)) return false;
  if (section === "sources" && entry.type === "accessLog" && key === "format" && rest.length === 0) return logFormatRefusal(text) !== undefined;
  if (section === "sinks" && entry.type === "nats" && key === "tables" && rest.length === 1) return !Object.hasOwn(TABLE_WRITERS, text);
  return false;
}

export const pipelineSchema = pipelineObject.superRefine((config, ctx) => {
  for (const violation of pipelineRuleViolations(config)) {
    ctx.addIssue({ code: "custom", path: violation.path, message: violation.message, params: { hint: violation.hint } });
  }
});

export type PipelineConfig = z.output<typeof pipelineSchema>;
export type PipelineInput = z.input<typeof pipelineSchema>;
export type SourceConfig = z.output<typeof sourceConfig>;
export type SinkConfig = z.output<typeof sinkConfig>;
export type NatsSection = z.output<typeof natsSection>;
