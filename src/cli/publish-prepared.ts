// Access-log lines prepared on parse threads and completed in file order on the publishing thread.
//
// Edge processing of a log line is stateless but for the bot rules that count a visitor's requests (rate,
// /robots.txt): those must see the lines in file order. So parse threads each take whole pieces of the file and do
// everything else (parse, page filter, visitor id, event id, user-agent checks, privacy, JSON), and the publishing
// thread completes each page view with its bot fields, piece by piece in file order (EdgeProcessor.prepareAccessLine).
// What crosses threads is columns of strings and numbers, one message per slice of a piece.
import type { BotReason } from "../ingest/bots.ts";
import type { EdgeProcessor, PreparedPageView, PreparedRobotsTxt } from "../ingest/edge.ts";
import { joinJson, type IngestCounts, type RecordSink } from "../ingest/record-publisher.ts";
import type { DeadLetter } from "../transport/dead-letter.ts";

/** The prepared lines of one slice of a piece of the file, in line order, as columns. */
export interface PreparedSlice {
  /** The piece's number in the file (0, 1, …). */
  piece: number;
  /** Whether this is the piece's last slice; a piece's dead letters come with its last slice. */
  last: boolean;
  /** Whether every JSON text prepared from the piece is ASCII (the piece and every page item template are). */
  ascii: boolean;
  /** A page view's JSON up to its bot fields; "" for a robots.txt request. */
  json: string[];
  visitors: string[];
  ts: Float64Array;
  /** ROBOTS_TXT_REQUEST, ROBOTS_TXT_PATH and the user agent's bot reason (code × REASON_SHIFT). */
  flags: Uint8Array;
  partitions: Uint32Array;
  deadLetters: DeadLetter[];
  /** SHA-256 of the whole piece, in its first slice (ChunkIds.nextOf). */
  pieceDigest?: Uint8Array;
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

/** Collects a parse thread's prepared lines and dead letters (RecordPublisher hands prepared lines to addPrepared). */
export class PreparedSliceSink implements RecordSink {
  private json: string[] = [];
  private visitors: string[] = [];
  private ts: number[] = [];
  private flags: number[] = [];
  private partitions: number[] = [];
  private deadLetters: DeadLetter[] = [];

  add(): never {
    throw new TypeError("PreparedSliceSink takes prepared access lines only");
  }

  addPrepared(prepared: PreparedPageView | PreparedRobotsTxt, partition: number): void {
    if (prepared.kind === "robots_txt") {
      this.json.push("");
      this.flags.push(ROBOTS_TXT_REQUEST);
    } else {
      this.json.push(prepared.json);
      this.flags.push(flagsOf(prepared));
    }
    this.visitors.push(prepared.visitor);
    this.ts.push(prepared.ts);
    this.partitions.push(partition);
  }

  addDeadLetter(letter: DeadLetter): void {
    this.deadLetters.push(letter);
  }

  async flush(): Promise<void> {}

  /** What was collected since the last take; the dead letters only with the piece's last slice. */
  take(piece: number, last: boolean, ascii = false): PreparedSlice {
    const slice: PreparedSlice = {
      piece,
      last,
      ascii,
      json: this.json,
      visitors: this.visitors,
      ts: Float64Array.from(this.ts),
      flags: Uint8Array.from(this.flags),
      partitions: Uint32Array.from(this.partitions),
      deadLetters: last ? this.deadLetters : [],
    };
    this.json = [];
    this.visitors = [];
    this.ts = [];
    this.flags = [];
    this.partitions = [];
    if (last) this.deadLetters = [];
    return slice;
  }
}

/** Completes a slice's page views with their bot fields (slices in file order) and publishes them, then its dead letters. */
export async function completePreparedSlice(slice: PreparedSlice, edge: EdgeProcessor, sink: Pick<RecordSink, "add" | "addDeadLetter">): Promise<void> {
  const { json, visitors, ts, flags, partitions } = slice;
  for (let index = 0; index < json.length; index++) {
    const flag = flags[index];
    if ((flag & ROBOTS_TXT_REQUEST) !== 0) {
      edge.completeRobotsTxt(visitors[index], ts[index]);
      continue;
    }
    const rest = edge.completePageView(visitors[index], ts[index], (flag & ROBOTS_TXT_PATH) !== 0, USER_AGENT_REASONS[flag >> 2]);
    // The bot fields are ASCII: the whole line is when the piece was.
    const wait = sink.add(joinJson(json[index], rest), partitions[index], slice.ascii);
    if (wait !== undefined) await wait;
  }
  for (const letter of slice.deadLetters) {
    const wait = sink.addDeadLetter(letter);
    if (wait !== undefined) await wait;
  }
}

/** The counts of several parse threads together. */
export function sumCounts(counts: readonly IngestCounts[]): IngestCounts {
  const total: IngestCounts = { read: 0, published: 0, rejected: 0, filtered: 0 };
  for (const part of counts) {
    total.read += part.read;
    total.published += part.published;
    total.rejected += part.rejected;
    total.filtered += part.filtered;
  }
  return total;
}
