// Privacy for dead letters: the raw text of a rejected record gets the same IP anonymization and pseudonyms as events,
// and loses the write keys it carried.
import { isIPv4, isIPv6 } from "node:net";
import { WRITE_KEY_FIELD } from "./http-auth.ts";
import { deadLetterRaw } from "../transport/dead-letter.ts";
import { anonymizeIp, pseudonymize, type PrivacyConfig } from "./privacy.ts";
import { hexByteAt } from "./query-encoding.ts";
import { JSON_STRING_ESCAPES } from "./query-json-redaction.ts";
import { compileQueryRedaction, redactQueryPairsInText, type QueryRedaction } from "./query-redaction.ts";
import { REDACTED_QUERY_VALUE } from "./redaction-spans.ts";
import { redactAddressWordsInText, redactListedMembersInText } from "./text-json-redaction.ts";

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
 * url) lose the values that redactQueryParams and redactEmails take from events' urls. The rules for JSON in a query
 * value apply to the text's own JSON, which no event schema vetted: listed members' values go at any depth (also in
 * JSON strings holding JSON, and in JSON too broken to parse), and with redactEmails each word holding an address.
 */
export function redactRawRecord(raw: string, privacy: PrivacyConfig, pseudonymKey: string | undefined): string {
  return rawRecordRedactor(privacy, pseudonymKey)(raw);
}

/**
 * redactRawRecord for one pipeline's dead letters: the query redaction of its privacy settings compiled once. Its
 * result is cut to MAX_DEAD_LETTER_RAW characters again: markers and pseudonyms are longer than most values they replace.
 */
export function rawRecordRedactor(privacy: PrivacyConfig, pseudonymKey: string | undefined): (raw: string) => string {
  const queryRedaction = compileQueryRedaction(privacy.redactQueryParams, privacy.redactEmails);
  return (raw) => deadLetterRaw(redactRaw(raw, privacy, pseudonymKey, queryRedaction));
}

/**
 * redactRawRecord for one pipeline's dead-letter reasons: a reason quotes what it refused (a field's value, up to 60
 * characters; V8's JSON.parse error, the text around the error), so it gets the raw text's rules after its code
 * (`bad_field: …`), which stays as it is for the metrics' label and for whoever reads it. V8's quote of the text is
 * cut out whole (withoutQuotedJsonText): it may start inside a listed name, where no rule can see the name.
 */
export function deadLetterReasonRedactor(privacy: PrivacyConfig, pseudonymKey: string | undefined): (reason: string) => string {
  const redactText = rawRecordRedactor(privacy, pseudonymKey);
  const hiddenFields = new Set<string>([...privacy.pseudonymize, ...privacy.dropFields]);
  return (reason) => {
    const colon = reason.indexOf(": ");
    const codeEnd = colon === -1 || !REASON_CODE.test(reason.slice(0, colon)) ? 0 : colon + 2;
    // Cut before the rules, as the raw text is: a CSV field quoted in a reason may be as long as its line.
    const detail = withoutHiddenFieldValue(deadLetterRaw(withoutQuotedJsonText(reason.slice(codeEnd))), hiddenFields);
    return reason.slice(0, codeEnd) + redactText(detail);
  };
}

/** An invalid-reason code as dead letters start with it (`not_json`, `bad_field`). */
const REASON_CODE = /^[a-z_]+$/;

/** A known field's problem as decode words it: `page_view.user_id: expected a non-empty string, got 4242`. */
const FIELD_PROBLEM = /\.([A-Za-z_][A-Za-z0-9_]*): expected [^\n]{0,200}?, got /;

/**
 * A field problem's quoted value, when the field is pseudonymized or dropped, as "(redacted)": the reason names the
 * field outside any JSON member (`page_view.user_id: …, got 4242`), where the raw text's rules would not see it.
 */
function withoutHiddenFieldValue(detail: string, hiddenFields: ReadonlySet<string>): string {
  if (hiddenFields.size === 0) return detail;
  const problem = FIELD_PROBLEM.exec(detail);
  if (problem === null || !hiddenFields.has(problem[1])) return detail;
  return `${detail.slice(0, problem.index + problem[0].length)}${REDACTED_QUERY_VALUE}`;
}

/** The end of a JSON.parse error that quotes the text: `…, "<text>"... is not valid JSON`. */
const QUOTED_JSON_TEXT_END = /"(?:\.\.\.)? is not valid JSON$/;

/**
 * A JSON.parse error without the text V8 quotes in it (`Unexpected token 'w', "wk_live_01"... is not valid JSON`):
 * the position and the unexpected character stay, and ten characters of a secret are too many to keep. The end is
 * checked first: without it, the pattern tried each ` "` of a long reason to its end (quadratic).
 */
export function withoutQuotedJsonText(message: string): string {
  if (!QUOTED_JSON_TEXT_END.test(message)) return message;
  return message.replace(/,? (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, " (not valid JSON)");
}

function redactRaw(raw: string, privacy: PrivacyConfig, pseudonymKey: string | undefined, queryRedaction: QueryRedaction): string {
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
  // URLs first: a path segment or query value holding an address goes as in an event's url, not the word around it.
  text = redactListedMembersInText(redactQueryPairsInText(text, queryRedaction), queryRedaction);
  return privacy.redactEmails ? redactAddressWordsInText(text) : text;
}

/**
 * `text` with the value of every `<field>=<value>` pair of a query string or a URL's fragment (a pixel's dead letter
 * is its query; a URL in a log line may carry one; an OAuth callback carries pairs after `#`) replaced by `replace(value)`.
 */
function replaceQueryValues(text: string, field: string, replace: (value: string) => string): string {
  if (!text.includes(`${field}=`)) return text;
  const name = field.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return text.replace(new RegExp(`(^|[?&;#])(${name}=)([^&#\\s"]*)`, "g"), (_match, before: string, head: string, value: string) =>
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
  if (text.includes("=")) text = redactWriteKeyParameters(text);
  return text;
}

/**
 * `text` as JSON-string escapes and percent-escapes decode it, unit by unit into typed arrays with where each unit
 * starts in `text`: an array of one-character strings, joined, made a 512 KiB record with one `\/` cost 150 ms.
 */
interface DecodedView {
  decoded: string;
  /** starts[i]: the index in `text` of decoded unit i; starts[decoded.length] is text.length. */
  starts: Int32Array;
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
  // Never longer than `text`: an escape takes 2–12 characters and gives 1 or 2 units.
  const units = new Uint16Array(text.length);
  const starts = new Int32Array(text.length + 1);
  let length = 0;
  for (let at = 0; at < text.length; ) {
    const code = text.charCodeAt(at);
    const escape = code === 0x5c /* \ */ ? jsonEscapeAt(text, at) : code === 0x25 /* % */ ? percentEscapeAt(text, at) : NO_ESCAPE;
    if (escape === NO_ESCAPE) {
      starts[length] = at++;
      units[length++] = code;
      continue;
    }
    const point = escape >>> 4;
    // By UTF-16 unit: every unit needs its start, the escape's.
    if (point > 0xffff) {
      starts[length] = at;
      units[length++] = 0xd800 + ((point - 0x10000) >> 10);
      starts[length] = at;
      units[length++] = 0xdc00 + ((point - 0x10000) & 0x3ff);
    } else {
      starts[length] = at;
      units[length++] = point;
    }
    at += escape & 0xf;
  }
  starts[length] = text.length;
  return { decoded: unitsText(units, length), starts };
}

/** The first `length` units as a string, unit for unit (TextDecoder would replace lone surrogates). */
function unitsText(units: Uint16Array, length: number): string {
  const chunks: string[] = [];
  // apply takes the typed array as it is; a spread would iterate it (5× slower).
  for (let at = 0; at < length; at += 8_192) chunks.push(String.fromCharCode.apply(null, units.subarray(at, Math.min(at + 8_192, length)) as unknown as number[]));
  return chunks.join("");
}

/** What jsonEscapeAt and percentEscapeAt give where there is no escape. */
const NO_ESCAPE = -1;

/**
 * An escape as one number, so that none is allocated per escape: what it spells (one UTF-16 unit for a JSON `\uXXXX`,
 * which may be half a surrogate pair; a code point for a percent-escaped UTF-8 character) times 16, plus its length
 * in `text` (2–12).
 */
function escaped(codePoint: number, length: number): number {
  return (codePoint << 4) | length;
}

/** The JSON string escape at `at` (a backslash): `\n`, `\/`, `\u005f`, …; NO_ESCAPE for none. */
function jsonEscapeAt(text: string, at: number): number {
  const letter = text.charCodeAt(at + 1);
  if (letter === 0x75 /* u */) {
    const unit = (hexByteAt(text, at + 2) << 8) | hexByteAt(text, at + 4);
    return unit >= 0 ? escaped(unit, 6) : NO_ESCAPE;
  }
  const unit = JSON_STRING_ESCAPES.get(letter);
  return unit === undefined ? NO_ESCAPE : escaped(unit, 2);
}

/**
 * The percent-escaped character at `at` (a `%`): one ASCII byte, or the bytes of one UTF-8 character, as strict as
 * isUtf8 (no overlong form, surrogate or code point past U+10FFFF); else NO_ESCAPE.
 */
function percentEscapeAt(text: string, at: number): number {
  const first = byteAt(text, at);
  if (first < 0) return NO_ESCAPE;
  if (first < 0x80) return escaped(first, 3);
  const count = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 0;
  if (count === 0 || first > 0xf4) return NO_ESCAPE;
  let codePoint = first & (0xff >> (count + 1));
  for (let index = 1; index < count; index++) {
    const next = byteAt(text, at + 3 * index);
    if (next < 0 || (next & 0xc0) !== 0x80) return NO_ESCAPE;
    codePoint = (codePoint << 6) | (next & 0x3f);
  }
  const least = count === 2 ? 0x80 : count === 3 ? 0x800 : 0x10000;
  if (codePoint < least || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return NO_ESCAPE;
  return escaped(codePoint, 3 * count);
}

/** The byte `%XX` at `at` spells; -1 for none. */
function byteAt(text: string, at: number): number {
  return text.charCodeAt(at) === 0x25 /* % */ ? hexByteAt(text, at + 1) : -1;
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

/** `text` with the value of every writeKey query parameter (its name percent-decoded, as URLSearchParams reads it) redacted. */
function redactWriteKeyParameters(text: string): string {
  return text.replace(WRITE_KEY_PARAMETER, (match: string, before: string, name: string, value: string) =>
    value === "" || value === REDACTED ? match : `${before}${name}=${REDACTED}`,
  );
}

/**
 * A query pair whose name reads as writeKey once percent-decoded: each letter as itself or as its escape (`%4B` or
 * `%4b` for K). Matched by the pattern, not by decoding the names pair by pair: a query of 100k pairs cost 130 ms so.
 */
const WRITE_KEY_PARAMETER = new RegExp(`(^|[?&;#])(${[...WRITE_KEY_FIELD].map(letterOrEscape).join("")})=([^&#\\s"]*)`, "g");

/** "K" → `(?:K|%4[Bb])`: an ASCII letter or digit, or its percent-escape in either case. */
function letterOrEscape(char: string): string {
  const hex = [...char.charCodeAt(0).toString(16).padStart(2, "0")].map((digit) => (digit >= "a" ? `[${digit.toUpperCase()}${digit}]` : digit));
  return `(?:${char}|%${hex.join("")})`;
}
