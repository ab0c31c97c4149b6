// An accessLog source's `instance`: the machine whose logs it reads, named in its position files, claims, batch ids and
// claim metrics, so that hosts sharing a sink path (and so the source's state folder) each tail their own log.

/** Longest instance name: it goes into file names (`access-log-<hash>@<instance>.json.<pid>.tmp` stays under 255 bytes). */
export const INSTANCE_MAX_LENGTH = 128;

// A host name's characters (RFC 1123, plus _): safe in a file name and a Nats-Msg-Id as they are, so no encoding hides
// whose position a file is; never "." or "..", since the first character is a letter or digit.
const INSTANCE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Why `name` cannot be an instance, or undefined. */
export function instanceProblem(name: string): string | undefined {
  if (name === "") return "an instance cannot be empty";
  if (name.length > INSTANCE_MAX_LENGTH) return `an instance has at most ${INSTANCE_MAX_LENGTH} characters, this one ${name.length}`;
  if (INSTANCE.test(name)) return undefined;
  const others = [...new Set([...name].filter((character) => !/[A-Za-z0-9._-]/.test(character)))];
  if (others.length === 0) return `"${name}" starts with "${name[0]}": an instance starts with a letter or a digit`;
  return `"${name}" holds ${others.map((character) => JSON.stringify(character)).join(", ")}: an instance has only letters, digits, ".", "_" and "-"`;
}

/**
 * The form of `name` in file names, ids and labels: lower case, as host names compare, so that two spellings of one
 * host share a claim, and a case-insensitive shared file system (SMB) cannot merge two instances that differ only in case.
 */
export function instanceKey(name: string): string {
  return name.toLowerCase();
}

/**
 * The `place` label of a tailer's clickpipe_source_claims series: its key (`sources[0]`), then `@<instance>` when it
 * has one. Still bounded (one place per source in a worker), and it keeps hosts apart where the standing-by alert
 * compares workers: a host's tailer standing by is not covered by another host's, active for its own log.
 */
export function claimPlace(place: string, instance: string | undefined): string {
  return instance === undefined ? place : `${place}@${instanceKey(instance)}`;
}
