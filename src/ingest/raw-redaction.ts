// Privacy for dead letters: the raw text of a rejected record gets the same IP anonymization and pseudonyms as events.
import { isIPv4, isIPv6 } from "node:net";
import { anonymizeIp, pseudonymize, type PrivacyConfig } from "./privacy.ts";

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
 * Dropped fields lose their values.
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
  return text;
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
