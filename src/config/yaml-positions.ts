// Where a key path sits in a parsed YAML document: line and column of the key (or list item) it names.
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from "yaml";

export interface Position {
  line: number;
  column: number;
  /** False when the path does not exist and the position is that of its nearest existing parent. */
  exact: boolean;
}

/**
 * Finds the key that `path` names (a map value is reported at its key, where people look; a list item at the item).
 * A path that does not exist in the file, such as a missing required key, resolves to its nearest existing parent.
 */
export function locate(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[]): Position {
  let node = doc.contents as Node | null;
  let offset = node?.range?.[0] ?? 0;
  for (const segment of path) {
    let next: { at: number | undefined; node: Node | null } | undefined;
    if (isMap(node)) {
      const pair = node.items.find((item) => (isScalar(item.key) ? item.key.value : item.key) === segment);
      if (pair !== undefined) next = { at: (pair.key as Node | null)?.range?.[0], node: pair.value as Node | null };
    } else if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment] as Node | undefined;
      if (item !== undefined) next = { at: item?.range?.[0], node: item };
    }
    if (next === undefined || next.at === undefined) return { ...linePos(lineCounter, offset), exact: false };
    offset = next.at;
    node = next.node;
  }
  return { ...linePos(lineCounter, offset), exact: true };
}

export function linePos(lineCounter: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

/** The text of the scalar at `path` as the file wrote it (quotes and `${…}` included); undefined for a missing key or a non-scalar. */
export function writtenText(doc: Document, text: string, path: readonly PropertyKey[]): string | undefined {
  let node = doc.contents as Node | null;
  for (const segment of path) {
    if (isMap(node)) node = (node.items.find((item) => (isScalar(item.key) ? item.key.value : item.key) === segment)?.value as Node | null | undefined) ?? null;
    else if (isSeq(node) && typeof segment === "number") node = (node.items[segment] as Node | undefined) ?? null;
    else return undefined;
  }
  if (!isScalar(node) || node.range === undefined || node.range === null) return undefined;
  return text.slice(node.range[0], node.range[1]);
}
