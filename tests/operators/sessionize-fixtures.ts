// Test helpers for sessionize: config with overrides, compact event builders.
import type { ClickEvent, EventType } from "../../src/events/event.ts";
import { createSessionize, sessionizeConfig } from "../../src/operators/sessionize.ts";
import type { Operator } from "../../src/runtime/operator.ts";

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const T0 = Date.UTC(2024, 2, 10, 8, 0, 0);

export function sessionize(overrides: Record<string, unknown> = {}): Operator {
  return createSessionize(sessionizeConfig.parse({ type: "sessionize", ...overrides }), { pipelineName: "test" });
}

let counter = 0;

/** An event of `anon` at `ts`; type page_view with url "/p" unless overridden. */
export function event(anon: string, ts: number, fields: Partial<ClickEvent> & { type?: EventType } = {}): ClickEvent {
  const type = fields.type ?? "page_view";
  return {
    type,
    ts,
    event_id: `e${++counter}`,
    anon_id: anon,
    site_id: "shop",
    ...(type === "page_view" ? { url: "https://shop.example/p" } : {}),
    ...fields,
  } as ClickEvent;
}
