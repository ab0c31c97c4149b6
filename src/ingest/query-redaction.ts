// Secrets and email addresses in URL query strings (`?email=…`, `?token=…`, the pixel's own `?writeKey=…`) and in
// fragments (`#access_token=…`): their values are replaced by a marker in url and referrer before anything is stored,
// as GA4's data redaction does.
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
 */
export function redactUrl(url: string, redaction: QueryRedaction): string {
  const parametersAt = parametersStart(url);
  if (parametersAt === -1) return url;
  let out = "";
  let copied = 0;
  for (let start = parametersAt; start <= url.length; ) {
    // One pass over the pair: where "=" is, and whether name or value has an escape or an "@" (else no slicing).
    let end = start;
    let equals = -1;
    let nameEscaped = false;
    let nameAt = false;
    let valueAt = false;
    for (; end < url.length; end++) {
      const code = url.charCodeAt(end);
      if (isPairEnd(code)) break;
      if (code === 0x3d && equals === -1) equals = end;
      else if (code === 0x25 || code === 0x2b || code === 0x40) {
        if (equals === -1) {
          nameEscaped ||= code !== 0x40;
          nameAt ||= code !== 0x2b;
        } else valueAt ||= code !== 0x2b;
      }
    }
    const nameEnd = equals === -1 ? end : equals;
    if (redaction.emails && nameAt && holdsEmail(url.slice(start, nameEnd))) {
      out += url.slice(copied, start) + REDACTED_QUERY_VALUE;
      copied = nameEnd;
    }
    if (equals !== -1 && (nameEscaped || redaction.nameLengths.has(equals - start)) && isRedactedName(url.slice(start, equals), redaction)) {
      end = listedValueEnd(url, end, isPairEnd);
      if (end > equals + 1 && url.slice(equals + 1, end) !== REDACTED_QUERY_VALUE) {
        out += url.slice(copied, equals + 1) + REDACTED_QUERY_VALUE;
        copied = end;
      }
    } else if (equals !== -1 && end > equals + 1 && redaction.emails && valueAt) {
      const value = url.slice(equals + 1, end);
      if (value !== REDACTED_QUERY_VALUE && holdsEmail(value)) {
        out += url.slice(copied, equals + 1) + REDACTED_QUERY_VALUE;
        copied = end;
      }
    }
    start = end + 1;
  }
  return copied === 0 ? url : out + url.slice(copied);
}

/**
 * `text` (a dead letter's raw record: a log line, JSON, a pixel's query) with the values of redacted parameters of
 * every query string in it replaced, as redactUrl does; values already redacted (`[redacted]`) are left.
 */
export function redactQueryPairsInText(text: string, redaction: QueryRedaction): string {
  if (!text.includes("=")) return text;
  const pairs = /(^|[?&;#])([^=&#;?\s"]*)=([^&#;?\s"]*)/g;
  let out = "";
  let copied = 0;
  for (let match = pairs.exec(text); match !== null; match = pairs.exec(text)) {
    const [, before, name, value] = match;
    const valueStart = match.index + before.length + name.length + 1;
    let valueEnd = valueStart + value.length;
    if (isRedactedName(name, redaction)) {
      valueEnd = listedValueEnd(text, valueEnd, isTextValueEnd);
      pairs.lastIndex = valueEnd;
    } else if (!(redaction.emails && holdsEmail(value))) continue;
    const redacted = text.slice(valueStart, valueEnd);
    if (redacted === "" || redacted === REDACTED_QUERY_VALUE || redacted === "[redacted]") continue;
    out += text.slice(copied, valueStart) + REDACTED_QUERY_VALUE;
    copied = valueEnd;
  }
  return copied === 0 ? text : out + text.slice(copied);
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
// against the text up to the next one: linear in all.
const EMAIL = /(?<=[\p{L}\p{N}._%+!#$&'*/=?^`{|}~-])@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}/u;

/** Whether a raw query component holds an email address, written plainly or percent-encoded (`%40`). */
export function holdsEmail(raw: string): boolean {
  if (!raw.includes("@") && !/%40/i.test(raw)) return false;
  return EMAIL.test(decodeQueryComponent(raw));
}

/**
 * A query component as a server reads it: `+` is a space, and each run of percent-escapes is decoded; in a run that
 * is not UTF-8 the ASCII escapes are still decoded (so a stray `%FF` does not hide a `%40`), the others stay.
 */
export function decodeQueryComponent(raw: string): string {
  const spaced = raw.includes("+") ? raw.replaceAll("+", " ") : raw;
  if (!spaced.includes("%")) return spaced;
  return spaced.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run.replace(/%[0-7][0-9A-Fa-f]/g, (escape) => String.fromCharCode(Number.parseInt(escape.slice(1), 16)));
    }
  });
}
