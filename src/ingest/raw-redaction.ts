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
 * in the text are anonymized, a leading host name becomes "-", and `"<field>": "<value>"` pairs of pseudonymized
 * fields get the value's pseudonym, also in JSON too broken to parse. Dropped fields lose their values.
 */
export function redactRawRecord(raw: string, privacy: PrivacyConfig, pseudonymKey: string | undefined): string {
  let text = raw;
  if (privacy.anonymizeIp) {
    text = text.replace(IPV4_TOKEN, (token) => (isIPv4(token) ? (anonymizeIp(token, privacy.ipv6Bits) ?? "-") : token));
    text = text.replace(IPV6_TOKEN, (token) => (isIPv6(token.split("%")[0]) ? (anonymizeIp(token, privacy.ipv6Bits) ?? "-") : token));
    text = text.replace(LEADING_HOST_NAME, "-");
  }
  if (pseudonymKey !== undefined && pseudonymKey !== "") {
    for (const field of privacy.pseudonymize) {
      text = text.replace(stringFieldPattern(field), (_match, head: string, value: string) => `${head}"${pseudonymize(unescapeJson(value), pseudonymKey)}"`);
    }
  }
  for (const field of privacy.dropFields) text = text.replace(stringFieldPattern(field), (_match, head: string) => `${head}null`);
  return text;
}

function stringFieldPattern(field: string): RegExp {
  const name = field.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`("${name}"\\s*:\\s*)"((?:[^"\\\\]|\\\\.)*)"`, "g");
}

function unescapeJson(value: string): string {
  try {
    return JSON.parse(`"${value}"`) as string;
  } catch {
    return value;
  }
}
