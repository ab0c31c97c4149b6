// Deterministic hashes for sessionize: compact event-id fingerprints and stable session ids.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const EVENT_ID_SEED_HIGH = 0;
const EVENT_ID_SEED_LOW = 0x9e3779b9;
const SESSION_ID_SEED_HIGH = 0x1b873593;
const SESSION_ID_SEED_LOW = 0x68e31da4;
/** Decimal digits of a non-negative safe integer, most significant first (reused: hashing allocates nothing). */
const DIGITS = new Uint8Array(16);

/** Final avalanche (murmur3 fmix32) so short ids that differ in one character spread over all bits. */
function fmix32(hash: number): number {
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** 32-bit FNV-1a over UTF-16 code units, with a seed so two independent hashes can be combined. */
function fnv1a32(text: string, seed: number): number {
  let hash = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, FNV_PRIME);
  }
  return fmix32(hash);
}

/**
 * A 48-bit fingerprint of an event_id, exact as a JS number. Sessionize keeps it instead of the id string
 * (memory rule: ≤ 1 KiB per session) for dedupe and as the tie-break of events with the same ts.
 * Both seeded FNV-1a hashes run in one pass over the id (once per event, so it is on the hot path).
 */
export function eventIdHash(eventId: string): number {
  let high = (FNV_OFFSET ^ EVENT_ID_SEED_HIGH) >>> 0;
  let low = (FNV_OFFSET ^ EVENT_ID_SEED_LOW) >>> 0;
  for (let i = 0; i < eventId.length; i++) {
    const code = eventId.charCodeAt(i);
    high = Math.imul(high ^ code, FNV_PRIME);
    low = Math.imul(low ^ code, FNV_PRIME);
  }
  return fmix32(high) * 0x10000 + (fmix32(low) >>> 16);
}

/**
 * Session id: 16 hex digits from the visitor key and the session's first event (ts and event-id fingerprint),
 * the two seeded FNV-1a hashes of `${visitorKey(siteId, anonId)}\0${firstTs}\0${firstIdHash}`. With integer times
 * (always, after decode) that text is hashed piece by piece without building it, the visitor key included (visitors
 * keep its parts, not the key: ≈ 50 B per visitor); once per emitted session, building it showed in profiles.
 */
export function sessionIdOf(siteId: string | undefined, anonId: string, firstTs: number, firstIdHash: number): string {
  let high: number;
  let low: number;
  if (Number.isSafeInteger(firstTs) && firstTs >= 0 && Number.isSafeInteger(firstIdHash) && firstIdHash >= 0) {
    high = (FNV_OFFSET ^ SESSION_ID_SEED_HIGH) >>> 0;
    low = (FNV_OFFSET ^ SESSION_ID_SEED_LOW) >>> 0;
    // The key's characters: site_id, U+0001, anon_id; or U+0000, anon_id without a site_id (visitorKey).
    if (siteId !== undefined) {
      for (let i = 0; i < siteId.length; i++) {
        const code = siteId.charCodeAt(i);
        high = Math.imul(high ^ code, FNV_PRIME);
        low = Math.imul(low ^ code, FNV_PRIME);
      }
    }
    const separator = siteId === undefined ? 0 : 1;
    high = Math.imul(high ^ separator, FNV_PRIME);
    low = Math.imul(low ^ separator, FNV_PRIME);
    for (let i = 0; i < anonId.length; i++) {
      const code = anonId.charCodeAt(i);
      high = Math.imul(high ^ code, FNV_PRIME);
      low = Math.imul(low ^ code, FNV_PRIME);
    }
    high = Math.imul(high ^ 0, FNV_PRIME);
    low = Math.imul(low ^ 0, FNV_PRIME);
    for (let count = decimalDigits(firstTs), i = 0; i < count; i++) {
      const code = 48 + DIGITS[i];
      high = Math.imul(high ^ code, FNV_PRIME);
      low = Math.imul(low ^ code, FNV_PRIME);
    }
    high = Math.imul(high ^ 0, FNV_PRIME);
    low = Math.imul(low ^ 0, FNV_PRIME);
    for (let count = decimalDigits(firstIdHash), i = 0; i < count; i++) {
      const code = 48 + DIGITS[i];
      high = Math.imul(high ^ code, FNV_PRIME);
      low = Math.imul(low ^ code, FNV_PRIME);
    }
    high = fmix32(high);
    low = fmix32(low);
  } else {
    const text = `${siteId === undefined ? "\u0000" : `${siteId}\u0001`}${anonId}\u0000${firstTs}\u0000${firstIdHash}`;
    high = fnv1a32(text, SESSION_ID_SEED_HIGH);
    low = fnv1a32(text, SESSION_ID_SEED_LOW);
  }
  return hex16(high >>> 0, low >>> 0);
}

/** Below 2^31: the two halves of a safe integer split here are small integers. */
const DIGIT_SPLIT = 100_000_000;

/**
 * Writes the decimal digits of a non-negative safe integer into DIGITS and returns how many there are. Times and
 * id fingerprints have 13–15 digits: the value is split into two halves below 2^31 first, because `%` and division
 * on numbers past int32 are floating-point operations (fmod is a call), about 5× slower per digit (measured).
 */
function decimalDigits(value: number): number {
  if (value < DIGIT_SPLIT) return smallDecimalDigits(value);
  const high = Math.floor(value / DIGIT_SPLIT);
  let low = value - high * DIGIT_SPLIT;
  const count = smallDecimalDigits(high);
  for (let i = count + 7; i >= count; i--) {
    const quotient = (low / 10) | 0;
    DIGITS[i] = low - quotient * 10;
    low = quotient;
  }
  return count + 8;
}

/** decimalDigits of a value below DIGIT_SPLIT. */
function smallDecimalDigits(value: number): number {
  let count = 1;
  for (let rest = value; rest >= 10; rest = (rest / 10) | 0) count++;
  let rest = value;
  for (let i = count - 1; i >= 0; i--) {
    const quotient = (rest / 10) | 0;
    DIGITS[i] = rest - quotient * 10;
    rest = quotient;
  }
  return count;
}

const HEX_CODES = Uint8Array.from("0123456789abcdef", (digit) => digit.charCodeAt(0));

/** Two unsigned 32-bit values as 16 lower-case hex digits: one string built at once (toString(16) plus padStart twice cost more than the hashing). */
function hex16(high: number, low: number): string {
  return String.fromCharCode(
    HEX_CODES[high >>> 28],
    HEX_CODES[(high >>> 24) & 15],
    HEX_CODES[(high >>> 20) & 15],
    HEX_CODES[(high >>> 16) & 15],
    HEX_CODES[(high >>> 12) & 15],
    HEX_CODES[(high >>> 8) & 15],
    HEX_CODES[(high >>> 4) & 15],
    HEX_CODES[high & 15],
    HEX_CODES[low >>> 28],
    HEX_CODES[(low >>> 24) & 15],
    HEX_CODES[(low >>> 20) & 15],
    HEX_CODES[(low >>> 16) & 15],
    HEX_CODES[(low >>> 12) & 15],
    HEX_CODES[(low >>> 8) & 15],
    HEX_CODES[(low >>> 4) & 15],
    HEX_CODES[low & 15],
  );
}
