// A window's sessions as ids into one list of their distinct elements: how the mining thread receives a window, and
// what dense counting reads (mining/dense-pattern-counts.ts), so the thread counts from the ids it was sent.

/** Sessions' elements as ids into `dictionary`, session by session. */
export interface EncodedSessions {
  /** Each distinct element once, in first-seen order; `elementIds` index it. */
  dictionary: string[];
  elementIds: Int32Array;
  /** Where each session's elements end in `elementIds` (exclusive), in session order. */
  sessionEnds: Int32Array;
}

export function encodeSessions(sessions: readonly (readonly string[])[]): EncodedSessions {
  const dictionary: string[] = [];
  const idOf = new Map<string, number>();
  let total = 0;
  for (const elements of sessions) total += elements.length;
  const elementIds = new Int32Array(total);
  const sessionEnds = new Int32Array(sessions.length);
  let at = 0;
  for (let session = 0; session < sessions.length; session++) {
    const elements = sessions[session];
    for (let i = 0; i < elements.length; i++) {
      const element = elements[i];
      let elementId = idOf.get(element);
      if (elementId === undefined) {
        elementId = dictionary.length;
        idOf.set(element, elementId);
        dictionary.push(element);
      }
      elementIds[at++] = elementId;
    }
    sessionEnds[session] = at;
  }
  return { dictionary, elementIds, sessionEnds };
}

export function decodeSessions(encoded: EncodedSessions): string[][] {
  const sessions: string[][] = [];
  let from = 0;
  for (const end of encoded.sessionEnds) {
    const session: string[] = [];
    for (let at = from; at < end; at++) session.push(encoded.dictionary[encoded.elementIds[at]]);
    sessions.push(session);
    from = end;
  }
  return sessions;
}
