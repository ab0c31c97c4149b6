// Sizes as people write them in pipeline files: "512MiB", "10GiB", "2GB", or a whole number of bytes.
import { z } from "zod";

// Binary units as nats-server and the nats CLI mean them (1 KiB = 1024 bytes); decimal ones as disks are sold.
const UNIT_BYTES: Record<string, number> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
};
const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i;

/** Parses "10GiB" into 10_737_418_240 and "2GB" into 2_000_000_000; undefined when the text is not a size. */
export function parseSize(text: string): number | undefined {
  const match = SIZE_PATTERN.exec(text.trim());
  if (match === null) return undefined;
  const unit = UNIT_BYTES[(match[2] ?? "b").toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Formats bytes in the largest binary unit that divides them, e.g. 10_737_418_240 → "10GiB", 1500 → "1500B". */
export function formatSize(bytes: number): string {
  for (const unit of ["tib", "gib", "mib", "kib"] as const) {
    if (bytes !== 0 && bytes % UNIT_BYTES[unit] === 0) return `${bytes / UNIT_BYTES[unit]}${unit === "kib" ? "KiB" : unit[0].toUpperCase() + "iB"}`;
  }
  return `${bytes}B`;
}

/** A zod schema accepting a size ("10GiB", or a whole number of bytes) and producing bytes. */
export function size() {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const bytes = typeof value === "number" ? (Number.isSafeInteger(value) ? value : undefined) : parseSize(value);
    if (bytes === undefined || bytes <= 0) {
      ctx.addIssue({
        code: "custom",
        message: `expected a size like "10GiB" (units B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB), got ${JSON.stringify(value)}`,
        params: { hint: 'Write a positive size such as "512MiB" or "10GiB", or a whole number of bytes.' },
      });
      return z.NEVER;
    }
    return bytes;
  });
}
