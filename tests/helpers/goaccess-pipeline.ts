// The pipeline file of a test checked against GoAccess: bots flagged (GoAccess counts crawlers), sessions split at UTC
// midnight as GoAccess's days are, parquet out.
import { writeFile } from "node:fs/promises";

export interface GoAccessPipeline {
  name: string;
  natsUrl: string;
  stream: string;
  /** The ingest.pages value, as written in YAML. */
  pages: string;
  /** The parquet sink's folder. */
  sinkPath: string;
}

/** Writes `pipeline` to `file`; resolves with `file`. */
export async function writeGoAccessPipeline(file: string, pipeline: GoAccessPipeline): Promise<string> {
  await writeFile(
    file,
    [
      `name: ${pipeline.name}`,
      "nats:",
      `  url: ${pipeline.natsUrl}`,
      `  stream: ${pipeline.stream}`,
      "ingest:",
      `  pages: ${pipeline.pages}`,
      "  bots: flag",
      "operators:",
      "  - type: sessionize",
      "    splitAtMidnight: UTC",
      // The lines are ordered per client, not by time: nothing may be late.
      "    outOfOrderness: 7d",
      "    allowedLateness: 30d",
      "sinks:",
      "  - type: parquet",
      `    path: ${pipeline.sinkPath}`,
    ].join("\n"),
  );
  return file;
}
