// Messages between sequencePatterns (main thread) and its mining thread (pattern-mining-thread.ts): one closed
// window's sessions in, its counted patterns out. Both sides are plain data in typed arrays and one string list, so a
// window crosses in a few copies instead of a structured clone per session.
import { PATTERN_STEP_SEPARATOR } from "./itemset-sequence.ts";
import { PATTERN_KINDS, type CountedPattern, type PatternKind, type WindowPatternsRequest } from "./pattern-counting.ts";
import { decodeSessions, encodeSessions, type EncodedSessions } from "./session-dictionary.ts";

/** The Int32 words of the thread's signal buffer (MiningThreadSetup.signal): replies posted, and the counting's heartbeat. */
export const REPLIES_WORD = 0;
export const HEARTBEAT_WORD = 1;
export const SIGNAL_BYTES = 2 * Int32Array.BYTES_PER_ELEMENT;

/** A window to count: its sessions' elements as ids into `dictionary` (session-dictionary.ts), and the settings. */
export interface MiningJob extends EncodedSessions {
  id: number;
  maxLength: number;
  itemJoin: string;
  itemsetSeparator?: string;
  minCount: number;
  topK?: number;
}

/** The answer to one job: its patterns in row order, or the error that stopped the counting. */
export interface MiningReply {
  id: number;
  /** JSON array of the patterns' items (CountedPattern.items); each pattern's text is them joined by " > ". */
  patterns: string;
  /** Index into PATTERN_KINDS per pattern. */
  kinds: Uint8Array;
  /** length, support and errorBound per pattern. */
  numbers: Float64Array;
  error?: string;
}

/** A message and the buffers it hands over (postMessage's transfer list). */
export interface Encoded<T> {
  message: T;
  transfer: ArrayBuffer[];
}

export function encodeJob(id: number, request: WindowPatternsRequest): Encoded<MiningJob> {
  const { dictionary, elementIds, sessionEnds } = encodeSessions(request.elements);
  const message: MiningJob = {
    id,
    dictionary,
    elementIds,
    sessionEnds,
    maxLength: request.maxLength,
    itemJoin: request.itemJoin,
    minCount: request.minCount,
    ...(request.itemsetSeparator !== undefined && { itemsetSeparator: request.itemsetSeparator }),
    ...(request.topK !== undefined && { topK: request.topK }),
  };
  return { message, transfer: [elementIds.buffer as ArrayBuffer, sessionEnds.buffer as ArrayBuffer] };
}

export function decodeJob(job: MiningJob): WindowPatternsRequest {
  return {
    elements: decodeSessions(job),
    maxLength: job.maxLength,
    itemJoin: job.itemJoin,
    itemsetSeparator: job.itemsetSeparator,
    minCount: job.minCount,
    topK: job.topK,
  };
}

export function encodeReply(id: number, found: readonly CountedPattern[]): Encoded<MiningReply> {
  const kinds = new Uint8Array(found.length);
  const numbers = new Float64Array(found.length * 3);
  const itemLists: string[][] = [];
  for (let i = 0; i < found.length; i++) {
    const counted = found[i];
    itemLists.push(counted.items);
    kinds[i] = PATTERN_KINDS.indexOf(counted.kind);
    numbers[i * 3] = counted.length;
    numbers[i * 3 + 1] = counted.support;
    numbers[i * 3 + 2] = counted.errorBound;
  }
  return { message: { id, patterns: JSON.stringify(itemLists), kinds, numbers }, transfer: [kinds.buffer as ArrayBuffer, numbers.buffer as ArrayBuffer] };
}

export function decodeReply(reply: MiningReply): CountedPattern[] {
  const itemLists = JSON.parse(reply.patterns) as string[][];
  const found: CountedPattern[] = [];
  for (let i = 0; i < itemLists.length; i++) {
    found.push({
      kind: PATTERN_KINDS[reply.kinds[i]] as PatternKind,
      pattern: itemLists[i].join(PATTERN_STEP_SEPARATOR),
      items: itemLists[i],
      length: reply.numbers[i * 3],
      support: reply.numbers[i * 3 + 1],
      errorBound: reply.numbers[i * 3 + 2],
    });
  }
  return found;
}
