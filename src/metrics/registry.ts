// Every clickpipe_* metric of ARCHITECTURE.md in one prom-client registry; labels are bounded sets only.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { CONNECTION_REFUSAL_REASONS, EVENT_SOURCES, INVALID_REASONS, LATE_SESSION_CONSUMERS, PATTERN_TABLE_KINDS, SESSION_KINDS, TABLES } from "./labels.ts";
import { SessionTally } from "./session-tally.ts";

export { EVENT_SOURCES, INVALID_REASONS, PATTERN_TABLE_KINDS, SESSION_KINDS, TABLES, type InvalidReason, type PatternTableKind } from "./labels.ts";

/** Upper bounds (seconds) of clickpipe_session_duration_seconds. */
const SESSION_DURATION_BUCKETS = [0, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200];

export class Metrics {
  readonly registry: Registry;
  readonly eventsReceived: Counter<"source">;
  readonly eventsProcessed: Counter;
  readonly eventsInvalid: Counter<"reason">;
  readonly eventsFiltered: Counter;
  readonly eventsLate: Counter;
  readonly sessionsLate: Counter<"operator">;
  readonly eventsDuplicate: Counter;
  readonly deadLettersDuplicate: Counter;
  readonly sessionsEmitted: Counter<"kind">;
  readonly parquetRowsWritten: Counter<"table">;
  readonly parquetFilesWritten: Counter<"table">;
  readonly partsCompacted: Counter<"table">;
  readonly openSessions: Gauge<"task">;
  readonly watermarkLag: Gauge<"task">;
  readonly consumerPending: Gauge<"task">;
  readonly lastCheckpoint: Gauge<"task">;
  readonly stateBytes: Gauge<"operator" | "task">;
  readonly stateKeys: Gauge<"operator" | "kind" | "task">;
  readonly checkpointDuration: Histogram;
  readonly checkpointFailures: Counter;
  readonly streamMessagesDiscarded: Counter<"task">;
  readonly eventLatency: Histogram;
  readonly sessionDuration: Histogram;
  readonly httpRequestDuration: Histogram<"route" | "code">;
  readonly httpConnectionsRefused: Counter<"reason">;
  readonly httpRequestBodyBytes: Counter;
  // Business figures for Grafana: counters whose rates and ratios give per-minute figures (see src/metrics/business.ts).
  readonly sessionsFinal: Counter;
  readonly sessionsBounced: Counter;
  readonly sessionsConverted: Counter;
  readonly revenue: Counter;
  readonly refunds: Counter;
  readonly patternsFrequent: Gauge<"kind">;
  readonly patternsTopSupport: Gauge<"kind">;
  readonly sourceClaims: Gauge<"source" | "place" | "state">;
  readonly sourceTakeovers: Counter<"source" | "place">;
  /** Where sessionize and the business counters record each session; flushed into the series above when read. */
  readonly sessionTally: SessionTally;
  /** The claim series of each running (or preset) source, by place. */
  readonly #sources = new Map<string, SourceClaimSeries>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registry = new Registry();
    this.registry = registry;
    if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
    const reg = [registry];
    // Each series the tally feeds flushes it before prom-client reads it (a scrape, get()).
    const flushSessions = () => this.sessionTally.flush();
    this.eventsReceived = new Counter({
      name: "clickpipe_events_received_total",
      help: "Records received, by source.",
      labelNames: ["source"],
      registers: reg,
    });
    this.eventsProcessed = new Counter({
      name: "clickpipe_events_processed_total",
      help: "Valid events handed to the operators.",
      registers: reg,
    });
    this.eventsInvalid = new Counter({
      name: "clickpipe_events_invalid_total",
      help: "Records rejected as invalid (dead-lettered), by reason.",
      labelNames: ["reason"],
      registers: reg,
    });
    this.eventsFiltered = new Counter({
      name: "clickpipe_events_filtered_total",
      help: "Requests left out by the page filter or bot drop.",
      registers: reg,
    });
    this.eventsLate = new Counter({
      name: "clickpipe_events_late_total",
      help: "Events too late for any retained state, written to late_events.",
      registers: reg,
    });
    this.sessionsLate = new Counter({
      name: "clickpipe_sessions_late_total",
      help: "Session versions that reached a session consumer after what would hold them was written (sequencePatterns: every window closed; churnFeatures: the day's snapshot): in the sessions table, not in that operator's table.",
      labelNames: ["operator"],
      registers: reg,
    });
    this.eventsDuplicate = new Counter({
      name: "clickpipe_events_duplicate_total",
      help: "Events ignored because their event_id (or order_id) was already seen.",
      registers: reg,
    });
    this.deadLettersDuplicate = new Counter({
      name: "clickpipe_dead_letters_duplicate_total",
      help: "Dead letters not written to invalid_events because a letter with their id (a file's line) already was.",
      registers: reg,
    });
    this.sessionsEmitted = new Counter({
      name: "clickpipe_sessions_emitted_total",
      help: "Session versions emitted: final (version 1), update (later versions), retraction.",
      labelNames: ["kind"],
      registers: reg,
      collect: flushSessions,
    });
    this.parquetRowsWritten = new Counter({
      name: "clickpipe_parquet_rows_written_total",
      help: "Rows committed to Parquet, by table.",
      labelNames: ["table"],
      registers: reg,
    });
    this.parquetFilesWritten = new Counter({
      name: "clickpipe_parquet_files_written_total",
      help: "Parquet files committed, by table.",
      labelNames: ["table"],
      registers: reg,
    });
    this.partsCompacted = new Counter({
      name: "clickpipe_parquet_parts_compacted_total",
      help: "Committed Parquet parts merged into bigger ones and deleted (compaction), by table.",
      labelNames: ["table"],
      registers: reg,
    });
    // The gauges a worker sets per task carry `task` (events-0, customers-0, dlq: bounded by the partitions) in a
    // partitioned pipeline, whose tasks share one registry per process: without it each task overwrote the others'
    // values. An unpartitioned worker sets them without it, as before. A task's series go when it stops here
    // (removeTaskSeries), so that a sum over workers does not count a task twice once it moved to another.
    this.openSessions = new Gauge({ name: "clickpipe_open_sessions", help: "Sessions held in state.", labelNames: ["task"], registers: reg });
    this.watermarkLag = new Gauge({
      name: "clickpipe_watermark_lag_seconds",
      help: "Processing time minus the event-time watermark.",
      labelNames: ["task"],
      registers: reg,
    });
    this.consumerPending = new Gauge({
      name: "clickpipe_consumer_pending_messages",
      help: "JetStream messages not yet read by this worker.",
      labelNames: ["task"],
      registers: reg,
    });
    this.lastCheckpoint = new Gauge({
      name: "clickpipe_last_checkpoint_timestamp_seconds",
      help: "Unix time of the last committed checkpoint, or of the last check that found nothing new to commit (an idle worker's checkpoint is current).",
      labelNames: ["task"],
      registers: reg,
    });
    // An unpartitioned worker's series, at 0 from the start as before these had a label (prom-client gives a labelled
    // gauge no series until it is set); a partitioned worker drops them (forTasks).
    for (const gauge of this.#unlabeledAtStart()) gauge.set(0);
    // By operator (its id in the pipeline: a bounded label), so that a dashboard shows which one holds the memory and
    // the bench can divide sessionize's state by open sessions and churnFeatures' by customers (issue 10); a sum over
    // `operator` is the total the gauge had before it had the label.
    this.stateBytes = new Gauge({
      name: "clickpipe_state_bytes",
      help: "Approximate bytes of operator state, by operator.",
      labelNames: ["operator", "task"],
      registers: reg,
    });
    this.stateKeys = new Gauge({
      name: "clickpipe_state_keys",
      help: "Keys held in operator state, by operator and kind (visitors, customers, sessions, windows, orders).",
      labelNames: ["operator", "kind", "task"],
      registers: reg,
    });
    this.checkpointDuration = new Histogram({
      name: "clickpipe_checkpoint_duration_seconds",
      help: "Time to write Parquet parts and commit a checkpoint.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: reg,
    });
    this.checkpointFailures = new Counter({
      name: "clickpipe_checkpoint_failures_total",
      help: "Checkpoints that failed to write or commit.",
      registers: reg,
    });
    // Beyond the contract's list: input lost to the stream's limits (nats.maxAge, nats.maxBytes) before a worker read
    // it, which must not go unseen. Per task in a partitioned pipeline, as the gauges above; a task's reader filters on
    // its subject and so counts the discarded sequences of every subject past what it read (DiscardedSequences.exact).
    this.streamMessagesDiscarded = new Counter({
      name: "clickpipe_stream_messages_discarded_total",
      help:
        "Stream messages the stream's limits (max age, max bytes) discarded before the worker read them: their events are missing from the output. " +
        "A partitioned pipeline's task counts the discarded sequences of every subject past what it had read: an upper bound.",
      labelNames: ["task"],
      registers: reg,
    });
    this.eventLatency = new Histogram({
      name: "clickpipe_event_latency_seconds",
      help: "Event time to processing time of each message's last event (one observation per message).",
      // Up to 30 days, so that a replay or backfill shows its age instead of +Inf.
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 21600, 86400, 604800, 2592000],
      registers: reg,
    });
    this.sessionDuration = new Histogram({
      name: "clickpipe_session_duration_seconds",
      help: "Duration of final sessions.",
      buckets: SESSION_DURATION_BUCKETS,
      registers: reg,
      collect: flushSessions,
    });
    this.httpRequestDuration = new Histogram({
      name: "clickpipe_http_request_duration_seconds",
      help: "Collector request duration, by route and status code.",
      labelNames: ["route", "code"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: reg,
    });
    this.httpConnectionsRefused = new Counter({
      name: "clickpipe_http_connections_refused_total",
      help: "Connections the collector closed at once, by reason: max_connections (it had maxConnections open) or per_client (the client IP, an IPv6 client's /64, had maxConnectionsPerClient open).",
      labelNames: ["reason"],
      registers: reg,
    });
    this.httpRequestBodyBytes = new Counter({
      name: "clickpipe_http_request_body_bytes_total",
      help: "Bytes of request bodies the collector read to parse them (as sent, before decompression). Bodies answered before they are read (413 by Content-Length, 403 origin, 401 or 429 of a key outside the body, 429 of a client out of budget) are not counted, nor what is dropped unread after an answer.",
      registers: reg,
    });
    this.sessionsFinal = new Counter({
      name: "clickpipe_sessions_final_total",
      help: "Sessions of people (not bots) at their first final version.",
      registers: reg,
      collect: flushSessions,
    });
    this.sessionsBounced = new Counter({
      name: "clickpipe_sessions_bounced_total",
      help: "Sessions of people at their first final version that bounced.",
      registers: reg,
      collect: flushSessions,
    });
    this.sessionsConverted = new Counter({
      name: "clickpipe_sessions_converted_total",
      help: "Sessions of people at their first final version that hold a purchase (a refund alone is none).",
      registers: reg,
      collect: flushSessions,
    });
    // Sales and refunds apart, as a counter never goes down: net revenue is clickpipe_revenue_total minus
    // clickpipe_refunds_total, whether a refund falls in its order's session or in a later one.
    this.revenue = new Counter({
      name: "clickpipe_revenue_total",
      help:
        "Sales of the sessions of people at their first final version, in the shop's currency: the revenue of their purchases (revenue >= 0), " +
        "refunds not deducted. Net revenue is this minus clickpipe_refunds_total.",
      registers: reg,
      collect: flushSessions,
    });
    this.refunds = new Counter({
      name: "clickpipe_refunds_total",
      help: "Refunds (purchases with negative revenue) in the sessions of people at their first final version, as a positive amount in the shop's currency.",
      registers: reg,
      collect: flushSessions,
    });
    this.patternsFrequent = new Gauge({
      name: "clickpipe_patterns_frequent",
      help: "Frequent patterns found in the last closed pattern window, by kind.",
      labelNames: ["kind"],
      registers: reg,
    });
    this.patternsTopSupport = new Gauge({
      name: "clickpipe_patterns_top_support",
      help: "Support (sessions) of the most frequent pattern of the last closed pattern window, by kind.",
      labelNames: ["kind"],
      registers: reg,
    });
    // By the source's type (the `source` of clickpipe_events_received_total) and its place in the pipeline file
    // (`sources[0]`): both bounded by the pipeline file, never a path, port or host. Counted per claim, as a tailer
    // holds one claim per path (a collector one, for its port).
    this.sourceClaims = new Gauge({
      name: "clickpipe_source_claims",
      help:
        "A source's claims by state: active (held: the collector listens, the tailer reads) or standby (another process on this host holds it). " +
        "Only the worker holding the pipeline's lock serves metrics (every worker of a partitioned pipeline does), so standby here means a " +
        "source of the serving worker stands by, e.g. for a stalled holder that keeps its claim fresh.",
      labelNames: ["source", "place", "state"],
      registers: reg,
    });
    this.sourceTakeovers = new Counter({
      name: "clickpipe_source_takeovers_total",
      help:
        "Claims a source took over after standing by. A standby worker serves no metrics, so after a takeover this is what shows it: " +
        "the new holder's counter starts above 0.",
      labelNames: ["source", "place"],
      registers: reg,
    });
    this.sessionTally = new SessionTally(
      {
        emitted: this.sessionsEmitted,
        duration: this.sessionDuration,
        final: this.sessionsFinal,
        bounced: this.sessionsBounced,
        converted: this.sessionsConverted,
        revenue: this.revenue,
        refunds: this.refunds,
      },
      SESSION_DURATION_BUCKETS,
    );
    // Every labelled series a dashboard queries exists from start.
    this.streamMessagesDiscarded.inc({}, 0);
    for (const source of EVENT_SOURCES) this.eventsReceived.inc({ source }, 0);
    for (const reason of INVALID_REASONS) this.eventsInvalid.inc({ reason }, 0);
    for (const reason of CONNECTION_REFUSAL_REASONS) this.httpConnectionsRefused.inc({ reason }, 0);
    for (const kind of SESSION_KINDS) this.sessionsEmitted.inc({ kind }, 0);
    for (const operator of LATE_SESSION_CONSUMERS) this.sessionsLate.inc({ operator }, 0);
    for (const table of TABLES) {
      this.parquetRowsWritten.inc({ table }, 0);
      this.parquetFilesWritten.inc({ table }, 0);
      this.partsCompacted.inc({ table }, 0);
    }
    for (const kind of PATTERN_TABLE_KINDS) {
      this.patternsFrequent.set({ kind }, 0);
      this.patternsTopSupport.set({ kind }, 0);
    }
  }

  /** The claim series of the pipeline's `sources:` (place `sources[i]` unless given), at 0 before any source starts. */
  presetSources(sources: readonly { type: string; place?: string }[]): void {
    for (const [index, source] of sources.entries()) this.sourceSeries(source.type, source.place ?? `sources[${index}]`);
  }

  /** The series of one source's claims (created at 0 on the first call for its place; the same object after that). */
  sourceSeries(type: string, place: string): SourceClaimSeries {
    const source = sourceLabel(type);
    let series = this.#sources.get(place);
    if (series === undefined || series.source !== source) {
      series?.remove();
      series = new SourceClaimSeries(this, source, place, () => this.#sources.delete(place));
      this.#sources.set(place, series);
    }
    return series;
  }

  /** This registry serves a partitioned worker's tasks, each reporting under its own `task`: no series without one. */
  forTasks(): void {
    for (const gauge of this.#unlabeledAtStart()) gauge.remove({});
    this.streamMessagesDiscarded.remove({});
  }

  #unlabeledAtStart(): Gauge<"task">[] {
    return [this.openSessions, this.watermarkLag, this.consumerPending, this.lastCheckpoint];
  }
}

/** A source's `source` label: its type as clickpipe_events_received_total names it (`accessLog` → `access_log`). */
function sourceLabel(type: string): (typeof EVENT_SOURCES)[number] {
  return type === "accessLog" ? "access_log" : "http";
}

export type SourceClaimState = "active" | "standby";

/**
 * The claims of one source in clickpipe_source_claims (how many are active, how many stand by) and its takeovers.
 * A claim not yet taken, or released, counts in neither state.
 */
export class SourceClaimSeries {
  readonly #states = new Map<object, SourceClaimState>();
  #removed = false;

  constructor(
    private readonly metrics: Metrics,
    readonly source: string,
    readonly place: string,
    private readonly onRemove: () => void,
  ) {
    this.#update();
    metrics.sourceTakeovers.inc({ source, place }, 0);
  }

  /** Sets one claim's state (undefined: not held and not standing by, as before its first try or once released). */
  set(claim: object, state: SourceClaimState | undefined): void {
    if (state === undefined) this.#states.delete(claim);
    else this.#states.set(claim, state);
    this.#update();
  }

  /** A claim that stood by is held and working again. */
  tookOver(): void {
    if (!this.#removed) this.metrics.sourceTakeovers.inc({ source: this.source, place: this.place });
  }

  /** The source stopped: its series go, so that a sum over workers no longer counts it. */
  remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    const { source, place } = this;
    for (const state of ["active", "standby"] as const) this.metrics.sourceClaims.remove({ source, place, state });
    this.metrics.sourceTakeovers.remove({ source, place });
    this.onRemove();
  }

  #update(): void {
    if (this.#removed) return;
    const { source, place } = this;
    for (const state of ["active", "standby"] as const) {
      let count = 0;
      for (const value of this.#states.values()) if (value === state) count++;
      this.metrics.sourceClaims.set({ source, place, state }, count);
    }
  }
}

/** The labels of a gauge a worker sets per task: `{ task }` for a partitioned pipeline's task, none for an unpartitioned worker. */
export type TaskLabels = { task?: string };

/**
 * Removes every series of the gauges set per task that carries `task`: the task stopped on this worker. A customers
 * task's pattern gauges, which carry no `task` (one task of a pipeline runs sequencePatterns: `customerPartitions: 1`),
 * go back to 0, as in a worker that never ran it: the dashboard takes their max over workers, and this worker's last
 * window would otherwise outweigh every later, smaller one that the task's new worker reports.
 */
export async function removeTaskSeries(metrics: Metrics, task: string, kind?: "events" | "customers" | "dlq"): Promise<void> {
  const gauges: Gauge<string>[] = [metrics.openSessions, metrics.watermarkLag, metrics.consumerPending, metrics.lastCheckpoint, metrics.stateBytes, metrics.stateKeys];
  for (const gauge of gauges) {
    for (const { labels } of (await gauge.get()).values) if (labels.task === task) gauge.remove(labels as Record<string, string>);
  }
  if (kind === "customers") {
    for (const patternKind of PATTERN_TABLE_KINDS) {
      metrics.patternsFrequent.set({ kind: patternKind }, 0);
      metrics.patternsTopSupport.set({ kind: patternKind }, 0);
    }
  }
}
