// JSON in a value: a beacon's `?data=%7B%22token%22%3A%22abc%22%7D`, an OAuth `?state={"access_token":"x"}`. A value
// whose first character is "{" or "[" (raw, or percent-encoded up to MAX_NESTED_ENCODINGS times: %7B, %257B, %25257B)
// is read as JSON, decoded as often as that opener is encoded, without decoding it into a copy: each character is
// read where it is written, so a redaction replaces those bytes and every other byte of the URL stays as written. The
// value of a listed key (at any depth, compared as query names are) and a string value holding an address become
// "(redacted)": a string's contents, so its quotes stay; a number, boolean, object or array as a string, its quotes
// written as the key's were. A string value read as a query loses its nested listed values, as a value of the URL's
// does. A value that is no JSON, too long or too deep is left to the rules for text.
import { holdsAddress } from "./email-address.ts";
import { decodeQueryComponent, hexByteAt, isPairEnd, MAX_NESTED_ENCODINGS, NESTED_ESCAPE, readPercentEscape, type PercentEscape } from "./query-encoding.ts";
import { REDACTED_QUERY_VALUE, type QueryRedaction, type SpanReplacer } from "./redaction-spans.ts";

/**
 * Reads text[start, end) as a query and redacts its nested listed values (query-redaction's redactNestedPairs, which
 * reads a nested value as JSON in turn): passed in, so that the two modules do not import each other.
 */
export type NestedPairsReader = (text: string, start: number, end: number, redaction: QueryRedaction, redactions: SpanReplacer) => void;

/** Raw characters of a value read as JSON at most: a longer one is left to the rules for text (a bounded read). */
export const MAX_JSON_VALUE_LENGTH = 8192;

/** How deep a value's objects and arrays may nest to be read as JSON (a bound on the scanner's recursion). */
const MAX_JSON_DEPTH = 32;

/**
 * How often the "{" or "[" starting text[at, end) is percent-encoded, counting a raw one as once (a server decodes a
 * value once): 1 for `{` or `%7B`, 2 for `%257B`, 3 for `%25257B`; 0 for no opener. JSON white space may come first
 * (`+{`, `%20%7B`, `%0A[`: JSON.parse skips it), written raw, as "+" or percent-encoded; the scanner reads it again
 * and keeps it as written. One character read for a value that starts with neither "{", "[", "%", "+" nor white space.
 */
function jsonEncodingsAt(text: string, at: number, end: number): number {
  const code = text.charCodeAt(at);
  if (code === 0x7b || code === 0x5b) return 1;
  if (code !== 0x25 && code !== 0x2b && !isJsonSpace(code)) return 0;
  // No further than a value read as JSON may run (a pair of 200 KB of "+" is read up to the cap, once).
  const limit = Math.min(end, at + MAX_JSON_VALUE_LENGTH);
  let opener = at;
  for (; opener < limit; opener += leadingChar.length) {
    readJsonChar(text, opener, end, MAX_NESTED_ENCODINGS, leadingChar);
    if (!isJsonSpace(leadingChar.code)) break;
  }
  return opener < limit ? openerEncodingsAt(text, opener, end) : 0;
}

/** jsonEncodingsAt's reader of the characters before an opener (one at a time, so one for all calls). */
const leadingChar: JsonChar = { code: 0, length: 1 };

/** Space, tab, LF and CR: the white space JSON allows around its tokens. */
export function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/** How often the "{" or "[" at `at` is percent-encoded (a raw one counts once); 0 for no opener. */
function openerEncodingsAt(text: string, at: number, end: number): number {
  const code = text.charCodeAt(at);
  if (code === 0x7b || code === 0x5b) return 1;
  if (code !== 0x25) return 0;
  let hex = at + 1;
  let encodings = 1;
  while (encodings < MAX_NESTED_ENCODINGS && text.charCodeAt(hex) === 0x32 && text.charCodeAt(hex + 1) === 0x35) {
    encodings++;
    hex += 2;
  }
  const byte = hex + 2 <= end ? hexByteAt(text, hex) : -1;
  return byte === 0x7b || byte === 0x5b ? encodings : 0;
}

/**
 * When text[start, end) is a JSON object or array (see jsonEncodingsAt), its redactions go to `redactions` and the
 * answer is true; else false and nothing is redacted.
 */
export function redactJsonValue(
  text: string,
  start: number,
  end: number,
  redaction: QueryRedaction,
  redactions: SpanReplacer,
  readNested: NestedPairsReader,
  depth = 0,
): boolean {
  if (end - start > MAX_JSON_VALUE_LENGTH) return false;
  const scanner = scanJson(text, start, end, redaction, readNested, depth);
  if (scanner === undefined || scanner.at !== end) return false;
  for (const span of scanner.spans) redactions.replace(span.start, span.end, span.marker);
  return true;
}

/** The scanner after reading one JSON value and white space from text[start, limit); undefined for none. */
function scanJson(text: string, start: number, limit: number, redaction: QueryRedaction, readNested: NestedPairsReader, depth: number): JsonScanner | undefined {
  const encodings = jsonEncodingsAt(text, start, limit);
  if (encodings === 0) return scanStringifiedJson(text, start, limit, redaction, readNested, depth);
  const scanner = new JsonScanner(text, start, limit, encodings, redaction, readNested);
  if (!scanner.value(depth, false)) return undefined;
  scanner.skipSpace();
  return scanner;
}

/**
 * A JSON string holding a JSON object or array (`"{\"token\":\"abc\"}"`, a stringified payload; raw or
 * percent-encoded, `%22%7B%5C%22token…`): read through the string's escapes, so that a listed value inside is redacted
 * where it is written and every other byte stays. The scanner after the closing quote and white space; undefined for none.
 */
function scanStringifiedJson(text: string, start: number, limit: number, redaction: QueryRedaction, readNested: NestedPairsReader, depth: number): JsonScanner | undefined {
  const code = text.charCodeAt(start);
  if (code !== 0x22 && code !== 0x25) return undefined;
  const encodings = quoteEncodingsAt(text, start, limit);
  if (encodings === 0 || depth + 1 >= MAX_JSON_DEPTH) return undefined;
  const scanner = new JsonScanner(text, start, limit, encodings, redaction, readNested);
  scanner.escaped = true;
  if (!scanner.opensStringifiedJson() || !scanner.value(depth + 1, false)) return undefined;
  scanner.skipSpace();
  if (!scanner.closesStringifiedJson()) return undefined;
  scanner.skipSpace();
  return scanner;
}

/** How often the quote at `at` is percent-encoded (a raw one counts once): 1 for `"` or `%22`, 2 for `%2522`; 0 for none. */
function quoteEncodingsAt(text: string, at: number, end: number): number {
  if (text.charCodeAt(at) === 0x22) return 1;
  readPercentEscape(text, at, end, readEscape);
  return readEscape.byte === 0x22 && readEscape.encodings <= MAX_NESTED_ENCODINGS ? readEscape.encodings : 0;
}

/**
 * A JSON value of a URL's query cut short at `pairEnd` by a "?", ";", "#" or "&" in one of its strings
 * (`?state={"token":"x","next":"/cart?step=2"}`: a server reading the query whole keeps "?" and ";" in the value):
 * read on past it, its redactions made, and where it ends (at a pair end or the URL's end) returned; -1 for no such
 * value. `budget.left` bounds what failed reads take in one URL (else `?a={"&a={"&…` reads 8192 characters a pair).
 */
export function redactJsonRunningOn(
  url: string,
  start: number,
  pairEnd: number,
  redaction: QueryRedaction,
  redactions: SpanReplacer,
  budget: { left: number },
  readNested: NestedPairsReader,
): number {
  if (pairEnd >= url.length || budget.left <= 0 || (jsonEncodingsAt(url, start, pairEnd) === 0 && quoteEncodingsAt(url, start, pairEnd) === 0)) return -1;
  const limit = Math.min(url.length, start + MAX_JSON_VALUE_LENGTH, pairEnd + budget.left);
  const scanner = scanJson(url, start, limit, redaction, readNested, 0);
  if (scanner === undefined || scanner.at <= pairEnd || (scanner.at < url.length && !isPairEnd(url.charCodeAt(scanner.at)))) {
    budget.left -= limit - pairEnd;
    return -1;
  }
  for (const span of scanner.spans) redactions.replace(span.start, span.end, span.marker);
  return scanner.at;
}

/** A span of JSON text to redact, and what it becomes. */
interface JsonSpan {
  start: number;
  end: number;
  marker: string;
}

/** One character of JSON as written in a value: its code once decoded (-1 when it is no ASCII character), its length. */
interface JsonChar {
  code: number;
  length: number;
}

/** What readPercentEscape last read; one object reused, as this runs per character. */
const readEscape: PercentEscape = { byte: -1, encodings: 0, length: 1 };

/** Fills `char` with the character at `at`: raw, "+" (a space), or percent-encoded at most `encodings` times. */
function readJsonChar(text: string, at: number, end: number, encodings: number, char: JsonChar): void {
  const code = text.charCodeAt(at);
  char.length = 1;
  char.code = code === 0x2b ? 0x20 : code > 0x7f ? -1 : code;
  if (code !== 0x25) return;
  readPercentEscape(text, at, end, readEscape);
  if (readEscape.byte < 0) return;
  char.length = readEscape.length;
  // Encoded more often than the JSON: a "%" (and more) in a string once decoded, as is a byte of a UTF-8 character.
  char.code = readEscape.encodings > encodings || readEscape.byte > 0x7f ? -1 : readEscape.byte;
}

/** The characters of JSON's two-character string escapes (`\n`, `\/`), by the code of the letter after the backslash. */
export const JSON_STRING_ESCAPES: ReadonlyMap<number, number> = new Map(
  Object.entries({ '"': 0x22, "\\": 0x5c, "/": 0x2f, b: 0x08, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09 }).map(([letter, code]) => [letter.charCodeAt(0), code]),
);

/** A number, true, false or null (RFC 8259). */
const JSON_LITERAL = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/;

/** A recursive-descent reader of the JSON in text[…, end), collecting the spans to redact; false for no JSON. */
class JsonScanner {
  readonly spans: JsonSpan[] = [];
  /** How the last quote read is written (`"`, `%22`, `%2522`), for a listed value redacted into a string. */
  private quote = '"';
  private readonly char: JsonChar = { code: 0, length: 1 };

  constructor(
    private readonly text: string,
    public at: number,
    private readonly end: number,
    private readonly encodings: number,
    private readonly redaction: QueryRedaction,
    private readonly readNested: NestedPairsReader,
  ) {}

  /**
   * Whether the JSON is read inside a JSON string (scanStringifiedJson): its characters through the string's escapes
   * (`\"` is a quote), and the string's own closing quote ends it.
   */
  escaped = false;

  /** The code of the character at `at` (-2 at the end); `advance` moves past it. */
  private peek(): number {
    if (this.at >= this.end) return -2;
    readJsonChar(this.text, this.at, this.end, this.encodings, this.char);
    if (!this.escaped) return this.char.code;
    if (this.char.code === 0x22) return -2;
    if (this.char.code !== 0x5c) return this.char.code;
    // A string escape: the backslash and the character after it, as one character (`\u` ones are no ASCII JSON syntax here).
    const backslashLength = this.char.length;
    if (this.at + backslashLength >= this.end) return -2;
    readJsonChar(this.text, this.at + backslashLength, this.end, this.encodings, this.char);
    const code = this.char.code < 0 ? undefined : JSON_STRING_ESCAPES.get(this.char.code);
    this.char.length += backslashLength;
    return code ?? -1;
  }

  /** At the opening quote of a JSON string: whether it holds an object or array (after white space); moves past the quote. */
  opensStringifiedJson(): boolean {
    this.escaped = false;
    this.peek();
    this.quote = this.text.slice(this.at, this.at + this.char.length);
    this.advance();
    this.escaped = true;
    this.skipSpace();
    const code = this.peek();
    return code === 0x7b || code === 0x5b;
  }

  /** At the closing quote of the JSON string holding the JSON: whether it is one; moves past it, reading on unescaped. */
  closesStringifiedJson(): boolean {
    this.escaped = false;
    if (this.peek() !== 0x22) return false;
    this.advance();
    return true;
  }

  private advance(): void {
    this.at += this.char.length;
  }

  skipSpace(): void {
    for (let code = this.peek(); isJsonSpace(code); code = this.peek()) this.advance();
  }

  /** Reads a value; a listed key's (`listed`) is redacted whole, except null and an empty or redacted string. */
  value(depth: number, listed: boolean): boolean {
    this.skipSpace();
    const start = this.at;
    // A listed value that is no string becomes the marker quoted as its key is, the quote read last.
    const quote = this.quote;
    const code = this.peek();
    if (code === 0x22) return this.string(listed ? "listed" : "value", depth) !== undefined;
    if (code === 0x7b || code === 0x5b) {
      if (depth >= MAX_JSON_DEPTH) return false;
      const spansBefore = this.spans.length;
      if (!(code === 0x7b ? this.object(depth + 1) : this.array(depth + 1))) return false;
      if (listed) {
        this.spans.length = spansBefore;
        this.spans.push({ start, end: this.at, marker: quote + REDACTED_QUERY_VALUE + quote });
      }
      return true;
    }
    let literal = "";
    for (let next = code; next === 0x2b || next === 0x2d || next === 0x2e || isAsciiAlphanumeric(next); next = this.peek()) {
      literal += String.fromCharCode(next);
      this.advance();
    }
    if (!JSON_LITERAL.test(literal)) return false;
    if (listed && literal !== "null") this.spans.push({ start, end: this.at, marker: quote + REDACTED_QUERY_VALUE + quote });
    return true;
  }

  private object(depth: number): boolean {
    this.advance();
    this.skipSpace();
    if (this.peek() === 0x7d) {
      this.advance();
      return true;
    }
    for (;;) {
      this.skipSpace();
      if (this.peek() !== 0x22) return false;
      const key = this.string("key", depth);
      if (key === undefined) return false;
      this.skipSpace();
      if (this.peek() !== 0x3a) return false;
      this.advance();
      if (!this.value(depth, this.redaction.names.has(key.toLowerCase()))) return false;
      this.skipSpace();
      const code = this.peek();
      this.advance();
      if (code === 0x7d) return true;
      if (code !== 0x2c) return false;
    }
  }

  private array(depth: number): boolean {
    this.advance();
    this.skipSpace();
    if (this.peek() === 0x5d) {
      this.advance();
      return true;
    }
    for (;;) {
      if (!this.value(depth, false)) return false;
      this.skipSpace();
      const code = this.peek();
      this.advance();
      if (code === 0x5d) return true;
      if (code !== 0x2c) return false;
    }
  }

  /**
   * Reads a string at a quote: its contents decoded (undefined for no JSON string). With emails on, contents that hold
   * an address are redacted, a listed key's are (`listed`), and a value's are read as a query for nested pairs.
   */
  private string(kind: "key" | "value" | "listed", depth: number): string | undefined {
    this.quote = this.text.slice(this.at, this.at + this.char.length);
    this.advance();
    const start = this.at;
    for (let code = this.peek(); code !== 0x22; code = this.peek()) {
      if (code === -2 || (code >= 0 && code < 0x20)) return undefined;
      this.advance();
      if (code === 0x5c) {
        if (this.peek() === -2) return undefined;
        this.advance();
      }
    }
    const end = this.at;
    this.advance();
    const raw = this.text.slice(start, end);
    let contents = raw;
    for (let times = 0; times < this.encodings && (contents.includes("%") || contents.includes("+")); times++) contents = decodeQueryComponent(contents);
    // Inside a JSON string, the contents are escaped twice: for the string around the JSON, then for their own.
    for (let times = this.escaped ? 2 : 1; times > 0 && contents.includes("\\"); times--) {
      try {
        contents = JSON.parse(`"${contents}"`) as string;
      } catch {
        return undefined;
      }
    }
    if (kind === "listed") {
      if (end > start && raw !== REDACTED_QUERY_VALUE) this.spans.push({ start, end, marker: REDACTED_QUERY_VALUE });
    } else if (this.redaction.emails && contents.includes("@") && holdsAddress(contents)) {
      this.spans.push({ start, end, marker: REDACTED_QUERY_VALUE });
    } else if (holdsJsonToRedact(contents, this.redaction, this.readNested, depth)) {
      // JSON in a string (`"{\"token\":\"x\"}"`, a stringified payload, or percent-encoded): its escapes have no
      // place in the URL's bytes to map back to, so the whole string goes.
      this.spans.push({ start, end, marker: REDACTED_QUERY_VALUE });
    } else if (raw.includes("=") || NESTED_ESCAPE.test(raw)) {
      // A value, or a key, that is a URL: its nested listed values go.
      this.readNested(this.text, start, end, this.redaction, { replace: (from, to) => this.spans.push({ start: from, end: to, marker: REDACTED_QUERY_VALUE }) });
    }
    return contents;
  }
}

/** Whether a JSON string's decoded contents are JSON themselves with something to redact, read `depth` levels deep. */
function holdsJsonToRedact(contents: string, redaction: QueryRedaction, readNested: NestedPairsReader, depth: number): boolean {
  if (contents.length < 2 || depth + 1 >= MAX_JSON_DEPTH) return false;
  let found = false;
  const finder: SpanReplacer = {
    replace: () => {
      found = true;
    },
  };
  return redactJsonValue(contents, 0, contents.length, redaction, finder, readNested, depth + 1) && found;
}

function isAsciiAlphanumeric(code: number): boolean {
  const lower = code | 0x20;
  return (code >= 0x30 && code <= 0x39) || (lower >= 0x61 && lower <= 0x7a);
}
