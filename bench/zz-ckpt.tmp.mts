// CPU of one checkpoint's snapshot() + stringifyInSlices for sessionize state holding N live events (nothing closed).
const T = process.argv[2];
const N = Number(process.env.N ?? 700_000);
const { parsePipelineText } = await import(`${T}/src/config/load.ts`);
const { decodeForOperators, decodeRecord, isDecodeFailure } = await import(`${T}/src/events/decode.ts`);
const { generateLines } = await import(`${T}/src/ingest/generate.ts`);
const { EdgeProcessor } = await import(`${T}/src/ingest/edge.ts`);
const { Metrics } = await import(`${T}/src/metrics/registry.ts`);
const { createOperator } = await import(`${T}/src/operators/index.ts`);
const { Pipeline } = await import(`${T}/src/runtime/pipeline.ts`);
const { operatorEnvironment } = await import(`${T}/src/runtime/worker.ts`);
const { stringifyInSlices } = await import(`${T}/src/runtime/json-slices.ts`);
const { benchPipeline } = await import(`${T}/bench/pipeline.ts`);
const config = parsePipelineText(benchPipeline("nats://127.0.0.1:4222", "X", "/nonexistent"), "b.yaml", process.env).config;
const edge = EdgeProcessor.fromConfig(config.ingest, { pipelineName: config.name, env: process.env });
const environment = operatorEnvironment(config);
const operators = config.operators.map((o: unknown) => createOperator(o, environment));
const pipeline = new Pipeline({ operators, sink: { append() {}, markSuccess() {} }, metrics: new Metrics(), bots: config.ingest.bots });
const base = Date.now();
let n = 0;
for (const line of generateLines({ visitors: 50_000, days: 3, seed: 42 })) {
  if (n >= N) break;
  const d = decodeRecord(line, base); if (!d.ok) continue;
  const r = edge.process(d.event); if (r.kind === "filtered") continue; if (r.kind === "bot") r.event.is_bot = true;
  r.event.ts = base + n * 14; r.event.received_at = r.event.ts;
  const decoded = decodeForOperators(JSON.stringify(r.event), base);
  if (!isDecodeFailure(decoded)) pipeline.processShapedEvent(decoded, { partition: 0, sequence: Math.floor(n / 100) + 1 });
  n++;
}
for (let round = 0; round < 4; round++) {
  const before = process.cpuUsage();
  const t0 = performance.now();
  const state = pipeline.snapshot();
  const t1 = performance.now();
  const text = await stringifyInSlices(state);
  const u = process.cpuUsage(before);
  console.log(`snapshot ${(t1 - t0).toFixed(0)} ms, stringify ${(performance.now() - t1).toFixed(0)} ms wall, ${((u.user + u.system) / 1000).toFixed(0)} ms CPU, ${(text.length / 1e6).toFixed(1)} MB`);
}
for (const op of operators) {
  const t0 = performance.now();
  const st = op.snapshot();
  const t1 = performance.now();
  const text = JSON.stringify(st);
  console.log(`${op.id}: snapshot ${(t1 - t0).toFixed(0)} ms, JSON.stringify ${(performance.now() - t1).toFixed(0)} ms, ${(text.length / 1e6).toFixed(1)} MB; keys ${Object.keys(st ?? {}).join(",")}`);
  if (op.id === "sessionize") for (const k of Object.keys(st)) { const a = performance.now(); const t = JSON.stringify(st[k]); console.log(`   ${k}: ${(performance.now() - a).toFixed(0)} ms ${(t.length / 1e6).toFixed(1)} MB`); }
}
