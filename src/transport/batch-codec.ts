// Many events per JetStream message: the body is NDJSON, one serialized event per line.

/** Joins already serialized events with "\n" into one message body; `ascii`: every line is ASCII (encoded faster). */
export function encodeBatch(lines: readonly string[], ascii = false): Uint8Array {
  return Buffer.from(lines.join("\n"), ascii ? "latin1" : "utf8");
}

/** Splits a message body back into its lines; a trailing newline and an empty body yield no empty line. */
export function splitBatch(data: Uint8Array): string[] {
  if (data.byteLength === 0) return [];
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
