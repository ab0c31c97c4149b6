// Progress lines with an ETA on stderr for long steps (epochs, reading snapshots, scoring), at most one a second.

export interface ProgressStream {
  write(text: string): unknown;
}

export class Progress {
  readonly #label: string;
  readonly #stream: ProgressStream;
  readonly #now: () => number;
  readonly #started: number;
  readonly #intervalMs: number;
  #lastPrinted = -Infinity;

  constructor(label: string, stream: ProgressStream = process.stderr, options: { now?: () => number; intervalMs?: number } = {}) {
    this.#label = label;
    this.#stream = stream;
    this.#now = options.now ?? Date.now;
    this.#started = this.#now();
    this.#intervalMs = options.intervalMs ?? 1000;
  }

  /** Reports `done` of `total`; prints when a second has passed since the last line, and always at the end. */
  update(done: number, total: number, detail = ""): void {
    const now = this.#now();
    if (done < total && now - this.#lastPrinted < this.#intervalMs) return;
    this.#lastPrinted = now;
    this.#stream.write(`${progressLine(this.#label, done, total, now - this.#started, detail)}\n`);
  }
}

/** "train mlp: 45% (450/1000) elapsed 3s ETA 4s": the ETA assumes the rate so far holds. */
export function progressLine(label: string, done: number, total: number, elapsedMs: number, detail = ""): string {
  const share = total > 0 ? done / total : 1;
  const remaining = done > 0 ? (elapsedMs / done) * (total - done) : NaN;
  const eta = done >= total ? "done" : Number.isFinite(remaining) ? `ETA ${formatSeconds(remaining)}` : "ETA ?";
  const extra = detail === "" ? "" : ` ${detail}`;
  return `${label}: ${Math.floor(share * 100)}% (${done}/${total}) elapsed ${formatSeconds(elapsedMs)} ${eta}${extra}`;
}

function formatSeconds(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}
