// Numbered access-log lines for tailer tests: each line's path names it (/page/<n>), so the stream can be checked line by line.

/** A combined-format line for request `n`; `agent` tells one test's lines from another's. */
export function accessLogLine(n: number, agent: string): string {
  return `10.0.${(n >> 8) & 255}.${n & 255} - - [17/May/2015:10:05:${String(n % 60).padStart(2, "0")} +0000] "GET /page/${n} HTTP/1.1" 200 ${100 + n} "-" "Mozilla/5.0 (X11; Linux x86_64) ${agent}"`;
}

/** Lines `from` … `to - 1` of `line`, each ending in a newline. */
export function accessLogText(from: number, to: number, line: (n: number) => string): string {
  let text = "";
  for (let n = from; n < to; n++) text += `${line(n)}\n`;
  return text;
}
