// Access-log lines prepared on parse threads and completed in file order on the publishing thread.
//
// Edge processing of a log line is stateless but for the bot rules that count a visitor's requests (rate,
// /robots.txt): those must see the lines in file order. So parse threads each take whole pieces of the file and do
// everything else (parse, page filter, visitor id, event id, user-agent checks, privacy, JSON), and the publishing
// thread completes each page view with its bot fields, piece by piece in file order (EdgeProcessor.prepareAccessLine).
// What crosses threads is the JSON as bytes in shared memory, each distinct visitor once, and columns of numbers, one
// message per slice of a piece.
import type { BotReason } from "../ingest/bots.ts";
import type { EdgeProcessor, PreparedPageView, PreparedRobotsTxt } from "../ingest/edge.ts";
import type { IngestCounts, RecordSink } from "../ingest/record-publisher.ts";
import type { DeadLetter } from "../transport/dead-letter.ts";

/** The prepared lines of one slice of a piece of the file, in line order, as columns. */
export interface PreparedSlice {
  /** The piece's number in the file (0, 1, …). */
  piece: number;
  /** Whether this is the piece's last slice; a piece's dead letters come with its last slice. */
  last: boolean;
  /**
   * The page views' JSON up to their bot fields, as UTF-8, one after another: line i's is `ends[i - 1]`…`ends[i]`
   * (from 0 for the first), empty for a robots.txt request. Usually a view of the piece's shared output buffer.
   */
  json: Uint8Array;
  ends: Uint32Array;
  /** The slice's distinct visitors (bot detector keys), each once; line i's is `visitors[visitorOf[i]]`. */
  visitors: string[];
  visitorOf: Uint32Array;
  ts: Float64Array;
  /** ROBOTS_TXT_REQUEST, ROBOTS_TXT_PATH and the user agent's bot reason (code × REASON_SHIFT). */
  flags: Uint8Array;
  partitions: Uint32Array;
  deadLetters: DeadLetter[];
  /** SHA-256 of the whole piece, in its first slice (ChunkIds.nextOf). */
  pieceDigest?: Uint8Array;
}

/** Where completed page views go (BatchPublisher): as bytes, and dead letters. */
export interface PreparedTarget {
  addBytes(source: Uint8Array, start: number, end: number, suffix: Uint8Array, partition: number): Promise<void> | void;
  addDeadLetter(letter: DeadLetter): Promise<void> | void;
}

/** A robots.txt request the page filter left out: it only marks its visitor. */
const ROBOTS_TXT_REQUEST = 1;
/** A page view of /robots.txt. */
const ROBOTS_TXT_PATH = 2;
const REASON_SHIFT = 4;
const USER_AGENT_REASONS: readonly (BotReason | undefined)[] = [undefined, "empty_user_agent", "user_agent"];

function flagsOf(prepared: PreparedPageView): number {
  const reason = USER_AGENT_REASONS.indexOf(prepared.userAgentReason);
  if (reason < 0) throw new RangeError(`a user agent alone cannot give the bot reason ${prepared.userAgentReason}`);
  return (prepared.robotsTxt ? ROBOTS_TXT_PATH : 0) + reason * REASON_SHIFT;
}

/**
 * Collects a parse thread's prepared lines and dead letters (RecordPublisher hands prepared lines to addPrepared). The
 * JSON goes straight into the piece's output buffer, which the publishing thread reads: no string crosses threads
 * and none is built again there. A piece whose JSON outgrows that buffer goes on in a buffer of this thread's, copied
 * out slice by slice.
 */
export class PreparedSliceSink implements RecordSink {
  private output: Buffer = Buffer.alloc(0);
  private shared = false;
  private encoding: "latin1" | "utf8" = "utf8";
  /** Where the slice being collected starts in `output`, and where its next JSON goes. */
  private sliceStart = 0;
  private at = 0;
  private ends: number[] = [];
  private visitors: string[] = [];
  /**
   * Each distinct visitor goes over once a slice: a visitor sends several requests, and every string sent is copied
   * twice and hashed again on the other side. The same visitor is the same string here (the edge processor's cache).
   */
  private visitorIndex = new Map<string, number>();
  private visitorOf: number[] = [];
  private ts: number[] = [];
  private flags: number[] = [];
  private partitions: number[] = [];
  private deadLetters: DeadLetter[] = [];

  /**
   * The JSON of the next piece's lines goes into `output` (a view of a SharedArrayBuffer), from its start;
   * `ascii`: the piece and the page item templates are ASCII, so its JSON texts likely are (those are encoded faster).
   */
  startPiece(output: Buffer, ascii: boolean): void {
    this.output = output;
    this.shared = output.buffer instanceof SharedArrayBuffer;
    this.encoding = ascii ? "latin1" : "utf8";
    this.sliceStart = 0;
    this.at = 0;
  }

  add(): never {
    throw new TypeError("PreparedSliceSink takes prepared access lines only");
  }

  addPrepared(prepared: PreparedPageView | PreparedRobotsTxt, partition: number): void {
    if (prepared.kind === "robots_txt") {
      this.flags.push(ROBOTS_TXT_REQUEST);
    } else {
      const json = prepared.json;
      // An ASCII line can still give other characters (Apache's \xe4, JSON's \u00e9, W3C's %C3%A9 decoded): Latin-1
      // would write them as one byte each, not UTF-8. ASCII is the same bytes in both, so one piece may mix them. A text
      // is ASCII when its UTF-8 length is its length (any other unit takes 2 bytes or more): 20 ns for a 450-character
      // line, where a regular expression over it took 150 ns (the threaded publish read 3-5% slower with it).
      const encoding = this.encoding === "latin1" && Buffer.byteLength(json, "utf8") === json.length ? "latin1" : "utf8";
      // At most 3 bytes per UTF-16 unit.
      const most = encoding === "latin1" ? json.length : json.length * 3;
      if (this.at + most > this.output.length) this.grow(most);
      this.at += this.output.write(json, this.at, encoding);
      this.flags.push(flagsOf(prepared));
    }
    this.ends.push(this.at - this.sliceStart);
    let visitor = this.visitorIndex.get(prepared.visitor);
    if (visitor === undefined) {
      visitor = this.visitors.push(prepared.visitor) - 1;
      this.visitorIndex.set(prepared.visitor, visitor);
    }
    this.visitorOf.push(visitor);
    this.ts.push(prepared.ts);
    this.partitions.push(partition);
  }

  addDeadLetter(letter: DeadLetter): void {
    this.deadLetters.push(letter);
  }

  async flush(): Promise<void> {}

  /** What was collected since the last take; the dead letters only with the piece's last slice. */
  take(piece: number, last: boolean): PreparedSlice {
    const json = this.output.subarray(this.sliceStart, this.at);
    const slice: PreparedSlice = {
      piece,
      last,
      // A view of a private buffer would be sent with the whole buffer: send a copy of the slice's bytes.
      json: this.shared ? json : Buffer.from(json),
      ends: Uint32Array.from(this.ends),
      visitors: this.visitors,
      visitorOf: Uint32Array.from(this.visitorOf),
      ts: Float64Array.from(this.ts),
      flags: Uint8Array.from(this.flags),
      partitions: Uint32Array.from(this.partitions),
      deadLetters: last ? this.deadLetters : [],
    };
    this.sliceStart = this.at;
    this.ends = [];
    this.visitors = [];
    this.visitorIndex = new Map();
    this.visitorOf = [];
    this.ts = [];
    this.flags = [];
    this.partitions = [];
    if (last) this.deadLetters = [];
    return slice;
  }

  /** Moves the slice collected so far into a buffer of this thread's with room for `more` bytes. */
  private grow(more: number): void {
    const collected = this.output.subarray(this.sliceStart, this.at);
    const grown = Buffer.allocUnsafeSlow(Math.max(2 * (collected.length + more), 64 * 1024));
    collected.copy(grown);
    this.output = grown;
    this.shared = false;
    this.at = collected.length;
    this.sliceStart = 0;
  }
}

/** Completes a slice's page views with their bot fields (slices in file order) and publishes them, then its dead letters. */
export async function completePreparedSlice(slice: PreparedSlice, edge: EdgeProcessor, target: PreparedTarget): Promise<void> {
  const { json, ends, visitors, visitorOf, ts, flags, partitions } = slice;
  let start = 0;
  for (let index = 0; index < ends.length; index++) {
    const flag = flags[index];
    const end = ends[index];
    if ((flag & ROBOTS_TXT_REQUEST) !== 0) {
      edge.completeRobotsTxt(visitors[visitorOf[index]], ts[index]);
      continue;
    }
    const rest = edge.completePageViewBytes(visitors[visitorOf[index]], ts[index], (flag & ROBOTS_TXT_PATH) !== 0, USER_AGENT_REASONS[flag >> 2]);
    // "{" alone (privacy dropped every field before the bot fields) takes the bot fields without their comma.
    const suffix = end - start === 1 && rest[0] === COMMA ? rest.subarray(1) : rest;
    const wait = target.addBytes(json, start, end, suffix, partitions[index]);
    if (wait !== undefined) await wait;
    start = end;
  }
  for (const letter of slice.deadLetters) {
    const wait = target.addDeadLetter(letter);
    if (wait !== undefined) await wait;
  }
}

const COMMA = 0x2c;

/** The counts of several parse threads together. */
export function sumCounts(counts: readonly IngestCounts[]): IngestCounts {
  const total: IngestCounts = { read: 0, published: 0, rejected: 0, filtered: 0 };
  for (const part of counts) {
    total.read += part.read;
    total.published += part.published;
    total.rejected += part.rejected;
    total.filtered += part.filtered;
    total.firstRejection ??= part.firstRejection;
  }
  return total;
}
