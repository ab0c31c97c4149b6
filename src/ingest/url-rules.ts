// URL rules: path templates with :params and * compiled into one matcher that maps a URL path to its page item.

export interface UrlRule {
  match: string;
  item: string;
}

export class UrlRuleError extends Error {
  override name = "UrlRuleError";
}

interface CompiledRule {
  pattern: RegExp;
  /** The item template cut into literal text and group numbers, e.g. ["product/", 2]. */
  parts: Array<string | number>;
}

export type PageItemOf = (pathOrUrl: string) => string;

/**
 * Compiles rules once. `:name` matches one path segment, `*` any rest (slashes included); a trailing slash is
 * optional; matching ignores the query string and fragment; the first matching rule wins; no match → the path.
 */
export function compileUrlRules(rules: readonly UrlRule[]): PageItemOf {
  const compiled = rules.map((rule, index) => compileRule(rule, index));
  return (pathOrUrl) => {
    const path = pathOfUrl(pathOrUrl);
    for (const rule of compiled) {
      const match = rule.pattern.exec(path);
      if (match !== null) return renderItem(rule.parts, match);
    }
    return path;
  };
}

function compileRule(rule: UrlRule, index: number): CompiledRule {
  const where = `urlRules[${index}]`;
  if (!rule.match.startsWith("/") && !rule.match.startsWith("*")) {
    throw new UrlRuleError(`${where}.match "${rule.match}" must start with / (a URL path)`);
  }
  const groups = new Map<string, number>();
  let source = "";
  const token = /:([A-Za-z_][A-Za-z0-9_]*)|\*/g;
  let last = 0;
  for (let match = token.exec(rule.match); match !== null; match = token.exec(rule.match)) {
    source += escapeRegExp(rule.match.slice(last, match.index));
    last = token.lastIndex;
    const name = match[1] ?? "*";
    if (groups.has(name) && name !== "*") throw new UrlRuleError(`${where}.match uses :${name} twice`);
    if (!groups.has(name)) groups.set(name, groups.size + 1);
    else groups.set(`*${groups.size}`, groups.size + 1);
    source += name === "*" ? "(.*)" : "([^/]+)";
  }
  source += escapeRegExp(rule.match.slice(last));
  if (source.endsWith("/")) source = source.slice(0, -1);
  return { pattern: new RegExp(`^${source}/?$`), parts: compileItem(rule.item, groups, where) };
}

function compileItem(item: string, groups: Map<string, number>, where: string): Array<string | number> {
  const parts: Array<string | number> = [];
  const token = /:([A-Za-z_][A-Za-z0-9_]*)|\*/g;
  let last = 0;
  for (let match = token.exec(item); match !== null; match = token.exec(item)) {
    if (match.index > last) parts.push(item.slice(last, match.index));
    last = token.lastIndex;
    const name = match[1] ?? "*";
    const group = groups.get(name);
    if (group === undefined) {
      const known = [...groups.keys()]
        .filter((key) => !key.startsWith("*") || key === "*")
        .map((key) => (key === "*" ? "*" : `:${key}`));
      const label = name === "*" ? "*" : `:${name}`;
      throw new UrlRuleError(`${where}.item uses ${label}, which ${where}.match does not define (it has ${known.join(", ") || "no params"})`);
    }
    parts.push(group);
  }
  if (last < item.length) parts.push(item.slice(last));
  return parts;
}

function renderItem(parts: Array<string | number>, match: RegExpExecArray): string {
  let item = "";
  for (const part of parts) item += typeof part === "number" ? match[part] : part;
  return item;
}

/** The path of a URL or path: scheme and host removed, query and fragment cut; "" becomes "/". */
export function pathOfUrl(url: string): string {
  let start = 0;
  const scheme = url.indexOf("://");
  if (scheme > 0 && scheme < 12 && /^[A-Za-z][A-Za-z0-9+.-]*$/.test(url.slice(0, scheme))) {
    const slash = url.indexOf("/", scheme + 3);
    if (slash === -1) return "/";
    start = slash;
  }
  let end = url.length;
  const query = url.indexOf("?", start);
  if (query !== -1) end = query;
  const fragment = url.indexOf("#", start);
  if (fragment !== -1 && fragment < end) end = fragment;
  const path = url.slice(start, end);
  return path === "" ? "/" : path;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
