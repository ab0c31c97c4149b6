// Secrets and addresses in a dead letter's free text: the values of listed JSON members (`"token":"abc"`, also JSON
// in a JSON string, `"{\"password\":\"x\"}"`, and in JSON too broken to parse) and the words holding an email address.
// One pass over the text's quotes: linear, and only values change, so the text reads as it was sent.
import { holdsAddress } from "./email-address.ts";
import { isJsonSpace } from "./query-json-redaction.ts";
import { Redactions, REDACTED_QUERY_VALUE, type QueryRedaction } from "./redaction-spans.ts";

/** How often a JSON text may be a string in a string and still be read: `"`, `\"`, `\\\"`, `\\\\\\\"` (levels 0–3). */
const MAX_LEVEL = 3;

/** A member name longer than this is none that a redaction lists (no scan runs on past it). */
const MAX_NAME_LENGTH = 128;

/**
 * The JSON nesting level of the quote at `at`: JSON in a JSON string writes its quotes `\"`, in a string in that one
 * `\\\"`; so a quote after a run of r backslashes is one of level (trailing one bits of r), an escaped backslash
 * (`\\`) adding two. -1 for a level past MAX_LEVEL.
 */
function quoteLevel(text: string, at: number): number {
  let run = 0;
  while (at - run - 1 >= 0 && text.charCodeAt(at - run - 1) === 0x5c) run++;
  let level = 0;
  while ((run & 1) === 1) {
    level++;
    run >>= 1;
  }
  return level > MAX_LEVEL ? -1 : level;
}

/** How a quote of `level` is written: 2^level − 1 backslashes and the quote. */
function quoteOf(level: number): string {
  return "\\".repeat((1 << level) - 1) + '"';
}

/**
 * `text` with the value of each JSON member whose name is listed (compared as the JSON of a query value compares
 * them: case-insensitively) replaced by "(redacted)", at any depth and at any of the levels of JSON in a string: a
 * string's contents (its quotes stay), a number, literal, object or list as a string quoted as its name is. null, an
 * empty string and values already redacted stay. A value cut short by the text's end (a truncated dead letter) is
 * redacted to the end.
 */
export function redactListedMembersInText(text: string, redaction: QueryRedaction): string {
  if (!text.includes('"')) return text;
  const redactions = new Redactions(text);
  let open = text.indexOf('"');
  while (open !== -1) {
    const close = text.indexOf('"', open + 1);
    if (close === -1) break;
    const level = quoteLevel(text, open);
    const nameStart = open + 1;
    const nameEnd = close - ((1 << level) - 1);
    // A name: two quotes of one level around at most MAX_NAME_LENGTH characters, then a ":".
    if (level === -1 || nameEnd < nameStart || close - open > MAX_NAME_LENGTH || quoteLevel(text, close) !== level || !isListedName(text.slice(nameStart, nameEnd), level, redaction)) {
      open = close;
      continue;
    }
    let valueStart = close + 1;
    while (valueStart < text.length && isJsonSpace(text.charCodeAt(valueStart))) valueStart++;
    if (text.charCodeAt(valueStart) !== 0x3a /* : */) {
      open = close;
      continue;
    }
    valueStart++;
    while (valueStart < text.length && isJsonSpace(text.charCodeAt(valueStart))) valueStart++;
    const after = redactMemberValue(text, valueStart, level, redactions);
    open = text.indexOf('"', after);
  }
  return redactions.result();
}

/** Whether a name written at `level` (escaped level + 1 times when it holds a backslash) is listed. */
function isListedName(raw: string, level: number, redaction: QueryRedaction): boolean {
  let name = raw;
  for (let times = 0; times <= level && name.includes("\\"); times++) {
    try {
      name = JSON.parse(`"${name}"`) as string;
    } catch {
      return false;
    }
  }
  return redaction.nameLengths.has(name.length) && redaction.names.has(name.toLowerCase());
}

/** Redacts the value of a listed member at `start` (a quote of `level`, a bracket or a literal); returns where it ends. */
function redactMemberValue(text: string, start: number, level: number, redactions: Redactions): number {
  const quote = quoteOf(level);
  if (text.startsWith(quote, start)) {
    const contentStart = start + quote.length;
    const closing = closingQuote(text, contentStart, level);
    if (closing.contentEnd > contentStart && !isRedacted(text.slice(contentStart, closing.contentEnd))) redactions.replace(contentStart, closing.contentEnd);
    return closing.after;
  }
  const code = text.charCodeAt(start);
  const end = code === 0x7b || code === 0x5b ? bracketsEnd(text, start, level) : literalEnd(text, start);
  const value = text.slice(start, end);
  if (end > start && value !== "null" && !isRedacted(value) && value !== `${quote}${REDACTED_QUERY_VALUE}${quote}`) {
    redactions.replace(start, end, `${quote}${REDACTED_QUERY_VALUE}${quote}`);
  }
  return end;
}

/**
 * Where the string of `level` whose contents start at `from` ends: at its closing quote (deeper ones are characters of
 * the string); at a shallower quote (JSON broken there) or the text's end, its contents run up to it.
 */
function closingQuote(text: string, from: number, level: number): { contentEnd: number; after: number } {
  for (let at = text.indexOf('"', from); at !== -1; at = text.indexOf('"', at + 1)) {
    const quoteAt = quoteLevel(text, at);
    if (quoteAt === level) return { contentEnd: at - ((1 << level) - 1), after: at + 1 };
    if (quoteAt !== -1 && quoteAt < level) {
      const contentEnd = Math.max(from, at - ((1 << quoteAt) - 1));
      return { contentEnd, after: contentEnd };
    }
  }
  return { contentEnd: text.length, after: text.length };
}

/** Where the object or list at `start` ends: its closing bracket matched outside the strings of its level. */
function bracketsEnd(text: string, start: number, level: number): number {
  let depth = 0;
  for (let at = start; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code === 0x22) {
      const quoteAt = quoteLevel(text, at);
      if (quoteAt !== -1 && quoteAt < level) return at - ((1 << quoteAt) - 1);
      if (quoteAt !== level) continue;
      const closing = closingQuote(text, at + 1, level);
      if (closing.after === closing.contentEnd) return closing.after;
      at = closing.after - 1;
    } else if (code === 0x7b || code === 0x5b) depth++;
    else if ((code === 0x7d || code === 0x5d) && --depth === 0) return at + 1;
  }
  return text.length;
}

/** Where a number or literal ends: at a separator, a bracket, white space, a quote or a backslash. */
function literalEnd(text: string, start: number): number {
  let at = start;
  while (at < text.length && !LITERAL_END.has(text.charCodeAt(at))) at++;
  return at;
}

const LITERAL_END: ReadonlySet<number> = new Set([..." \t\r\n,:{}[]\"\\"].map((char) => char.charCodeAt(0)));

/** Whether a value has nothing left to redact: our marker or redactWriteKeys', bare or quoted. */
function isRedacted(value: string): boolean {
  return value === REDACTED_QUERY_VALUE || value === "[redacted]" || value === '"[redacted]"';
}

/** A word of free text: what lies between white space, quotes, brackets, angle brackets, commas and semicolons. */
const WORD = /[^\s"'<>()[\]{},;\\]+/g;

/**
 * `text` with each word that holds an email address replaced by "(redacted)": `mail jane@x.com` → `mail (redacted)`,
 * `"Jane <jane@x.com>"` → `"Jane <(redacted)>"`, in a JSON string, a log line or text around them alike. Words are
 * cut at backslashes too, so an address in a string in a string goes without the escapes around it.
 */
export function redactAddressWordsInText(text: string): string {
  if (!text.includes("@")) return text;
  const redactions = new Redactions(text);
  WORD.lastIndex = 0;
  for (let match = WORD.exec(text); match !== null; match = WORD.exec(text)) {
    if (match[0].includes("@") && holdsAddress(match[0])) redactions.replace(match.index, match.index + match[0].length);
  }
  return redactions.result();
}
