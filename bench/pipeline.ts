// The pipeline every benchmark runs: the demo operators (sessionize, sequencePatterns, basket, churnFeatures) into Parquet.

export function benchPipeline(url: string, stream: string, out: string): string {
  return `name: bench
nats:
  url: ${url}
  stream: ${stream}
ingest:
  urlRules:
    - { match: "/c/:category/p/:id", item: ":category/product" }
operators:
  - type: sessionize
  - type: sequencePatterns
    window: 1h
    minSupport: 0.01
  - type: basket
    window: 1d
  - type: churnFeatures
sinks:
  - type: parquet
    path: ${out}
checkpoint:
  interval: 10s
`;
}
