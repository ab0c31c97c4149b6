// Secrets of a pipeline file (write keys, NATS password and token, the visitor hash key, credentials in a server URL):
// marked in the schema, redacted by `clickpipe validate --print`, and refused when a printed file comes back redacted.
import { z } from "zod";
import { formatPath, type ConfigError } from "./errors.ts";
import { childSchema, isRecord } from "./schema-walk.ts";

type AnySchema = z.core.$ZodType;

/** What `validate --print` writes instead of a secret the file holds as text (or as a `${VAR:-default}` default). */
export const REDACTED = "<redacted>";

/** `value`: the whole string is secret. `urlCredentials`: the password (or token) in a server URL's `user:pass@`. */
export type SecretKind = "value" | "urlCredentials";

const SECRET_META = "secret";

/** Marks a schema's strings as secret: printed redacted, never in clear. */
export function secret<T extends z.ZodType>(schema: T, kind: SecretKind = "value"): T {
  return schema.meta({ [SECRET_META]: kind });
}

/** The secret kind of a schema or of any wrapper around it (optional, default, describe…). */
export function secretKindOf(schema: AnySchema): SecretKind | undefined {
  let current: AnySchema | undefined = schema;
  while (current !== undefined) {
    const kind = z.globalRegistry.get(current)?.[SECRET_META];
    if (kind === "value" || kind === "urlCredentials") return kind;
    const def = current._zod.def as z.core.$ZodTypeDef & { innerType?: AnySchema };
    current = def.innerType;
  }
  return undefined;
}

/** One secret string of a parsed config, with its key path. */
interface SecretAt {
  path: PropertyKey[];
  kind: SecretKind;
  value: string;
}

/** Every secret string in a parsed config (each write key of a list on its own). */
export function secretsIn(schema: AnySchema, value: unknown, path: PropertyKey[] = []): SecretAt[] {
  const kind = secretKindOf(schema);
  if (kind !== undefined && typeof value === "string") return [{ path, kind, value }];
  const found: SecretAt[] = [];
  const entries: [PropertyKey, unknown][] = Array.isArray(value) ? value.map((item, index) => [index, item]) : isRecord(value) ? Object.entries(value) : [];
  for (const [key, item] of entries) {
    const child = childSchema(schema, key, value);
    if (child !== undefined) found.push(...secretsIn(child, item, [...path, key]));
  }
  return found;
}

/**
 * A copy of a parsed config with every secret redacted. A secret the file gave as environment references only
 * (`${NATS_TOKEN}`) prints as those references, which name no secret and validate again where the variables are set;
 * a `${VAR:-default}` keeps its variable and loses its default; anything else written in the file prints as REDACTED.
 * `sourceText` returns a value's text in the file before expansion, by key path ("nats.token"), when it held `${`.
 */
export function withSecretsRedacted(schema: AnySchema, config: unknown, sourceText: (path: string) => string | undefined): unknown {
  let copy = structuredClone(config);
  for (const { path, kind, value } of secretsIn(schema, config)) {
    const printed = kind === "urlCredentials" ? withUrlCredentialsRedacted(value) : redactedSource(sourceText(formatPath(path)));
    copy = withValueAt(copy, path, printed);
  }
  return copy;
}

// A value made of `${NAME}` / `${NAME:-default}` references and nothing else (`$${` is the escape of a literal `${`).
const REFERENCES_ONLY = /^(?:\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})+$/;
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function redactedSource(source: string | undefined): string {
  if (source === undefined || !REFERENCES_ONLY.test(source)) return REDACTED;
  // A default is a secret written in the file; an empty one (`${X:-}`) says nothing.
  return source.replace(REFERENCE, (whole, name: string, fallback: string | undefined) => (fallback ? `\${${name}:-${REDACTED}}` : whole));
}

/** nats.url with the password (or the token, a user part alone) of each server's `user:pass@` redacted. */
export function withUrlCredentialsRedacted(urls: string): string {
  return urls
    .split(",")
    .map((entry) =>
      entry.replace(/^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?)([^@/]*)@/, (_whole, start: string, userinfo: string) => {
        const colon = userinfo.indexOf(":");
        return colon < 0 ? `${start}${REDACTED}@` : `${start}${userinfo.slice(0, colon)}:${REDACTED}@`;
      }),
    )
    .join(",");
}

/**
 * Secrets that are still what `validate --print` wrote in their place: a printed file must get its secrets back (or
 * their variables set) before it runs, and saying so here beats a login refused by NATS or every collector request
 * answered 401.
 */
export function redactedSecretErrors(
  schema: AnySchema,
  config: unknown,
  at: (path: readonly PropertyKey[]) => { line: number; column: number } | undefined,
): ConfigError[] {
  return secretsIn(schema, config)
    .filter(({ kind, value }) => (kind === "value" ? value === REDACTED : value.includes(REDACTED)))
    .map(({ path }) => ({
      path: formatPath(path),
      ...at(path),
      message: `"${REDACTED}" stands for a secret that \`clickpipe validate --print\` left out`,
      hint: "Put the secret back, or better an environment reference such as ${NATS_TOKEN}: --print prints a reference as it is.",
    }));
}

function withValueAt(root: unknown, path: readonly PropertyKey[], value: unknown): unknown {
  if (path.length === 0) return value;
  let parent = root as Record<PropertyKey, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key as string] as Record<PropertyKey, unknown>;
  parent[path[path.length - 1] as string] = value;
  return root;
}
