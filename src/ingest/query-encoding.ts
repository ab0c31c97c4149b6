// How a query component is written: its pair separators, percent-escapes (nested values encoded once or more
// often), "+" for a space, and how a server decodes it.

/** Separators of query pairs: `&`, `;` (older servers split on it), and `#` / `?`, after which a hash router's part starts. */
export function isPairEnd(code: number): boolean {
  return code === 0x26 || code === 0x3b || code === 0x23 || code === 0x3f;
}

/** An escape that may be a nested pair's "=" or an "@" (`%3D`, `%40`) or start one encoded more often (`%25…`). */
export const NESTED_ESCAPE = /%(?:3[Dd]|25|40)/;

/** How often a separator in a value may be percent-encoded to be read as one: %3D, %253D and %25253D, not deeper. */
export const MAX_NESTED_ENCODINGS = 3;

/** The byte two hex digits at `at` spell; -1 when they are not two hex digits. */
export function hexByteAt(text: string, at: number): number {
  const high = hexDigit(text.charCodeAt(at));
  const low = hexDigit(text.charCodeAt(at + 1));
  return high < 0 || low < 0 ? -1 : (high << 4) | low;
}

/** A percent-escape, encoded once or more often, as readPercentEscape found it. */
export interface PercentEscape {
  /** The character's byte once fully decoded; -1 when no escape starts there. */
  byte: number;
  /** How often it is encoded: 1 for %3D, 2 for %253D, … */
  encodings: number;
  /** Its length in the text: 3 for %3D, 5 for %253D, … */
  length: number;
}

/**
 * Fills `escape` with the percent-escape at `at` of text[…, end): "%", then "25" once for each further encoding (%25
 * is an encoded "%"), then the character's two hex digits. Fills an object the caller keeps: this runs per character.
 */
export function readPercentEscape(text: string, at: number, end: number, escape: PercentEscape): void {
  escape.byte = -1;
  escape.encodings = 0;
  escape.length = 1;
  if (text.charCodeAt(at) !== 0x25) return;
  let hex = at + 1;
  let encodings = 1;
  while (hex + 3 < end && text.charCodeAt(hex) === 0x32 && text.charCodeAt(hex + 1) === 0x35 && hexByteAt(text, hex + 2) >= 0) {
    encodings++;
    hex += 2;
  }
  const byte = hex + 1 < end ? hexByteAt(text, hex) : -1;
  if (byte < 0) return;
  escape.byte = byte;
  escape.encodings = encodings;
  escape.length = hex + 2 - at;
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/**
 * A query component as a server reads it: `+` is a space, and each run of percent-escapes is decoded; in a run that
 * is not UTF-8 the ASCII escapes are still decoded (so a stray `%FF` does not hide a `%40`), the others stay.
 */
export function decodeQueryComponent(raw: string): string {
  return decodePercentEscapes(raw.includes("+") ? raw.replaceAll("+", " ") : raw);
}

/** decodeQueryComponent without reading `+` as a space: a path segment as a server reads it. */
export function decodePercentEscapes(raw: string): string {
  if (!raw.includes("%")) return raw;
  return raw.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run.replace(/%[0-7][0-9A-Fa-f]/g, (escape) => String.fromCharCode(Number.parseInt(escape.slice(1), 16)));
    }
  });
}
