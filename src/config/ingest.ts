// The pipeline file's `ingest:` section: edge processing shared by the collector, `clickpipe publish` and the log tailer.
import { z } from "zod";
import { urlRuleProblem } from "./component-checks.ts";
import { secret } from "./secrets.ts";
import { ALWAYS_REDACTED_QUERY_PARAMS, DEFAULT_REDACTED_QUERY_PARAMS } from "../ingest/query-redaction.ts";

export const PAGE_EXCLUSIONS = ["static", "1xx", "2xx", "3xx", "4xx", "5xx", "non2xx", "nonGet"] as const;
export type PageExclusion = (typeof PAGE_EXCLUSIONS)[number];

export const DEFAULT_STATIC_EXTENSIONS = [
  "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "bmp",
  "woff", "woff2", "ttf", "eot", "otf", "mp4", "webm", "mp3", "ogg", "wav", "pdf", "zip", "gz",
  "tgz", "xml", "txt", "json", "rss", "atom",
];

export const urlRuleConfig = z
  .strictObject({
    match: z.string().min(1).describe('Path template with :params and * (e.g. "/c/:category/p/:id").'),
    item: z.string().min(1).describe('The page item built from the params (e.g. ":category", "product/:id").'),
  })
  .describe("Maps a URL path to a page item; the first matching rule wins.");

export const ingestConfig = z
  .strictObject({
    pages: z
      .union([
        z.literal("all"),
        z.strictObject({
          exclude: z.array(z.enum(PAGE_EXCLUSIONS)).default(["static", "non2xx"]),
        }),
      ])
      .default({ exclude: ["static", "non2xx"] })
      .describe("Which requests become page views: `all`, or `{ exclude: [static, 1xx…5xx, non2xx, nonGet] }`."),
    staticExtensions: z
      .array(z.string())
      .default(DEFAULT_STATIC_EXTENSIONS)
      .describe("File extensions that count as static assets for `pages.exclude: [static]`."),
    urlRules: z
      .array(urlRuleConfig)
      .superRefine((rules, ctx) => {
        rules.forEach((rule, index) => {
          const problem = urlRuleProblem(rule);
          if (problem !== undefined) {
            const hint = 'A rule matches a URL path with :params and * (e.g. match: "/c/:category/p/:id") and builds its item from those params (item: ":category").';
            ctx.addIssue({ code: "custom", path: [index], message: problem, params: { hint } });
          }
        });
      })
      .default([])
      .describe("URL → page item rules; default none (item = path)."),
    bots: z
      .enum(["flag", "drop"])
      .default("flag")
      .describe("flag: keep bots and set is_bot; drop: send them to the `bots` table before any operator."),
    botRate: z
      .strictObject({
        maxEvents: z.number().int().positive().default(100).describe("Events allowed per visitor within perSeconds [100]."),
        perSeconds: z.number().positive().default(100).describe("The rate window in seconds [100]."),
      })
      .default({ maxEvents: 100, perSeconds: 100 })
      .describe("A visitor sending more than maxEvents in perSeconds is a bot."),
    privacy: z
      .strictObject({
        anonymizeIp: z.boolean().default(true).describe("Zero the IPv4 last octet / IPv6 last ipv6Bits bits."),
        ipv6Bits: z.number().int().min(0).max(128).default(80).describe("IPv6 bits zeroed from the end [80]."),
        pseudonymize: z
          .array(z.enum(["user_id", "anon_id"]))
          .default([])
          .describe("Fields replaced by HMAC-SHA256 under CLICKPIPE_PSEUDONYM_KEY."),
        dropFields: z.array(z.string()).default([]).describe("PII fields removed everywhere (e.g. email, name, phone, address)."),
        redactQueryParams: z
          .array(z.string())
          .superRefine((names, ctx) => {
            names.forEach((name, index) => {
              const problem = queryParamNameProblem(name);
              if (problem !== undefined) ctx.addIssue({ code: "custom", path: [index], message: problem.message, params: { hint: problem.hint } });
            });
          })
          .default([...DEFAULT_REDACTED_QUERY_PARAMS])
          .describe(
            `Query and fragment parameters (any case) whose values become "(redacted)" in url, referrer and target_url [${DEFAULT_REDACTED_QUERY_PARAMS.join(", ")}]; ` +
              `${ALWAYS_REDACTED_QUERY_PARAMS.join(", ")} always.`,
          ),
        redactEmails: z.boolean().default(true).describe('Query and fragment values (and names) holding an email address become "(redacted)" in url, referrer and target_url [true].'),
      })
      .default({
        anonymizeIp: true,
        ipv6Bits: 80,
        pseudonymize: [],
        dropFields: [],
        redactQueryParams: [...DEFAULT_REDACTED_QUERY_PARAMS],
        redactEmails: true,
      })
      .describe("Privacy before anything is stored: IP anonymization, pseudonymization, PII fields dropped, secrets and emails in URLs redacted."),
    visitorKey: secret(z.string())
      .optional()
      .describe("Secret for the keyed IP + user-agent visitor hash of access logs; default from CLICKPIPE_VISITOR_KEY, else the pipeline name."),
  })
  .describe("Edge processing, the same for the collector, `clickpipe publish` and the log tailer.");

/** Why an entry of redactQueryParams names no parameter (with the fix), or undefined for a good name. */
function queryParamNameProblem(name: string): { message: string; hint: string } | undefined {
  const hint = "Write the parameter's name alone, as it appears before = in a URL (e.g. token for ?token=…); names match in any case, escaped or not.";
  if (name.trim() === "") return { message: "empty parameter name", hint: `${hint} Remove the empty entry.` };
  if (name.trim() !== name) return { message: `parameter name ${JSON.stringify(name)} has spaces around it`, hint: `Write ${JSON.stringify(name.trim())}.` };
  const separator = [...name].find((char) => "?&=#;".includes(char));
  if (separator === undefined) return undefined;
  const alone = name.split(/[?&=#;]/).find((part) => part !== "");
  return { message: `parameter name ${JSON.stringify(name)} contains "${separator}"`, hint: alone === undefined ? hint : `${hint} Write ${JSON.stringify(alone)}.` };
}

export type IngestConfig = z.output<typeof ingestConfig>;
export const defaultIngestConfig: IngestConfig = ingestConfig.parse({});
