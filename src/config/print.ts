// `clickpipe validate --print`: the effective config (variables expanded, defaults filled) as YAML, durations as text.
import { Document, isScalar, isSeq, visit } from "yaml";
import { pipelineSchema, type PipelineConfig } from "./pipeline.ts";
import { withDurationsAsText } from "./schema-walk.ts";

/** YAML that validates back to the same config; durations print as "30m", not milliseconds. */
export function printPipeline(config: PipelineConfig): string {
  const doc = new Document(withDurationsAsText(pipelineSchema, config));
  // Lists of plain values (extensions, write keys, paths) read best on one line.
  visit(doc, {
    Seq(_key, node) {
      if (isSeq(node) && node.items.every((item) => isScalar(item))) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0 });
}
