// Turns an nginx `log_format` or Apache `LogFormat` string into a list of literal and field tokens.

/** What a field of the log line means for an AccessRecord; `ignored` fields are matched and skipped. */
export type FieldKind =
  | "ip"
  | "ident"
  | "user"
  | "timeLocal"
  | "timeIso"
  | "timeMsec"
  | "timeSec"
  | "request"
  | "method"
  | "pathWithQuery"
  | "pathOnly"
  | "query"
  | "protocol"
  | "status"
  | "bytes"
  | "referrer"
  | "userAgent"
  | "ignored";

export type FormatToken =
  | { type: "literal"; text: string }
  /** `name` is the field as written in the format (`$remote_addr`, `%>s`), for error messages. */
  | { type: "field"; kind: FieldKind; name: string };

export class LogFormatError extends Error {
  override name = "LogFormatError";
}

export const COMBINED_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';
/** NCSA common: Apache's `%h %l %u %t "%r" %>s %b`. */
export const COMMON_FORMAT = '%h %l %u %t "%r" %>s %b';

export const NGINX_VARIABLES: Record<string, FieldKind> = {
  remote_addr: "ip",
  realip_remote_addr: "ip",
  remote_user: "user",
  time_local: "timeLocal",
  time_iso8601: "timeIso",
  msec: "timeMsec",
  request: "request",
  request_method: "method",
  request_uri: "pathWithQuery",
  uri: "pathOnly",
  document_uri: "pathOnly",
  args: "query",
  query_string: "query",
  server_protocol: "protocol",
  status: "status",
  body_bytes_sent: "bytes",
  bytes_sent: "bytes",
  http_referer: "referrer",
  http_user_agent: "userAgent",
};

const APACHE_DIRECTIVES: Record<string, FieldKind> = {
  h: "ip",
  a: "ip",
  l: "ident",
  u: "user",
  r: "request",
  m: "method",
  U: "pathOnly",
  q: "query",
  H: "protocol",
  s: "status",
  b: "bytes",
  B: "bytes",
};

/** Tokens of a format string; throws LogFormatError with what is wrong. */
export function tokenizeLogFormat(format: string): FormatToken[] {
  const text = format.trim();
  if (text === "") throw new LogFormatError("the log format is empty");
  const tokens = /\$(?:[A-Za-z_]|\{)/.test(text) ? tokenizeNginx(unquoteNginx(text)) : tokenizeApache(unescapeApache(text));
  const merged = mergeLiterals(tokens);
  checkRequiredFields(format, merged);
  return merged;
}

/** nginx configs write the format as one or more '…' segments; join them. */
export function unquoteNginx(text: string): string {
  if (!text.startsWith("'")) return text;
  const segments = text.match(/'[^']*'/g);
  const rest = text.replace(/'[^']*'/g, "").trim();
  if (segments === null || rest !== "") throw new LogFormatError(`unbalanced quotes in nginx log_format ${text}`);
  return segments.map((segment) => segment.slice(1, -1)).join("");
}

/** httpd.conf writes quotes inside LogFormat as \". */
function unescapeApache(text: string): string {
  return text.replace(/\\(["\\])/g, "$1");
}

function tokenizeNginx(text: string): FormatToken[] {
  const tokens: FormatToken[] = [];
  const variable = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z_][A-Za-z0-9_]*))/g;
  let last = 0;
  for (let match = variable.exec(text); match !== null; match = variable.exec(text)) {
    if (match.index > last) tokens.push({ type: "literal", text: text.slice(last, match.index) });
    const name = match[1] ?? match[2];
    tokens.push({ type: "field", kind: NGINX_VARIABLES[name] ?? "ignored", name: `$${name}` });
    last = variable.lastIndex;
  }
  if (last < text.length) tokens.push({ type: "literal", text: text.slice(last) });
  return tokens;
}

function tokenizeApache(text: string): FormatToken[] {
  const tokens: FormatToken[] = [];
  // %[conditions][<>]{argument}letter, e.g. %>s, %{User-agent}i, %400,501{Referer}i
  const directive = /%(!?[0-9,]*)([<>]?)(?:\{([^}]*)\})?([A-Za-z%])/g;
  let last = 0;
  for (let match = directive.exec(text); match !== null; match = directive.exec(text)) {
    if (match.index > last) tokens.push({ type: "literal", text: text.slice(last, match.index) });
    last = directive.lastIndex;
    const [written, , , argument, letter] = match;
    if (letter === "%") {
      tokens.push({ type: "literal", text: "%" });
      continue;
    }
    if (letter === "t") {
      tokens.push(...apacheTime(argument, written));
      continue;
    }
    tokens.push({ type: "field", kind: apacheKind(letter, argument), name: written });
  }
  if (last < text.length) {
    const rest = text.slice(last);
    if (rest.includes("%")) throw new LogFormatError(`unknown Apache directive near "${rest}"`);
    tokens.push({ type: "literal", text: rest });
  }
  return tokens;
}

function apacheKind(letter: string, argument: string | undefined): FieldKind {
  if (letter === "i" && argument !== undefined) {
    const header = argument.toLowerCase();
    if (header === "referer" || header === "referrer") return "referrer";
    if (header === "user-agent") return "userAgent";
    return "ignored";
  }
  if (argument !== undefined && letter !== "a") return "ignored";
  return APACHE_DIRECTIVES[letter] ?? "ignored";
}

/** %t prints [dd/Mon/yyyy:HH:MM:SS ±hhmm] with its brackets; %{sec}t and %{msec}t print epoch numbers. */
function apacheTime(argument: string | undefined, written: string): FormatToken[] {
  if (argument === undefined) {
    return [
      { type: "literal", text: "[" },
      { type: "field", kind: "timeLocal", name: written },
      { type: "literal", text: "]" },
    ];
  }
  if (argument === "sec") return [{ type: "field", kind: "timeSec", name: written }];
  if (argument === "msec") return [{ type: "field", kind: "timeMsec", name: written }];
  throw new LogFormatError(`unsupported time format ${written}: use %t, %{sec}t or %{msec}t`);
}

function mergeLiterals(tokens: FormatToken[]): FormatToken[] {
  const merged: FormatToken[] = [];
  for (const token of tokens) {
    const previous = merged[merged.length - 1];
    if (token.type === "literal" && previous?.type === "literal") previous.text += token.text;
    else merged.push(token.type === "literal" ? { ...token } : token);
  }
  return merged;
}

function checkRequiredFields(format: string, tokens: FormatToken[]): void {
  const kinds = new Set(tokens.flatMap((token) => (token.type === "field" ? [token.kind] : [])));
  const missing: string[] = [];
  if (!kinds.has("ip")) missing.push("a client address ($remote_addr or %h)");
  if (!kinds.has("timeLocal") && !kinds.has("timeIso") && !kinds.has("timeMsec") && !kinds.has("timeSec")) {
    missing.push("a time ($time_local, $time_iso8601, $msec or %t)");
  }
  if (!kinds.has("status")) missing.push("a status ($status or %>s)");
  if (missing.length > 0) throw new LogFormatError(`log format "${format}" lacks ${missing.join(", ")}`);
}
