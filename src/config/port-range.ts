// A listener's port as the pipeline file gives it: one port, or a range ("9464-9467") of which each worker on a host
// takes the first free port, as Flink's Prometheus reporter does with metrics.reporter.prom.port.
import { z } from "zod";

/** The ports a worker tries, in order: first, first + 1, …, last. */
export interface PortRange {
  first: number;
  last: number;
}

/** At most this many ports in a range: one per worker on a host is enough, and the monitor scrapes each of them. */
export const MAX_PORTS_IN_RANGE = 256;

const RANGE = /^\s*(\d+)\s*-\s*(\d+)\s*$/;
const RANGE_HINT = "Write one port (9464), or a range (9464-9467) of which each worker on a host takes the first free port.";

export interface PortRangeProblem {
  message: string;
  hint: string;
  /** Set when the text is a number in quotes: the loader then says the quotes made it text. */
  expected?: "number";
}

/** The range `text` names ("9464-9467": 9464 to 9467), or what is wrong with it, and how to write it. */
export function parsePortRange(text: string): PortRange | PortRangeProblem {
  if (/^\s*\d+\s*$/.test(text)) return { message: `expected a number, got the text "${text}"`, hint: "Write the port without quotes.", expected: "number" };
  const match = RANGE.exec(text);
  if (match === null) return { message: `expected a port or a range like "9464-9467", got "${text}"`, hint: RANGE_HINT };
  const [first, last] = [Number(match[1]), Number(match[2])];
  if (first < 1 || last > 65535) {
    return { message: `range "${text}" reaches outside ports 1-65535`, hint: "Port 0 (a free port the system picks) stands alone, not in a range." };
  }
  if (first > last) return { message: `range "${text}" runs backwards`, hint: `Write the lower port first: ${last}-${first}.` };
  const count = last - first + 1;
  if (count > MAX_PORTS_IN_RANGE) {
    return {
      message: `range "${text}" holds ${count} ports, more than ${MAX_PORTS_IN_RANGE}`,
      hint: `One port per worker on a host is enough (${first}-${first + 7} for 8), and clickpipe monitor scrapes each port of the range.`,
    };
  }
  return { first, last };
}

export function isPortRange(value: PortRange | PortRangeProblem): value is PortRange {
  return "first" in value;
}

/** A validated port or range: the number itself, or the range its text names. */
export function portsOf(value: number | string): number | PortRange {
  if (typeof value === "number") return value;
  const range = parsePortRange(value);
  if (!isPortRange(range)) throw new Error(`${value}: ${range.message}`);
  return range;
}

/** The ports a port or range covers, as a range (a port p: p-p). */
export function portSpan(value: number | string): PortRange {
  const ports = portsOf(value);
  return typeof ports === "number" ? { first: ports, last: ports } : ports;
}

/** A port 0-65535 (0: a free port the system picks) or a range "first-last" within 1-65535; `fallback` when omitted. */
export function portOrRange(fallback: number) {
  return z
    .union([
      z.number().int().min(0).max(65535),
      z.string().superRefine((text, ctx) => {
        const range = parsePortRange(text);
        if (!isPortRange(range)) ctx.addIssue({ code: "custom", message: range.message, params: { hint: range.hint, expected: range.expected } });
      }),
    ])
    .default(fallback);
}
