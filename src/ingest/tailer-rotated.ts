// The files rotation left beside a log path (logrotate's `name.N[.gz]`, dateext's `name-YYYYMMDD[.gz]`), in the order they were rotated.
import { open, readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { decompressedStart } from "./tailer-compressed.ts";
import { positionHash } from "./tailer-position.ts";

export interface RotatedFile {
  /** Its path. */
  file: string;
  /** `<dev>:<ino>`, as TailPosition.file. */
  identity: string;
  /** Last modification in nanoseconds; gzip gives the `.gz` the original's. */
  modifiedNs: bigint;
  /** A gzip is read through its decompressed stream; another compression (bz2, xz, zst…) cannot be read. */
  compression: "none" | "gzip" | "other";
}

/** What is known of the file read last, to tell which rotated files came after it. */
export interface FinishedFile {
  /** `<dev>:<ino>` of the file itself (of the `.gz` when that was read). */
  identity: string;
  modifiedNs: bigint;
  /** TailPosition.head and headBytes of what was read from it (absent when nothing was). */
  head?: string;
  headBytes?: number;
}

interface RotatedName {
  scheme: "numbered" | "dated";
  /** numbered: N of `name.N`, older as it grows; dated: the date text, older as it sorts lower. */
  key: number | string;
  compression: RotatedFile["compression"];
}

const COMPRESSED_SUFFIX = /\.(gz|bz2|xz|zst|lz4|lzma|Z)$/;
const NUMBERED = /^\.(\d+)$/;
/** dateext's `-%Y%m%d` and other dateformats of digits and separators (`-%Y-%m-%d`, `-%Y%m%d%H`, `-%s`). */
const DATED = /^-(\d(?:[\d._:-]*\d)?)$/;

function rotatedNameOf(base: string, name: string): RotatedName | undefined {
  if (!name.startsWith(base)) return undefined;
  let rest = name.slice(base.length);
  const suffix = COMPRESSED_SUFFIX.exec(rest);
  const compression = suffix === null ? "none" : suffix[1] === "gz" ? "gzip" : "other";
  if (suffix !== null) rest = rest.slice(0, suffix.index);
  const numbered = NUMBERED.exec(rest);
  if (numbered !== null) return { scheme: "numbered", key: Number(numbered[1]), compression };
  const dated = DATED.exec(rest);
  if (dated !== null) return { scheme: "dated", key: dated[1], compression };
  return undefined;
}

/** Older first by name: a higher number, an earlier date (logrotate requires dateformats that sort as text). */
function compareNames(a: RotatedName, b: RotatedName): number {
  // Both schemes at once only after a change of configuration, with times that tie: any fixed order will do.
  if (a.scheme !== b.scheme) return a.scheme === "dated" ? -1 : 1;
  if (a.scheme === "numbered") return (b.key as number) - (a.key as number);
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * The rotated files of `path`, oldest first. Ordered by modification time (a file's last write: the server moved on to
 * the next file after it), ties broken by name, so a file system with coarse timestamps still gets logrotate's order.
 * A compressed file beside its uncompressed original (the same name but for `.gz`) is left out: gzip is still writing
 * it, and removes the original once it is whole.
 */
export async function rotatedFilesOf(path: string): Promise<RotatedFile[]> {
  const directory = dirname(path);
  const base = basename(path);
  const found: { file: RotatedFile; name: RotatedName }[] = [];
  for (const entry of await readdir(directory)) {
    const name = rotatedNameOf(base, entry);
    if (name === undefined) continue;
    const file = join(directory, entry);
    const stats = await stat(file, { bigint: true }).catch(() => undefined);
    if (stats === undefined || !stats.isFile()) continue;
    found.push({ file: { file, identity: `${stats.dev}:${stats.ino}`, modifiedNs: stats.mtimeNs, compression: name.compression }, name });
  }
  const uncompressed = new Set(found.filter(({ name }) => name.compression === "none").map(({ name }) => `${name.scheme}:${name.key}`));
  return found
    .filter(({ name }) => name.compression === "none" || !uncompressed.has(`${name.scheme}:${name.key}`))
    .sort((a, b) => (a.file.modifiedNs < b.file.modifiedNs ? -1 : a.file.modifiedNs > b.file.modifiedNs ? 1 : compareNames(a.name, b.name)))
    .map(({ file }) => file);
}

/**
 * The rotated files of `path` that came after `finished`, oldest first, without copies of it (its own gzip; a copy
 * of the same start). It is found among them by identity, else by its start (it was compressed after it was read:
 * gzip keeps its modification time); a file found neither way (deleted, or named otherwise) is placed by its
 * modification time alone.
 */
export async function rotatedAfter(path: string, finished: FinishedFile): Promise<RotatedFile[]> {
  const files = await rotatedFilesOf(path);
  let at = files.findIndex((file) => file.identity === finished.identity);
  // Deleting a file frees its inode for the next file made (gzip deletes what it compressed): an identity is the file
  // read last only when it was not written since (a rename keeps the modification time; a copy that took the inode
  // has the same start and a later time) and its start agrees too, wherever that start can be read.
  if (at !== -1 && files[at].modifiedNs !== finished.modifiedNs) at = -1;
  if (at !== -1 && startCanBeRead(files[at], finished) && !(await startsAs(files[at], finished))) at = -1;
  // Compressed after it was read: gzip keeps the modification time, which a later copy of it does not have.
  for (let index = 0; at === -1 && index < files.length; index++) {
    if (files[index].modifiedNs === finished.modifiedNs && (await startsAs(files[index], finished))) at = index;
  }
  // Else newest first, down to its modification time: a copy of it is no older than its last write.
  for (let index = files.length - 1; at === -1 && index >= 0 && files[index].modifiedNs >= finished.modifiedNs; index--) {
    if (await startsAs(files[index], finished)) at = index;
  }
  const after = at === -1 ? files.filter((file) => file.modifiedNs > finished.modifiedNs) : files.slice(at + 1);
  const newer: RotatedFile[] = [];
  for (const file of after) if (!(await startsAs(file, finished))) newer.push(file);
  return newer;
}

/**
 * The newest rotated file of `path` other than `except` whose start is the one a position saw: where copytruncate
 * (or a rotation whose file's inode the new file took) left the lines of the file the position was read from.
 */
export async function findCopy(path: string, seen: Pick<FinishedFile, "head" | "headBytes">, except: string): Promise<RotatedFile | undefined> {
  const files = await rotatedFilesOf(path);
  for (let index = files.length - 1; index >= 0; index--) {
    if (files[index].identity !== except && (await startsAs(files[index], seen))) return files[index];
  }
  return undefined;
}

/** A position with no bytes read cannot be recognized (every file starts with zero bytes), nor a file not plain or gzip. */
function startCanBeRead(file: RotatedFile, { head, headBytes }: Pick<FinishedFile, "head" | "headBytes">): boolean {
  return head !== undefined && headBytes !== undefined && headBytes !== 0 && file.compression !== "other";
}

/** True when the file's first `headBytes` bytes (decompressed for a gzip) hash to `head`. */
async function startsAs(file: RotatedFile, { head, headBytes }: Pick<FinishedFile, "head" | "headBytes">): Promise<boolean> {
  if (head === undefined || headBytes === undefined || !startCanBeRead(file, { head, headBytes })) return false;
  const start = file.compression === "gzip" ? await decompressedStart(file.file, headBytes) : await plainStart(file.file, headBytes);
  return start !== undefined && start.length === headBytes && positionHash(start) === head;
}

async function plainStart(file: string, length: number): Promise<Buffer | undefined> {
  const handle = await open(file, "r").catch(() => undefined);
  if (handle === undefined) return undefined;
  try {
    const bytes = Buffer.alloc(length);
    const { bytesRead } = await handle.read(bytes, 0, length, 0);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
