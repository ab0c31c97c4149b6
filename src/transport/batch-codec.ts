// Many events per JetStream message: the body is NDJSON, one serialized event per line.

/**
 * Joins already serialized events with "\n" into one message body. (BatchPublisher writes its lines straight into a
 * body as they arrive instead: no joined string, which from 128 KiB on V8 allocates in its large-object space, where
 * building it was about 20 times slower; bench/OPTIMIZATIONS.md.)
 */
export function encodeBatch(lines: readonly string[]): Uint8Array {
  return Buffer.from(lines.join("\n"), "utf8");
}

/** Splits a message body back into its lines; a trailing newline and an empty body yield no empty line. */
export function splitBatch(data: Uint8Array): string[] {
  if (data.byteLength === 0) return [];
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
