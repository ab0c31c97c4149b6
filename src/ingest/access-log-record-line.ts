// An AccessLine over a record already built in full: what the W3C and JSON readers return (one object per reader, reused).
import type { AccessRecord } from "./access-log.ts";
import { AccessLineHead } from "./access-log-line-head.ts";

export class RecordLine extends AccessLineHead {
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

  override record(): AccessRecord {
    return { ...(this.current as AccessRecord) };
  }
}
