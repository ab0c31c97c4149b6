// Loads a pipeline file for a CLI command, printing every config error with its place in the file.
import { formatConfigError, formatConfigWarning, loadPipeline } from "../config/load.ts";
import type { PipelineConfig } from "../config/pipeline.ts";
import { ConfigInvalidError } from "./config-invalid-error.ts";

/**
 * `warn` gets each warning's line (a key left out because its variable is set but empty); by default it is printed
 * on stderr, so every command that loads a pipeline says it, once per load, as validate does.
 */
export async function loadPipelineOrThrow(path: string, env: NodeJS.ProcessEnv = process.env, warn: (line: string) => void = warnOnStderr): Promise<PipelineConfig> {
  const result = await loadPipeline(path, env);
  for (const warning of result.warnings ?? []) warn(formatConfigWarning(warning, path));
  if (!result.ok) throw new ConfigInvalidError(result.errors.map((error) => formatConfigError(error, path)));
  return result.config;
}

function warnOnStderr(line: string): void {
  process.stderr.write(`${line}\n`);
}
