// Loads a pipeline file: YAML with line numbers, ${VAR} expansion, zod validation, every error located in the file.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Pair, type YAMLError, type YAMLMap } from "yaml";
import { emptiedWarnings } from "./emptied-warnings.ts";
import { expandDocument, type EmptiedReference, type Environment } from "./env.ts";
import { formatPath, type ConfigError } from "./errors.ts";
import { issueToErrors, unnamedKeyError } from "./issues.ts";
import { pipelineSchema, refusedAcrossPipeline, type PipelineConfig } from "./pipeline.ts";
import { PSEUDONYM_KEY_ENV } from "../ingest/privacy.ts";
import { redactedSecretErrors } from "./secrets.ts";
import { takeUnnamedKeys } from "./unnamed-keys.ts";
import { linePos, locate, writtenText } from "./yaml-positions.ts";

export { formatConfigError, formatConfigWarning, type ConfigError } from "./errors.ts";

export type LoadResult =
  | {
      ok: true;
      config: PipelineConfig;
      expanded: string;
      /** Each value that held `${…}`, as the file wrote it, by key path ("nats.token"): `validate --print` keeps references of secrets. */
      textBeforeExpansion: ReadonlyMap<string, string>;
      /** What is valid but likely not meant: a key left out because its variable is set but empty. */
      warnings: ConfigError[];
    }
  | { ok: false; errors: ConfigError[]; warnings?: ConfigError[] };

/** Reads and validates a pipeline file; a missing or unreadable file is an error like any other. */
export async function loadPipeline(path: string, env: Environment = process.env): Promise<LoadResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    return { ok: false, errors: [unreadableFile(path, error)] };
  }
  const decoded = utf8Text(bytes);
  if (typeof decoded !== "string") return { ok: false, errors: [decoded] };
  return parsePipelineText(decoded, path, env);
}

/**
 * The file's text, or why it is not UTF-8: read with replacement characters, a UTF-16 file (Windows PowerShell's `>`)
 * held "no pipeline mapping" and a Latin-1 one a name "w\uFFFDb".
 */
function utf8Text(bytes: Buffer): string | ConfigError {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return {
      path: "",
      line: 1,
      column: 1,
      message: "the file is UTF-16 text (as Windows PowerShell's > and Out-File write it), and clickpipe reads UTF-8",
      hint: "Save it as UTF-8 (Set-Content -Encoding utf8, your editor's encoding menu, or iconv -f UTF-16 -t UTF-8).",
    };
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // Without the byte order mark, which the fatal decoder also drops: columns as an editor counts them.
    const text = bytes.toString("utf8").replace(/^\uFEFF/, "");
    const before = text.slice(0, Math.max(0, text.indexOf("\uFFFD")));
    const line = before.split("\n").length;
    return {
      path: "",
      line,
      column: before.length - before.lastIndexOf("\n"),
      message: "the file is not UTF-8 text: this byte is not UTF-8 (a file saved as Latin-1 or Windows-1252, or not a text file)",
      hint: "Save it as UTF-8 (your editor's encoding menu, or iconv -f WINDOWS-1252 -t UTF-8).",
    };
  }
}

/** Validates pipeline YAML text; `fileName` only names the file in messages. */
export function parsePipelineText(text: string, fileName: string, env: Environment = process.env): LoadResult {
  const lineCounter = new LineCounter();
  // Merge keys (`<<: *defaults`) as YAML 1.1 and most tools read them; duplicate keys are found below, with their path.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: false });
  if (doc.errors.length > 0) return { ok: false, errors: [yamlSyntaxError(doc.errors[0], lineCounter, doc.errors.length - 1)] };
  const unreadable = unreadableNodes(doc, lineCounter);
  if (unreadable.length > 0) return { ok: false, errors: unreadable };
  const duplicates = duplicateKeys(doc, lineCounter);
  if (duplicates.length > 0) return { ok: false, errors: duplicates };
  if (!isMap(doc.contents)) {
    return {
      ok: false,
      errors: [{ path: "", line: 1, column: 1, message: `${fileName} holds no pipeline mapping`, hint: "Start with `name:`, `nats:` (with `stream:`) and `sinks:`." }],
    };
  }
  if (isTrainingFile(doc.contents)) {
    return {
      ok: false,
      errors: [
        {
          path: "",
          message: "this is a training file (clickpipe train/score read it), not a pipeline",
          hint: `Train with \`clickpipe train ${fileName}\`; a pipeline file has name:, nats:, operators: and sinks: (pipelines/*.yaml).`,
        },
      ],
    };
  }
  const unnamed = takeUnnamedKeys(doc, lineCounter, text);
  const textBeforeExpansion = new Map<string, string>();
  const omitted = new Map<string, { line: number; column: number }>();
  const emptied: EmptiedReference[] = [];
  const variableErrors = expandDocument(doc, lineCounter, env, { textBeforeExpansion, omitted, emptied });
  let input: unknown;
  try {
    input = doc.toJS();
  } catch (error) {
    // The yaml library's guard against alias bombs (a few lines of nested *aliases that expand to gigabytes).
    return { ok: false, errors: [{ path: "", message: `YAML: ${(error as Error).message}`, hint: "Write the values out instead of nesting *aliases of aliases." }] };
  }
  const parsed = pipelineSchema.safeParse(input);
  // A value whose variable is unset is reported once, as the unset variable.
  const unexpanded = new Set(variableErrors.map((error) => error.path));
  const context = {
    schema: pipelineSchema,
    input,
    locate: (path: readonly PropertyKey[]) => locate(doc, lineCounter, path),
    written: (path: readonly PropertyKey[]) => writtenText(doc, text, path),
    refusedAcross: (path: readonly PropertyKey[], written: string) => refusedAcrossPipeline(path, written, input),
  };
  const schemaErrors = parsed.success
    ? []
    : tightestBounds(parsed.error.issues.flatMap((issue) => issueToErrors(issue, context)).filter((error) => !unexpanded.has(error.path)));
  const environmentErrors = parsed.success
    ? [...missingSecrets(parsed.data, env, context.locate), ...missingFiles(parsed.data, context.locate), ...redactedSecretErrors(pipelineSchema, parsed.data, context.locate)]
    : [];
  const unnamedErrors = unnamed.map((key) => unnamedKeyError(key, context));
  const errors = [...unnamedErrors, ...variableErrors, ...schemaErrors.map((error) => explainOmitted(error, omitted, textBeforeExpansion)), ...environmentErrors];
  const warnings = emptiedWarnings(emptied, pipelineSchema, input, errors);
  if (errors.length > 0 || !parsed.success) return { ok: false, errors: sortByPlace(errors), warnings };
  return { ok: true, config: parsed.data, expanded: doc.toString({ lineWidth: 0 }), textBeforeExpansion, warnings };
}

/** A training file's keys (features:, train:, models:) and no operators: listing nine wrong keys would not say that. */
function isTrainingFile(map: YAMLMap): boolean {
  const keys = new Set(map.items.map((pair) => (isScalar(pair.key) ? String(pair.key.value) : "")));
  return !keys.has("operators") && ["features", "train", "models"].some((key) => keys.has(key));
}

/** Secrets the config needs from the environment (not from the file): their absence fails here, not in `publish`. */
function missingSecrets(config: PipelineConfig, env: Environment, at: (path: readonly PropertyKey[]) => { line: number; column: number } | undefined): ConfigError[] {
  const pseudonymize = config.ingest.privacy.pseudonymize;
  if (pseudonymize.length === 0 || (env[PSEUDONYM_KEY_ENV] ?? "") !== "") return [];
  const path = ["ingest", "privacy", "pseudonymize"];
  return [
    {
      path: "ingest.privacy.pseudonymize",
      ...at(path),
      message: `pseudonymizes [${pseudonymize.join(", ")}] but ${PSEUDONYM_KEY_ENV} is not set`,
      hint: `Export a secret key (e.g. ${PSEUDONYM_KEY_ENV}=$(openssl rand -hex 32)) and keep it: the same key gives the same pseudonyms.`,
    },
  ];
}

/** Files the NATS connection reads at start: one that is not there fails here (a missing tls.ca read as "server does not support 'tls'"). */
function missingFiles(config: PipelineConfig, at: (path: readonly PropertyKey[]) => { line: number; column: number } | undefined): ConfigError[] {
  const { credentials, tls } = config.nats;
  const named: [PropertyKey[], string | undefined][] = [
    [["nats", "credentials"], credentials],
    [["nats", "tls", "ca"], tls?.ca],
    [["nats", "tls", "cert"], tls?.cert],
    [["nats", "tls", "key"], tls?.key],
  ];
  return named
    .filter((entry): entry is [PropertyKey[], string] => entry[1] !== undefined && !existsSync(entry[1]))
    .map(([path, file]) => ({
      path: path.join("."),
      ...at(path),
      message: `no such file: ${file}`,
      hint: "Check the path (relative paths start where clickpipe runs) and that this user may read it.",
    }));
}

/**
 * Keys written twice in one mapping: YAML forbids them, and reading the last one would silently drop the first. Each
 * is named by its key path, at the second occurrence, with the line of the first.
 */
function duplicateKeys(doc: Document, lineCounter: LineCounter): ConfigError[] {
  const errors: ConfigError[] = [];
  const visit = (node: unknown, path: PropertyKey[]): void => {
    if (isMap(node)) {
      const firstAt = new Map<string, number | undefined>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const keyNode = pair.key as { range?: [number, number, number] } | null;
        if (key !== "<<" && firstAt.has(key)) {
          const here = keyNode?.range === undefined ? undefined : linePos(lineCounter, keyNode.range[0]);
          const first = firstAt.get(key);
          const firstLine = first === undefined ? undefined : linePos(lineCounter, first).line;
          errors.push({
            path: formatPath([...path, key]),
            ...here,
            message: `the key "${key}" appears twice in this mapping${firstLine === undefined ? "" : ` (first on line ${firstLine})`}`,
            hint: "Keep one of them (YAML does not allow a key twice).",
          });
        } else if (!firstAt.has(key)) firstAt.set(key, keyNode?.range?.[0]);
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => visit(item, [...path, index]));
    }
  };
  visit(doc.contents, []);
  return errors;
}

const YAML_TYPE_TAG = "tag:yaml.org,2002:";

/**
 * What the parser accepts but cannot give a value: an alias of no anchor before it and a merge (<<) of no mapping
 * (toJS would throw without a line), a tag of another tool (CloudFormation's `!Ref x`, which would silently read as the
 * text "x") and a YAML type tag its value does not fit (`!!int 30m`, read as the text "30m").
 */
function unreadableNodes(doc: Document, lineCounter: LineCounter): ConfigError[] {
  const at = (range: readonly number[] | null | undefined) => (range ? linePos(lineCounter, range[0]) : {});
  const errors: ConfigError[] = doc.warnings
    .filter((warning) => warning.code === "TAG_RESOLVE_FAILED")
    .map((warning) => {
      const tag = warning.message.replace(/^Unresolved tag: /, "");
      const place = { path: "", ...linePos(lineCounter, warning.pos[0]) };
      if (tag.startsWith(YAML_TYPE_TAG)) {
        return {
          ...place,
          message: `the value tagged !!${tag.slice(YAML_TYPE_TAG.length)} does not read as one in YAML 1.2`,
          hint: "Write the value without the tag: YAML reads unquoted digits as numbers and true/false as booleans, and quotes make text.",
        };
      }
      return {
        ...place,
        message: `unknown YAML tag ${tag}: clickpipe reads plain values`,
        hint: "Write the value itself, or ${VAR} for one from the environment (tags such as CloudFormation's !Ref and !Sub are not expanded).",
      };
    });
  const resolved = (node: unknown) => (isAlias(node) ? node.resolve(doc) : node);
  visit(doc, {
    Pair(_, pair: Pair) {
      // The parser reads a plain << key (not a quoted "<<") as the merge key, a symbol.
      if (!isScalar(pair.key) || typeof pair.key.value !== "symbol" || pair.key.value.description !== "<<") return;
      const merged = resolved(pair.value);
      for (const source of isSeq(merged) ? merged.items : [pair.value]) {
        const mapping = resolved(source);
        // An alias of no anchor is reported below.
        if (mapping === undefined || isMap(mapping)) continue;
        errors.push({
          path: "",
          ...at((source as { range?: readonly number[] } | null)?.range),
          message: `<< merges the keys of a mapping, and ${isAlias(source) ? `*${source.source}` : "this value"} is no mapping`,
          hint: "Merge an alias of a mapping (<<: *defaults, with &defaults before that mapping's keys) or a list of them.",
        });
      }
    },
    Alias(_, alias) {
      if (alias.resolve(doc) !== undefined) return;
      errors.push({
        path: "",
        ...at(alias.range),
        message: `*${alias.source} refers to no anchor &${alias.source} above it`,
        hint: "Define the anchor (&name) on a value above the alias, or correct the name: YAML reads anchors top to bottom.",
      });
    },
  });
  return sortByPlace(errors);
}

/** The first syntax error only: the parser's later ones mostly follow from it (one tab gave sixteen). */
function yamlSyntaxError(error: YAMLError, lineCounter: LineCounter, more: number): ConfigError {
  const { line, column } = linePos(lineCounter, error.pos[0]);
  if (error.code === "MULTIPLE_DOCS") {
    return {
      path: "",
      line,
      column,
      message: "a second YAML document starts here (after `---`): a pipeline file holds one document",
      hint: "Put each pipeline in its own file, or remove the `---` line (a `---` before the first key is fine).",
    };
  }
  const after = more === 0 ? "" : ` The parser reports ${more} more error${more === 1 ? "" : "s"} after this one, most likely caused by it: fix it and validate again.`;
  return { path: "", line, column, message: `YAML syntax: ${error.message}`, hint: `Check indentation, colons and quotes on this line or the one above.${after}` };
}

function unreadableFile(path: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return { path: "", message: "no such file", hint: "Check the path (pipelines/*.yaml holds examples)." };
  if (code === "EISDIR") return { path: "", message: "is a directory, not a pipeline file", hint: "Name a .yaml file." };
  if (code === "ENOTDIR") return { path: "", message: "no such file (a folder on its path is a file)", hint: "Check the path (pipelines/*.yaml holds examples)." };
  if (code === "EACCES" || code === "EPERM") return { path: "", message: "permission denied", hint: "Make it readable for this user (ls -l shows its owner and mode)." };
  return { path: "", message: `cannot read the file: ${(error as Error).message}`, hint: "Check its permissions." };
}

/** A required key whose `${VAR:-}` expanded to nothing is not missing from the file: say which reference emptied it, at its line. */
function explainOmitted(error: ConfigError, omitted: ReadonlyMap<string, { line: number; column: number }>, written: ReadonlyMap<string, string>): ConfigError {
  const place = omitted.get(error.path);
  const text = written.get(error.path);
  if (place === undefined || text === undefined || !error.message.startsWith("missing required key")) return error;
  return {
    ...error,
    ...place,
    message: `${text} expanded to nothing, so the key counts as left out, and it is required`,
    hint: `Set the variable to a value, or give a default that is not empty.${error.hint === undefined ? "" : ` ${error.hint}`}`,
  };
}

/** Of several upper bounds broken by one value (zod's int() adds 2^53 − 1 to a key's own maximum), only the tightest. */
function tightestBounds(errors: ConfigError[]): ConfigError[] {
  const bound = (error: ConfigError) => Number(/^must be at most (\d+)/.exec(error.message)?.[1] ?? Number.NaN);
  return errors.filter((error) => {
    const own = bound(error);
    return Number.isNaN(own) || !errors.some((other) => other !== error && other.path === error.path && bound(other) < own);
  });
}

function sortByPlace(errors: ConfigError[]): ConfigError[] {
  return errors
    .map((error, index) => ({ error, index }))
    .sort((a, b) => (a.error.line ?? 0) - (b.error.line ?? 0) || (a.error.column ?? 0) - (b.error.column ?? 0) || a.index - b.index)
    .map(({ error }) => error);
}
