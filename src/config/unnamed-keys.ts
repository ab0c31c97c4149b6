// Keys YAML gives no name (`~:`, `null:`, `? [a, b]`), taken out of a parsed file (pipeline or training) before it is read.
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from "yaml";
import type { UnnamedKey } from "./issues.ts";
import { linePos } from "./yaml-positions.ts";

/**
 * Takes out of the document each key YAML gives no name (`~:`, `null:`, `? [a, b]`), to be reported at its own line
 * as written: toJS would make it "" or "[ a, b ]" (with a Node warning on stderr for a collection).
 */
export function takeUnnamedKeys(doc: Document, lineCounter: LineCounter, text: string): UnnamedKey[] {
  const found: UnnamedKey[] = [];
  const walk = (node: unknown, path: PropertyKey[]): void => {
    if (isMap(node)) {
      for (const pair of [...node.items]) {
        const key = pair.key as Node | null;
        const kind = key === null || (isScalar(key) && key.value === null) ? "null" : isSeq(key) ? "list" : isMap(key) ? "mapping" : undefined;
        if (kind === undefined) {
          walk(pair.value, [...path, isScalar(key) ? String(key.value) : String(key)]);
          continue;
        }
        const range = key?.range ?? (pair.value as Node | null)?.range ?? node.range;
        // A block list or mapping as a key spans lines: named by its kind alone.
        const written = key?.range ? text.slice(key.range[0], key.range[1]).trim() : "";
        const shown = written.includes("\n") ? "" : written.length > 40 ? `${written.slice(0, 39)}…` : written;
        found.push({ parentPath: path, written: shown, kind, ...linePos(lineCounter, range?.[0] ?? 0) });
        node.items.splice(node.items.indexOf(pair), 1);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => walk(item, [...path, index]));
    }
  };
  walk(doc.contents, []);
  return found;
}
