// Many events per JetStream message: the body is NDJSON, one serialized event per line.

/**
 * Joins already serialized events with "\n" into one message body. (BatchPublisher writes its lines straight into a
 * body as they arrive instead: no joined string, which from 128 KiB on V8 allocates in its large-object space, where
 * building it was about 20 times slower; bench/OPTIMIZATIONS.md.)
 */
export function encodeBatch(lines: readonly string[]): Uint8Array {
  return Buffer.from(lines.join("\n"), "utf8");
}

/**
 * Splits a message body back into its lines; a trailing newline and an empty body yield no empty line. V8 makes each
 * line of 13 characters or more a view into the body's text: keeping a line keeps the whole body (see detachedLine).
 */
export function splitBatch(data: Uint8Array): string[] {
  if (data.byteLength === 0) return [];
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * A copy of a line that does not keep alive the message body it was split from. A purchase's line kept until a
 * checkpoint (forwarded whole to the customer stage) held its ≈ 40 KB body with it, and the collector promoted and
 * copied those bodies (bench/OPTIMIZATIONS.md, session 30). Exact for text decoded from UTF-8, as every line is.
 */
export function detachedLine(line: string): string {
  return Buffer.from(line, "utf8").toString("utf8");
}
