// `clickpipe validate --print`: the effective config (variables expanded, defaults filled) as YAML, durations as text,
// secrets redacted: the output goes into tickets and chats.
import { Document, isScalar, isSeq, visit } from "yaml";
import { pipelineSchema, type PipelineConfig } from "./pipeline.ts";
import { withDurationsAsText } from "./schema-walk.ts";
import { withSecretsRedacted } from "./secrets.ts";

/**
 * YAML that validates back to the same config once its secrets are there again; durations print as "30m", not
 * milliseconds. A secret the file gave as `${VAR}` prints as that reference (set VAR and it validates as it is); one
 * written in the file prints as "<redacted>", which validation refuses until the secret is put back.
 * `textBeforeExpansion` is the loader's (LoadResult), without which every secret prints redacted.
 */
export function printPipeline(config: PipelineConfig, textBeforeExpansion: ReadonlyMap<string, string> = new Map()): string {
  const redacted = withSecretsRedacted(pipelineSchema, config, (path) => textBeforeExpansion.get(path));
  const doc = new Document(withDurationsAsText(pipelineSchema, redacted));
  // Lists of plain values (extensions, write keys, paths) read best on one line.
  visit(doc, {
    Seq(_key, node) {
      if (isSeq(node) && node.items.every((item) => isScalar(item))) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0 });
}
