// Config errors as people read them: `operators[1].gap (pipelines/web.yaml:14:5): expected a duration like "30m". hint`.

/** One problem in a pipeline file, located by its key path and (when known) its line and column. */
export interface ConfigError {
  /** Key path in the file, e.g. "operators[1].gap"; "" for the file as a whole. */
  path: string;
  /** 1-based line in the file. */
  line?: number;
  /** 1-based column in the file. */
  column?: number;
  message: string;
  /** What to do about it. */
  hint?: string;
}

/** Renders ["operators", 1, "gap"] as "operators[1].gap". */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else text += text === "" ? String(segment) : `.${String(segment)}`;
  }
  return text;
}

/** One line per error: `path (file:line:col): message. hint`. */
export function formatConfigError(error: ConfigError, fileName: string): string {
  const place = error.line === undefined ? fileName : `${fileName}:${error.line}:${error.column ?? 1}`;
  const where = error.path === "" ? place : `${error.path} (${place})`;
  const message = error.hint === undefined ? error.message : `${withFullStop(error.message)} ${error.hint}`;
  return `${where}: ${message}`;
}

/** A warning as an error's line, marked: `nats.url (p.yaml:3:3): warning: …`. */
export function formatConfigWarning(warning: ConfigError, fileName: string): string {
  return formatConfigError({ ...warning, message: `warning: ${warning.message}` }, fileName);
}

function withFullStop(sentence: string): string {
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}
