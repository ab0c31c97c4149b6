// forgetPerson over a lake of several sites: DuckDB SQL over the lake before is the oracle of what stays.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DuckDBConnection } from "@duckdb/node-api";
import { forgetPerson } from "../../src/cli/forget.ts";
import { loadTombstoneEntries } from "../../src/runtime/tombstones.ts";
import { sessionizeConfig, createSessionize, sessionsTable } from "../../src/operators/sessionize.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { OperatorHarness } from "../helpers/operator-harness.ts";
import { duckDb, lakesRemovedAfterAll, queryJson } from "../sinks/lake-fixtures.ts";
import type { ClickEvent } from "../../src/events/event.ts";

const T0 = Date.UTC(2024, 2, 10, 8);
const HOUR = 3_600_000;
let connection: DuckDBConnection;
const lake = lakesRemovedAfterAll("forget-sites");

beforeAll(async () => {
  connection = await duckDb();
});
afterAll(() => connection?.closeSync());

let counter = 0;
function event(site: string | undefined, anon: string, ts: number, user?: string): ClickEvent {
  const base = { ts, event_id: `e${++counter}`, anon_id: anon, ...(site === undefined ? {} : { site_id: site }) };
  return (user === undefined ? { ...base, type: "page_view", url: "https://shop.example/" } : { ...base, type: "identify", user_id: user }) as ClickEvent;
}

describe("forgetPerson across sites", () => {
  it("removes every session of the user on every site, and of every anon_id their sessions carried", async () => {
    const root = await lake();
    const operator = createSessionize(sessionizeConfig.parse({ type: "sessionize" }), { pipelineName: "p" });
    const harness = new OperatorHarness();
    harness.feed(operator, [
      event("de", "a1", T0), // before the login: no user_id, only the visitor names her
      event("de", "b", T0 + HOUR), // someone else
      event(undefined, "c", T0 + HOUR, "carol"), // a site-less event of someone else
      event("de", "a1", T0 + 2 * HOUR, "alice"),
      event("fr", "a2", T0 + 3 * HOUR, "alice"), // the same customer on another site, another cookie
      event("fr", "a2", T0 + 5 * HOUR),
    ]);
    operator.onEnd(harness);
    const sink = new ParquetSink({ path: root, tables: [sessionsTable], useWorkerThread: false, compression: "snappy", writerId: "w" });
    for (const row of harness.rowsOf("sessions")) sink.append("sessions", row);
    await sink.commit(await sink.prepare(1));
    await sink.close();
    const glob = `read_parquet('${root}/sessions/**/*.parquet')`;
    const select = (where: string) =>
      queryJson(connection, `SELECT site_id, visitor_id, user_id, start_ts::VARCHAR AS start FROM ${glob} WHERE ${where} ORDER BY ALL`);
    // Oracle: the rows that neither carry alice nor a visitor any of her rows carried, on any site.
    const person = `user_id IS NOT DISTINCT FROM 'alice' OR visitor_id IN (SELECT visitor_id FROM ${glob} WHERE user_id = 'alice')`;
    const kept = await select(`NOT (${person})`);
    const removed = await select(person);
    expect(removed.map((row) => `${row.site_id}/${row.visitor_id}`).sort()).toEqual(["de/a1", "de/a1", "fr/a2", "fr/a2"]);

    await forgetPerson({ sinkPath: root, pipelineName: "p", userId: "alice", compression: "snappy", rowGroupSize: 1000 });
    expect(await select("true")).toEqual(kept);
    expect(kept.map((row) => `${row.site_id ?? ""}/${row.visitor_id}`).sort()).toEqual(["/c", "de/b"]);
    expect((await loadTombstoneEntries(root, "p")).map((entry) => `${entry.kind}:${entry.id}`).sort()).toEqual(["user_id:alice", "visitor_id:a1", "visitor_id:a2"]);
  });
});
