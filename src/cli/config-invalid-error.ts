// A pipeline file that does not validate, with one printable line per error. Apart from load-config.ts, so the
// command line's entry (main.ts) names it without loading the config schemas (zod, every operator) at start.
export class ConfigInvalidError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join("\n"));
    this.name = "ConfigInvalidError";
  }
}
