// `clickpipe publish <file> --pipeline p.yaml [--format …] [--map …] [--sort-by-time]`: a file's records into the stream.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { compileLogFormat } from "../ingest/access-log.ts";
import { compileCsvMapping } from "../ingest/csv.ts";
import { RecordPublisher, type IngestCounts } from "../ingest/record-publisher.ts";
import { connectNats } from "../transport/connection.ts";
import { ensureStream } from "../transport/stream.ts";
import { loadPipelineOrThrow } from "./load-config.ts";

export const publishUsage =
  "usage: clickpipe publish <file> --pipeline <pipeline.yaml> [--format ndjson|combined|common|csv|'<log format>'] " +
  "[--map <spec>] [--delimiter <char>|whitespace] [--sort-by-time]";

export async function runPublish(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      pipeline: { type: "string" },
      format: { type: "string", default: "ndjson" },
      map: { type: "string" },
      delimiter: { type: "string" },
      "sort-by-time": { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1 || values.pipeline === undefined) {
    console.error(publishUsage);
    return 2;
  }
  if (values.format === "csv" && values.map === undefined) {
    console.error(`--format csv needs --map, e.g. --map "type=purchase,user_id=$1,ts=$2:yyyymmdd,revenue=$4"\n${publishUsage}`);
    return 2;
  }
  const config = await loadPipelineOrThrow(values.pipeline);
  const content = await readFile(positionals[0]);
  const lines = splitLines(content.toString("utf8"));
  const connection = await connectNats(config.nats);
  try {
    const manager = await jetstreamManager(connection);
    await ensureStream(manager, config.nats.stream);
    // The same file with the same options always yields the same batch ids, so JetStream stores a re-publish once.
    const msgIdPrefix = createHash("sha256")
      .update(content)
      .update(JSON.stringify([values.format, values.map, values.delimiter, values["sort-by-time"]]))
      .digest("base64url")
      .slice(0, 22);
    const publisher = new RecordPublisher({ config, js: jetstream(connection), connection, source: "publish", msgIdPrefix });
    const counts = await publishLines(publisher, lines, {
      format: values.format,
      map: values.map,
      delimiter: values.delimiter,
      sortByTime: values["sort-by-time"],
    });
    console.log(
      `read ${counts.read}, published ${counts.published}, rejected ${counts.rejected}, filtered ${counts.filtered} ` +
        `→ ${config.nats.stream}`,
    );
    return 0;
  } finally {
    await connection.drain().catch(() => connection.close());
  }
}

export interface PublishLinesOptions {
  format: string;
  map?: string;
  delimiter?: string;
  sortByTime?: boolean;
  receivedAt?: number;
}

interface PreparedLine {
  line: string;
  lineNumber: number;
  ts: number;
}

/** Publishes every line of a file as one record, in file order or sorted by event time (stable). */
export async function publishLines(publisher: RecordPublisher, lines: string[], options: PublishLinesOptions): Promise<IngestCounts> {
  const receivedAt = options.receivedAt ?? Date.now();
  const handle = lineHandler(publisher, options, receivedAt);
  let ordered: PreparedLine[] | undefined;
  if (options.sortByTime === true) {
    ordered = lines.map((line, index) => ({ line, lineNumber: index + 1, ts: handle.timeOf(line, index + 1) }));
    // Records without a readable time keep their place at the front: they are rejected anyway.
    ordered.sort((a, b) => a.ts - b.ts || a.lineNumber - b.lineNumber);
  }
  if (ordered !== undefined) {
    for (const item of ordered) await handle.publish(item.line, item.lineNumber);
  } else {
    for (let index = 0; index < lines.length; index++) await handle.publish(lines[index], index + 1);
  }
  return publisher.flush();
}

interface LineHandler {
  publish(line: string, lineNumber: number): Promise<void>;
  timeOf(line: string, lineNumber: number): number;
}

function lineHandler(publisher: RecordPublisher, options: PublishLinesOptions, receivedAt: number): LineHandler {
  const format = options.format;
  if (format === "ndjson" || format === "json") {
    return {
      publish: (line) => publisher.publishJsonLine(line, receivedAt),
      timeOf: (line) => jsonTime(line),
    };
  }
  if (format === "csv") {
    const mapping = compileCsvMapping(options.map ?? "", { delimiter: options.delimiter });
    return {
      publish: async (line, lineNumber) => {
        const mapped = mapping.map(line, lineNumber);
        if (mapped === undefined) return; // header line
        if (!mapped.ok) return publisher.rejectLine(line, `unparseable_line: ${mapped.reason}`, receivedAt);
        return publisher.publishJsonValue(mapped.record, line, receivedAt);
      },
      timeOf: (line, lineNumber) => {
        const mapped = mapping.map(line, lineNumber);
        return mapped !== undefined && mapped.ok ? timeValue(mapped.record.ts) : Number.NEGATIVE_INFINITY;
      },
    };
  }
  const parse = compileLogFormat(format);
  return {
    publish: async (line, lineNumber) => {
      const parsed = parse(line);
      if (!parsed.ok) return publisher.rejectLine(line, `unparseable_line: ${parsed.reason}`, receivedAt);
      return publisher.publishAccessRecord(parsed.record, line, lineNumber, receivedAt);
    },
    timeOf: (line) => {
      const parsed = parse(line);
      return parsed.ok ? parsed.record.ts : Number.NEGATIVE_INFINITY;
    },
  };
}

function jsonTime(line: string): number {
  try {
    const value = JSON.parse(line) as { ts?: unknown };
    return timeValue(value?.ts);
  } catch {
    return Number.NEGATIVE_INFINITY;
  }
}

function timeValue(ts: unknown): number {
  if (typeof ts === "number" && Number.isFinite(ts)) return ts;
  if (typeof ts === "string") {
    const parsed = Date.parse(ts);
    if (Number.isFinite(parsed)) return parsed;
  }
  return Number.NEGATIVE_INFINITY;
}

/** Lines of a text file: LF or CRLF; a final newline does not make an empty record, other empty lines do. */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}
