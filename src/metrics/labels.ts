// The bounded label sets of the clickpipe_* metrics (registry.ts). Apart from the registry, so that code which only
// names a label (the decoder, parse threads, operators loaded to validate a pipeline file) does not load prom-client.
export const EVENT_SOURCES = ["nats", "http", "access_log", "publish"] as const;
/** The session consumers that count session versions too late for them (clickpipe_sessions_late_total). */
export const LATE_SESSION_CONSUMERS = ["sequencePatterns", "churnFeatures"] as const;

export const SESSION_KINDS = ["final", "update", "retraction"] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];
export const TABLES = [
  "sessions",
  "patterns",
  "basket_rules",
  "cross_sell",
  "customer_features",
  "invalid_events",
  "late_events",
  "bots",
  "scores",
] as const;

/** The `kind` column of the `patterns` table. */
export const PATTERN_TABLE_KINDS = ["subsequence", "contiguous"] as const;

export type PatternTableKind = (typeof PATTERN_TABLE_KINDS)[number];

/** Why the collector closed a connection at once (the `reason` label of clickpipe_http_connections_refused_total). */
export const CONNECTION_REFUSAL_REASONS = ["max_connections", "per_client"] as const;

/** The reasons an event is dead-lettered (the `reason` label of clickpipe_events_invalid_total). */
export const INVALID_REASONS = [
  "not_json",
  "not_object",
  "too_large",
  "unknown_type",
  "missing_field",
  "bad_field",
  "bad_ts",
  "unparseable_line",
  "operator_error",
] as const;
export type InvalidReason = (typeof INVALID_REASONS)[number];

/** The bounded metric label of a reason text "code: detail" (unparseable_line for any other text). */
export function invalidReasonCode(reason: string): InvalidReason {
  const code = reason.split(":", 1)[0];
  return (INVALID_REASONS as readonly string[]).includes(code) ? (code as InvalidReason) : "unparseable_line";
}
