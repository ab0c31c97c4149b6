// Connecting to NATS: the pipeline file's `nats:` schema and a connection that reconnects forever.
import { readFile } from "node:fs/promises";
import { credsAuthenticator, type ConnectionOptions, type NatsConnection } from "@nats-io/nats-core";
import { z } from "zod";
import { connectWithLargeReads } from "./large-read-transport.ts";
import { withUrlCredentialsRedacted } from "../config/secrets.ts";

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
/** JetStream stream names may not contain `.`, `*`, `>`, whitespace or path separators; ours also prefix subjects. */
export const STREAM_NAME_PATTERN = /^[A-Za-z0-9_-]{1,200}$/;

/** nats-server's default max_payload, for a connection that reports none. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * Body bytes for messages of about `preferred` bytes that always fit the connected server: at most half its
 * max_payload (`connection.info?.max_payload`), so the body plus its headers is one message.
 */
export function messageBytesWithin(preferred: number, maxPayload: number | undefined): number {
  return Math.min(preferred, Math.floor((maxPayload !== undefined && maxPayload > 0 ? maxPayload : DEFAULT_MAX_PAYLOAD) / 2));
}

const tlsConfig = z
  .strictObject({
    ca: z.string().min(1).optional().describe("Path to the CA certificate (PEM) that signed the server's certificate."),
    cert: z.string().min(1).optional().describe("Path to the client certificate (PEM) for mutual TLS."),
    key: z.string().min(1).optional().describe("Path to the client private key (PEM) for mutual TLS."),
  });

export const natsConfig = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .default(DEFAULT_NATS_URL)
      .describe(`NATS server URL, or several separated by commas. Default ${DEFAULT_NATS_URL}.`),
    stream: z
      .string()
      .regex(STREAM_NAME_PATTERN, "expected a JetStream stream name of letters, digits, '_' or '-' (e.g. CLICKPIPE_EVENTS)")
      .describe("JetStream stream holding <stream>.events.<p> and <stream>.dlq; created if missing. Example: CLICKPIPE_EVENTS"),
    partitions: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(1)
      .describe("Number of event partitions (<stream>.events.0 .. <stream>.events.<partitions-1>). Default 1."),
    credentials: z.string().min(1).optional().describe("Path to a NATS .creds file (JWT + nkey seed)."),
    user: z.string().min(1).optional().describe("User name; take it from the environment, e.g. ${NATS_USER}."),
    password: z.string().optional().describe("Password for `user`; take it from the environment, e.g. ${NATS_PASSWORD}."),
    token: z.string().min(1).optional().describe("Authentication token; take it from the environment, e.g. ${NATS_TOKEN}."),
    tls: tlsConfig
      .optional()
      .describe("TLS settings (file paths); when present the connection requires TLS. Example: { ca: /etc/nats/ca.pem }"),
  })
  .describe("Where the pipeline's events live: the NATS server and JetStream stream.");

export type NatsConfig = z.infer<typeof natsConfig>;

export type NatsConnectionConfig = {
  url: string;
  credentials?: string;
  user?: string;
  password?: string;
  token?: string;
  tls?: { ca?: string; cert?: string; key?: string };
  name?: string;
};

/** Raised when the first connection attempt fails; later disconnects are retried forever instead. */
export class NatsConnectError extends Error {
  override name = "NatsConnectError";
}

/** Connects once (failing fast with a clear message) and then reconnects forever after server restarts. */
export async function connectNats(config: NatsConnectionConfig): Promise<NatsConnection> {
  const options = await connectionOptions(config);
  try {
    return await connectWithLargeReads(options);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new NatsConnectError(
      `cannot connect to NATS at ${withUrlCredentialsRedacted(config.url)}: ${reason}. Start a server (nats-server -js) or set nats.url / NATS_URL.`,
      { cause: error },
    );
  }
}

/** Pure mapping of our config to client options (plus reading the .creds file). */
export async function connectionOptions(config: NatsConnectionConfig): Promise<ConnectionOptions> {
  const options: ConnectionOptions = {
    servers: config.url.split(",").map((server) => server.trim()).filter((server) => server.length > 0),
    name: config.name ?? "clickpipe",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    waitOnFirstConnect: false,
    timeout: 5_000,
    // Otherwise every request (each JetStream publish awaits its ack as one) builds two Error objects with stack
    // traces up front, in case it fails: ≈ 3% of a partitioned drain's main thread (bench/OPTIMIZATIONS.md, session
    // 26). Our callers wrap what fails with their own context.
    noAsyncTraces: true,
  };
  if (config.credentials !== undefined) {
    const creds = await readFile(config.credentials).catch((error: Error) => {
      throw new NatsConnectError(`cannot read NATS credentials file ${config.credentials}: ${error.message}`);
    });
    options.authenticator = credsAuthenticator(new Uint8Array(creds));
  }
  if (config.user !== undefined) {
    options.user = config.user;
    options.pass = config.password;
  }
  if (config.token !== undefined) options.token = config.token;
  if (config.tls !== undefined) {
    options.tls = {
      ...(config.tls.ca !== undefined && { caFile: config.tls.ca }),
      ...(config.tls.cert !== undefined && { certFile: config.tls.cert }),
      ...(config.tls.key !== undefined && { keyFile: config.tls.key }),
    };
  }
  return options;
}
