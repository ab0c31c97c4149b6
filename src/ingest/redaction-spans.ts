// What a query redaction removes (QueryRedaction), what a removed span becomes (REDACTED_QUERY_VALUE), and how the
// replacements of a text's spans are made (Redactions): shared by the readers of queries, nested values and JSON.

/**
 * What a redacted value becomes. Parentheses are allowed in a query (RFC 3986 sub-delims) and percent-decode to
 * themselves, so the URL stays a valid URL and URLSearchParams reads "(redacted)"; GA4 writes the same.
 */
export const REDACTED_QUERY_VALUE = "(redacted)";

export interface QueryRedaction {
  /** Lowercase names whose values are redacted. */
  readonly names: ReadonlySet<string>;
  /** Lengths of those names: a name of another length and without escapes is no match, without lowercasing it. */
  readonly nameLengths: ReadonlySet<number>;
  /** Whether values (and names) that hold an email address are redacted too. */
  readonly emails: boolean;
}

/** Where redactions of a text's spans go, made from its start to its end. */
export interface SpanReplacer {
  /** text[start, end) becomes `marker`; `start` is not before the end of the last replaced span. */
  replace(start: number, end: number, marker?: string): void;
}

/** The replacements of spans of a text, made from its start to its end, and the text they give. */
export class Redactions implements SpanReplacer {
  private out = "";
  private copied = 0;
  private changed = false;

  constructor(private readonly text: string) {}

  replace(start: number, end: number, marker = REDACTED_QUERY_VALUE): void {
    this.out += this.text.slice(this.copied, start) + marker;
    this.copied = end;
    this.changed = true;
  }

  /** The text with its replacements: the text itself when there are none. */
  result(): string {
    return this.changed ? this.out + this.text.slice(this.copied) : this.text;
  }
}
