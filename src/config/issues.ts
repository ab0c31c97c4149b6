// Turns zod issues into config errors that say where (key path, line) and what to do (allowed keys, the key's description).
import { z } from "zod";
import { closestMatch, relatedName } from "./did-you-mean.ts";
import { typedPlainScalar } from "./env.ts";
import { formatDuration } from "./duration.ts";
import { formatPath, type ConfigError } from "./errors.ts";
import { allowedKeys, branchesAllowing, descriptionOf, discriminatorOf, isDurationValue, isRecord, objectSchemaFor, schemaAt } from "./schema-walk.ts";
import type { Position } from "./yaml-positions.ts";

export interface IssueContext {
  schema: z.core.$ZodType;
  /** The file's content as plain data (after ${VAR} expansion), what zod saw. */
  input: unknown;
  locate(path: readonly PropertyKey[]): Position;
  /** The scalar at `path` as the file wrote it (before ${VAR} expansion, quotes included), when there is one. */
  written?(path: readonly PropertyKey[]): string | undefined;
  /** Whether a check across the whole file (not the key's own schema) refuses `text` at `path`, e.g. an unknown log format. */
  refusedAcross?(path: readonly PropertyKey[], text: string): boolean;
}

type Explained = Omit<ConfigError, "line" | "column"> & { at: readonly PropertyKey[] };

/** One or more errors per zod issue (an unknown-keys issue names each key separately). */
export function issueToErrors(issue: z.core.$ZodIssue, context: IssueContext): ConfigError[] {
  return explain(issue, context).map(({ at, ...error }) => {
    const { line, column } = context.locate(at);
    return { ...error, line, column };
  });
}

function explain(issue: z.core.$ZodIssue, context: IssueContext): Explained[] {
  const path = issue.path;
  const raw = valueAt(context.input, path);
  const keyHint = descriptionOf(schemaAt(context.schema, path, context.input));
  const single = (message: string, hint?: string): Explained[] => [{ path: formatPath(path), at: path, message, hint }];
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => unknownKey(path, key, context));
    case "invalid_type": {
      if (!hasKey(context.input, path)) return single(`missing required key "${String(path[path.length - 1])}"`, keyHint);
      const field = schemaAt(context.schema, path, context.input);
      // A training file's `horizon: 90` takes whole days only, so probe with a day when a minute is refused.
      const minutes = field !== undefined && isDurationValue(field, 60_000);
      const wholeDays = field !== undefined && !minutes && isDurationValue(field, 86_400_000);
      if (minutes || wholeDays) {
        // `gap: 30` parses as a number: say what a duration looks like, not "expected text".
        const unitHint =
          typeof raw !== "number"
            ? keyHint
            : raw < 0
              ? `A duration is a length of time, never negative: write one with its unit, such as "${-raw}${wholeDays ? "d" : "m"}".`
              : wholeDays
              ? `A number alone has no unit: write "${raw}d" for ${raw} days.`
              : `A number alone has no unit: write "${raw}m" for ${raw} minutes or "${raw}s" for seconds.`;
        const expected = wholeDays ? 'whole days like "90d"' : 'a duration like "30m" (units ms, s, m, h, d)';
        return single(`expected ${expected}, got ${valueText(raw)}`, unitHint);
      }
      const written = context.written?.(path);
      // Quoted, `${FMT}` would hold what the variable expanded to.
      const quotedText = written === undefined ? undefined : written.includes("${") ? String(raw) : written;
      const refusedAcross = quotedText !== undefined && context.refusedAcross?.(path, quotedText) === true;
      const retyped = retypedScalar(issue.expected, raw, written, field, refusedAcross);
      if (retyped !== undefined) return single(retyped.message, retyped.hint);
      // `- basket` where an entry is a mapping with a type: say how the entry is written.
      const union = issue.expected === "object" && typeof raw === "string" ? discriminatorOf(field) : undefined;
      const typed = union === undefined ? undefined : union.values.map(String).find((value) => value === raw) ?? closestMatch(raw as string, union.values.map(String));
      if (union !== undefined && typed !== undefined) {
        return single(`expected a mapping (key: value lines), got ${valueText(raw)}`, `An entry is a mapping with its ${union.key}: write \`- ${union.key}: ${typed}\`, its other keys on the lines below.`);
      }
      // `writeKeys: k1`: one value where a list is wanted; a list of one is written in brackets.
      const scalar = typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean";
      if (issue.expected === "array" && scalar && field !== undefined && z.safeParse(field, [raw]).success) {
        const written = context.written?.(path) ?? JSON.stringify(raw);
        return single(`expected a list, got ${valueText(raw)}`, `Write one value as a list of one: [${written}], or one "- " line per entry below the key.`);
      }
      // `operators:` with nothing under it is YAML's null, not an empty list.
      const emptyHint =
        raw === null && (issue.expected === "array" || issue.expected === "object")
          ? `Nothing follows the key: write ${issue.expected === "array" ? "[]" : "{}"} for an empty ${issue.expected === "array" ? "list" : "mapping"}, or leave the key out.`
          : undefined;
      return single(`expected ${expectedText(issue.expected)}, got ${valueText(raw)}`, emptyHint ?? keyHint);
    }
    case "invalid_union": {
      const discriminator = "discriminator" in issue && typeof issue.discriminator === "string" ? issue.discriminator : undefined;
      if (discriminator !== undefined) return unknownType(issue.path, raw, ((issue as { options?: unknown[] }).options ?? []).map(String), context);
      const closest = closestBranchIssues(issue.errors);
      if (closest !== undefined) return closest.flatMap((inner) => explain({ ...inner, path: [...path, ...inner.path] }, context));
      const wrongTypes = wrongTypeBranches(issue.errors);
      if (wrongTypes !== undefined) {
        // `port: 1.5` is of the number branch's type, only not whole: that branch says what is wrong.
        const ofItsType = wrongTypes.find((inner) => (inner.expected === "int" || inner.expected === "number") && typeof raw === "number");
        if (ofItsType !== undefined) return explain({ ...ofItsType, path }, context);
        return single(`expected ${[...new Set(wrongTypes.map((inner) => expectedText(inner.expected)))].join(" or ")}, got ${valueText(raw)}`, keyHint);
      }
      return single(`${valueText(raw)} is not one of the allowed forms`, keyHint);
    }
    case "invalid_value": {
      const allowed = issue.values.map((value) => JSON.stringify(value));
      const suggestion = typeof raw === "string" ? closestMatch(raw, issue.values.map(String)) : undefined;
      return single(`expected ${oneOf(allowed)}, got ${valueText(raw)}`, didYouMean(suggestion) ?? keyHint);
    }
    case "too_small":
      return single(tooSmallText(issue, raw), keyHint);
    case "too_big":
      return single(tooBigText(issue, raw), keyHint);
    case "custom": {
      const { hint, expected } = (issue.params ?? {}) as { hint?: string; expected?: string };
      // A check that also takes text (a port range) and was given a number in quotes: say the quotes made it text.
      const retyped = expected === undefined ? undefined : retypedScalar(expected, raw, context.written?.(path));
      if (retyped !== undefined) return single(retyped.message, retyped.hint);
      return single(issue.message, hint ?? keyHint);
    }
    case "invalid_format":
      // The value may come from a ${VAR} on that line: show what it expanded to.
      return single(`${issue.message}, got ${valueText(raw)}`, keyHint);
    default:
      return single(issue.message, keyHint);
  }
}

/**
 * A value YAML typed otherwise than the key wants, because of how it was written: `stream: 0755` (a number; unquoted
 * digits are numbers) or `port: "9464"` (text; quotes make text, also around a ${VAR}). Says so, and how to write it.
 */
function retypedScalar(
  expected: string,
  raw: unknown,
  written: string | undefined,
  field?: z.core.$ZodType,
  refusedAcross = false,
): { message: string; hint: string } | undefined {
  if (written === undefined) return undefined;
  const quoted = /^["']/.test(written);
  // Quoting helps only when the key would take the text (`splitAtMidnight: true` quoted is no time zone either, nor is
  // `format: true` a log format, which is checked across the file).
  const quotingHelps = !refusedAcross && (field === undefined || written.includes("${") || z.safeParse(field, written).success);
  if (expected === "string" && !quoted && quotingHelps && (typeof raw === "number" || typeof raw === "boolean")) {
    const kind = typeof raw === "number" ? "number" : "boolean";
    const read = written.includes("${") ? `${written} expands to` : `YAML reads ${written} as`;
    return { message: `expected text, got the ${kind} ${valueText(raw)} (${read} a ${kind})`, hint: `Quote it to keep it as text: "${written.replaceAll('"', '\\"')}".` };
  }
  if (expected === "boolean" && !quoted && typeof raw === "string" && /^(?:y|yes|n|no|on|off)$/i.test(raw)) {
    const truth = /^(?:y|yes|on)$/i.test(raw);
    return { message: `expected true or false, got ${valueText(raw)}`, hint: `YAML 1.2 reads yes/no/on/off as text, not as booleans: write ${String(truth)}.` };
  }
  if ((expected === "number" || expected === "int" || expected === "boolean") && quoted && typeof raw === "string") {
    const wanted = expected === "boolean" ? "boolean" : "number";
    const typed = typedPlainScalar(raw);
    if (typeof typed !== wanted) return undefined;
    return { message: `expected ${expectedText(expected)}, got the text ${valueText(raw)}`, hint: `The quotes make it text: write ${written.slice(1, -1)} without them.` };
  }
  return undefined;
}

/**
 * Of a union's branches, the one whose failures lie inside the value rather than at its root (the branch of the right
 * kind, e.g. the mapping form of `pages`), so the error names the bad entry; undefined when every branch fails at the root.
 */
function closestBranchIssues(branches: z.core.$ZodIssue[][]): z.core.$ZodIssue[] | undefined {
  return branches.find((issues) => issues.length > 0 && issues.every((inner) => inner.path.length > 0 || inner.code === "unrecognized_keys"));
}

/** Each branch's one complaint when every branch refused the value's type at its root; undefined otherwise. */
function wrongTypeBranches(branches: z.core.$ZodIssue[][]): z.core.$ZodIssueInvalidType[] | undefined {
  const wrong = branches.map((issues) => (issues.length === 1 && issues[0].code === "invalid_type" && issues[0].path.length === 0 ? issues[0] : undefined));
  return wrong.every((inner) => inner !== undefined) ? wrong : undefined;
}

function unknownKey(parentPath: readonly PropertyKey[], key: string, context: IssueContext): Explained {
  const parentSchema = schemaAt(context.schema, parentPath, context.input);
  const parentValue = valueAt(context.input, parentPath);
  const branch = parentSchema === undefined ? undefined : objectSchemaFor(parentSchema, parentValue);
  const allowed = branch === undefined ? [] : allowedKeys(branch);
  const path = [...parentPath, key];
  const suggestion = closestMatch(key, allowed);
  const listing = keyListing(allowed, parentPath);
  const unitHint = branch !== undefined ? unitInKeyHint(key, branch, valueAt(context.input, path)) : undefined;
  return { path: formatPath(path), at: path, message: `unknown key "${key}"`, hint: joinHints(variableKeyHint(key) ?? otherBranchHint(key, parentSchema, parentValue) ?? unitHint ?? didYouMean(suggestion), listing) };
}

function keyListing(allowed: string[], parentPath: readonly PropertyKey[]): string | undefined {
  return allowed.length > 0 ? `Allowed keys${where(parentPath)}: ${allowed.join(", ")}.` : undefined;
}

/** A key YAML gives no name: null (`~:`, `null:`, an empty key) or a list or mapping (`? [a, b]`); `written` as the file has it. */
export interface UnnamedKey {
  parentPath: PropertyKey[];
  written: string;
  kind: "null" | "list" | "mapping";
  line: number;
  column: number;
}

/** An unnamed key at its own line, named as written (zod would see "" or "[ a, b ]" at the parent's line). */
export function unnamedKeyError(key: UnnamedKey, context: IssueContext): ConfigError {
  const parentSchema = schemaAt(context.schema, key.parentPath, context.input);
  const branch = parentSchema === undefined ? undefined : objectSchemaFor(parentSchema, valueAt(context.input, key.parentPath));
  const listing = keyListing(branch === undefined ? [] : allowedKeys(branch), key.parentPath);
  const message =
    key.kind !== "null"
      ? `${key.written === "" ? "this key" : `the key ${key.written}`} is a ${key.kind}, not a plain name`
      : key.written === ""
        ? "a key with no name (YAML reads it as null)"
        : `the key ${key.written} is YAML's null, not a name`;
  const hint = key.kind === "null" ? "Write the key's name before the colon (YAML reads ~, null and nothing there as null)." : "Write the key's name before the colon: a key is a plain name, not a list or mapping.";
  return { path: formatPath(key.parentPath), line: key.line, column: key.column, message, hint: joinHints(hint, listing) };
}

/** `${PARTS_KEY}: 1`: env.ts expands scalars in values only, so a reference as a key stays that text. */
function variableKeyHint(key: string): string | undefined {
  return key.includes("${") ? "Variables are expanded in values only, not in keys: write the key's name, and ${VAR} in its value." : undefined;
}

/** `gap` on a basket: a key of another type of the same list (sessionize), which is what to say, not a spelling. */
function otherBranchHint(key: string, parentSchema: z.core.$ZodType | undefined, parentValue: unknown): string | undefined {
  const union = discriminatorOf(parentSchema);
  if (union === undefined || !isRecord(parentValue)) return undefined;
  const owners = branchesAllowing(parentSchema, key).map(String);
  if (owners.length === 0) return undefined;
  const own = parentValue[union.key];
  const owner = owners.length === 1 ? owners[0] : `${owners.slice(0, -1).join(", ")} and ${owners[owners.length - 1]}`;
  return `${key} is a key of ${owner}, not of ${typeof own === "string" ? own : "this entry"}.`;
}

// A unit written into a duration key's name, as other tools name them (gap_ms, timeoutSeconds, interval_s).
// Set off by _ or - or a capital (gapMs), so that a plural (gaps) is not read as seconds.
const KEY_UNIT = /^(.+?)(?:[_-](ms|millis|milliseconds|s|secs?|seconds|m|mins?|minutes|h|hours|d|days)|(Ms|Millis|Milliseconds|S|Secs?|Seconds|M|Mins?|Minutes|H|Hours|D|Days))$/i;
const KEY_UNIT_MS: Record<string, number> = { ms: 1, millis: 1, milliseconds: 1, s: 1000, sec: 1000, secs: 1000, seconds: 1000, m: 60_000, min: 60_000, mins: 60_000, minutes: 60_000, h: 3_600_000, hours: 3_600_000, d: 86_400_000, days: 86_400_000 };

/** `gap_ms: 1800000`: the duration key meant, with the value written as a duration ("gap: 30m"); undefined otherwise. */
function unitInKeyHint(key: string, branch: z.core.$ZodType, value: unknown): string | undefined {
  const match = KEY_UNIT.exec(key);
  if (match === null || (match[3] !== undefined && !/^[A-Z]/.test(match[3]))) return undefined;
  const stem = match[1];
  const unit = match[2] ?? match[3];
  const meant = allowedKeys(branch).find((allowed) => allowed.toLowerCase() === stem.toLowerCase()) ?? closestMatch(stem, allowedKeys(branch));
  const field = meant === undefined ? undefined : schemaAt(branch, [meant], {});
  if (meant === undefined || field === undefined) return undefined;
  // snapshotEvery takes whole days only.
  const example = isDurationValue(field, 60_000) ? "30m" : isDurationValue(field, 86_400_000) ? "1d" : undefined;
  if (example === undefined) return undefined;
  const ms = typeof value === "number" && value > 0 ? Math.round(value * KEY_UNIT_MS[unit.toLowerCase()]) : undefined;
  const written = ms !== undefined && isDurationValue(field, ms) ? formatDuration(ms) : example;
  return `Did you mean "${meant}"? It takes the unit in its value: ${meant}: ${written}.`;
}

function unknownType(path: readonly PropertyKey[], raw: unknown, options: string[], context: IssueContext): Explained[] {
  const types = options.length > 0 ? options : (discriminatorOf(schemaAt(context.schema, path.slice(0, -1), context.input))?.values ?? []).map(String);
  const listing = `Types: ${types.join(", ")}.`;
  const at = hasKey(context.input, path) ? path : path.slice(0, -1);
  if (raw === undefined) return [{ path: formatPath(path), at, message: `missing required key "${String(path[path.length - 1])}"`, hint: listing }];
  const suggestion = typeof raw === "string" ? (closestMatch(raw, types) ?? relatedName(raw, types)) : undefined;
  return [{ path: formatPath(path), at, message: `unknown type ${valueText(raw)}`, hint: joinHints(didYouMean(suggestion), listing) }];
}

function tooSmallText(issue: z.core.$ZodIssueTooSmall, raw: unknown): string {
  const minimum = Number(issue.minimum);
  if (issue.origin === "array") return `needs at least ${minimum} ${minimum === 1 ? "entry" : "entries"}`;
  if (issue.origin === "string") return minimum === 1 ? "must not be empty" : `needs at least ${minimum} characters`;
  return `must be ${issue.inclusive ? "at least" : "greater than"} ${minimum}, got ${valueText(raw)}`;
}

function tooBigText(issue: z.core.$ZodIssueTooBig, raw: unknown): string {
  const maximum = Number(issue.maximum);
  if (issue.origin === "array") return `has more than ${maximum} entries`;
  if (issue.origin === "string") return `is longer than ${maximum} characters`;
  return `must be ${issue.inclusive ? "at most" : "less than"} ${maximum}, got ${valueText(raw)}`;
}

function expectedText(expected: string): string {
  const names: Record<string, string> = {
    string: "text",
    number: "a number",
    int: "a whole number",
    boolean: "true or false",
    object: "a mapping (key: value lines)",
    array: "a list",
  };
  return names[expected] ?? expected;
}

/** How a value from the file reads in a message. */
export function valueText(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (isRecord(value)) return "a mapping";
  // JSON.stringify(Infinity) is "null": a number too big for a double (1e400) reads as what it became.
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value);
}

function oneOf(items: string[]): string {
  return items.length === 1 ? items[0] : `one of ${items.join(", ")}`;
}

function where(path: readonly PropertyKey[]): string {
  return path.length === 0 ? " at the top level" : ` in ${formatPath(path)}`;
}

function didYouMean(suggestion: string | undefined): string | undefined {
  return suggestion === undefined ? undefined : `Did you mean "${suggestion}"?`;
}

function joinHints(...hints: (string | undefined)[]): string | undefined {
  const present = hints.filter((hint): hint is string => hint !== undefined);
  return present.length > 0 ? present.join(" ") : undefined;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (!isRecord(value) && !Array.isArray(value)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function hasKey(input: unknown, path: readonly PropertyKey[]): boolean {
  if (path.length === 0) return true;
  const parent = valueAt(input, path.slice(0, -1));
  return (isRecord(parent) || Array.isArray(parent)) && Object.hasOwn(parent, path[path.length - 1] as string);
}
