// Reads Prometheus text exposition in tests: sample lines to {series → value}, and the metric names they use.

/** `name{labels}` (as written) → value, for every sample line. */
export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

/** The value of one series, e.g. `clickpipe_sessions_emitted_total{kind="final"}`; throws when absent. */
export function sampleValue(samples: Map<string, number>, series: string): number {
  const value = samples.get(series);
  if (value === undefined) throw new Error(`no series ${series} in the exposition`);
  return value;
}

/** Sample names (before `{`) of every series. */
export function seriesNames(samples: Map<string, number>): Set<string> {
  return new Set([...samples.keys()].map((series) => series.split("{", 1)[0]));
}
