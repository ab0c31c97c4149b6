// The `clickpipe` command line: one subcommand per verb of ARCHITECTURE.md.
import { asksForHelp } from "./asks-for-help.ts";
import { ConfigInvalidError } from "./config-invalid-error.ts";

const USAGE = `usage: clickpipe <command> [options]

commands:
  run <pipeline.yaml> [--drain] [--worker-id <id>] [--metrics-port <port|range>]  run a pipeline (drain: process the stream, flush, exit)
  validate <pipeline.yaml> [--print]                    check a pipeline file; --print shows it expanded, secrets redacted
  publish <file[.gz]> --pipeline <pipeline.yaml> [--format ndjson|combined|common|w3c|caddy|csv|'<log format>'] [--map …] [--delimiter …] [--null …] [--timezone …] [--sort-by-time]
  generate --visitors N --days D [--seed S] [--start date] [--truth truth.json] [--out file.ndjson | --pipeline p.yaml --rate R]
  mine patterns …  |  mine rules …                      exact batch mining (PrefixSpan, FP-Growth)
  inspect <dir> [--json]                                tables, partitions, rows and schemas of a Parquet output
  forget <user_id> --pipeline <pipeline.yaml>           erase a person from every table; later events are dropped
  train <training.yaml>                                 churn models (logistic, MLP, BG/NBD), segments, report
  score <training.yaml> --snapshot <date> [--follow] [--interval <s>]  customer scores, ranks, deciles and segments
  fit bgnbd --summary <csv> | --features <dir> --snapshot <date> [--time-unit day|week]
  demo                                                  the demo behind npm start
  monitor [--target host:port]… [--pipeline <pipeline.yaml>] [--port N] [--host addr] [--scrape-interval 5s]  a local Prometheus scraping the pipeline's workers (npm run monitor)`;

type Command = (argv: string[]) => Promise<number>;

/**
 * Commands that print a help of their own for --help (mine and fit: their subcommands' options, which their USAGE line
 * leaves out; demo: the variables that set it up; validate, train and score: what --print writes, what training
 * writes, --follow and where scores go, which a usage error printed and --help did not); the others get their lines
 * of USAGE.
 */
const OWN_HELP = new Set(["generate", "inspect", "monitor", "mine", "fit", "demo", "validate", "train", "score"]);
/** node:util parseArgs' errors for a command line it cannot read: a usage error (exit 2), not a failure (exit 1). */
const USAGE_ERRORS = new Set(["ERR_PARSE_ARGS_UNKNOWN_OPTION", "ERR_PARSE_ARGS_INVALID_OPTION_VALUE", "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL"]);

/** What a command's --help adds below its USAGE line: the syntax of options too long for it. */
const DETAILS: Record<string, string> = {
  publish: `--format csv needs --map: comma-separated field=source, a source being a constant (type=purchase), a column by
  number ($1) or by header name ($revenue: line 1 is then the header), with an optional parser :string, :number,
  :yyyymmdd, :iso, :epoch_ms, :epoch_s or :strptime(<pattern>); type and ts are required. ts may add columns up in
  milliseconds (ts=$eventdate:iso+$timeframe). --delimiter is , (default), tab, whitespace or any one character.
  --null NA reads fields holding exactly NA as NULL, as empty ones are.
  :strptime(%m/%d/%Y %H:%M) reads a date-time as DuckDB's strptime does (a pattern may hold , : and +, not
  parentheses): %Y %y %m %d %H %I %M %S %f %g %p %b %h %B %a %A %z %T %%, and %-m … as %m (1 or 2 digits either way).
  --timezone <IANA zone> is the zone of local date-times, those of a pattern without %z (default UTC) and ISO ones
  without an offset (:iso rejects these without --timezone): a time skipped in spring is moved forward by the gap,
  one repeated in autumn is the earlier instant. With --format caddy it is the zone of ts written as wall, wall_milli
  or wall_nano (Caddy's time_local: the server's zone), read the same way; default UTC, what Caddy writes without
  time_local (not this machine's zone).
  An order-line file (one row per item) maps each row's item as items.sku, items.category, items.price, items.qty, with
  type=purchase and order_id=$column: consecutive rows with one order_id become one purchase, revenue the sum of
  qty × price (or of a mapped revenue), event_id derived from the rows (leave it out of --map); a bad row
  dead-letters its order (README.md has the rules).
  A gzip (known by its first bytes, whatever its name) is read as the file it holds, with that file's batch ids; a
  truncated or damaged one publishes its complete lines before the damage, then fails naming the byte.
  --sort-by-time publishes in event-time order: a file out of that order by more than the operators' lateness needs
  it, or the events the watermark already passed go to late_events.
  e.g. clickpipe publish orders.csv --pipeline p.yaml --format csv --map 'type=purchase,user_id=$1,ts=$2:yyyymmdd,revenue=$4'
  UCI Online Retail (InvoiceDate 12/1/2010 8:26, UK time): clickpipe publish online_retail.csv --pipeline p.yaml
    --format csv --timezone Europe/London --map 'type=purchase,order_id=$InvoiceNo,ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M),
    user_id=$CustomerID,items.sku=$StockCode,items.qty=$Quantity,items.price=$UnitPrice'`,
};

/** The USAGE lines of one command, as `clickpipe <command> …`, and its DETAILS. */
export function commandUsage(name: string): string {
  const lines = USAGE.split("\n").filter((line) => line.startsWith(`  ${name} `) || line === `  ${name}`);
  // The description follows the last run of two or more spaces ("mine patterns …  |  mine rules …  exact …").
  const usage = lines.map((line) => `usage: clickpipe ${line.trim().replace(/^(.*\S) {2,}(\S.*)$/, "$1\n       $2")}`).join("\n");
  const details = DETAILS[name] === undefined ? "" : `\n  ${DETAILS[name]}`;
  return `${usage}${details}\n(README.md has the details)`;
}

const commands: Record<string, () => Promise<Command>> = {
  run: async () => (await import("./run.ts")).runRun,
  validate: async () => (await import("./validate.ts")).runValidate,
  publish: async () => (await import("./publish.ts")).runPublish,
  generate: async () => (await import("./generate.ts")).runGenerate,
  mine: async () => (await import("./mine.ts")).runMine,
  inspect: async () => (await import("./inspect.ts")).runInspect,
  forget: async () => (await import("./forget.ts")).runForget,
  train: async () => (await import("./train.ts")).runTrain,
  score: async () => (await import("./score.ts")).runScore,
  fit: async () => (await import("./fit.ts")).runFit,
  monitor: async () => (await import("./monitor.ts")).runMonitor,
  demo: async () => (await import("./demo.ts")).runDemo,
};

/**
 * A reader that stops early (`clickpipe generate | head`) closes stdout: the command ends quietly with 0, as one a
 * SIGPIPE stops would end without a word, instead of dying on an unhandled EPIPE with a stack (Node ignores SIGPIPE).
 * A reader of stderr gone is only a log gone: Ctrl-C in `npm start 2>&1 | tee demo.log` ends tee with the demo, whose
 * "SIGINT: stopping…" line then met a closed pipe and the unhandled EPIPE ended it before its last checkpoint (exit 1,
 * its lock left behind). Its log lines are lost from there on; the command goes on and exits as it would have.
 */
export function handleClosedOutput(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  process.stderr.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
  });
}

export async function main(argv: string[]): Promise<number> {
  handleClosedOutput();
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (load === undefined) {
    console.error(`clickpipe: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  // --help or -h anywhere (`clickpipe mine patterns --help`, `clickpipe run p.yaml -h`) prints the usage and does nothing.
  const help = asksForHelp(rest);
  if (help && !OWN_HELP.has(name)) {
    console.log(commandUsage(name));
    return 0;
  }
  try {
    const command = await load();
    return await command(help ? ["--help"] : rest);
  } catch (error) {
    if (error instanceof ConfigInvalidError) {
      for (const line of error.lines) console.error(line);
      return 1;
    }
    if (error instanceof TypeError && USAGE_ERRORS.has(String((error as NodeJS.ErrnoException).code))) {
      console.error(`clickpipe ${name}: ${error.message}\n${commandUsage(name)}`);
      return 2;
    }
    console.error(`clickpipe ${name}: ${(error as Error).message}`);
    return 1;
  }
}
