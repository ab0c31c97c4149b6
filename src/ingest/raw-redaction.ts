// Privacy for dead letters: the raw text of a rejected record gets the same IP anonymization and pseudonyms as events,
// and loses the write keys it carried.
import { isUtf8 } from "node:buffer";
import { isIPv4, isIPv6 } from "node:net";
import { WRITE_KEY_FIELD } from "./http-auth.ts";
import { anonymizeIp, pseudonymize, type PrivacyConfig } from "./privacy.ts";
import { compileQueryRedaction, redactQueryPairsInText } from "./query-redaction.ts";

const REDACTED = "[redacted]";

// Candidate address tokens; node:net decides what is really an address.
const IPV4_TOKEN = /(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])/g;
const IPV6_TOKEN = /(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?(?![\w:])/g;
// The client field of old NCSA logs is often a host name, which identifies a client as well as an address does.
const LEADING_HOST_NAME = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?= )/;

/**
 * The text of a rejected record as it may be stored (`<S>.dlq`, `invalid_events`): a dead letter must not keep what
 * privacy removes from events, or the DLQ becomes the place where raw IPs and user ids survive. Addresses anywhere
 * in the text are anonymized, a leading host name becomes "-", and `"<field>": <value>` pairs (also in JSON too broken
 * to parse) and `<field>=<value>` query pairs (a pixel's) of pseudonymized fields get the value's pseudonym.
 * Dropped fields lose their values, and the query strings in the text (a log line's request and referrer, a JSON
 * url) lose the values that redactQueryParams and redactEmails take from events' urls.
 */
export function redactRawRecord(raw: string, privacy: PrivacyConfig, pseudonymKey: string | undefined): string {
  let text = raw;
  if (privacy.anonymizeIp) {
    text = text.replace(IPV4_TOKEN, (token) => (isIPv4(token) ? (anonymizeIp(token, privacy.ipv6Bits) ?? "-") : token));
    text = text.replace(IPV6_TOKEN, (token) => (isIPv6(token.split("%")[0]) ? (anonymizeIp(token, privacy.ipv6Bits) ?? "-") : token));
    text = text.replace(LEADING_HOST_NAME, "-");
  }
  const key = pseudonymKey !== undefined && pseudonymKey !== "" ? pseudonymKey : undefined;
  if (key !== undefined) {
    for (const field of privacy.pseudonymize) {
      text = replaceFieldValues(text, field, (value) => pseudonymOf(value, key));
      text = replaceQueryValues(text, field, (value) => encodeURIComponent(pseudonymize(decodeQueryValue(value), key)));
    }
  }
  for (const field of privacy.dropFields) text = replaceFieldValues(replaceQueryValues(text, field, () => ""), field, () => "null");
  return redactQueryPairsInText(text, compileQueryRedaction(privacy.redactQueryParams, privacy.redactEmails));
}

/**
 * `text` with the value of every `<field>=<value>` pair of a query string (a pixel's dead letter is its query; a URL
 * in a log line may carry one) replaced by `replace(value)`.
 */
function replaceQueryValues(text: string, field: string, replace: (value: string) => string): string {
  if (!text.includes(`${field}=`)) return text;
  const name = field.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return text.replace(new RegExp(`(^|[?&;])(${name}=)([^&#\\s"]*)`, "g"), (_match, before: string, head: string, value: string) =>
    value === "" ? `${before}${head}` : `${before}${head}${replace(value)}`,
  );
}

function decodeQueryValue(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, " "));
  } catch {
    return value;
  }
}

/**
 * A pseudonymized field's value as it may be stored: a string, or a number or literal (`"user_id": 4242` is the same
 * person as "4242"), gets the pseudonym of its text; an object or list is no id and becomes null.
 */
function pseudonymOf(value: string, key: string): string {
  if (value.startsWith("{") || value.startsWith("[")) return "null";
  if (!value.startsWith('"')) return `"${pseudonymize(value, key)}"`;
  const terminated = value.length > 1 && value.endsWith('"');
  return `"${pseudonymize(unescapeJson(value.slice(1, terminated ? -1 : undefined)), key)}"`;
}

/**
 * `text` with the value after every `"<field>":` replaced by `replace(value's text)`, whatever the value's type
 * (string, number, literal, object, list), also in JSON too broken to parse: an unterminated value ends the text.
 */
function replaceFieldValues(text: string, field: string, replace: (value: string) => string): string {
  const name = field.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`"${name}"\\s*:\\s*`, "g");
  let out = "";
  let copied = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    const start = match.index + match[0].length;
    const end = jsonValueEnd(text, start);
    if (end === start || text.slice(start, end) === "null") continue;
    out += text.slice(copied, start) + replace(text.slice(start, end));
    copied = end;
    pattern.lastIndex = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** Where the JSON value starting at `start` ends: a string with its escapes, a bracketed object or list, or a literal. */
function jsonValueEnd(text: string, start: number): number {
  let depth = 0;
  for (let at = start; at < text.length; at++) {
    const char = text[at];
    if (char === '"') {
      for (at++; at < text.length && text[at] !== '"'; at++) if (text[at] === "\\") at++;
      if (depth === 0) return Math.min(at + 1, text.length);
    } else if (char === "{" || char === "[") depth++;
    else if (char === "}" || char === "]") {
      if (depth === 0) return at; // the enclosing object ends: a literal before it ends here
      if (--depth === 0) return at + 1;
    } else if (depth === 0 && (char === "," || char === " " || char === "\t" || char === "\n" || char === "\r")) return at;
  }
  return text.length;
}

function unescapeJson(value: string): string {
  try {
    return JSON.parse(`"${value}"`) as string;
  } catch {
    return value;
  }
}

/**
 * `raw` without write keys, as a dead letter may keep it: each of `keys` wherever it appears, as written or spelled
 * with JSON string escapes (`\u005f`, `\/`) or percent-escapes (`%5F`), as the key read from the record or query was
 * decoded from them; and the value of every `writeKey` field, whatever it holds (another or a wrong key is a secret
 * too): a JSON member, its name compared unescaped (`"write\u004bey"`), or a query parameter, its name
 * percent-decoded. Replaced by [redacted]. Runs for rejected records only, never on the path of good ones.
 */
export function redactWriteKeys(raw: string, keys: readonly string[]): string {
  let text = raw;
  for (const key of keys) if (text.includes(key)) text = text.split(key).join(REDACTED);
  if (text.includes("\\") || text.includes("%")) text = redactEscapedKeys(text, keys);
  text = redactMemberValues(text, WRITE_KEY_FIELD);
  if (text.includes("=")) text = redactQueryValues(text, WRITE_KEY_FIELD);
  return text;
}

/** `text` as JSON-string escapes and percent-escapes decode it, with where each decoded UTF-16 unit starts in `text`. */
interface DecodedView {
  decoded: string;
  /** starts[i]: the index in `text` of decoded unit i; starts[decoded.length] is text.length. */
  starts: number[];
}

/** Every key that the view of `text` holds (escaped in part or whole) is replaced, with the escapes spelling it. */
function redactEscapedKeys(text: string, keys: readonly string[]): string {
  const { decoded, starts } = decodedView(text);
  const spans: [number, number][] = [];
  for (const key of keys) {
    for (let at = decoded.indexOf(key); at !== -1; at = decoded.indexOf(key, at + key.length)) {
      spans.push([starts[at], starts[at + key.length]]);
    }
  }
  if (spans.length === 0) return text;
  spans.sort((a, b) => a[0] - b[0]);
  let out = "";
  let copied = 0;
  for (const [start, end] of spans) {
    if (end <= copied) continue;
    out += text.slice(copied, Math.max(start, copied)) + (start >= copied ? REDACTED : "");
    copied = end;
  }
  return out + text.slice(copied);
}

function decodedView(text: string): DecodedView {
  const units: string[] = [];
  const starts: number[] = [];
  for (let at = 0; at < text.length; ) {
    const escape = text[at] === "\\" ? jsonEscapeAt(text, at) : text[at] === "%" ? percentEscapeAt(text, at) : undefined;
    if (escape === undefined) {
      units.push(text[at]);
      starts.push(at++);
      continue;
    }
    // By UTF-16 unit (for…of would give a surrogate pair as one): every unit needs its start.
    for (let index = 0; index < escape.units.length; index++) {
      units.push(escape.units[index]);
      starts.push(at);
    }
    at += escape.length;
  }
  starts.push(text.length);
  return { decoded: units.join(""), starts };
}

interface Escape {
  units: string;
  length: number;
}

const JSON_ESCAPES: Readonly<Record<string, string>> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** The JSON string escape at `at` (a backslash): `\n`, `\/`, `\u005f`, …; undefined for none. */
function jsonEscapeAt(text: string, at: number): Escape | undefined {
  const letter = text[at + 1];
  if (letter === "u") {
    const hex = text.slice(at + 2, at + 6);
    return /^[0-9A-Fa-f]{4}$/.test(hex) ? { units: String.fromCharCode(Number.parseInt(hex, 16)), length: 6 } : undefined;
  }
  const unit = letter === undefined ? undefined : JSON_ESCAPES[letter];
  return unit === undefined ? undefined : { units: unit, length: 2 };
}

/** The percent-escaped character at `at` (a `%`): one ASCII byte, or the bytes of one UTF-8 character; else undefined. */
function percentEscapeAt(text: string, at: number): Escape | undefined {
  const first = byteAt(text, at);
  if (first === undefined) return undefined;
  if (first < 0x80) return { units: String.fromCharCode(first), length: 3 };
  const count = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 0;
  const bytes = [first];
  for (let index = 1; index < count; index++) {
    const next = byteAt(text, at + 3 * index);
    if (next === undefined) return undefined;
    bytes.push(next);
  }
  const buffer = Buffer.from(bytes);
  return count > 0 && isUtf8(buffer) ? { units: buffer.toString("utf8"), length: 3 * count } : undefined;
}

function byteAt(text: string, at: number): number | undefined {
  if (text[at] !== "%") return undefined;
  const hex = text.slice(at + 1, at + 3);
  return /^[0-9A-Fa-f]{2}$/.test(hex) ? Number.parseInt(hex, 16) : undefined;
}

/**
 * `text` with the value of every JSON member named `field` (compared after unescaping the name) replaced by
 * "[redacted]", whatever its type; also in JSON too broken to parse, where an unterminated value ends the text.
 */
function redactMemberValues(text: string, field: string): string {
  if (!text.includes('"')) return text;
  let out = "";
  let copied = 0;
  for (let at = text.indexOf('"'); at !== -1; at = text.indexOf('"', at)) {
    const nameEnd = jsonValueEnd(text, at);
    let next = nameEnd;
    while (next < text.length && isJsonSpace(text[next])) next++;
    if (text[next] !== ":" || memberName(text.slice(at + 1, nameEnd - 1)) !== field) {
      at = nameEnd;
      continue;
    }
    let start = next + 1;
    while (start < text.length && isJsonSpace(text[start])) start++;
    const end = jsonValueEnd(text, start);
    const value = text.slice(start, end);
    if (end > start && value !== "null" && value !== `"${REDACTED}"`) {
      out += `${text.slice(copied, start)}"${REDACTED}"`;
      copied = end;
    }
    at = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

function memberName(inner: string): string {
  return inner.includes("\\") ? unescapeJson(inner) : inner;
}

function isJsonSpace(char: string): boolean {
  return char === " " || char === "\t" || char === "\n" || char === "\r";
}

/** `text` with the value of every query parameter named `field` (name percent-decoded, as URLSearchParams reads it) redacted. */
function redactQueryValues(text: string, field: string): string {
  return text.replace(/(^|[?&;])([^=&#\s"]*)=([^&#\s"]*)/g, (match: string, before: string, name: string, value: string) =>
    value === "" || value === REDACTED || decodeQueryValue(name) !== field ? match : `${before}${name}=${REDACTED}`,
  );
}
