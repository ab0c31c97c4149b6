// `clickpipe validate <pipeline.yaml> [--print]`: checks a pipeline file and names every error's key path and line.
import { parseCommandLine } from "./parse-command-line.ts";
import type { Environment } from "../config/env.ts";
import { formatConfigError, formatConfigWarning, loadPipeline } from "../config/load.ts";
import type { PipelineConfig } from "../config/pipeline.ts";
import { printPipeline } from "../config/print.ts";
import { asksForHelp } from "./asks-for-help.ts";

export const validateUsage =
  "usage: clickpipe validate <pipeline.yaml> [--print]\n" +
  "  --print  the config as YAML after ${VAR} expansion and defaults, secrets redacted: a secret given as ${VAR} prints\n" +
  "           as that reference, one written in the file as <redacted>, which must be filled in before the output validates";

export interface ValidateIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Environment;
}

const processIo: ValidateIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };

/** Exit code 0 when valid (warnings, if any, on stderr), 1 with one line per error, 2 for a usage error. */
export async function runValidate(argv: string[], io: ValidateIo = processIo): Promise<number> {
  if (asksForHelp(argv)) {
    io.stdout.write(`${validateUsage}\n`);
    return 0;
  }
  let file: string;
  let print: boolean;
  try {
    const { values, positionals } = parseCommandLine({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { print: { type: "boolean", default: false } },
    });
    if (positionals.length !== 1) throw new Error(positionals.length === 0 ? "name a pipeline file" : "name one pipeline file");
    file = positionals[0];
    print = values.print;
  } catch (error) {
    io.stderr.write(`clickpipe validate: ${(error as Error).message}\n${validateUsage}\n`);
    return 2;
  }
  const result = await loadPipeline(file, io.env);
  // On stderr, so that --print's stdout stays the YAML alone.
  for (const warning of result.warnings ?? []) io.stderr.write(`${formatConfigWarning(warning, file)}\n`);
  if (!result.ok) {
    for (const error of result.errors) io.stderr.write(`${formatConfigError(error, file)}\n`);
    return 1;
  }
  // With --print, stdout carries only the YAML (so it can be saved and, its redacted secrets filled in, validated again).
  if (print) {
    io.stdout.write(printPipeline(result.config, result.textBeforeExpansion));
    io.stderr.write(`${summary(result.config)}\n`);
  } else {
    io.stdout.write(`${summary(result.config)}\n`);
  }
  return 0;
}

/** "ok: web (4 operators: sessionize, …; 2 sources: http, accessLog; 1 sink: parquet; metrics on :9464)". */
export function summary(config: PipelineConfig): string {
  const parts = [
    counted(config.operators.length, "operator", config.operators.map((operator) => operator.type)),
    counted(config.sources?.length ?? 0, "source", (config.sources ?? []).map((source) => source.type)),
    counted(config.sinks.length, "sink", config.sinks.map((sink) => sink.type)),
    config.metrics === undefined
      ? "no metrics server"
      : typeof config.metrics.port === "number"
        ? `metrics on ${config.metrics.host}:${config.metrics.port}`
        : `metrics on ${config.metrics.host}, the first free port of ${config.metrics.port}`,
  ];
  return `ok: ${config.name} (${parts.join("; ")})`;
}

function counted(count: number, noun: string, names: string[]): string {
  const label = `${count === 0 ? "no" : count} ${noun}${count === 1 ? "" : "s"}`;
  return names.length === 0 ? label : `${label}: ${names.join(", ")}`;
}
