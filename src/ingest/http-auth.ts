// Collector write keys: where a request carries one, and a constant-time check against the configured keys.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/** The body / query field that may carry the write key; it is removed from every stored record. */
export const WRITE_KEY_FIELD = "writeKey";

function digestOf(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

/** Distinct candidates whose digests are remembered; a client sends the same key on every request. */
const MAX_REMEMBERED_DIGESTS = 1_024;

export class WriteKeys {
  private readonly digests: readonly Buffer[];
  /** Candidate → its SHA-256, so the hot path skips hashing; the comparison below stays constant-time. */
  private readonly candidateDigests = new Map<string, Buffer>();

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digestOf);
  }

  /**
   * Whether `candidate` is one of the keys. Both sides are SHA-256 digests (equal length, as timingSafeEqual needs)
   * and every configured key is compared, so the time taken says nothing about how much of a key matched.
   */
  accepts(candidate: string | undefined): boolean {
    if (candidate === undefined || candidate === "") return false;
    let digest = this.candidateDigests.get(candidate);
    if (digest === undefined) {
      if (this.candidateDigests.size >= MAX_REMEMBERED_DIGESTS) this.candidateDigests.clear();
      digest = digestOf(candidate);
      this.candidateDigests.set(candidate, digest);
    }
    let matched = false;
    for (const known of this.digests) matched = timingSafeEqual(digest, known) || matched;
    return matched;
  }
}

/** The key from `Authorization: Basic base64(key:)` (the user name) or `X-Write-Key`; undefined when neither is set. */
export function writeKeyFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const header = headers["x-write-key"];
  if (typeof header === "string" && header !== "") return header;
  const authorization = headers.authorization;
  if (authorization === undefined || authorization.length < 7) return undefined;
  if (authorization.slice(0, 6).toLowerCase() !== "basic ") return undefined;
  const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  return user === "" ? undefined : user;
}

/** The `writeKey` of a record parsed from a body, when it is an object holding a string one. */
export function writeKeyOfRecord(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const key = (value as Record<string, unknown>)[WRITE_KEY_FIELD];
  return typeof key === "string" ? key : undefined;
}
