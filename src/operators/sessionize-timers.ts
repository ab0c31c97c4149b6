// Event-time timers for sessionize: a binary min-heap of (due time, visitor) with lazily re-checked entries.

/** The timers as sessionize's snapshot formats 1 and 2 saved them (format 3 names visitors by index: entries()). */
export interface DueQueueSnapshot {
  dues: number[];
  keys: string[];
}

/** Entries may fire early (their visitor moved on, or left); the owner re-checks the visitor and reschedules. */
export class DueQueue<Key> {
  #dues: number[] = [];
  #keys: Key[] = [];

  get size(): number {
    return this.#dues.length;
  }

  /** Due time of the earliest entry, +∞ when empty. */
  peekDue(): number {
    return this.#dues.length > 0 ? this.#dues[0] : Infinity;
  }

  push(due: number, key: Key): void {
    const dues = this.#dues;
    const keys = this.#keys;
    let index = dues.length;
    dues.push(due);
    keys.push(key);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (dues[parent] <= due) break;
      dues[index] = dues[parent];
      keys[index] = keys[parent];
      index = parent;
    }
    dues[index] = due;
    keys[index] = key;
  }

  /** Removes the earliest entry and returns its key (call only when size > 0). */
  pop(): Key {
    const dues = this.#dues;
    const keys = this.#keys;
    const top = keys[0];
    const lastDue = dues.pop() as number;
    const lastKey = keys.pop() as Key;
    const size = dues.length;
    if (size === 0) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && dues[right] < dues[left] ? right : left;
      if (dues[child] >= lastDue) break;
      dues[index] = dues[child];
      keys[index] = keys[child];
      index = child;
    }
    dues[index] = lastDue;
    keys[index] = lastKey;
    return top;
  }

  /** The entries in heap order: copies of the due times, and each key mapped by `map`. */
  entries<Saved>(map: (key: Key) => Saved): { dues: number[]; keys: Saved[] } {
    return { dues: this.#dues.slice(), keys: this.#keys.map(map) };
  }

  /** Replaces the entries with `dues` and their keys in heap order (entries()); an undefined key's entry is dropped. */
  restoreEntries(dues: readonly number[], keys: readonly (Key | undefined)[]): void {
    this.#dues = [];
    this.#keys = [];
    for (let index = 0; index < dues.length; index++) {
      const key = keys[index];
      if (key !== undefined) this.push(dues[index], key);
    }
  }

  /** Replaces the entries with a snapshot's; an entry whose name `find` does not know is dropped (nothing to fire). */
  restore(snapshot: DueQueueSnapshot, find: (name: string) => Key | undefined): void {
    this.restoreEntries(snapshot.dues, snapshot.keys.map(find));
  }
}
