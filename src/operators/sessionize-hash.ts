// Deterministic hashes for sessionize: compact event-id fingerprints and stable session ids.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a over UTF-16 code units, with a seed so two independent hashes can be combined. */
function fnv1a32(text: string, seed: number): number {
  let hash = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, FNV_PRIME);
  }
  // Final avalanche (murmur3 fmix32) so short ids that differ in one character spread over all bits.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/**
 * A 48-bit fingerprint of an event_id, exact as a JS number. Sessionize keeps it instead of the id string
 * (memory rule: ≤ 1 KiB per session) for dedupe and as the tie-break of events with the same ts.
 */
export function eventIdHash(eventId: string): number {
  return fnv1a32(eventId, 0) * 0x10000 + (fnv1a32(eventId, 0x9e3779b9) >>> 16);
}

/** Session id: 16 hex digits from the visitor key and the session's first event (ts and event-id fingerprint). */
export function sessionIdOf(visitorKey: string, firstTs: number, firstIdHash: number): string {
  const text = `${visitorKey}\u0000${firstTs}\u0000${firstIdHash}`;
  return fnv1a32(text, 0x1b873593).toString(16).padStart(8, "0") + fnv1a32(text, 0x68e31da4).toString(16).padStart(8, "0");
}
