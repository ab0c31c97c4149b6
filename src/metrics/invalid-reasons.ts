// The reasons an event is dead-lettered (the `reason` label of clickpipe_events_invalid_total). Apart from the
// registry, so that code which only names a reason (the decoder, parse threads) does not load prom-client.
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
