// Reference-counted string interning for sessionize state: urls, referrers, items and user ids shared across events.
import { type UrlParts, parseUrlParts } from "./sessionize-url.ts";

/** Rough V8 cost of one pooled string besides its characters: map entry, array slots, string header. */
const ENTRY_OVERHEAD_BYTES = 64;
const URL_PARTS_OVERHEAD_BYTES = 96;
/** Slots of the recent-strings cache (a power of two): 64 KiB, about the pool's working set on web traffic. */
const RECENT_SLOTS = 16_384;
const NO_ID = -1;

/**
 * Slot of `text` in the recent-strings cache: its length and seven of its characters (the last four, where ids and
 * paths differ, and three spread over it), mixed. Cheap on purpose: a collision costs one string comparison.
 */
export function recentSlot(text: string): number {
  const length = text.length;
  if (length < 4) return length;
  let hash =
    Math.imul(length, 0x9e3779b1) ^
    text.charCodeAt(length - 1) ^
    (text.charCodeAt(length - 2) << 7) ^
    (text.charCodeAt(length - 3) << 14) ^
    (text.charCodeAt(length - 4) << 21);
  hash = Math.imul(
    hash ^ (text.charCodeAt(length >> 1) << 3) ^ (text.charCodeAt(length >> 2) << 11) ^ (text.charCodeAt((3 * length) >> 2) << 19),
    0x85ebca6b,
  );
  return (hash ^ (hash >>> 15)) & (RECENT_SLOTS - 1);
}

export interface StringPoolSnapshot {
  /** Index = string id; null marks a free slot. */
  strings: (string | null)[];
  refs: number[];
}

/** Strings are freed when the last event holding them is evicted, so the pool never outgrows the state. */
export class StringPool {
  readonly #ids = new Map<string, number>();
  #strings: (string | null)[] = [];
  #refs: number[] = [];
  #free: number[] = [];
  #urlParts: (UrlParts | undefined)[] = [];
  #bytes = 0;
  /** Recent ids by recentSlot of their text, NO_ID when empty: a fixed 64 KiB per pool, outside `bytes` (state that grows). */
  readonly #recent = new Int32Array(RECENT_SLOTS).fill(NO_ID);

  /** Approximate bytes held by the pool. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The pooled id of `text` (a new id when it is not pooled), its count raised by one.
   *
   * A direct-mapped cache of recent ids comes first: the texts are fresh strings from JSON.parse, so a map lookup
   * hashes all of their characters and then compares them, while the cache reads seven characters and compares once.
   * On the bench's traffic 96% of lookups hit it (13.5k distinct strings in 2M lookups) and the lookups took half the
   * time (bench/OPTIMIZATIONS.md, session 18). A slot is only a guess: a stale one (its id freed or reused) fails the
   * comparison, so the cache needs no invalidation.
   */
  acquire(text: string): number {
    const slot = recentSlot(text);
    const recent = this.#recent[slot];
    if (recent !== NO_ID && this.#strings[recent] === text) {
      this.#refs[recent]++;
      return recent;
    }
    const known = this.#ids.get(text);
    if (known !== undefined) {
      this.#refs[known]++;
      this.#recent[slot] = known;
      return known;
    }
    const id = this.#free.length > 0 ? (this.#free.pop() as number) : this.#strings.length;
    this.#strings[id] = text;
    this.#refs[id] = 1;
    this.#urlParts[id] = undefined;
    this.#ids.set(text, id);
    this.#bytes += ENTRY_OVERHEAD_BYTES + 2 * text.length;
    this.#recent[slot] = id;
    return id;
  }

  /**
   * acquire(text) with a guess: the id of a pooled string that is likely equal (the visitor's previous event's).
   * Comparing with it skips hashing the fresh string and the map probe; the id and counts are acquire's.
   */
  acquireLike(guess: number, text: string): number {
    if (guess >= 0 && this.#strings[guess] === text) {
      this.#refs[guess]++;
      return guess;
    }
    return this.acquire(text);
  }

  release(id: number): void {
    if (--this.#refs[id] > 0) return;
    const text = this.#strings[id] as string;
    this.#ids.delete(text);
    this.#bytes -= ENTRY_OVERHEAD_BYTES + 2 * text.length;
    if (this.#urlParts[id] !== undefined) this.#bytes -= URL_PARTS_OVERHEAD_BYTES + 2 * text.length;
    this.#strings[id] = null;
    this.#urlParts[id] = undefined;
    this.#free.push(id);
  }

  /** Raises the count of a pooled id by one: another holder of the same string. */
  retain(id: number): void {
    this.#refs[id]++;
  }

  /** The pooled id of `text`, or undefined when it is not pooled; no count changes. */
  find(text: string): number | undefined {
    return this.#ids.get(text);
  }

  get(id: number): string {
    return this.#strings[id] as string;
  }

  /** The parsed url of a pooled string, cached while the string is pooled. */
  urlParts(id: number): UrlParts {
    let parts = this.#urlParts[id];
    if (parts === undefined) {
      const text = this.#strings[id] as string;
      parts = parseUrlParts(text);
      this.#urlParts[id] = parts;
      // The path and campaign substrings are at most as long as the url.
      this.#bytes += URL_PARTS_OVERHEAD_BYTES + 2 * text.length;
    }
    return parts;
  }

  snapshot(): StringPoolSnapshot {
    return { strings: this.#strings.slice(), refs: this.#refs.slice() };
  }

  restore(snapshot: StringPoolSnapshot): void {
    this.#ids.clear();
    this.#recent.fill(NO_ID);
    this.#strings = snapshot.strings.slice();
    this.#refs = snapshot.refs.slice();
    this.#free = [];
    this.#urlParts = new Array(this.#strings.length).fill(undefined);
    this.#bytes = 0;
    // Free slots are reused last-freed first; rebuilding them in descending order reuses low ids first.
    for (let id = this.#strings.length - 1; id >= 0; id--) {
      const text = this.#strings[id];
      if (text === null) {
        this.#free.push(id);
      } else {
        this.#ids.set(text, id);
        this.#bytes += ENTRY_OVERHEAD_BYTES + 2 * text.length;
      }
    }
  }
}
