// Secrets and email addresses in URLs: values of listed query and fragment parameters (`?email=…`, `?token=…`, the
// pixel's own `?writeKey=…`, `#access_token=…`), also of parameters nested in an encoded value (`?next=%2Fp%3Ftoken%3D…`),
// values of listed keys and addresses inside a JSON value (`?state={"access_token":…}`, `?data=%7B%22token%22…`), and
// path segments holding an address (`/unsubscribe/jane@x.com`) are replaced by a marker in url and referrer before
// anything is stored, as GA4's data redaction does.
import { holdsAddress, holdsEmail } from "./email-address.ts";
import { WRITE_KEY_FIELD } from "./http-auth.ts";
import { decodePercentEscapes, decodeQueryComponent, isPairEnd, MAX_NESTED_ENCODINGS, NESTED_ESCAPE, readPercentEscape, type PercentEscape } from "./query-encoding.ts";
import { MAX_JSON_VALUE_LENGTH, redactJsonRunningOn, redactJsonValue } from "./query-json-redaction.ts";
import { Redactions, REDACTED_QUERY_VALUE, type QueryRedaction, type SpanReplacer } from "./redaction-spans.ts";

// Part of this module's interface, defined where their concepts are.
export { decodeQueryComponent } from "./query-encoding.ts";
export { MAX_JSON_VALUE_LENGTH } from "./query-json-redaction.ts";
export { REDACTED_QUERY_VALUE, type QueryRedaction } from "./redaction-spans.ts";

/** clickpipe's own secret: redacted whatever list the pipeline file gives. */
export const ALWAYS_REDACTED_QUERY_PARAMS: readonly string[] = [WRITE_KEY_FIELD];

/**
 * The default list (names compared case-insensitively, after percent-decoding). The last seven sign pre-signed
 * download links (S3 and S3-compatible stores, Google Cloud Storage, CloudFront, Azure SAS), which click targets and
 * referrers carry: whoever holds one can fetch the file until it expires.
 */
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
  "x-amz-signature",
  "x-amz-credential",
  "x-amz-security-token",
  "x-goog-signature",
  "x-goog-credential",
  "signature",
  "sig",
];

export function compileQueryRedaction(params: readonly string[], emails: boolean): QueryRedaction {
  const names = new Set([...ALWAYS_REDACTED_QUERY_PARAMS, ...params].map((name) => name.toLowerCase()));
  return { names, nameLengths: new Set([...names].map((name) => name.length)), emails };
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
  const userinfo = userinfoSpan(url, pathEnd);
  if (parametersAt === -1 && !pathMayHoldAddress && userinfo === undefined) return url;
  const redactions = new Redactions(url);
  const jsonBudget = { left: MAX_JSON_VALUE_LENGTH };
  if (userinfo !== undefined) redactions.replace(userinfo[0], userinfo[1]);
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
    // A pair that is JSON as a whole, an "=" in its strings or not (a hash router's state `#%7B%22access_token%22…%7D`,
    // `?{"token":"x"}`): an app parsing it reads its keys as a server reads a value's. One character read for a pair
    // that starts with no "{", "[", "%", "+" or white space.
    if (end > start && redactJsonValue(url, start, end, redaction, redactions, redactNestedPairs)) {
      start = end + 1;
      continue;
    }
    const pairJsonEnd = redactJsonRunningOn(url, start, end, redaction, redactions, jsonBudget, redactNestedPairs);
    if (pairJsonEnd !== -1) {
      start = pairJsonEnd + 1;
      continue;
    }
    const nameEnd = equals === -1 ? end : equals;
    // A pair without "=" whose escapes may nest pairs is read as a query (a redirector's `?https%3A%2F%2F…%3Ftoken%3D…`,
    // `;token%3D…` after a nested value that a server splitting at ";" ends there), and as one, whole, for an address.
    if (equals === -1 && nameNested) redactNestedPairs(url, start, end, redaction, redactions);
    else if (redaction.emails && nameAt && holdsEmail(url.slice(start, nameEnd))) redactions.replace(start, nameEnd);
    else if (nameAt) redactNestedUserinfo(url, start, nameEnd, redactions);
    if (equals !== -1 && (nameEscaped || redaction.nameLengths.has(equals - start)) && isRedactedName(url.slice(start, equals), redaction)) {
      end = listedValueEnd(url, end, isPairEnd);
      if (end > equals + 1 && url.slice(equals + 1, end) !== REDACTED_QUERY_VALUE) redactions.replace(equals + 1, end);
    } else if (equals !== -1 && end > equals + 1 && !redactJsonValue(url, equals + 1, end, redaction, redactions, redactNestedPairs)) {
      // A value that is no JSON (redactJsonValue has redacted inside one that is) is read as a query, or for an address.
      const jsonEnd = redactJsonRunningOn(url, equals + 1, end, redaction, redactions, jsonBudget, redactNestedPairs);
      if (jsonEnd !== -1) end = jsonEnd;
      else if (valueNested) redactNestedPairs(url, equals + 1, end, redaction, redactions);
      else if (redaction.emails && valueAt && holdsEmail(url.slice(equals + 1, end))) redactions.replace(equals + 1, end);
      else if (valueAt) redactNestedUserinfo(url, equals + 1, end, redactions);
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
  const mayHoldPairs = text.includes("=") || NESTED_ESCAPE.test(text) || ENCODED_JSON_OPENER.test(text);
  const redacted = redactUserinfoInText(mayHoldPairs ? redactPairsInText(text, redaction) : text);
  return redaction.emails && mayHoldAddress(redacted, redacted.length) ? redactPathSegmentsInText(redacted) : redacted;
}

/**
 * The userinfo of a URL's authority (`//user:password@host`: RFC 3986 deprecates the password in it, yet links and
 * referrers still carry both), from after "//" to its last "@", or undefined for none or an empty one. Always
 * redacted, whatever the list says: it is a credential, as writeKey is.
 */
function userinfoSpan(url: string, pathEnd: number): [number, number] | undefined {
  const at = url.indexOf("@");
  if (at === -1 || at >= pathEnd) return undefined;
  const scheme = SCHEME.exec(url);
  const start = (scheme === null || scheme[0].length > pathEnd ? 0 : scheme[0].length) + 2;
  if (!url.startsWith("//", start - 2)) return undefined;
  const slash = url.indexOf("/", start);
  const authorityEnd = slash === -1 || slash > pathEnd ? pathEnd : slash;
  const end = url.lastIndexOf("@", authorityEnd - 1);
  return end > start ? [start, end] : undefined;
}

/**
 * A URL's userinfo in free text: after "//" (or JSON's `\/\/`, as PHP's json_encode writes slashes), up to the last "@"
 * before the authority ends, as browsers read it.
 */
const TEXT_USERINFO = /(\/\/|\\\/\\\/)([^\s/?#"'<>[\]\\]+)@/g;

/** `text` with the userinfo of every URL in it replaced (userinfoSpan), a redacted one left. */
function redactUserinfoInText(text: string): string {
  if (!text.includes("@")) return text;
  return text.replace(TEXT_USERINFO, (match, slashes: string, userinfo: string) => (userinfo === REDACTED_QUERY_VALUE ? match : `${slashes}${REDACTED_QUERY_VALUE}@`));
}

/** A "{" or "[" percent-encoded (`%7B`, `%5B`; `%257B` holds a `%25`): a pair without "=" may be JSON (a raw one in text is cut at its first quote). */
const ENCODED_JSON_OPENER = /%(?:7[Bb]|5[Bb])/;

function redactPairsInText(text: string, redaction: QueryRedaction): string {
  // A pair after a separator may have no "=": its nested escapes are read as a query, as redactUrl reads them.
  const pairs = /(^|[?&;#])([^=&#;?\s"]*)(?:=([^&#;?\s"]*))?/g;
  const redactions = new Redactions(text);
  for (let match = pairs.exec(text); match !== null; match = pairs.exec(text)) {
    const [, before, name, value] = match;
    // A pair that is JSON as a whole, as redactUrl reads one.
    const pairStart = match.index + before.length;
    const pairEnd = match.index + match[0].length;
    if (before !== "" && pairEnd > pairStart && redactJsonValue(text, pairStart, pairEnd, redaction, redactions, redactNestedPairs)) continue;
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
    } else if (isRedactedText(value) || redactJsonValue(text, valueStart, valueEnd, redaction, redactions, redactNestedPairs)) continue;
    else if (value.includes("=") || NESTED_ESCAPE.test(value)) redactNestedPairs(text, valueStart, valueEnd, redaction, redactions);
    else if (redaction.emails && holdsEmail(value)) redactions.replace(valueStart, valueEnd);
  }
  return redactions.result();
}

/** Whether a value in a dead letter's text has nothing (left) to redact: empty, or our marker or redactWriteKeys'. */
function isRedactedText(value: string): boolean {
  return value === "" || value === REDACTED_QUERY_VALUE || value === "[redacted]";
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

const EQUALS = 0x3d;

/** One character of a value as redactNestedPairs reads it: a separator, "=" or neither (0), and how often encoded. */
interface NestedToken {
  code: number;
  /** How often it is percent-encoded (a raw "=" is 1: it reads as "=" once the value is decoded); 0 for neither. */
  encodings: number;
  /** Its length in the text: 1 for a raw character, 3 for %3D, 5 for %253D, …; a run of %25s too deep is one token. */
  length: number;
}

/** What readPercentEscape last read; one object reused, as this runs per character. */
const readEscape: PercentEscape = { byte: -1, encodings: 0, length: 1 };

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
  readPercentEscape(text, at, end, readEscape);
  if (readEscape.byte < 0) return;
  token.length = readEscape.length;
  if (readEscape.encodings > MAX_NESTED_ENCODINGS) return;
  const byte = readEscape.byte;
  if (byte === EQUALS || byte === 0x26 || byte === 0x3b || byte === 0x3f || byte === 0x23) {
    token.code = byte;
    token.encodings = readEscape.encodings;
  }
}

/**
 * The value text[start, end) of an unlisted parameter read as a query: its pairs split at "&", ";", "?" and "#",
 * encoded once or more (a nested URL's path is a pair without "="; a value without any is one such pair). A pair named
 * in the list (its name decoded as often as its "=" is encoded, and once more) loses its value; with emails on, a
 * value holding an address (decoded as often as it may be encoded: `%2540` is an "@" in a nested URL) goes, else a
 * name holding one, and a pair without "=" that holds one goes whole. In a pair with an "@" left, a nested URL's
 * userinfo goes (redactNestedUserinfo), whatever the list and redactEmails say.
 * One pass over the value: each character is read once, each name and value decoded at most MAX_NESTED_ENCODINGS + 1
 * times.
 */
function redactNestedPairs(text: string, start: number, end: number, redaction: QueryRedaction, redactions: SpanReplacer): void {
  const token: NestedToken = { code: 0, encodings: 0, length: 1 };
  let pairStart = start;
  let nameEnd = -1;
  let valueStart = -1;
  let encodings = 0;
  // Whether the pair has an "@", raw or percent-encoded: only then may it hold a nested URL's userinfo.
  let pairHasAt = false;
  for (let at = start; ; ) {
    if (at < end) {
      readNestedToken(text, at, end, token);
      pairHasAt ||= text.charCodeAt(at) === 0x40 || (token.length > 1 && readEscape.byte === 0x40);
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
    } else if (nameEnd !== -1 && pairEnd > valueStart && redactJsonValue(text, valueStart, pairEnd, redaction, redactions, redactNestedPairs)) {
      // A nested value that is JSON (`%2Fcb%3Fstate%3D%257B%2522token%2522…`) is read as JSON, as a value of the URL is.
    } else if (!(redaction.emails && pairHasAt && redactNestedEmail(text, pairStart, nameEnd, valueStart, pairEnd, redactions)) && pairHasAt) {
      redactNestedUserinfo(text, pairStart, pairEnd, redactions);
    }
    if (pairEnd >= end) return;
    readNestedToken(text, pairEnd, end, token);
    at = pairEnd + token.length;
    pairStart = at;
    nameEnd = -1;
    valueStart = -1;
    pairHasAt = false;
  }
}

/**
 * With emails on, the nested pair text[pairStart, pairEnd) (its "=" ends its name at `nameEnd`, -1 for none) loses what
 * holds an address: its value, else its name, or itself whole when it has no "="; whether anything went.
 */
function redactNestedEmail(text: string, pairStart: number, nameEnd: number, valueStart: number, pairEnd: number, redactions: SpanReplacer): boolean {
  if (nameEnd === -1) {
    if (!holdsNestedEmail(text.slice(pairStart, pairEnd))) return false;
    redactions.replace(pairStart, pairEnd);
  } else if (pairEnd > valueStart && holdsNestedEmail(text.slice(valueStart, pairEnd))) redactions.replace(valueStart, pairEnd);
  else if (holdsNestedEmail(text.slice(pairStart, nameEnd))) redactions.replace(pairStart, nameEnd);
  else return false;
  return true;
}

/** A character of a nested URL as redactNestedUserinfo reads it; one object reused, as this runs per character. */
const urlCharacter: PercentEscape = { byte: -1, encodings: 0, length: 1 };

/** Fills urlCharacter with the character at `at`: a raw one counts as encoded once (as a raw "=" does in readNestedToken). */
function readUrlCharacter(text: string, at: number, end: number): void {
  const code = text.charCodeAt(at);
  if (code === 0x25) {
    readPercentEscape(text, at, end, urlCharacter);
    if (urlCharacter.byte >= 0 && urlCharacter.encodings <= MAX_NESTED_ENCODINGS) return;
    urlCharacter.byte = -1;
    urlCharacter.length = Math.max(1, urlCharacter.length);
    return;
  }
  urlCharacter.byte = code;
  urlCharacter.encodings = 1;
  urlCharacter.length = 1;
}

/**
 * The userinfo of each URL nested in text[start, end) (a query value: `https%3A%2F%2Fjane%3Ahunter2%40shop.example%2F`,
 * encoded twice as `%253A%252F…`, or raw) replaced, as userinfoSpan's is in the URL itself: from after a "//" to the
 * last "@" encoded as often as its slashes or less before a "/", "?" or "#" encoded as often or less ends the authority
 * (an "@" encoded more often is a character of the userinfo). Everything else stays as written.
 */
function redactNestedUserinfo(text: string, start: number, end: number, redactions: SpanReplacer): void {
  let slashAt = -1;
  let slashEncodings = 0;
  let userinfoStart = -1;
  let lastAt = -1;
  const endAuthority = () => {
    if (lastAt > userinfoStart && text.slice(userinfoStart, lastAt) !== REDACTED_QUERY_VALUE) redactions.replace(userinfoStart, lastAt);
    userinfoStart = -1;
    lastAt = -1;
  };
  for (let at = start; at < end; at += urlCharacter.length) {
    readUrlCharacter(text, at, end);
    const { byte, encodings } = urlCharacter;
    if (userinfoStart !== -1) {
      if ((byte === 0x2f || byte === 0x3f || byte === 0x23) && encodings <= slashEncodings) endAuthority();
      // One encoded less often is an "@" too once the nested URL is decoded (`%252F%252Fjane%253Apw%40host`).
      else if (byte === 0x40 && encodings <= slashEncodings) lastAt = at;
      continue;
    }
    if (byte !== 0x2f) slashAt = -1;
    else if (slashAt !== -1 && encodings === slashEncodings) {
      userinfoStart = at + urlCharacter.length;
      slashAt = -1;
    } else {
      slashAt = at;
      slashEncodings = encodings;
    }
  }
  if (userinfoStart !== -1) endAuthority();
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
