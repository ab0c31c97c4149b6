// The head fields every reader's reused AccessLine keeps (MatchedLine for Apache/nginx formats, RecordLine for W3C and
// JSON), declared once. A subclass's own fields come after these in its instances, one shape per subclass.
import type { AccessLine, AccessRecord } from "./access-log.ts";

export abstract class AccessLineHead implements AccessLine {
  readonly ok = true;
  ts = Number.NaN;
  method: string | null = null;
  path: string | null = null;
  protocol: string | null = null;
  status = 0;

  abstract record(): AccessRecord;
}
