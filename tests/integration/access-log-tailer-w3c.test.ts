// The accessLog source on a W3C log: a tailer restarted in the middle of the file reads on under the file's last #Fields.
import { appendFile, mkdir, mkdtemp, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { pipelineSchema, type PipelineConfig } from "../../src/config/pipeline.ts";
import { createAccessLogTailer } from "../../src/ingest/access-log-tailer.ts";
import { TailPositionStore } from "../../src/ingest/tailer-position.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { decodeDeadLetters } from "../../src/transport/dead-letter.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { parseSubject } from "../../src/transport/subjects.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const entry = (n: number) => `2024-03-04 10:00:${String(n).padStart(2, "0")} 10.0.0.5 GET /page/${n} - 80 - 192.0.2.${n} Mozilla/5.0+(X11) - 200 0 0 15\n`;
const FIELDS = "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n";

describe("access log tailer - w3c", () => {
  const natsUrl = inject("natsUrl");
  let connection: NatsConnection;
  let directory: string;
  let pipeline: PipelineConfig;
  const stream = uniqueStreamName("TAILW3C");

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-tailer-w3c-"));
    pipeline = pipelineSchema.parse({ name: "tailer-w3c", nats: { url: natsUrl, stream }, sinks: [{ type: "parquet", path: join(directory, "out") }] });
    connection = await connectNats({ url: natsUrl });
  });
  afterAll(async () => {
    await connection?.drain();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("reads the lines appended while it was stopped under the #Fields written before its saved position", async () => {
    const logPath = join(directory, "u_ex240304.log");
    const stateDirectory = join(directory, "state");
    const store = new TailPositionStore(stateDirectory);
    await writeFile(logPath, `#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n${FIELDS}${entry(1)}${entry(2)}`);
    const start = async () => {
      const source = createAccessLogTailer(
        { type: "accessLog", paths: [logPath], format: "w3c", pollInterval: 50 },
        { pipeline, connection, metrics: new Metrics(), stateDirectory, log: () => undefined },
      );
      await source.start();
      return source;
    };
    const reachLine = async (line: number) => {
      for (const deadline = Date.now() + 15_000; (await store.load(logPath))?.lineNumber !== line; ) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for line ${line}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    let tailer = await start();
    await reachLine(5);
    await tailer.stop();
    await appendFile(logPath, `${entry(3)}${entry(4)}`);
    tailer = await start();
    await reachLine(7);
    await tailer.stop();
    expect(await streamed(stream)).toEqual({ urls: ["/page/1", "/page/2", "/page/3", "/page/4"], reasons: [] });
  });

  it("reads on under the #Fields of a log that rotation compressed while it was stopped", async () => {
    const logPath = join(directory, "w3c-gz", "u_ex.log");
    const ownStream = uniqueStreamName("TAILW3CGZ");
    const ownPipeline = pipelineSchema.parse({ name: "tailer-w3c-gz", nats: { url: natsUrl, stream: ownStream }, sinks: [{ type: "parquet", path: join(directory, "out-gz") }] });
    const stateDirectory = join(directory, "state-gz");
    const store = new TailPositionStore(stateDirectory);
    await mkdir(join(directory, "w3c-gz"));
    await writeFile(logPath, `#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n${FIELDS}${entry(1)}${entry(2)}`);
    const start = async () => {
      const source = createAccessLogTailer(
        { type: "accessLog", paths: [logPath], format: "w3c", pollInterval: 50 },
        { pipeline: ownPipeline, connection, metrics: new Metrics(), stateDirectory, log: () => undefined },
      );
      await source.start();
      return source;
    };
    const reach = async (line: number, size: number) => {
      for (const deadline = Date.now() + 15_000; ; ) {
        const position = await store.load(logPath);
        if (position?.lineNumber === line && position.offset === size) return;
        if (Date.now() > deadline) throw new Error(`timed out waiting for line ${line}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    let tailer = await start();
    await reach(5, (await stat(logPath)).size);
    await tailer.stop();
    // While stopped: two more entries, then logrotate's rename and compress (the gzip keeps the file's mtime), and
    // a new file with its own directives.
    await appendFile(logPath, `${entry(3)}${entry(4)}`);
    const rotated = `${logPath}.1`;
    await rename(logPath, rotated);
    const { mtime } = await stat(rotated);
    await writeFile(`${rotated}.gz`, gzipSync(await readFile(rotated)));
    await utimes(`${rotated}.gz`, mtime, mtime);
    await rm(rotated);
    const fresh = `#Version: 1.0\n${FIELDS}${entry(5)}`;
    await writeFile(logPath, fresh);
    tailer = await start();
    await reach(3, Buffer.byteLength(fresh));
    await tailer.stop();
    expect(await streamed(ownStream)).toEqual({ urls: ["/page/1", "/page/2", "/page/3", "/page/4", "/page/5"], reasons: [] });
  });

  /** The urls of the page views in the stream, sorted, and the dead letters' reasons. */
  async function streamed(name: string): Promise<{ urls: string[]; reasons: string[] }> {
    const reader = await StreamReader.open(jetstream(connection), name, { drainUntil: true });
    const urls: string[] = [];
    const reasons: string[] = [];
    for await (const message of reader) {
      if (parseSubject(name, message.subject)?.kind === "dlq") reasons.push(...decodeDeadLetters(message.data).map((letter) => letter.reason));
      else for (const line of splitBatch(message.data)) urls.push((JSON.parse(line) as { url: string }).url);
    }
    return { urls: urls.sort(), reasons };
  }
});
