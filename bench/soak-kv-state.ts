// Optional soak step (CLICKPIPE_SOAK_KV_GIB=n): n GiB of checkpoint state through the KV store's chunks and back, by sha256.
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { createHash, randomBytes } from "node:crypto";
import { DEFAULT_CHUNK_BYTES, checkpointBucketName, getChunks, putChunks } from "../src/runtime/checkpoint-nats.ts";

const SEGMENT_BYTES = 64 * 1024 * 1024;

/**
 * Bytes, not a JSON string: V8 strings stop at about 512 MiB, so a state past that cannot pass through
 * JSON.stringify at all; this checks that the chunk layer itself carries GiBs intact. Returns true when it did.
 */
export async function soakKvState(natsUrl: string, gib: number): Promise<boolean> {
  const connection = await connect({ servers: natsUrl });
  const bucket = checkpointBucketName(`soak_state_${Date.now().toString(36)}`);
  const kv = await new Kvm(connection).create(bucket, { history: 1 });
  try {
    const total = Math.round(gib * 1024 * 1024 * 1024);
    const segments: Buffer[] = [];
    for (let offset = 0; offset < total; offset += SEGMENT_BYTES) segments.push(randomBytes(Math.min(SEGMENT_BYTES, total - offset)));
    const expected = segments.reduce((hash, segment) => hash.update(segment), createHash("sha256")).digest("hex");
    let started = performance.now();
    const set = await putChunks(kv, { epoch: 1, token: "soak" }, segments, DEFAULT_CHUNK_BYTES);
    const writeSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    const read = await getChunks(kv, set);
    const readSeconds = (performance.now() - started) / 1000;
    const actual = read === undefined ? "missing chunks" : createHash("sha256").update(read).digest("hex");
    const ok = set.sha256 === expected && actual === expected;
    console.log(
      `${ok ? "ok  " : "DIFF"} kv state ${gib} GiB in ${set.chunks} chunks: write ${writeSeconds.toFixed(1)} s, ` +
        `read ${readSeconds.toFixed(1)} s, sha256 ${actual}${ok ? "" : ` (expected ${expected})`}`,
    );
    return ok;
  } finally {
    await kv.destroy().catch(() => undefined);
    await connection.close();
  }
}
