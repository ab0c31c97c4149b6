// Tombstones of `clickpipe forget`: the ids of erased people, kept beside the checkpoint so their later events and rows are dropped.
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type { ClickEvent } from "../events/event.ts";
import type { Row } from "../sinks/table.ts";
import { syncDirectory } from "./checkpoint.ts";

export type TombstoneKind = "user_id" | "visitor_id";

export interface TombstoneEntry {
  /** The id as the tables store it: the pseudonym when privacy.pseudonymize covers the field, else the id itself. */
  id: string;
  kind: TombstoneKind;
  /** Epoch milliseconds of the `forget` that recorded it. */
  forgottenAt: number;
}

interface TombstoneFile {
  format: 1;
  entries: TombstoneEntry[];
}

/** `<sink path>/_checkpoints/<pipeline>/tombstones.json`, beside checkpoint.json. */
export function tombstonesFile(sinkPath: string, pipelineName: string): string {
  return join(sinkPath, "_checkpoints", pipelineName, "tombstones.json");
}

export async function loadTombstoneEntries(sinkPath: string, pipelineName: string): Promise<TombstoneEntry[]> {
  let text: string;
  try {
    text = await readFile(tombstonesFile(sinkPath, pipelineName), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return (JSON.parse(text) as TombstoneFile).entries;
}

/** Every forgotten id (user ids and visitor ids alike: the two never collide in practice, and one set keeps the check cheap). */
export async function loadTombstones(sinkPath: string, pipelineName: string): Promise<Set<string>> {
  return new Set((await loadTombstoneEntries(sinkPath, pipelineName)).map((entry) => entry.id));
}

/** Adds the entries not already there (write, fsync, rename, fsync the folder); returns how many were new. */
export async function addTombstones(sinkPath: string, pipelineName: string, entries: readonly TombstoneEntry[]): Promise<number> {
  const existing = await loadTombstoneEntries(sinkPath, pipelineName);
  const known = new Set(existing.map((entry) => `${entry.kind}\u0000${entry.id}`));
  const added = entries.filter((entry) => !known.has(`${entry.kind}\u0000${entry.id}`));
  if (added.length === 0) return 0;
  const file = tombstonesFile(sinkPath, pipelineName);
  const directory = join(sinkPath, "_checkpoints", pipelineName);
  await mkdir(directory, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  const handle = await open(temporary, "w");
  try {
    const content: TombstoneFile = { format: 1, entries: [...existing, ...added] };
    await handle.writeFile(JSON.stringify(content, null, 1));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  await syncDirectory(directory);
  return added.length;
}

/** True when the event belongs to a forgotten person: its user_id, or the visitor (anon_id) forget found for them. */
export function isForgotten(event: ClickEvent, tombstones: ReadonlySet<string>): boolean {
  if (tombstones.size === 0) return false;
  return (event.user_id !== undefined && tombstones.has(event.user_id)) || (event.anon_id !== undefined && tombstones.has(event.anon_id));
}

const PERSON_COLUMNS = ["user_id", "customer_id", "visitor_id", "anon_id"] as const;

/** Every column isForgottenRow reads (a dead letter's `raw` text too): all a part needs to be screened by. */
export const FORGOTTEN_ROW_COLUMNS: readonly string[] = [...PERSON_COLUMNS, "raw"];

/** True when a session version belongs to a forgotten person: its user_id or its visitor. */
export function isForgottenSession(session: { user_id: string | null; visitor_id: string }, tombstones: ReadonlySet<string>): boolean {
  return (session.user_id !== null && tombstones.has(session.user_id)) || tombstones.has(session.visitor_id);
}

/**
 * True when an output row names a forgotten person in any of its person columns (state restored from a checkpoint may
 * still emit them), or, for a dead letter, in a person field of its raw text.
 */
export function isForgottenRow(row: Row, tombstones: ReadonlySet<string>): boolean {
  if (tombstones.size === 0) return false;
  for (const column of PERSON_COLUMNS) {
    const value = row[column];
    if (typeof value === "string" && tombstones.has(value)) return true;
  }
  return typeof row.raw === "string" && isForgottenRaw(row.raw, tombstones);
}

// `"<person field>": "<value>"` or a bare number, in JSON however broken (a dead letter's raw text).
const RAW_PERSON_FIELD = /"(user_id|customer_id|visitor_id|anon_id)"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))/g;

/**
 * The person ids a dead letter's raw text carries in its person fields (user_id, customer_id, visitor_id, anon_id),
 * by field. Only those fields count: the same text elsewhere in the record (an order id, a referrer code) is not the person.
 */
export function personIdsInRaw(raw: string): { field: (typeof PERSON_COLUMNS)[number]; id: string }[] {
  const found: { field: (typeof PERSON_COLUMNS)[number]; id: string }[] = [];
  if (!raw.includes("_id")) return found;
  for (const match of raw.matchAll(RAW_PERSON_FIELD)) {
    const field = match[1] as (typeof PERSON_COLUMNS)[number];
    found.push({ field, id: match[2] !== undefined ? unescapeJson(match[2]) : match[3] });
  }
  return found;
}

/** True when a dead letter's raw text names a forgotten person in one of its person fields. */
export function isForgottenRaw(raw: string, tombstones: ReadonlySet<string>): boolean {
  if (tombstones.size === 0) return false;
  return personIdsInRaw(raw).some(({ id }) => tombstones.has(id));
}

function unescapeJson(value: string): string {
  if (!value.includes("\\")) return value;
  try {
    return JSON.parse(`"${value}"`) as string;
  } catch {
    return value;
  }
}
