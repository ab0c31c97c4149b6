// Loads a pipeline file for a CLI command, printing every config error with its place in the file.
import { formatConfigError, formatConfigWarning, loadPipeline } from "../config/load.ts";
import type { PipelineConfig } from "../config/pipeline.ts";
import { ConfigInvalidError } from "./config-invalid-error.ts";

/** `warn`, when given, gets each warning's line (a key left out because its variable is set but empty). */
export async function loadPipelineOrThrow(path: string, env: NodeJS.ProcessEnv = process.env, warn?: (line: string) => void): Promise<PipelineConfig> {
  const result = await loadPipeline(path, env);
  for (const warning of result.warnings ?? []) warn?.(formatConfigWarning(warning, path));
  if (!result.ok) throw new ConfigInvalidError(result.errors.map((error) => formatConfigError(error, path)));
  return result.config;
}
