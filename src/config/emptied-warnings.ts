// Warnings of keys and list entries left out because a `${VAR}` in a pipeline or training file is set but empty.
import { z } from "zod";
import { formatDuration } from "./duration.ts";
import type { EmptiedReference } from "./env.ts";
import { formatPath, type ConfigError } from "./errors.ts";
import { isDurationValue, schemaAt } from "./schema-walk.ts";

/**
 * A key or list entry left out because a `${VAR}` without a default is set but empty. Leaving it out is by design
 * (env.ts), as docker compose substitutes an unset variable, but as compose does, it is said: the environment may be
 * misconfigured. A key with an error of its own (a required one) is not warned about again. `schema` (the pipeline's or
 * the training file's) gives the default that applies.
 */
export function emptiedWarnings(emptied: readonly EmptiedReference[], schema: z.core.$ZodType, input: unknown, errors: readonly ConfigError[]): ConfigError[] {
  return emptied
    .filter((reference) => !errors.some((error) => error.path === formatPath(reference.path)))
    .map((reference) => {
      const names = reference.variables;
      const variables = names.length === 1 ? `environment variable ${names[0]} is` : `environment variables ${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are`;
      const key = String(reference.path[reference.path.length - 1]);
      const outcome = reference.entry
        ? `so the entry is left out of ${formatPath(reference.path.slice(0, -1))}`
        : `so ${key} is left out and ${defaultText(schemaAt(schema, reference.path, input))}`;
      const fallback = names.map((name) => `\${${name}:-}`).join(", ");
      return {
        path: formatPath(reference.path),
        line: reference.line,
        column: reference.column,
        message: `${variables} set but empty, ${outcome}`,
        hint: `Set ${names.join(" and ")} to a value, or write ${fallback} to leave it out on purpose.`,
      };
    });
}

/** "its default "nats://127.0.0.1:4222" applies", read from the key's schema. */
function defaultText(field: z.core.$ZodType | undefined): string {
  const parsed = field === undefined ? undefined : z.safeParse(field, undefined);
  if (parsed === undefined || !parsed.success) return "its default applies";
  const value = parsed.data;
  if (value === undefined) return "it is unset (it has no default)";
  if (field !== undefined && isDurationValue(field, value)) return `its default "${formatDuration(value)}" applies`;
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return `its default ${JSON.stringify(value)} applies`;
  if (Array.isArray(value) && value.length === 0) return "its default [] applies";
  return "its default applies";
}
