// Secrets and email addresses in URLs: values of listed query and fragment parameters (`?email=…`, `?token=…`, the
// pixel's own `?writeKey=…`, `#access_token=…`), also of parameters nested in an encoded value (`?next=%2Fp%3Ftoken%3D…`),
// values of listed keys and addresses inside a JSON value (`?state={"access_token":…}`, `?data=%7B%22token%22…`), and
// path segments holding an address (`/unsubscribe/jane@x.com`) are replaced by a marker in url and referrer before
// anything is stored, as GA4's data redaction does.
import { parse } from "tldts";
import { WRITE_KEY_FIELD } from "./http-auth.ts";

/**
 * What a redacted value becomes. Parentheses are allowed in a query (RFC 3986 sub-delims) and percent-decode to
 * themselves, so the URL stays a valid URL and URLSearchParams reads "(redacted)"; GA4 writes the same.
 */
export const REDACTED_QUERY_VALUE = "(redacted)";

/** clickpipe's own secret: redacted whatever list the pipeline file gives. */
export const ALWAYS_REDACTED_QUERY_PARAMS: readonly string[] = [WRITE_KEY_FIELD];

/** The default list (names compared case-insensitively, after percent-decoding). */
export const DEFAULT_REDACTED_QUERY_PARAMS: readonly string[] = [
  WRITE_KEY_FIELD,
  "email",
  "token",
  "access_token",
  "id_token",
  "refresh_token",
  "password",
  "secret",
  "api_key",
];

export interface QueryRedaction {
  /** Lowercase names whose values are redacted. */
  readonly names: ReadonlySet<string>;
  /** Lengths of those names: a name of another length and without escapes is no match, without lowercasing it. */
  readonly nameLengths: ReadonlySet<number>;
  /** Whether values (and names) that hold an email address are redacted too. */
  readonly emails: boolean;
}

export function compileQueryRedaction(params: readonly string[], emails: boolean): QueryRedaction {
  const names = new Set([...ALWAYS_REDACTED_QUERY_PARAMS, ...params].map((name) => name.toLowerCase()));
  return { names, nameLengths: new Set([...names].map((name) => name.length)), emails };
}

/** Separators of query pairs: `&`, `;` (older servers split on it), and `#` / `?`, after which a hash router's part starts. */
function isPairEnd(code: number): boolean {
  return code === 0x26 || code === 0x3b || code === 0x23 || code === 0x3f;
}

/**
 * Where the parameters of `url` start: after its first `?`, or after its fragment's `#` when that comes first or
 * there is no `?` (an OAuth implicit flow's `#access_token=…`, a magic link's `#token=…`); -1 for neither. A URL
 * with neither costs two indexOf calls; one with a `?` looks back for a `#` before it.
 */
function parametersStart(url: string): number {
  const queryAt = url.indexOf("?");
  const hashAt = queryAt === -1 ? url.indexOf("#") : url.lastIndexOf("#", queryAt) === -1 ? -1 : url.indexOf("#");
  const at = hashAt === -1 ? queryAt : hashAt;
  return at === -1 ? -1 : at + 1;
}

/**
 * `url` with the value of each redacted parameter replaced by REDACTED_QUERY_VALUE (the parameter stays, so the URL
 * keeps its shape); everything else is kept byte for byte, and `url` itself is returned when nothing changes.
 * Parameters are read after the first `?` or `#`: the query and the fragment (a browser's location.href, which a
 * beacon sends, holds it) are both split into pairs; a plain anchor (`#section-2`) or route (`#/cart`) is a pair
 * without `=`. A pair without `=` has no value to redact (unless it is an email address itself), nor has `name=`.
 * An unlisted value is read as a query itself (redactNestedPairs), and with emails on, each path segment holding an
 * address becomes the marker (redactPathSegments).
 */
export function redactUrl(url: string, redaction: QueryRedaction): string {
  const parametersAt = parametersStart(url);
  const pathEnd = parametersAt === -1 ? url.length : parametersAt - 1;
  const pathMayHoldAddress = redaction.emails && mayHoldAddress(url, pathEnd);
  if (parametersAt === -1 && !pathMayHoldAddress) return url;
  const redactions = new Redactions(url);
  const jsonBudget = { left: MAX_JSON_VALUE_LENGTH };
  if (pathMayHoldAddress) redactPathSegments(url, pathStartOf(url, pathEnd), pathEnd, redactions);
  if (parametersAt === -1) return redactions.result();
  for (let start = parametersAt; start <= url.length; ) {
    // One pass over the pair: where "=" is, whether the name has an escape or an "@", whether the value has an "@" or
    // what may make it a query (else no slicing).
    let end = start;
    let equals = -1;
    let nameEscaped = false;
    let nameAt = false;
    let nameNested = false;
    let valueAt = false;
    let valueNested = false;
    for (; end < url.length; end++) {
      const code = url.charCodeAt(end);
      if (isPairEnd(code)) break;
      if (code === 0x3d && equals === -1) equals = end;
      else if (code === 0x25 || code === 0x2b || code === 0x40 || code === 0x3d) {
        if (equals === -1) {
          nameEscaped ||= code !== 0x40;
          nameAt ||= code !== 0x2b;
          nameNested ||= code === 0x25 && mayStartNested(url, end);
        } else if (code === 0x40) valueAt = true;
        else valueNested ||= code === 0x3d || (code === 0x25 && mayStartNested(url, end));
      }
    }
    const nameEnd = equals === -1 ? end : equals;
    // A pair without "=" whose escapes may nest pairs is read as a query (a redirector's `?https%3A%2F%2F…%3Ftoken%3D…`,
    // `;token%3D…` after a nested value that a server splitting at ";" ends there), and as one, whole, for an address.
    if (equals === -1 && nameNested) redactNestedPairs(url, start, end, redaction, redactions);
    else if (redaction.emails && nameAt && holdsEmail(url.slice(start, nameEnd))) redactions.replace(start, nameEnd);
    if (equals !== -1 && (nameEscaped || redaction.nameLengths.has(equals - start)) && isRedactedName(url.slice(start, equals), redaction)) {
      end = listedValueEnd(url, end, isPairEnd);
      if (end > equals + 1 && url.slice(equals + 1, end) !== REDACTED_QUERY_VALUE) redactions.replace(equals + 1, end);
    } else if (equals !== -1 && end > equals + 1 && !redactJsonValue(url, equals + 1, end, redaction, redactions)) {
      // A value that is no JSON (redactJsonValue has redacted inside one that is) is read as a query, or for an address.
      const jsonEnd = redactJsonRunningOn(url, equals + 1, end, redaction, redactions, jsonBudget);
      if (jsonEnd !== -1) end = jsonEnd;
      else if (valueNested) redactNestedPairs(url, equals + 1, end, redaction, redactions);
      else if (redaction.emails && valueAt && holdsEmail(url.slice(equals + 1, end))) redactions.replace(equals + 1, end);
    }
    start = end + 1;
  }
  return redactions.result();
}

/**
 * `text` (a dead letter's raw record: a log line, JSON, a pixel's query) with the values of redacted parameters of
 * every query string in it replaced, as redactUrl does, nested ones too; values already redacted (`[redacted]`) are
 * left. With emails on, a path segment in it that holds an address goes too (redactPathSegmentsInText).
 */
export function redactQueryPairsInText(text: string, redaction: QueryRedaction): string {
  const redacted = text.includes("=") || NESTED_ESCAPE.test(text) ? redactPairsInText(text, redaction) : text;
  return redaction.emails && mayHoldAddress(redacted, redacted.length) ? redactPathSegmentsInText(redacted) : redacted;
}

function redactPairsInText(text: string, redaction: QueryRedaction): string {
  // A pair after a separator may have no "=": its nested escapes are read as a query, as redactUrl reads them.
  const pairs = /(^|[?&;#])([^=&#;?\s"]*)(?:=([^&#;?\s"]*))?/g;
  const redactions = new Redactions(text);
  for (let match = pairs.exec(text); match !== null; match = pairs.exec(text)) {
    const [, before, name, value] = match;
    if (value === undefined) {
      if (match[0].length === 0) pairs.lastIndex++;
      else if (before !== "" && NESTED_ESCAPE.test(name)) redactNestedPairs(text, match.index + 1, match.index + match[0].length, redaction, redactions);
      continue;
    }
    const valueStart = match.index + before.length + name.length + 1;
    let valueEnd = valueStart + value.length;
    if (isRedactedName(name, redaction)) {
      valueEnd = listedValueEnd(text, valueEnd, isTextValueEnd);
      pairs.lastIndex = valueEnd;
      if (!isRedactedText(text.slice(valueStart, valueEnd))) redactions.replace(valueStart, valueEnd);
    } else if (isRedactedText(value) || redactJsonValue(text, valueStart, valueEnd, redaction, redactions)) continue;
    else if (value.includes("=") || NESTED_ESCAPE.test(value)) redactNestedPairs(text, valueStart, valueEnd, redaction, redactions);
    else if (redaction.emails && holdsEmail(value)) redactions.replace(valueStart, valueEnd);
  }
  return redactions.result();
}

/** Whether a value in a dead letter's text has nothing (left) to redact: empty, or our marker or redactWriteKeys'. */
function isRedactedText(value: string): boolean {
  return value === "" || value === REDACTED_QUERY_VALUE || value === "[redacted]";
}

/** Where redactions of a text's spans go, made from its start to its end. */
interface SpanReplacer {
  /** text[start, end) becomes `marker`; `start` is not before the end of the last replaced span. */
  replace(start: number, end: number, marker?: string): void;
}

/** The replacements of spans of a text, made from its start to its end, and the text they give. */
class Redactions implements SpanReplacer {
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

// Parameters nested in a value: `?next=%2Faccount%3Ftoken%3Dabc%26x%3D1` is the page `/account?token=abc&x=1` a login
// returns to, `?redirect=https%3A%2F%2Fa.example%2Fcb%3Faccess_token%3D…` a callback with its token. The value is read
// encoded, as it is: a separator or "=" percent-encoded once (%3D) or more often (%253D, a URL in a URL in the URL, as
// a chain of redirects writes it) is one, so the redacted value keeps every other byte of the outer URL's encoding.

/**
 * Whether the escape at `at` may be a nested pair's "=" or an "@" (`%3D`, `%40`) or start one encoded more often
 * (`%25…`): a value without any (`spring%20sale`, `%2Fcart`) is read no further. NESTED_ESCAPE, for a whole value.
 */
function mayStartNested(text: string, at: number): boolean {
  const high = text.charCodeAt(at + 1);
  const low = text.charCodeAt(at + 2) | 0x20;
  return (high === 0x33 && low === 0x64) || (high === 0x32 && low === 0x35) || (high === 0x34 && low === 0x30);
}

const NESTED_ESCAPE = /%(?:3[Dd]|25|40)/;

/** How often a separator in a value may be percent-encoded to be read as one: %3D, %253D and %25253D, not deeper. */
const MAX_NESTED_ENCODINGS = 3;

const EQUALS = 0x3d;

/** One character of a value as redactNestedPairs reads it: a separator, "=" or neither (0), and how often encoded. */
interface NestedToken {
  code: number;
  /** How often it is percent-encoded (a raw "=" is 1: it reads as "=" once the value is decoded); 0 for neither. */
  encodings: number;
  /** Its length in the text: 1 for a raw character, 3 for %3D, 5 for %253D, …; a run of %25s too deep is one token. */
  length: number;
}

/** Fills `token` with the character at `at` of text[…, end): "=", "&", ";", "?" or "#", raw or percent-encoded. */
function readNestedToken(text: string, at: number, end: number, token: NestedToken): void {
  token.code = 0;
  token.encodings = 0;
  token.length = 1;
  const code = text.charCodeAt(at);
  if (code === EQUALS) {
    token.code = EQUALS;
    token.encodings = 1;
    return;
  }
  if (code !== 0x25) return;
  // "%" then "25" once for each further encoding (%25 is an encoded "%"), then the character's two hex digits.
  let hex = at + 1;
  let encodings = 1;
  while (hex + 3 < end && text.charCodeAt(hex) === 0x32 && text.charCodeAt(hex + 1) === 0x35 && hexByteAt(text, hex + 2) >= 0) {
    encodings++;
    hex += 2;
  }
  const byte = hex + 1 < end ? hexByteAt(text, hex) : -1;
  if (byte < 0) return;
  token.length = hex + 2 - at;
  if (encodings > MAX_NESTED_ENCODINGS) return;
  if (byte === EQUALS || byte === 0x26 || byte === 0x3b || byte === 0x3f || byte === 0x23) {
    token.code = byte;
    token.encodings = encodings;
  }
}

/** The byte two hex digits at `at` spell; -1 when they are not two hex digits. */
export function hexByteAt(text: string, at: number): number {
  const high = hexDigit(text.charCodeAt(at));
  const low = hexDigit(text.charCodeAt(at + 1));
  return high < 0 || low < 0 ? -1 : (high << 4) | low;
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/**
 * The value text[start, end) of an unlisted parameter read as a query: its pairs split at "&", ";", "?" and "#",
 * encoded once or more (a nested URL's path is a pair without "="; a value without any is one such pair). A pair named
 * in the list (its name decoded as often as its "=" is encoded, and once more) loses its value; with emails on, a
 * value holding an address (decoded as often as it may be encoded: `%2540` is an "@" in a nested URL) goes, else a
 * name holding one, and a pair without "=" that holds one goes whole.
 * One pass over the value: each character is read once, each name and value decoded at most MAX_NESTED_ENCODINGS + 1
 * times.
 */
function redactNestedPairs(text: string, start: number, end: number, redaction: QueryRedaction, redactions: SpanReplacer): void {
  const token: NestedToken = { code: 0, encodings: 0, length: 1 };
  let pairStart = start;
  let nameEnd = -1;
  let valueStart = -1;
  let encodings = 0;
  for (let at = start; ; ) {
    if (at < end) {
      readNestedToken(text, at, end, token);
      if (token.code === EQUALS && nameEnd === -1) {
        nameEnd = at;
        valueStart = at + token.length;
        encodings = token.encodings;
      }
      if (token.code === 0 || token.code === EQUALS) {
        at += token.length;
        continue;
      }
    }
    // A separator at `at`, or the value's end: the pair text[pairStart, at) is complete.
    let pairEnd = at;
    if (nameEnd !== -1 && isRedactedNestedName(text.slice(pairStart, nameEnd), encodings, redaction)) {
      pairEnd = nestedListedValueEnd(text, at, end, encodings, token);
      if (pairEnd > valueStart && text.slice(valueStart, pairEnd) !== REDACTED_QUERY_VALUE) redactions.replace(valueStart, pairEnd);
    } else if (nameEnd !== -1 && pairEnd > valueStart && redactJsonValue(text, valueStart, pairEnd, redaction, redactions)) {
      // A nested value that is JSON (`%2Fcb%3Fstate%3D%257B%2522token%2522…`) is read as JSON, as a value of the URL is.
    } else if (redaction.emails) {
      if (nameEnd === -1) {
        if (holdsNestedEmail(text.slice(pairStart, pairEnd))) redactions.replace(pairStart, pairEnd);
      } else if (pairEnd > valueStart && holdsNestedEmail(text.slice(valueStart, pairEnd))) redactions.replace(valueStart, pairEnd);
      else if (holdsNestedEmail(text.slice(pairStart, nameEnd))) redactions.replace(pairStart, nameEnd);
    }
    if (pairEnd >= end) return;
    readNestedToken(text, pairEnd, end, token);
    at = pairEnd + token.length;
    pairStart = at;
    nameEnd = -1;
    valueStart = -1;
  }
}

/**
 * Where a listed nested value that starts after an "=" encoded `encodings` times ends, from the separator at `at`:
 * at a separator encoded fewer times (it belongs to a URL around the value's), or as often but not a "?" (a "?" is
 * a character of a value, as listedValueEnd reads it); one encoded more often is a character of the value.
 */
function nestedListedValueEnd(text: string, at: number, end: number, encodings: number, token: NestedToken): number {
  for (let next = at; next < end; next += token.length) {
    readNestedToken(text, next, end, token);
    if (token.code === 0 || token.code === EQUALS) continue;
    if (token.encodings < encodings || (token.encodings === encodings && token.code !== 0x3f)) return next;
  }
  return end;
}

/** Whether a nested name, before an "=" encoded `encodings` times, is listed: decoded that often and once more. */
function isRedactedNestedName(raw: string, encodings: number, redaction: QueryRedaction): boolean {
  let name = raw;
  for (let times = 0; times <= encodings && (name.includes("%") || name.includes("+")); times++) name = decodeQueryComponent(name);
  return redaction.names.has(name.toLowerCase());
}

/** Whether nested text holds an address once its escapes are decoded, as often as MAX_NESTED_ENCODINGS + 1 times. */
function holdsNestedEmail(raw: string): boolean {
  // "@" written plainly, or encoded once or more often: %40, %2540, …
  if (!raw.includes("@") && !raw.includes("40")) return false;
  let text = raw;
  for (let times = 0; times <= MAX_NESTED_ENCODINGS && (text.includes("%") || text.includes("+")); times++) text = decodeQueryComponent(text);
  return holdsAddress(text);
}

// JSON in a value: a beacon's `?data=%7B%22token%22%3A%22abc%22%7D`, an OAuth `?state={"access_token":"x"}`. A value
// whose first character is "{" or "[" (raw, or percent-encoded up to MAX_NESTED_ENCODINGS times: %7B, %257B, %25257B)
// is read as JSON, decoded as often as that opener is encoded, without decoding it into a copy: each character is
// read where it is written, so a redaction replaces those bytes and every other byte of the URL stays as written. The
// value of a listed key (at any depth, compared as query names are) and a string value holding an address become
// "(redacted)": a string's contents, so its quotes stay; a number, boolean, object or array as a string, its quotes
// written as the key's were. A string value read as a query loses its nested listed values, as a value of the URL's
// does. A value that is no JSON, too long or too deep is left to the rules for text.

/** Raw characters of a value read as JSON at most: a longer one is left to the rules for text (a bounded read). */
export const MAX_JSON_VALUE_LENGTH = 8192;

/** How deep a value's objects and arrays may nest to be read as JSON (a bound on the scanner's recursion). */
const MAX_JSON_DEPTH = 32;

/**
 * How often the "{" or "[" starting text[at, end) is percent-encoded, counting a raw one as once (a server decodes a
 * value once): 1 for `{` or `%7B`, 2 for `%257B`, 3 for `%25257B`; 0 for no opener. One character read for a value
 * that starts with neither "{", "[" nor "%".
 */
function jsonEncodingsAt(text: string, at: number, end: number): number {
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
function redactJsonValue(text: string, start: number, end: number, redaction: QueryRedaction, redactions: SpanReplacer, depth = 0): boolean {
  if (end - start > MAX_JSON_VALUE_LENGTH) return false;
  const scanner = scanJson(text, start, end, redaction, depth);
  if (scanner === undefined || scanner.at !== end) return false;
  for (const span of scanner.spans) redactions.replace(span.start, span.end, span.marker);
  return true;
}

/** The scanner after reading one JSON value and white space from text[start, limit); undefined for none. */
function scanJson(text: string, start: number, limit: number, redaction: QueryRedaction, depth: number): JsonScanner | undefined {
  const encodings = jsonEncodingsAt(text, start, limit);
  if (encodings === 0) return undefined;
  const scanner = new JsonScanner(text, start, limit, encodings, redaction);
  if (!scanner.value(depth, false)) return undefined;
  scanner.skipSpace();
  return scanner;
}

/**
 * A JSON value of a URL's query cut short at `pairEnd` by a "?", ";", "#" or "&" in one of its strings
 * (`?state={"token":"x","next":"/cart?step=2"}`: a server reading the query whole keeps "?" and ";" in the value):
 * read on past it, its redactions made, and where it ends (at a pair end or the URL's end) returned; -1 for no such
 * value. `budget.left` bounds what failed reads take in one URL (else `?a={"&a={"&…` reads 8192 characters a pair).
 */
function redactJsonRunningOn(url: string, start: number, pairEnd: number, redaction: QueryRedaction, redactions: Redactions, budget: { left: number }): number {
  if (pairEnd >= url.length || budget.left <= 0 || jsonEncodingsAt(url, start, pairEnd) === 0) return -1;
  const limit = Math.min(url.length, start + MAX_JSON_VALUE_LENGTH, pairEnd + budget.left);
  const scanner = scanJson(url, start, limit, redaction, 0);
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

/** Fills `char` with the character at `at`: raw, "+" (a space), or percent-encoded at most `encodings` times. */
function readJsonChar(text: string, at: number, end: number, encodings: number, char: JsonChar): void {
  const code = text.charCodeAt(at);
  char.length = 1;
  char.code = code === 0x2b ? 0x20 : code > 0x7f ? -1 : code;
  if (code !== 0x25) return;
  let hex = at + 1;
  let times = 1;
  while (hex + 3 < end && text.charCodeAt(hex) === 0x32 && text.charCodeAt(hex + 1) === 0x35 && hexByteAt(text, hex + 2) >= 0) {
    times++;
    hex += 2;
  }
  const byte = hex + 1 < end ? hexByteAt(text, hex) : -1;
  if (byte < 0) return;
  char.length = hex + 2 - at;
  // Encoded more often than the JSON: a "%" (and more) in a string once decoded, as is a byte of a UTF-8 character.
  char.code = times > encodings || byte > 0x7f ? -1 : byte;
}

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
  ) {}

  /** The code of the character at `at` (-2 at the end); `advance` moves past it. */
  private peek(): number {
    if (this.at >= this.end) return -2;
    readJsonChar(this.text, this.at, this.end, this.encodings, this.char);
    return this.char.code;
  }

  private advance(): void {
    this.at += this.char.length;
  }

  skipSpace(): void {
    for (let code = this.peek(); code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d; code = this.peek()) this.advance();
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
    if (contents.includes("\\")) {
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
    } else if (holdsJsonToRedact(contents, this.redaction, depth)) {
      // JSON in a string (`"{\"token\":\"x\"}"`, a stringified payload, or percent-encoded): its escapes have no
      // place in the URL's bytes to map back to, so the whole string goes.
      this.spans.push({ start, end, marker: REDACTED_QUERY_VALUE });
    } else if (raw.includes("=") || NESTED_ESCAPE.test(raw)) {
      // A value, or a key, that is a URL: its nested listed values go.
      redactNestedPairs(this.text, start, end, this.redaction, { replace: (from, to) => this.spans.push({ start: from, end: to, marker: REDACTED_QUERY_VALUE }) });
    }
    return contents;
  }
}

/** Whether a JSON string's decoded contents are JSON themselves with something to redact, read `depth` levels deep. */
function holdsJsonToRedact(contents: string, redaction: QueryRedaction, depth: number): boolean {
  if (contents.length < 2 || depth + 1 >= MAX_JSON_DEPTH) return false;
  let found = false;
  const finder: SpanReplacer = {
    replace: () => {
      found = true;
    },
  };
  return redactJsonValue(contents, 0, contents.length, redaction, finder, depth + 1) && found;
}

function isAsciiAlphanumeric(code: number): boolean {
  const lower = code | 0x20;
  return (code >= 0x30 && code <= 0x39) || (lower >= 0x61 && lower <= 0x7a);
}

// Addresses in a path: `/unsubscribe/jane.doe@example.com`, `/users/jane%40example.com/orders`. The whole segment
// holding one becomes the marker (`/users/(redacted)/orders`), as a whole query value does: where an address starts in
// a segment such as `jane.doe+news@example.com` is a guess, the segment's boundaries are not, and "(redacted)" is a
// valid segment (RFC 3986 sub-delims). Segments are decoded once (`+` stays a plus, as in a path).

/** Whether text[0, end) has an "@" or a "%40": two indexOf calls, the only cost of a URL without either. */
function mayHoldAddress(text: string, end: number): boolean {
  const at = text.indexOf("@");
  if (at !== -1 && at < end) return true;
  const escaped = text.indexOf("%40");
  return escaped !== -1 && escaped < end;
}

/** A URI scheme and its ":" (RFC 3986: a letter, then letters, digits, "+", "-", "."). */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/**
 * Where the path of url[0, pathEnd) starts: after `scheme:` and after an authority (`//host`, whose userinfo's "@"
 * is no address in a path); `pathEnd` when an authority takes it all. A relative URL's path starts at 0.
 */
function pathStartOf(url: string, pathEnd: number): number {
  const scheme = SCHEME.exec(url);
  const start = scheme === null || scheme[0].length > pathEnd ? 0 : scheme[0].length;
  if (!url.startsWith("//", start)) return start;
  const slash = url.indexOf("/", start + 2);
  return slash === -1 || slash > pathEnd ? pathEnd : slash;
}

/** Each "/"-separated segment of text[start, end) that holds an address is replaced. */
function redactPathSegments(text: string, start: number, end: number, redactions: Redactions): void {
  for (let segmentStart = start; segmentStart <= end; ) {
    let segmentEnd = text.indexOf("/", segmentStart);
    if (segmentEnd === -1 || segmentEnd > end) segmentEnd = end;
    if (segmentEnd > segmentStart && segmentHoldsAddress(text.slice(segmentStart, segmentEnd))) redactions.replace(segmentStart, segmentEnd);
    segmentStart = segmentEnd + 1;
  }
}

/**
 * `path` (a page item, taken from a URL's path or a URL rule's template) with each segment holding an address
 * replaced, as redactUrl replaces them in a URL's path.
 */
export function redactPathAddresses(path: string): string {
  if (!mayHoldAddress(path, path.length)) return path;
  const redactions = new Redactions(path);
  redactPathSegments(path, 0, path.length, redactions);
  return redactions.result();
}

/** Where a path segment ends in free text: at "/", a query or fragment, a pair separator, white space or a quote. */
const TEXT_SEGMENT = /[^/?#&\s"]*/y;

/**
 * `text` with every segment after a "/" that holds an address replaced (a broken log line's request path, a JSON
 * url), except the authority after "://".
 */
function redactPathSegmentsInText(text: string): string {
  const redactions = new Redactions(text);
  for (let slash = text.indexOf("/"); slash !== -1; ) {
    TEXT_SEGMENT.lastIndex = slash + 1;
    TEXT_SEGMENT.exec(text);
    const end = TEXT_SEGMENT.lastIndex;
    const authority = slash >= 2 && text.charCodeAt(slash - 1) === 0x2f && text.charCodeAt(slash - 2) === 0x3a;
    if (end > slash + 1 && !authority && segmentHoldsAddress(text.slice(slash + 1, end))) redactions.replace(slash + 1, end);
    slash = text.indexOf("/", end);
  }
  return redactions.result();
}

/**
 * A fediverse handle as a path segment (Mastodon's remote profile `/@user@instance.social`): public, as `/@user` is,
 * and no address. A segment with more in it (`@jane@x.com+news`) is not one.
 */
const FEDIVERSE_HANDLE = /^@[\p{L}\p{N}_.-]+@[\p{L}\p{N}.-]+$/u;

/** Whether a raw path segment holds an address, written plainly or percent-encoded (`%40`). */
function segmentHoldsAddress(segment: string): boolean {
  if (!segment.includes("@") && !segment.includes("%40")) return false;
  const decoded = decodePercentEscapes(segment);
  return holdsAddress(decoded) && !FEDIVERSE_HANDLE.test(decoded);
}

/** Where a query value ends in free text: at a pair separator, a fragment, white space or a quote (JSON, a log line). */
function isTextValueEnd(code: number): boolean {
  return TEXT_VALUE_END.test(String.fromCharCode(code));
}

/** The characters the pair pattern of redactQueryPairsInText ends a value at. */
const TEXT_VALUE_END = /[&#;?\s"]/;

/**
 * Where the value of a listed parameter ends, given where its pair did (`pairEnd`, at a character `isEnd` accepts or
 * the text's end): past each "?", a character of a value (RFC 3986; servers and URLSearchParams read it so), which
 * otherwise starts a pair (a hash router's query, an unescaped nested URL). Else the value's rest, after its first
 * "?", would be kept.
 */
function listedValueEnd(text: string, pairEnd: number, isEnd: (code: number) => boolean): number {
  let end = pairEnd;
  while (end < text.length && text.charCodeAt(end) === 0x3f) {
    end++;
    while (end < text.length && !isEnd(text.charCodeAt(end))) end++;
  }
  return end;
}

function isRedactedName(raw: string, redaction: QueryRedaction): boolean {
  const escaped = raw.includes("%") || raw.includes("+");
  if (!escaped && !redaction.nameLengths.has(raw.length)) return false;
  return redaction.names.has((escaped ? decodeQueryComponent(raw) : raw).toLowerCase());
}

// Text that looks like an address: a local part, "@", a domain with a dot and a top-level label of letters (IDNs too).
// The local part is one character looked behind (a longer one matches exactly when its last character does): as
// `[…]+@`, an unanchored search tried every start in a run of local-part characters against the whole run, quadratic
// in a value with an "@" and no address (8 s for 100 KB). The domain's classes exclude "@", so each "@" is tried
// against the text up to the next one: linear in all. Two lookaheads, which also read no further than the next "@",
// keep what CDNs serve: a high-density image's scale suffix (`logo@2x.png`, `icon@1.5X.webp`, `logo@2x.3f9a1c.png`,
// `logo@3x-dark.png`: a scale, then labels ending in an image's extension, so `jane@2x.com` is an address), and a
// package's semver pre-release (`pkg@1.0.0-beta.rc`: three numbers and "-"). A match is no address when its domain's
// labels after the first are dist-tag words and no top-level domain (isAddressDomain): `pkg@next.canary`, an npm
// dist-tag, is none.
const EMAIL =
  /(?<=[\p{L}\p{N}._%+!#$&'*/=?^`{|}~-])@(?!\d+(?:\.\d+)?x[\p{L}\p{N}.-]*\.(?:a?png|jpe?g|gif|webp|avif|svg|ico|bmp|tiff?|heic|heif|jxl)(?![\p{L}\p{N}.-])|v?\d+\.\d+\.\d+-)[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}/giu;

/** Whether `text` holds an email address: a match of EMAIL whose domain is no dist-tag's. */
function holdsAddress(text: string): boolean {
  EMAIL.lastIndex = 0;
  for (let match = EMAIL.exec(text); match !== null; match = EMAIL.exec(text)) {
    if (isAddressDomain(match[0].slice(1))) return true;
    EMAIL.lastIndex = match.index + 1;
  }
  return false;
}

/**
 * Top-level labels that name no delegated domain but are written in addresses all the same: RFC 2606's reserved names,
 * which documentation and tests use (`jane@shop.example`).
 */
const RESERVED_TOP_LEVEL_LABELS: ReadonlySet<string> = new Set(["example", "test", "invalid", "localhost"]);

/**
 * Words of npm dist-tags and pre-release channels (`pkg@next.canary`, `pkg@canary.nightly`): a domain whose labels
 * after the first are all such words, and none a top-level domain, is a dist-tag's. Any other domain is an address's,
 * whatever its top-level label: corporate mail uses private ones (`jane@acme.corp`, `@mail.internal`, `@host.local`),
 * and a punycode TLD (`@mail.xn--p1ai`) is matched by EMAIL only up to its `xn`. Listing the dist-tag words, rather than
 * the top-level domains, keeps the mistake on the redacting side.
 */
const DIST_TAG_LABELS: ReadonlySet<string> = new Set([
  "alpha", "beta", "canary", "nightly", "next", "rc", "latest", "dev", "experimental", "insiders", "insider", "preview",
  "stable", "unstable", "edge", "pre", "prerelease", "snapshot", "legacy", "lts", "release",
]);

/**
 * Whether a domain, as EMAIL matched it (labels joined by "."), is an address's: a label after the first is a
 * top-level domain of the Public Suffix List's ICANN section (tldts) or a reserved one (any label, not the last only:
 * the match may run on past the address, `jane@mail.example.org.html` in a path segment), or a label after the first
 * is no dist-tag word. `next.canary`, `canary.nightly` (npm dist-tags) are not; a dist-tag with a top-level domain in
 * it (`pkg@canary.dev`) is read as an address, the safe side.
 */
function isAddressDomain(domain: string): boolean {
  let distTag = true;
  for (let dot = domain.lastIndexOf("."); dot > 0; dot = domain.lastIndexOf(".", dot - 1)) {
    const next = domain.indexOf(".", dot + 1);
    const label = domain.slice(dot + 1, next === -1 ? domain.length : next).toLowerCase();
    if (isTopLevelLabel(label)) return true;
    distTag &&= DIST_TAG_LABELS.has(label);
  }
  return !distTag;
}

const TOP_LEVEL_OPTIONS = { allowPrivateDomains: false, extractHostname: false, detectIp: false, validateHostname: false } as const;

/** A lookup costs about 75 ns, and is made only for text that matched EMAIL. */
function isTopLevelLabel(label: string): boolean {
  if (label.length < 2) return false;
  return RESERVED_TOP_LEVEL_LABELS.has(label) || parse(label, TOP_LEVEL_OPTIONS).isIcann === true;
}

/** Whether a raw query component holds an email address, written plainly or percent-encoded (`%40`). */
export function holdsEmail(raw: string): boolean {
  if (!raw.includes("@") && !/%40/i.test(raw)) return false;
  return holdsAddress(decodeQueryComponent(raw));
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
