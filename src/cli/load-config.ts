// Loads a pipeline file for a CLI command, printing every config error with its place in the file.
import { formatConfigError, loadPipeline } from "../config/load.ts";
import type { PipelineConfig } from "../config/pipeline.ts";
import { ConfigInvalidError } from "./config-invalid-error.ts";

export async function loadPipelineOrThrow(path: string, env: NodeJS.ProcessEnv = process.env): Promise<PipelineConfig> {
  const result = await loadPipeline(path, env);
  if (!result.ok) throw new ConfigInvalidError(result.errors.map((error) => formatConfigError(error, path)));
  return result.config;
}
