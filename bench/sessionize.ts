// Sessionize benchmark (issue 3), in-process without NATS: events/s through sessionize alone, and bytes of state per
// open session two ways (stateBytes() and the heap delta of holding N sessions). Run with `node --expose-gc`; prints JSON.
import { decodeRecord } from "../src/events/decode.ts";
import { createSessionize, sessionizeConfig } from "../src/operators/sessionize.ts";
import type { Operator } from "../src/runtime/operator.ts";
import { CountingContext, cpuSecondsSince, keepAlive, log, settledHeapBytes } from "./bench-kit.ts";
import { benchConfig, decodedEvents, publishedLines } from "./inputs.ts";

const VISITORS = Number(process.env.BENCH_VISITORS ?? 50_000);
const DAYS = Number(process.env.BENCH_DAYS ?? 3);
const GAP_MS = 30 * 60_000;
/** Sessions held for the heap measurement last at most this long, so none is discarded before the measurement. */
const HELD_SESSION_MAX_MS = 60 * 60_000;

export interface SessionizeBenchResult {
  events: number;
  seconds: number;
  cpuSeconds: number;
  eventsPerSecond: number;
  eventsPerCpuSecond: number;
  sessionsEmitted: number;
  /** Sampled every 10,000 events during the throughput run. */
  peakOpenSessions: number;
  stateBytesPerOpenSessionAtPeak: number;
  held: {
    openSessions: number;
    events: number;
    stateBytes: number;
    stateBytesPerOpenSession: number;
    heapDeltaBytes: number;
    heapBytesPerOpenSession: number;
    /** Heap freed when the operator is dropped after the measurement: a cross-check of the delta. */
    heapFreedWhenDroppedBytes: number;
  };
}

function sessionize(): Operator {
  return createSessionize(sessionizeConfig.parse({ type: "sessionize" }), { pipelineName: "bench" });
}

/** `clickpipe_open_sessions` as the worker sets it (Operator.reportGauges, once a second there). */
async function openSessionsOf(operator: Operator, context: CountingContext): Promise<number> {
  operator.reportGauges?.(context.metrics);
  return (await context.metrics.openSessions.get()).values[0]?.value ?? 0;
}

async function throughput(lines: readonly string[]): Promise<Omit<SessionizeBenchResult, "held">> {
  const events = decodedEvents(lines);
  const warmUp = sessionize();
  const warmContext = new CountingContext();
  for (let i = 0; i < Math.min(events.length, 100_000); i++) warmUp.onEvent!(events[i], { partition: 0, sequence: i + 1 }, warmContext);
  const operator = sessionize();
  const context = new CountingContext();
  let peakOpenSessions = 0;
  let stateBytesAtPeak = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let sampledCpu = 0;
  const origin = { partition: 0, sequence: 0 };
  for (let i = 0; i < events.length; i++) {
    origin.sequence = i + 1;
    operator.onEvent!(events[i], origin, context);
    if (i % 10_000 === 9_999) {
      // Sampling is excluded from the timing: stateBytes() walks every visitor.
      const sampleCpu = process.cpuUsage();
      const open = await openSessionsOf(operator, context);
      if (open > peakOpenSessions) {
        peakOpenSessions = open;
        stateBytesAtPeak = operator.stateBytes!();
      }
      sampledCpu += cpuSecondsSince(sampleCpu);
    }
  }
  operator.onEnd(context);
  const seconds = (performance.now() - started) / 1000 - sampledCpu;
  const cpuSeconds = cpuSecondsSince(cpuBefore) - sampledCpu;
  return {
    events: events.length,
    seconds,
    cpuSeconds,
    eventsPerSecond: events.length / seconds,
    eventsPerCpuSecond: events.length / cpuSeconds,
    sessionsEmitted: context.sessions,
    peakOpenSessions,
    stateBytesPerOpenSessionAtPeak: peakOpenSessions > 0 ? stateBytesAtPeak / peakOpenSessions : Number.NaN,
  };
}

/**
 * The same traffic's sessions, each under its own visitor id and moved to start within one minute, in time order:
 * feeding them holds every session open at once (none ends + gap + allowedLateness before the last event).
 */
function heldSessionLines(lines: readonly string[]): string[] {
  const receivedAt = Date.now();
  const base = Date.UTC(2026, 0, 5);
  const byVisitor = new Map<string, { ts: number; event: Record<string, unknown> }[]>();
  for (const line of lines) {
    const decoded = decodeRecord(line, receivedAt);
    if (!decoded.ok || decoded.event.anon_id === undefined) continue;
    const key = `${decoded.event.site_id ?? ""}|${decoded.event.anon_id}`;
    let list = byVisitor.get(key);
    if (list === undefined) byVisitor.set(key, (list = []));
    list.push({ ts: decoded.event.ts, event: decoded.event });
  }
  const moved: { ts: number; line: string }[] = [];
  let sessionNumber = 0;
  for (const list of byVisitor.values()) {
    let start = 0;
    for (let end = 1; end <= list.length; end++) {
      if (end < list.length && list[end].ts - list[end - 1].ts <= GAP_MS) continue;
      const session = list.slice(start, end);
      start = end;
      if (session[session.length - 1].ts - session[0].ts > HELD_SESSION_MAX_MS) continue;
      const shift = base + (sessionNumber % 60_000) - session[0].ts;
      const anonId = `${session[0].event.anon_id as string}~${sessionNumber++}`;
      for (const { ts, event } of session) {
        moved.push({ ts: ts + shift, line: JSON.stringify({ ...event, ts: ts + shift, anon_id: anonId, event_id: `${event.event_id as string}~${anonId}` }) });
      }
    }
  }
  moved.sort((a, b) => a.ts - b.ts);
  return moved.map((entry) => entry.line);
}

async function heldState(lines: readonly string[]): Promise<SessionizeBenchResult["held"]> {
  const held = heldSessionLines(lines);
  const context = new CountingContext();
  let operator: Operator | undefined = sessionize();
  const receivedAt = Date.now();
  // A first decode pass over the input before the baseline: decoding settles how V8 stores the input strings (the
  // heap shrank by ~100 bytes per line on the first pass), which would otherwise hide state in the delta.
  for (const line of held) decodeRecord(line, receivedAt);
  const before = settledHeapBytes();
  for (let i = 0; i < held.length; i++) {
    const decoded = decodeRecord(held[i], receivedAt);
    if (decoded.ok) operator.onEvent!(decoded.event, { partition: 0, sequence: i + 1 }, context);
  }
  const after = settledHeapBytes();
  keepAlive(lines, held);
  const openSessions = await openSessionsOf(operator, context);
  if (!(openSessions > 0)) throw new Error("sessionize bench: the operator reports no open session while it holds every session");
  const stateBytes = operator.stateBytes!();
  // Dropping the operator must give the memory back: a check that the delta was the operator's state.
  operator = undefined;
  const released = settledHeapBytes();
  log(`sessionize: ${openSessions} open sessions hold ${((after - before) / 2 ** 20).toFixed(1)} MiB of heap (${((after - released) / 2 ** 20).toFixed(1)} MiB freed when dropped)`);
  return {
    openSessions,
    events: held.length,
    stateBytes,
    stateBytesPerOpenSession: stateBytes / openSessions,
    heapDeltaBytes: after - before,
    heapBytesPerOpenSession: (after - before) / openSessions,
    heapFreedWhenDroppedBytes: after - released,
  };
}

export async function measureSessionize(): Promise<SessionizeBenchResult> {
  log(`sessionize: generating ${VISITORS} visitors over ${DAYS} days…`);
  const lines = publishedLines(benchConfig(), VISITORS, DAYS);
  const result = await throughput(lines);
  log(`sessionize: ${Math.round(result.eventsPerSecond).toLocaleString("en")} events/s (${Math.round(result.eventsPerCpuSecond).toLocaleString("en")} per CPU s) over ${result.events} events`);
  const held = await heldState(lines);
  log(`sessionize: ${held.openSessions} open sessions: ${held.stateBytesPerOpenSession.toFixed(0)} B/session by stateBytes(), ${held.heapBytesPerOpenSession.toFixed(0)} B/session by heap delta`);
  return { ...result, held };
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(JSON.stringify(await measureSessionize()) + "\n");
