// node:util parseArgs, with its errors as one sentence that names the option and the fix ("unknown option --pipline:
// did you mean --pipeline?") instead of Node's text about positionals after "--".
import { parseArgs, type ParseArgsConfig } from "node:util";
import { closestMatch } from "../config/did-you-mean.ts";

/** The codes parseArgs throws for a command line it cannot read; the error keeps its code (main.ts exits 2 on them). */
const ARGS_ERROR = /^ERR_PARSE_ARGS_/;

/** parseArgs(config), throwing a TypeError with the same code and a readable message when it cannot read the line. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!(error instanceof TypeError) || code === undefined || !ARGS_ERROR.test(code)) throw error;
    throw Object.assign(new TypeError(commandLineProblem(error.message, code, config)), { code });
  }
}

/** Node's message for one of its ERR_PARSE_ARGS_* codes, said as what is wrong and what to write instead. */
export function commandLineProblem(message: string, code: string, config: ParseArgsConfig): string {
  const args = config.args ?? [];
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return unknownOptionProblem(quoted, args, config.options ?? {});
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return `unexpected argument "${quoted}": this command takes options only`;
  const option = /--[^\s'<>,]+/.exec(message)?.[0] ?? quoted;
  if (message.includes("does not take an argument")) return `${option} takes no value: write ${option} alone`;
  if (message.includes("ambiguous")) {
    // "--days -1": parseArgs takes a value starting with "-" for the next option, not for this one's value.
    const next = args[args.indexOf(option) + 1];
    if (next !== undefined && /^-\.?\d/.test(next)) {
      return `${option} ${next}: a value starting with "-" is read as an option; write ${option}=${next} to give it as the value`;
    }
    return `${option} is missing its value${next === undefined ? "" : ` (${next} after it is an option)`}`;
  }
  return `${option} is missing its value`;
}

function unknownOptionProblem(token: string, args: readonly string[], options: NonNullable<ParseArgsConfig["options"]>): string {
  // "-pipeline" is read as the short options -p -i …: the word the user wrote is the whole argument.
  const written = token.startsWith("--") ? token : (args.find((arg) => arg.startsWith(token) && !arg.startsWith("--")) ?? token);
  const word = written.replace(/^-+/, "").replace(/=.*$/, "");
  const names = Object.keys(options);
  const meant = names.includes(word) ? word : closestMatch(word, names);
  if (meant !== undefined) return `unknown option ${written.replace(/=.*$/, "")}: did you mean --${meant}?`;
  const taken = names.filter((name) => name !== "help").map((name) => `--${name}`);
  return `unknown option ${token}: ${taken.length === 0 ? "this command takes no options" : `this command takes ${taken.join(", ")}`}`;
}
