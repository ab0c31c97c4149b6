// `clickpipe forget <user_id> --pipeline p.yaml`: erases a person from every Parquet table and tombstones their ids.
import { dirname, relative, sep } from "node:path";
import { parseCommandLine } from "./parse-command-line.ts";
import type { PipelineConfig } from "../config/pipeline.ts";
import { PSEUDONYM_KEY_ENV, PseudonymKeyMissingError, pseudonymize } from "../ingest/privacy.ts";
import { forEachInParallel } from "../runtime/in-parallel.ts";
import { addTombstones, FORGOTTEN_ROW_COLUMNS, personIdsInRaw, tombstonesFile, type TombstoneEntry } from "../runtime/tombstones.ts";
import type { ParquetCompression } from "../sinks/parquet-encoder.ts";
import { parquetFilesUnder, partVersion, readPartProjection, removeRowsFromPart, type PartVersion } from "../sinks/parquet-rewrite.ts";
import type { Row } from "../sinks/table.ts";
import { loadPipelineOrThrow } from "./load-config.ts";

/** Parts `forget` screens, and reads and rewrites, at once: their file system calls and fsyncs overlap (bench/OPTIMIZATIONS.md, session 37). */
const READS_AT_ONCE = 8;
const REWRITES_AT_ONCE = 4;

export const forgetUsage = "usage: clickpipe forget <user_id> --pipeline <pipeline.yaml>";

export async function runForget(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, allowPositionals: true, options: { pipeline: { type: "string" } } });
  if (positionals.length !== 1 || positionals[0] === "" || values.pipeline === undefined) {
    const reason =
      positionals.length > 1 ? "name one user_id" : positionals.length === 0 || positionals[0] === "" ? "name the user_id to erase" : "--pipeline <pipeline.yaml> is required";
    console.error(`clickpipe forget: ${reason}\n${forgetUsage}`);
    return 2;
  }
  const config = await loadPipelineOrThrow(values.pipeline, env);
  const sink = config.sinks.find((candidate) => candidate.type === "parquet");
  if (sink === undefined || sink.type !== "parquet") throw new Error("the pipeline has no parquet sink");
  const summary = await forgetPerson({
    sinkPath: sink.path,
    pipelineName: config.name,
    userId: storedUserId(positionals[0], config, env),
    givenUserId: positionals[0],
    compression: sink.compression,
    rowGroupSize: sink.rowGroupSize,
  });
  for (const line of describeForget(summary)) console.log(line);
  return 0;
}

/** The user id as the tables hold it: its pseudonym when the pipeline pseudonymizes user_id. */
export function storedUserId(userId: string, config: PipelineConfig, env: NodeJS.ProcessEnv): string {
  if (!config.ingest.privacy.pseudonymize.includes("user_id")) return userId;
  const key = env[PSEUDONYM_KEY_ENV];
  if (key === undefined || key === "") {
    throw new PseudonymKeyMissingError(
      `the pipeline pseudonymizes user_id, so forget needs the same ${PSEUDONYM_KEY_ENV} to find the person's rows`,
    );
  }
  return pseudonymize(userId, key);
}

export interface ForgetOptions {
  sinkPath: string;
  pipelineName: string;
  /** Stored form (see storedUserId). */
  userId: string;
  /** The id as given: dead letters written before privacy reached them may quote it in their raw text. */
  givenUserId?: string;
  compression: ParquetCompression;
  rowGroupSize: number;
  now?: number;
  /** Test-only: runs after the tombstones are written, before the parts are rewritten (a worker's commit landing there). */
  beforeRewrites?: () => Promise<void>;
}

export interface TableChange {
  rowsRemoved: number;
  filesRewritten: number;
  filesDeleted: number;
}

export interface ForgetSummary {
  /** Tables that lost rows, by name. */
  tables: Map<string, TableChange>;
  /** Visitor ids (sessions' visitor_id, events' anon_id) that rows of this user carried. */
  visitorIds: number;
  tombstonesAdded: number;
  tombstoneFile: string;
}

/**
 * Two passes over every `*.parquet` under the sink path: the first collects the visitor ids the user's rows carry
 * (sessions before an identify carry only the visitor) and which parts have person columns, then the ids become
 * tombstones, then the second removes every row naming the user or one of those visitors from those parts and
 * rewrites each affected file atomically. Both passes read the person columns only (a part with none is read no
 * further than its footer), the second only of parts that changed since the first or name the person; a part is
 * decoded whole only to be rewritten. Running it again finds nothing.
 */
export async function forgetPerson(options: ForgetOptions): Promise<ForgetSummary> {
  const files = await parquetFilesUnder(options.sinkPath);
  const userIds = new Set([options.userId]);
  const visitorIds = new Set<string>();
  // Parts with rows in a person column, with those columns and the file version they were read from: the only parts
  // the second pass looks at again (a part keeps its schema when rewritten).
  const screened = new Map<string, { rows: Row[]; version: PartVersion }>();
  // Folders of listed parts that vanished before they were read or rewritten: a worker's compaction merged them into a
  // part named after it (renamed into place before its inputs are deleted), which the list does not hold.
  const vanishedIn = new Set<string>();
  await forEachInParallel(files, READS_AT_ONCE, async (file) => {
    const read = await readPartProjection(file, FORGOTTEN_ROW_COLUMNS).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined; // rewritten away meanwhile
      throw error;
    });
    if (read === undefined) vanishedIn.add(dirname(file));
    if (read === undefined || read.rows.length === 0) return;
    screened.set(file, read);
    for (const row of read.rows) {
      if (row.user_id !== options.userId) continue;
      for (const column of ["visitor_id", "anon_id"]) if (typeof row[column] === "string") visitorIds.add(row[column]);
    }
  });
  // Tombstones first: a live worker reloads them within a second, drops the person from then on and erases them from
  // what it commits after this moment; the removal below covers everything committed before it.
  const forgottenAt = options.now ?? Date.now();
  const entries: TombstoneEntry[] = [
    { id: options.userId, kind: "user_id", forgottenAt },
    ...[...visitorIds].sort().map((id): TombstoneEntry => ({ id, kind: "visitor_id", forgottenAt })),
  ];
  const tombstonesAdded = await addTombstones(options.sinkPath, options.pipelineName, entries);
  const quotedInDeadLetters = new Set([options.userId, options.givenUserId ?? options.userId]);
  const names = personMatcher(userIds, visitorIds, quotedInDeadLetters);
  await options.beforeRewrites?.();
  const tables = new Map<string, TableChange>();
  // A few parts at once: one part's write and fsyncs (file, then folder) overlap the next one's decoding and encoding.
  const rewrite = async (file: string, named: boolean): Promise<void> => {
    const removed = await removeRowsFromPart(file, names, options, FORGOTTEN_ROW_COLUMNS, named);
    if (removed === undefined) vanishedIn.add(dirname(file));
    if (removed === undefined || removed.rowsRemoved === 0) return;
    const table = relative(options.sinkPath, file).split(sep)[0];
    const change = tables.get(table) ?? { rowsRemoved: 0, filesRewritten: 0, filesDeleted: 0 };
    change.rowsRemoved += removed.rowsRemoved;
    if (removed.deleted) change.filesDeleted++;
    else change.filesRewritten++;
    tables.set(table, change);
  };
  await forEachInParallel(files.filter((file) => screened.has(file)), REWRITES_AT_ONCE, async (file) => {
    // A part the first pass read, still the same file, in which no row names the person: nothing to read again. Any
    // other is read again after the tombstones (a live worker may have rewritten it meanwhile).
    const first = screened.get(file)!;
    const named = first.rows.some(names);
    if (!named && (await partVersion(file)) === first.version) return;
    await rewrite(file, named);
  });
  // The merged parts that took in vanished ones were renamed into place before those were deleted: they are here now.
  const listed = new Set(files);
  for (const directory of [...vanishedIn].sort()) {
    const added = (await parquetFilesUnder(directory)).filter((file) => !listed.has(file));
    await forEachInParallel(added, REWRITES_AT_ONCE, (file) => rewrite(file, false));
  }
  return { tables, visitorIds: visitorIds.size, tombstonesAdded, tombstoneFile: tombstonesFile(options.sinkPath, options.pipelineName) };
}

/**
 * Whether a row names the person: user or customer id, one of their visitors, or, in a dead letter's raw text, a user
 * or customer id among `textIds` (the stored pseudonym and the id as given) or one of their visitors in a visitor field.
 * Only person fields count: the same text as an order id or a referrer code is someone else's record.
 */
export function personMatcher(
  userIds: ReadonlySet<string>,
  visitorIds: ReadonlySet<string>,
  textIds: ReadonlySet<string>,
): (row: Row) => boolean {
  return (row) => {
    if (typeof row.user_id === "string" && userIds.has(row.user_id)) return true;
    if (typeof row.customer_id === "string" && userIds.has(row.customer_id)) return true;
    if (typeof row.visitor_id === "string" && visitorIds.has(row.visitor_id)) return true;
    if (typeof row.anon_id === "string" && visitorIds.has(row.anon_id)) return true;
    if (typeof row.raw !== "string") return false;
    return personIdsInRaw(row.raw).some(({ field, id }) =>
      field === "user_id" || field === "customer_id" ? textIds.has(id) || userIds.has(id) : visitorIds.has(id),
    );
  };
}

export function describeForget(summary: ForgetSummary): string[] {
  const lines: string[] = [];
  for (const [table, change] of [...summary.tables].sort(([a], [b]) => (a < b ? -1 : 1))) {
    lines.push(`${table}: ${change.rowsRemoved} rows removed, ${change.filesRewritten} files rewritten, ${change.filesDeleted} files deleted`);
  }
  if (lines.length === 0) lines.push("no rows name this person: nothing removed");
  lines.push(
    summary.tombstonesAdded === 0
      ? `tombstones already hold this person (${summary.tombstoneFile})`
      : `${plural(summary.tombstonesAdded, "tombstone")} recorded (1 user id, ${plural(summary.visitorIds, "visitor id")}) in ${summary.tombstoneFile}; ` +
          "a running worker drops them within a second, also from what it had not committed yet; a stopped one when it starts",
  );
  return lines;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
