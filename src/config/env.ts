// `${VAR}` and `${VAR:-default}` in a pipeline file, replaced from the environment inside YAML scalars before validation.
import { isMap, isPair, isScalar, isSeq, Scalar, type Document, type LineCounter, type Node } from "yaml";
import { formatPath, type ConfigError } from "./errors.ts";

// `$${X}` is an escape for a literal `${X}`. Any other `${…}` (the shell's `${X-d}`, `${X:=d}`, `${X:?m}`, a name with a
// dash, a missing `}`) is malformed: left as text it would become a stream or directory literally named `${…}`.
const VARIABLE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|(\$\{[^}]*\}?)/g;

export type Environment = Readonly<Record<string, string | undefined>>;

export type Expansion = { ok: true; text: string } | { ok: false; missing: string[]; malformed: string[] };

/** Replaces every `${VAR}` / `${VAR:-default}` in `text`; an unset variable without a default is missing. */
export function expandVariables(text: string, env: Environment): Expansion {
  const missing: string[] = [];
  const malformed: string[] = [];
  const expanded = text.replace(VARIABLE, (whole, name: string | undefined, fallback: string | undefined, bad: string | undefined) => {
    if (bad !== undefined) {
      malformed.push(bad);
      return whole;
    }
    if (name === undefined) return "${"; // the `$${` escape
    const value = env[name];
    // As in the shell, `:-` also applies when the variable is set but empty.
    if (fallback !== undefined) return value === undefined || value === "" ? fallback : value;
    if (value === undefined) {
      missing.push(name);
      return whole;
    }
    return value;
  });
  return missing.length > 0 || malformed.length > 0 ? { ok: false, missing, malformed } : { ok: true, text: expanded };
}

/** A `${VAR}` without a default whose variable is set but empty, so the key (or list entry) holding it was left out. */
export interface EmptiedReference {
  /** Key path of what was left out ("nats.url", "sources[0].paths[0]": the index the entry would have had). */
  path: PropertyKey[];
  line: number;
  column: number;
  variables: string[];
  /** A list entry (dropped from its list), not a key (whose default then applies). */
  entry: boolean;
}

export interface ExpansionRecord {
  /** Each expanded value's text as the file wrote it, by key path ("nats.token"). */
  textBeforeExpansion?: Map<string, string>;
  /** The place of each key so omitted, by key path. */
  omitted?: Map<string, { line: number; column: number }>;
  /** Each key or list entry left out because a variable without a default was set but empty. */
  emptied?: EmptiedReference[];
}

/**
 * Expands variables in every string scalar of the document, in place. Working on scalars (not on the text) keeps every
 * line and column right and keeps a value from changing the file's structure. An unquoted scalar is re-typed as YAML
 * would type the expanded text (so `port: ${PORT:-9464}` is a number); one that expands to nothing counts as omitted:
 * a key is left out (its default applies) and a list entry is dropped.
 */
export function expandDocument(doc: Document, lineCounter: LineCounter, env: Environment, record: ExpansionRecord = {}): ConfigError[] {
  const { textBeforeExpansion, omitted, emptied } = record;
  const errors: ConfigError[] = [];
  const noteEmptied = (scalar: Scalar, place: Node | null, path: PropertyKey[], entry: boolean) => {
    // An omitted scalar keeps the text as written.
    const variables = emptyVariables(String(scalar.value), env);
    const range = place?.range;
    if (variables.length === 0 || !range) return;
    const { line, col } = lineCounter.linePos(range[0]);
    emptied?.push({ path, line, column: col, variables, entry });
  };
  const visit = (node: unknown, path: PropertyKey[]): void => {
    if (isMap(node)) {
      for (const pair of [...node.items]) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (isScalar(pair.value) && expandScalar(pair.value, [...path, key]) === "omit") {
          const keyRange = (pair.key as Node | null)?.range;
          if (keyRange) {
            const { line, col } = lineCounter.linePos(keyRange[0]);
            omitted?.set(formatPath([...path, key]), { line, column: col });
          }
          noteEmptied(pair.value, pair.key as Node | null, [...path, key], false);
          node.items.splice(node.items.indexOf(pair), 1);
        } else visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      // Paths count the entries kept, as the list zod sees.
      let index = 0;
      for (const item of [...node.items]) {
        const itemPath = [...path, index];
        if (isScalar(item) && expandScalar(item, itemPath) === "omit") {
          textBeforeExpansion?.delete(formatPath(itemPath));
          noteEmptied(item, item, itemPath, true);
          node.items.splice(node.items.indexOf(item), 1);
          continue;
        }
        if (!isScalar(item)) visit(item, itemPath);
        index += 1;
      }
    } else if (isPair(node)) {
      visit(node.value, path);
    }
  };
  const expandScalar = (scalar: Scalar, path: PropertyKey[]): "keep" | "omit" => {
    if (typeof scalar.value !== "string" || !scalar.value.includes("${")) return "keep";
    textBeforeExpansion?.set(formatPath(path), scalar.value);
    const expansion = expandVariables(scalar.value, env);
    if (!expansion.ok) {
      const position = scalar.range ? lineCounter.linePos(scalar.range[0]) : undefined;
      for (const name of expansion.missing) {
        errors.push({
          path: formatPath(path),
          line: position?.line,
          column: position?.col,
          message: `environment variable ${name} is not set`,
          hint: `Set ${name}, or give a default: \${${name}:-value}.`,
        });
      }
      for (const reference of expansion.malformed) {
        errors.push({
          path: formatPath(path),
          line: position?.line,
          column: position?.col,
          message: `"${reference}" is not a variable reference clickpipe expands`,
          hint: "Write ${NAME} or ${NAME:-default} (NAME: letters, digits and _), or $${ for a literal ${.",
        });
      }
      return "keep";
    }
    const plain = scalar.type === Scalar.PLAIN || scalar.type === undefined;
    if (plain && expansion.text === "") return "omit";
    scalar.value = plain ? typedPlainScalar(expansion.text) : expansion.text;
    return "keep";
  };
  visit(doc.contents as Node | null, []);
  return errors;
}

/** The variables referenced without a default (`${NAME}`, not `${NAME:-…}`) that are set to the empty text. */
export function emptyVariables(text: string, env: Environment): string[] {
  const names = [...text.matchAll(VARIABLE)].filter((match) => match[1] !== undefined && match[2] === undefined && env[match[1]] === "").map((match) => match[1]);
  return [...new Set(names)];
}

/** Types unquoted text by the YAML 1.2 core schema's rules for numbers and booleans; everything else stays text. */
export function typedPlainScalar(text: string): string | number | boolean {
  if (/^[-+]?(?:\d+|\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(text)) return Number(text);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^(?:true|True|TRUE)$/.test(text)) return true;
  if (/^(?:false|False|FALSE)$/.test(text)) return false;
  return text;
}
