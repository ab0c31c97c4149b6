// An AccessLine over a record already built in full: what the W3C and JSON readers return (one object per reader, reused).
import type { AccessLine, AccessRecord } from "./access-log.ts";

export class RecordLine implements AccessLine {
  readonly ok = true;
  ts = Number.NaN;
  method: string | null = null;
  path: string | null = null;
  protocol: string | null = null;
  status = 0;
  private current: AccessRecord | undefined;

  /** This line, now holding `record`. */
  hold(record: AccessRecord): this {
    this.current = record;
    this.ts = record.ts;
    this.method = record.method;
    this.path = record.path;
    this.protocol = record.protocol;
    this.status = record.status;
    return this;
  }

  record(): AccessRecord {
    return { ...(this.current as AccessRecord) };
  }
}
