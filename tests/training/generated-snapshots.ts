// Real customer_features snapshots from generated traffic: NDJSON lines through decode, sessionize and churnFeatures, written by ParquetSink.
import { join } from "node:path";
import { decodeRecord } from "../../src/events/decode.ts";
import { createTraffic, toNdjsonLine, type GenerateOptions, type GeneratedEvent, type GroundTruth } from "../../src/ingest/generate.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { CUSTOMER_FEATURES, churnFeaturesConfig, createChurnFeatures } from "../../src/operators/churn-features.ts";
import { createSessionize, sessionizeConfig } from "../../src/operators/sessionize.ts";
import { Pipeline } from "../../src/runtime/pipeline.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { lateEventsTable } from "../../src/sinks/system-tables.ts";

/** What the generator did, reduced to what churn labels depend on: per customer, visit end times and purchase times. */
export interface CustomerActivity {
  /** Epoch ms of the first event carrying this user_id (the customer exists from the snapshot after it). */
  firstSeen: number;
  /** Epoch ms of the last event of each visit (one device, gaps ≤ 25 min inside) that carries this user_id. */
  sessionEnds: number[];
  purchases: number[];
}

export interface GeneratedLake {
  /** The customer_features table folder. */
  features: string;
  truth: GroundTruth;
  activity: ReadonlyMap<string, CustomerActivity>;
  events: number;
  /** Events the operators found too late (in-order input: expected 0). */
  lateEvents: number;
}

/** One device's visit in progress: the generator keeps visits of a device ≥ 31 min apart, so a 30-min gap ends one. */
interface OpenVisit {
  lastTs: number;
  user: string | undefined;
}

const VISIT_GAP_MS = 30 * 60 * 1000;

/** Collects visit ends and purchases per user_id straight from the generated events (independent of sessionize). */
class ActivityRecorder {
  readonly activity = new Map<string, CustomerActivity>();
  private readonly open = new Map<string, OpenVisit>();

  add(event: GeneratedEvent): void {
    const visit = this.open.get(event.anon_id);
    if (visit !== undefined && event.ts - visit.lastTs > VISIT_GAP_MS) this.close(visit);
    const current = visit !== undefined && event.ts - visit.lastTs <= VISIT_GAP_MS ? visit : { lastTs: event.ts, user: undefined };
    current.lastTs = event.ts;
    current.user ??= event.user_id;
    this.open.set(event.anon_id, current);
    if (event.user_id === undefined) return;
    const customer = this.of(event.user_id, event.ts);
    if (event.type === "purchase") customer.purchases.push(event.ts);
  }

  finish(): void {
    for (const visit of this.open.values()) this.close(visit);
    this.open.clear();
  }

  private close(visit: OpenVisit): void {
    if (visit.user !== undefined) this.of(visit.user, visit.lastTs).sessionEnds.push(visit.lastTs);
  }

  /** The customer's record; `ts` is when the customer is first seen if they are new. */
  private of(user: string, ts: number): CustomerActivity {
    let activity = this.activity.get(user);
    if (activity === undefined) {
      activity = { firstSeen: ts, sessionEnds: [], purchases: [] };
      this.activity.set(user, activity);
    }
    return activity;
  }
}

/** Runs the generated traffic through the real pipeline in drain mode and commits every daily snapshot under `<lake>`. */
export async function writeGeneratedSnapshots(lake: string, options: GenerateOptions): Promise<GeneratedLake> {
  // maxDuration 24h: no generated visit lasts that long, so sessions are exactly the generator's visits.
  const sessionize = sessionizeConfig.parse({ type: "sessionize", gap: "30m", maxDuration: "24h", allowedLateness: "10m" });
  const churn = churnFeaturesConfig.parse({ type: "churnFeatures", snapshotEvery: "1d", allowedLateness: "10m" });
  const environment = { pipelineName: "generated", session: { gap: sessionize.gap, allowedLateness: sessionize.allowedLateness } };
  const operators = [createSessionize(sessionize, environment), createChurnFeatures(churn, environment)];
  const metrics = new Metrics();
  const tables = [...operators.flatMap((op) => op.tables), lateEventsTable];
  const sink = new ParquetSink({ path: lake, tables, useWorkerThread: false });
  const pipeline = new Pipeline({ operators, sink, metrics });
  const traffic = createTraffic(options);
  const recorder = new ActivityRecorder();
  let sequence = 0;
  for (const event of traffic.events()) {
    recorder.add(event);
    // Received as it happens: the watermark's future-skew guard then never holds it back.
    const decoded = decodeRecord(toNdjsonLine(event), event.ts);
    if (!decoded.ok) throw new Error(`generated event rejected (${decoded.reason}): ${decoded.message}`);
    pipeline.processEvent(decoded.event, { partition: 0, sequence: ++sequence });
  }
  pipeline.end();
  recorder.finish();
  await sink.commit(await sink.prepare(1));
  await sink.close();
  const lateEvents = (await metrics.eventsLate.get()).values.reduce((sum, value) => sum + value.value, 0);
  return { features: join(lake, CUSTOMER_FEATURES), truth: traffic.truth, activity: recorder.activity, events: sequence, lateEvents };
}
