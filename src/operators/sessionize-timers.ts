// Event-time timers for sessionize: a binary min-heap of (due time, visitor key) with lazily re-checked entries.

export interface DueQueueSnapshot {
  dues: number[];
  keys: string[];
}

/** Entries may fire early (their visitor moved on); the owner re-checks the visitor and reschedules. */
export class DueQueue {
  #dues: number[] = [];
  #keys: string[] = [];

  get size(): number {
    return this.#dues.length;
  }

  /** Due time of the earliest entry, +∞ when empty. */
  peekDue(): number {
    return this.#dues.length > 0 ? this.#dues[0] : Infinity;
  }

  push(due: number, key: string): void {
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
  pop(): string {
    const dues = this.#dues;
    const keys = this.#keys;
    const top = keys[0];
    const lastDue = dues.pop() as number;
    const lastKey = keys.pop() as string;
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

  snapshot(): DueQueueSnapshot {
    return { dues: this.#dues.slice(), keys: this.#keys.slice() };
  }

  restore(snapshot: DueQueueSnapshot): void {
    this.#dues = snapshot.dues.slice();
    this.#keys = snapshot.keys.slice();
  }
}
