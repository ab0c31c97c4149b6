// Collector request bodies: reading with a byte limit, and sniffing one JSON event, a JSON array, or NDJSON lines.
import type { IncomingMessage } from "node:http";
import { promisify } from "node:util";
import { brotliDecompress, gunzip, inflate } from "node:zlib";
import { withoutQuotedJsonText } from "./raw-redaction.ts";

/** One record of a body. `raw` is its text when the body had it (single object, NDJSON line); array elements have none. */
export interface BodyRecord {
  value: unknown;
  raw: string | undefined;
  /** Set when an NDJSON line is not JSON: the parser's message. */
  parseError?: string;
  /** Set when the record is known bad before it is decoded (a pixel query that is not UTF-8): dead-lettered as this. */
  unparseable?: string;
}

export type ParsedBody =
  | { ok: true; shape: "single" | "array" | "ndjson"; records: BodyRecord[] }
  | { ok: false; problem: string };

export class RequestAbortedError extends Error {
  override name = "RequestAbortedError";
}

/**
 * The whole body, or undefined as soon as it grows past `maxBytes`: buffering stops there (the caller answers 413
 * and drops a bounded rest with discardRest) rather than holding a body it will refuse. `onBytes` hears of every
 * chunk read (the collector's count of body bytes read).
 */
export function readBody(request: IncomingMessage, maxBytes: number, onBytes?: (bytes: number) => void): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      onBytes?.(chunk.length);
      if (size > maxBytes) {
        settled = true;
        request.off("data", onData);
        request.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    request.on("data", onData);
    request.once("end", () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    // Node reports a client that went away mid-body as an "aborted" error: nobody is left to answer.
    request.once("error", (error) => {
      if (settled) return;
      settled = true;
      reject(new RequestAbortedError(`the request body could not be read: ${error.message}`, { cause: error }));
    });
    request.once("close", () => {
      if (settled) return;
      settled = true;
      reject(new RequestAbortedError("the client closed the connection before the body was complete"));
    });
  });
}

/**
 * After a 413, reads and drops up to `maxBytes` more of the body; beyond that it closes the connection. Closing at
 * once would make most clients (undici, browsers) fail with EPIPE/ECONNRESET while still sending, before they read
 * the 413; the bound keeps an endless body from costing more than that.
 */
export function discardRest(request: IncomingMessage, maxBytes: number): void {
  if (request.complete) return;
  let dropped = 0;
  request.on("data", (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > maxBytes) request.socket.destroy();
  });
  request.resume();
}

const OPEN_BRACKET = 0x5b;

/** Index of the first character that is not JSON whitespace. */
function firstSignificant(text: string): number {
  let at = 0;
  while (at < text.length) {
    const code = text.charCodeAt(at);
    if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) break;
    at++;
  }
  return at;
}

/**
 * Sniffs the body whatever its Content-Type (navigator.sendBeacon sends text/plain): starting with `[` it is a JSON
 * array of events; else one JSON value (an event); else NDJSON, one record per non-blank line. Unparseable: an empty
 * body, a broken array, or NDJSON of which no line is JSON. `maxRecords` bounds the work on an oversized batch:
 * parsing stops and the records are counted only, so the caller can refuse it.
 */
export function parseBody(text: string, maxRecords: number): ParsedBody | TooManyRecords {
  const start = firstSignificant(text);
  if (start === text.length) return { ok: false, problem: "the body is empty" };
  if (text.charCodeAt(start) === OPEN_BRACKET) return parseArray(text);
  try {
    const value: unknown = JSON.parse(text);
    return { ok: true, shape: "single", records: [{ value, raw: text }] };
  } catch {
    return parseNdjson(text, maxRecords);
  }
}

function parseArray(text: string): ParsedBody {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `the body starts with "[" but is not a JSON array: ${(error as Error).message}` };
  }
  if (!Array.isArray(value)) return { ok: false, problem: "the body starts with \"[\" but is not a JSON array" };
  const records: BodyRecord[] = new Array(value.length);
  for (let index = 0; index < value.length; index++) records[index] = { value: value[index], raw: undefined };
  return { ok: true, shape: "array", records };
}

/** An NDJSON batch over the record limit: counted, with its first JSON record (which may carry the write key). */
export type TooManyRecords = { ok: true; shape: "too_many"; count: number; first: BodyRecord | undefined };

function parseNdjson(text: string, maxRecords: number): ParsedBody | TooManyRecords {
  const lines = text.split("\n");
  const records: BodyRecord[] = [];
  let count = 0;
  let parsed = 0;
  for (let line of lines) {
    if (line.length > 0 && line.charCodeAt(line.length - 1) === 0x0d) line = line.slice(0, -1);
    if (firstSignificant(line) === line.length) continue;
    count++;
    if (count > maxRecords) continue;
    try {
      records.push({ value: JSON.parse(line), raw: line });
      parsed++;
    } catch (error) {
      records.push({ value: undefined, raw: line, parseError: parseProblem(error) });
    }
  }
  if (count > maxRecords) return { ok: true, shape: "too_many", count, first: records.find((record) => record.parseError === undefined) };
  if (parsed === 0) return { ok: false, problem: "the body is neither JSON nor NDJSON (no line is a JSON value)" };
  return { ok: true, shape: "ndjson", records };
}

/** A JSON.parse error without the text V8 quotes in it: the problem goes into the dead letter's reason. */
function parseProblem(error: unknown): string {
  return withoutQuotedJsonText((error as Error).message);
}

export type DecodedContent = { ok: true; body: Buffer } | { ok: false; status: 400 | 413 | 415; problem: string };

const DECOMPRESS = { gzip: promisify(gunzip), "x-gzip": promisify(gunzip), deflate: promisify(inflate), br: promisify(brotliDecompress) } as const;

/**
 * The body as sent before its Content-Encoding (SDKs gzip batches): at most `maxBytes` once decompressed, so a small
 * compressed body cannot expand past the request limit. No encoding, or `identity`, is the body itself.
 */
export async function decodeContent(body: Buffer, encoding: string | undefined, maxBytes: number): Promise<DecodedContent> {
  const coding = (encoding ?? "identity").trim().toLowerCase();
  if (coding === "identity" || coding === "") return { ok: true, body };
  const decompress = DECOMPRESS[coding as keyof typeof DECOMPRESS];
  if (decompress === undefined) return { ok: false, status: 415, problem: `Content-Encoding ${coding} is not supported: send gzip, deflate, br or none` };
  try {
    return { ok: true, body: await decompress(body, { maxOutputLength: maxBytes }) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      return { ok: false, status: 413, problem: `the body is over the ${maxBytes}-byte limit per request once decompressed` };
    }
    return { ok: false, status: 400, problem: `the body is not valid ${coding}: ${(error as Error).message}` };
  }
}
