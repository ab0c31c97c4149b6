// Secrets in the pipeline schema: every key named like a secret is marked (or is a file path), and server URLs lose
// only their passwords.
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { pipelineSchema } from "../../src/config/pipeline.ts";
import { secretKindOf, withUrlCredentialsRedacted } from "../../src/config/secrets.ts";
import { formatPath } from "../../src/config/errors.ts";

type AnySchema = z.core.$ZodType;
type Definition = { type: string; innerType?: AnySchema; shape?: Record<string, AnySchema>; options?: AnySchema[]; element?: AnySchema };

/** Every key path of the schema (array elements as [0]), each with the secret kind marked on it or on its wrappers. */
function keysOf(schema: AnySchema, path: PropertyKey[] = []): { path: string; kind: string | undefined }[] {
  const own = { path: formatPath(path), kind: secretKindOf(schema) };
  let inner = schema;
  while ((inner._zod.def as Definition).innerType !== undefined) inner = (inner._zod.def as Definition).innerType!;
  const def = inner._zod.def as Definition;
  if (def.type === "object") return [own, ...Object.entries(def.shape ?? {}).flatMap(([key, child]) => keysOf(child, [...path, key]))];
  if (def.type === "array") return [own, ...keysOf(def.element!, [...path, 0])];
  // A union's branches share its path: their keys, not the branches themselves.
  if (def.type === "union") return [own, ...(def.options ?? []).flatMap((option) => keysOf(option, path).slice(1))];
  return [own];
}

describe("config secrets", () => {
  it("marks every key whose name says it holds a secret; those named so that hold file paths stay readable", () => {
    const keys = keysOf(pipelineSchema);
    const secretLooking = keys.filter(({ path }) => /(key|token|password|secret|salt|credential)s?(\[0\])?$/i.test(path));
    expect(secretLooking.map(({ path, kind }) => [path, kind ?? "none"])).toEqual([
      ["nats.credentials", "none"], // a path to the .creds file, not its content
      ["nats.password", "value"],
      ["nats.token", "value"],
      ["nats.tls.key", "none"], // a path to the key file
      ["ingest.visitorKey", "value"],
      ["sources[0].writeKeys", "none"],
      ["sources[0].writeKeys[0]", "value"],
    ]);
    expect(keys.filter(({ kind }) => kind !== undefined).map(({ path }) => path)).toEqual([
      "nats.url",
      "nats.password",
      "nats.token",
      "ingest.visitorKey",
      "sources[0].writeKeys[0]",
    ]);
  });

  it("redacts the password or token of each server URL and leaves URLs without credentials as they are", () => {
    expect(withUrlCredentialsRedacted("nats://127.0.0.1:4222")).toBe("nats://127.0.0.1:4222");
    expect(withUrlCredentialsRedacted("nats://a:4222, nats://b:4222")).toBe("nats://a:4222, nats://b:4222");
    expect(withUrlCredentialsRedacted("nats://u:p@a:4222, tls://t@b:4222,c:4222")).toBe("nats://u:<redacted>@a:4222, tls://<redacted>@b:4222,c:4222");
    // Without a scheme nats.js reads host:port; user:pass@host:port is still a password.
    expect(withUrlCredentialsRedacted("u:p@a:4222")).toBe("u:<redacted>@a:4222");
    expect(withUrlCredentialsRedacted("nats://u:p:with:colons@a")).toBe("nats://u:<redacted>@a");
  });
});
