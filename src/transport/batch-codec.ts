// Many events per JetStream message: the body is NDJSON, one serialized event per line.

/**
 * Joins already serialized events with "\n" into one message body; `ascii`: every line is ASCII (encoded faster).
 * Given the body's exact size in bytes, the lines are written straight into it: no joined string, which from 128 KiB
 * on V8 allocates in its large-object space, where building it was about 20 times slower (bench/OPTIMIZATIONS.md).
 */
export function encodeBatch(lines: readonly string[], ascii = false, byteLength?: number): Uint8Array {
  if (byteLength === undefined) return Buffer.from(lines.join("\n"), ascii ? "latin1" : "utf8");
  const body = Buffer.allocUnsafe(byteLength);
  const encoding = ascii ? "latin1" : "utf8";
  let at = 0;
  for (let index = 0; index < lines.length; index++) {
    if (index > 0) body[at++] = 0x0a;
    at += body.write(lines[index], at, encoding);
  }
  if (at !== byteLength) throw new RangeError(`a batch of ${at} bytes was sized ${byteLength}`);
  return body;
}

/** Splits a message body back into its lines; a trailing newline and an empty body yield no empty line. */
export function splitBatch(data: Uint8Array): string[] {
  if (data.byteLength === 0) return [];
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
