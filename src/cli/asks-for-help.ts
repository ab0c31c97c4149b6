// Whether a command line asks for a command's usage: --help or -h anywhere among its arguments, as most tools read them.

/** True for --help or -h before a "--" (after it every argument is an operand, e.g. a file named -h). */
export function asksForHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === "--help" || arg === "-h") return true;
  }
  return false;
}
