// Reads the pipeline's zod schema as data: the schema at a key path, allowed keys, descriptions, and which values are durations.
import type { z } from "zod";
import { formatDuration } from "./duration.ts";

type AnySchema = z.core.$ZodType;

const WRAPPERS = new Set(["optional", "default", "prefault", "nullable", "readonly", "catch", "nonoptional"]);

function definition(schema: AnySchema): z.core.$ZodTypeDef & Record<string, unknown> {
  return schema._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
}

/** Strips optional/default/prefault wrappers down to the schema that does the work. */
export function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  while (WRAPPERS.has(definition(current).type)) current = definition(current).innerType as AnySchema;
  return current;
}

/** The `.describe()` text of a schema or of any wrapper around it. */
export function descriptionOf(schema: AnySchema | undefined): string | undefined {
  let current: AnySchema | undefined = schema;
  while (current !== undefined) {
    const text = (current as { description?: string }).description;
    if (text !== undefined) return text;
    const def = definition(current);
    current = WRAPPERS.has(def.type) ? (def.innerType as AnySchema) : undefined;
  }
  return undefined;
}

function shapeOf(schema: AnySchema): Record<string, AnySchema> | undefined {
  const inner = unwrap(schema);
  return definition(inner).type === "object" ? (definition(inner).shape as Record<string, AnySchema>) : undefined;
}

/** The keys an object schema allows, in declaration order. */
export function allowedKeys(schema: AnySchema): string[] {
  return Object.keys(shapeOf(schema) ?? {});
}

function literalValues(schema: AnySchema): unknown[] {
  const inner = unwrap(schema);
  const def = definition(inner);
  return def.type === "literal" ? (def.values as unknown[]) : [];
}

/** For a discriminated union, the discriminator key and its allowed values. */
export function discriminatorOf(schema: AnySchema | undefined): { key: string; values: unknown[] } | undefined {
  if (schema === undefined) return undefined;
  const def = definition(unwrap(schema));
  if (def.type !== "union" || typeof def.discriminator !== "string") return undefined;
  const key = def.discriminator;
  const values = (def.options as AnySchema[]).flatMap((option) => literalValues(shapeOf(option)?.[key] ?? option));
  return { key, values };
}

/**
 * For a discriminated union, the discriminator values of the branches that allow `key` (`minConfidence` is a key of
 * basket); [] for any other schema.
 */
export function branchesAllowing(schema: AnySchema | undefined, key: string): unknown[] {
  const union = discriminatorOf(schema);
  if (schema === undefined || union === undefined) return [];
  const options = definition(unwrap(schema)).options as AnySchema[];
  return options.filter((option) => allowedKeys(option).includes(key)).flatMap((option) => literalValues(shapeOf(option)?.[union.key] ?? option));
}

/** Picks the branch of a union that fits a value: by discriminator, else by kind (object, array, scalar). */
function branchFor(schema: AnySchema, value: unknown): AnySchema | undefined {
  const inner = unwrap(schema);
  const def = definition(inner);
  // A transformed value (allowedOrigins' entries normalized) is written as its input schema has it.
  if (def.type === "pipe") return branchFor(def.in as AnySchema, value);
  if (def.type !== "union") return inner;
  const options = def.options as AnySchema[];
  if (typeof def.discriminator === "string") {
    const tag = isRecord(value) ? value[def.discriminator] : undefined;
    return options.find((option) => literalValues(shapeOf(option)?.[def.discriminator as string] ?? option).includes(tag));
  }
  const wanted = Array.isArray(value) ? "array" : isRecord(value) ? "object" : "scalar";
  return options.find((option) => kindOf(unwrap(option)) === wanted) ?? options[0];
}

function kindOf(schema: AnySchema): "array" | "object" | "scalar" {
  const type = definition(schema).type;
  return type === "array" ? "array" : type === "object" ? "object" : "scalar";
}

/** The schema of the child at `key` inside a value `parentValue` described by `schema`. */
export function childSchema(schema: AnySchema, key: PropertyKey, parentValue: unknown): AnySchema | undefined {
  const branch = branchFor(schema, parentValue);
  if (branch === undefined) return undefined;
  const def = definition(branch);
  if (def.type === "array") return def.element as AnySchema;
  if (def.type === "object") return (def.shape as Record<string, AnySchema>)[String(key)];
  return undefined;
}

/** The schema at a key path, following unions by the input's own values; also returns the containing schema. */
export function schemaAt(root: AnySchema, path: readonly PropertyKey[], input: unknown): AnySchema | undefined {
  let schema: AnySchema | undefined = root;
  let value = input;
  for (const key of path) {
    if (schema === undefined) return undefined;
    schema = childSchema(schema, key, value);
    value = isRecord(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[key as string] : undefined;
  }
  return schema;
}

/** Resolves the branch of `schema` that describes `value` (unions resolved), for listing keys. */
export function objectSchemaFor(schema: AnySchema, value: unknown): AnySchema | undefined {
  return branchFor(schema, value);
}

/** True when the schema turns a duration string into milliseconds and `ms` round-trips through it. */
export function isDurationValue(schema: AnySchema, ms: unknown): ms is number {
  if (typeof ms !== "number") return false;
  const inner = unwrap(schema);
  const def = definition(inner);
  if (def.type !== "pipe") return false;
  if (definition(def.in as AnySchema).type !== "string" || definition(def.out as AnySchema).type !== "transform") return false;
  const parsed = (inner as z.ZodType).safeParse(formatDuration(ms));
  return parsed.success && parsed.data === ms;
}

export interface DurationAt {
  path: PropertyKey[];
  ms: number;
}

/** Every duration in a parsed config, with its key path. */
export function durationsIn(schema: AnySchema, value: unknown, path: PropertyKey[] = []): DurationAt[] {
  if (isDurationValue(schema, value)) return [{ path, ms: value }];
  const found: DurationAt[] = [];
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      const child = childSchema(schema, index, value);
      if (child !== undefined) found.push(...durationsIn(child, item, [...path, index]));
    });
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) {
      const child = childSchema(schema, key, value);
      if (child !== undefined) found.push(...durationsIn(child, item, [...path, key]));
    }
  }
  return found;
}

/** A copy of a parsed config with every duration written back as text ("30m"), ready to print as YAML. */
export function withDurationsAsText(schema: AnySchema, value: unknown): unknown {
  if (isDurationValue(schema, value)) return formatDuration(value);
  if (Array.isArray(value)) {
    return value.map((item, index) => {
      const child = childSchema(schema, index, value);
      return child === undefined ? item : withDurationsAsText(child, item);
    });
  }
  if (isRecord(value)) {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const child = childSchema(schema, key, value);
      copy[key] = child === undefined ? item : withDurationsAsText(child, item);
    }
    return copy;
  }
  return value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
