// clickpipe_source_claims and clickpipe_source_takeovers_total as the exposition shows them, with real claim files: two
// tailers of one position file in two registries (two workers): one active, one standing by until it takes over.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TailClaim } from "../../src/ingest/tailer-claim.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { parseExposition } from "./exposition.ts";

/** The source series of a registry: `name{labels}` → value, for clickpipe_source_* only. */
async function sourceSamples(metrics: Metrics): Promise<Record<string, number>> {
  const samples = parseExposition(await metrics.registry.metrics());
  return Object.fromEntries([...samples].filter(([series]) => series.startsWith("clickpipe_source_")));
}

const active = (n: number) => ({ [`clickpipe_source_claims{source="access_log",place="sources[1]",state="active"}`]: n });
const standby = (n: number) => ({ [`clickpipe_source_claims{source="access_log",place="sources[1]",state="standby"}`]: n });
const takeovers = (n: number) => ({ [`clickpipe_source_takeovers_total{source="access_log",place="sources[1]"}`]: n });

describe("clickpipe_source_claims", () => {
  let directory: string;
  const claims: TailClaim[] = [];

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-source-claims-"));
  });

  afterEach(async () => {
    await Promise.all(claims.splice(0).map((claim) => claim.release()));
    await rm(directory, { recursive: true, force: true });
  });

  function claim(metrics: Metrics, workerId: string, positionFile: string): TailClaim {
    const series = metrics.sourceSeries("accessLog", "sources[1]");
    const made = new TailClaim({ positionFile, path: "/var/log/nginx/access.log", workerId, log: () => undefined, series });
    claims.push(made);
    return made;
  }

  it("presets every source of the pipeline at 0 in both states, labelled by type and place, never by path or port", async () => {
    const metrics = new Metrics();
    metrics.presetSources([{ type: "http" }, { type: "accessLog" }]);
    expect(await sourceSamples(metrics)).toEqual({
      'clickpipe_source_claims{source="http",place="sources[0]",state="active"}': 0,
      'clickpipe_source_claims{source="http",place="sources[0]",state="standby"}': 0,
      'clickpipe_source_takeovers_total{source="http",place="sources[0]"}': 0,
      ...active(0),
      ...standby(0),
      ...takeovers(0),
    });
  });

  it("moves from standby to active with one takeover when the holder lets go, and counts one claim per tailed path", async () => {
    const [a, b] = [new Metrics(), new Metrics()];
    const file = join(directory, "access-log-0.json");
    expect(await claim(a, "a", file).take()).toBe(true);
    expect(await sourceSamples(a)).toEqual({ ...active(1), ...standby(0), ...takeovers(0) });

    const waiting = claim(b, "b", file);
    expect(await waiting.take()).toBe(false);
    expect(await waiting.take()).toBe(false);
    expect(await sourceSamples(b)).toEqual({ ...active(0), ...standby(1), ...takeovers(0) });

    // A second path of the same tailer, free: one claim active beside the one standing by.
    const second = claim(b, "b", join(directory, "access-log-1.json"));
    expect(await second.take()).toBe(true);
    expect(await sourceSamples(b)).toEqual({ ...active(1), ...standby(1), ...takeovers(0) });

    await claims[0].release();
    expect(await waiting.take()).toBe(true);
    expect(await sourceSamples(b)).toEqual({ ...active(2), ...standby(0), ...takeovers(1) });
    // The released claim counts in neither state; its source's series stay until the source stops.
    expect(await sourceSamples(a)).toEqual({ ...active(0), ...standby(0), ...takeovers(0) });
  });

  it("removes a stopped source's series, and a released claim of a removed source sets nothing again", async () => {
    const metrics = new Metrics();
    const held = claim(metrics, "a", join(directory, "access-log-0.json"));
    expect(await held.take()).toBe(true);
    metrics.sourceSeries("accessLog", "sources[1]").remove();
    await held.release();
    expect(await sourceSamples(metrics)).toEqual({});
    // The place's next source starts from 0 again.
    metrics.presetSources([{ type: "http" }, { type: "accessLog" }]);
    expect(await sourceSamples(metrics)).toMatchObject({ ...active(0), ...standby(0), ...takeovers(0) });
  });
});
