// Subject names of a clickpipe stream: `<S>.events.<partition>` for events, `<S>.dlq` for dead letters, and
// `<S>.customers.<partition>` for records a partitioned pipeline re-keys by customer.

export type SubjectKind = { kind: "events"; partition: number } | { kind: "customers"; partition: number } | { kind: "dlq" };

export function eventsSubject(stream: string, partition: number): string {
  return `${stream}.events.${partition}`;
}

export function dlqSubject(stream: string): string {
  return `${stream}.dlq`;
}

export function customersSubject(stream: string, partition: number): string {
  return `${stream}.customers.${partition}`;
}

/** The wildcard covering every customer partition of the stream. */
export function customersWildcard(stream: string): string {
  return `${stream}.customers.*`;
}

/** The wildcard covering every event partition of the stream. */
export function eventsWildcard(stream: string): string {
  return `${stream}.events.*`;
}

/** Classifies a subject of `stream`; undefined when it is not one of the stream's clickpipe subjects. */
export function parseSubject(stream: string, subject: string): SubjectKind | undefined {
  if (subject.length <= stream.length + 1 || !subject.startsWith(stream) || subject[stream.length] !== ".") {
    return undefined;
  }
  const rest = subject.slice(stream.length + 1);
  if (rest === "dlq") return { kind: "dlq" };
  const kind = rest.startsWith("events.") ? "events" : rest.startsWith("customers.") ? "customers" : undefined;
  if (kind === undefined) return undefined;
  const digits = rest.slice(kind.length + 1);
  if (!/^(0|[1-9][0-9]*)$/.test(digits)) return undefined;
  return { kind, partition: Number(digits) };
}
