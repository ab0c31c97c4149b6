// The event as operators see it: validated at the edge, `ts` normalized to epoch milliseconds. The pipeline hands
// operators its known fields in one shape (event-shape.ts); the decoded record, unknown fields kept, stays attached.

export const EVENT_TYPES = ["page_view", "click", "add_to_cart", "purchase", "identify"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface PurchaseItem {
  sku?: string;
  category?: string;
  price?: number;
  qty?: number;
  [field: string]: unknown;
}

export interface ClickEvent {
  type: EventType;
  /** Event time, epoch milliseconds (UTC). */
  ts: number;
  /** Dedupe key: the record's own `event_id`, or a hash of its content when absent. */
  event_id: string;
  anon_id?: string;
  user_id?: string;
  site_id?: string;
  /** Epoch milliseconds when the collector/tailer/publisher received it. */
  received_at?: number;
  ip?: string;
  ua?: string;
  url?: string;
  referrer?: string;
  title?: string;
  sku?: string;
  price?: number;
  qty?: number;
  order_id?: string;
  revenue?: number;
  currency?: string;
  items?: PurchaseItem[];
  /** Set by edge processing when a bot detector ran. */
  is_bot?: boolean;
  /** The page item after urlRules (edge processing); absent means the URL path. */
  page_item?: string;
  /** Unknown fields pass through untouched. */
  [field: string]: unknown;
}

/** Where an event came from inside the stream: the partition and the JetStream sequence of its message. */
export interface EventOrigin {
  partition: number;
  sequence: number;
}
