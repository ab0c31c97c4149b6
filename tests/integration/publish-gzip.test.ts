// `clickpipe publish` on gzip files (logrotate's, CloudFront's): in every format, the counts and the batch ids of the
// file they hold, so a re-publish of the decompressed file stores nothing again in JetStream; a truncated gzip
// publishes its complete lines, then fails naming the file and the byte.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { constants, gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { CLICKPIPE_BIN, REPO_ROOT, runCli } from "../helpers/cli.ts";
import { jetStreamScratchAll } from "../helpers/jetstream-scratch.ts";
import { writePublishPipeline } from "../helpers/publish-pipeline.ts";

const fixture = (path: string) => join(REPO_ROOT, "tests/fixtures", path);
const SEMICOMPLETE = fixture("access-logs/semicomplete_apache_combined_2015.log");
const ONE_THREAD = { CLICKPIPE_PUBLISH_WORKER: "never" };
const ALREADY_STORED = " (all already in the stream: JetStream stored nothing again)";

describe("publish - a gzip file publishes the lines it holds, under the ids of the file it holds", () => {
  const scratch = jetStreamScratchAll("clickpipe-publish-gzip-");

  const pipeline = (name: string) => writePublishPipeline(scratch, "publish-gzip", name);

  async function publish(file: string, pipelineFile: string, args: string[], env: NodeJS.ProcessEnv = ONE_THREAD) {
    const result = await runCli(["publish", file, "--pipeline", pipelineFile, ...args], env);
    // The counts, without the stream's name.
    return { ...result, counts: result.stdout.trim().replace(/ → \S+/, "") };
  }

  async function messageCount(stream: string): Promise<number> {
    return (await scratch.manager.streams.info(stream)).state.messages;
  }

  const nginxJsonFormat = readFileSync(fixture("access-logs-json/nginx_escape_json.format"), "utf8").trim();
  const common = [
    '192.0.2.1 - - [10/Oct/2024:13:55:36 +0000] "GET /a HTTP/1.1" 200 2326',
    '192.0.2.2 - frank [10/Oct/2024:13:56:00 +0000] "GET /b?x=1 HTTP/1.1" 200 100',
    '192.0.2.3 - - [10/Oct/2024:13:57:00 +0000] "GET /missing HTTP/1.1" 404 0',
    "a line cut sho",
    '192.0.2.1 - - [10/Oct/2024:14:00:00 +0000] "POST /c HTTP/1.1" 201 -',
  ].join("\n");
  const nginxFormat = '$remote_addr [$time_local] "$request" $status';
  const nginx = ['198.51.100.7 [11/Oct/2024:08:00:00 +0200] "GET /n1 HTTP/2.0" 200', '198.51.100.8 [11/Oct/2024:08:00:01 +0200] "GET /n2 HTTP/2.0" 403', "-"].join("\n");
  const ndjson = [
    '{"type":"page_view","ts":"2026-01-05T15:04:41.112Z","event_id":"e-0","site_id":"s","anon_id":"a1","url":"/x"}',
    '{"type":"page_view","ts":"2026-01-05T15:05:24.326Z","event_id":"e-1","site_id":"s","anon_id":"a1","url":"/y"}',
    '{"type":"page_view",',
  ].join("\n");

  /** Each format publish reads, with a file of it and its counts by hand (or by the fixture's SOURCE.md). */
  const cases: Array<{ name: string; content: Buffer; args: string[]; counts: string }> = [
    // SOURCE.md (as in goaccess.test.ts): 213 + 2 + 2 requests answered 404, 403 and 416, one truncated line.
    { name: "combined", content: readFileSync(SEMICOMPLETE), args: ["--format", "combined"], counts: "read 10000, published 9782, rejected 1, filtered 217" },
    // 4 records (one 404), one cut short; a final line without a newline.
    { name: "common", content: Buffer.from(common), args: ["--format", "common"], counts: "read 5, published 3, rejected 1, filtered 1" },
    { name: "nginx", content: Buffer.from(`${nginx}\n`), args: ["--format", nginxFormat], counts: "read 3, published 1, rejected 1, filtered 1" },
    // The counts of access-log-formats.test.ts (SOURCE.md of each fixture).
    { name: "iis", content: readFileSync(fixture("access-logs-w3c/iis_default_fields.log")), args: ["--format", "w3c"], counts: "read 8, published 6, rejected 1, filtered 1" },
    { name: "cloudfront", content: readFileSync(fixture("access-logs-w3c/cloudfront_standard.log")), args: ["--format", "w3c"], counts: "read 6, published 4, rejected 1, filtered 1" },
    { name: "caddy", content: readFileSync(fixture("access-logs-json/caddy_access.log")), args: ["--format", "caddy"], counts: "read 7, published 5, rejected 1, filtered 1" },
    { name: "nginxjson", content: readFileSync(fixture("access-logs-json/nginx_escape_json.log")), args: ["--format", nginxJsonFormat], counts: "read 6, published 4, rejected 2, filtered 0" },
    { name: "ndjson", content: Buffer.from(`${ndjson}\n`), args: [], counts: "read 3, published 2, rejected 1, filtered 0" },
    // Four rows of CDNOW_master.txt's layout, the last with a date that is none.
    {
      name: "csv",
      content: Buffer.from("00004 19970101  2   29.33\n00004 19970118  2   29.73\n00005 19970802  1   14.96\n00006 19971340  1   1.00\n"),
      args: ["--format", "csv", "--delimiter", "whitespace", "--map", "type=purchase,user_id=$1,ts=$2:yyyymmdd,qty=$3:number,revenue=$4:number"],
      counts: "read 4, published 3, rejected 1, filtered 0",
    },
  ];

  for (const { name, content, args, counts } of cases) {
    it(`${name}: the gzip's counts, and its batch ids are the decompressed file's`, async () => {
      // Named without .gz for one format: a gzip is known by its bytes.
      const gzipFile = join(scratch.directory, name === "iis" ? "u_ex240304.log" : `${name}.log.gz`);
      await writeFile(gzipFile, gzipSync(content));
      const plainFile = join(scratch.directory, `${name}.log`);
      await writeFile(plainFile, content);
      const { file, stream } = await pipeline(name);
      const fromGzip = await publish(gzipFile, file, args);
      expect(fromGzip.code, fromGzip.stderr).toBe(0);
      expect(fromGzip.counts).toBe(counts);
      const stored = await messageCount(stream);
      expect(stored).toBeGreaterThan(0);
      const fromPlain = await publish(plainFile, file, args);
      expect(fromPlain.counts).toBe(counts + ALREADY_STORED);
      expect(await messageCount(stream)).toBe(stored);
    });
  }

  it("reads every member of a multi-member gzip (cat a.gz b.gz), under the ids of the whole file, on parse threads too", async () => {
    const content = readFileSync(SEMICOMPLETE);
    const cut = content.indexOf(0x0a, content.length >> 1) + 1;
    const members = join(scratch.directory, "members.log.gz");
    await writeFile(members, Buffer.concat([gzipSync(content.subarray(0, cut)), gzipSync(content.subarray(cut))]));
    const { file, stream } = await pipeline("members");
    const counts = "read 10000, published 9782, rejected 1, filtered 217";
    expect((await publish(members, file, ["--format", "combined"])).counts).toBe(counts);
    const stored = await messageCount(stream);
    const plain = join(scratch.directory, "members.log");
    await writeFile(plain, content);
    expect((await publish(plain, file, ["--format", "combined"])).counts).toBe(counts + ALREADY_STORED);
    // Parse threads for the gzip: the main thread decompresses and cuts the pieces.
    const threads = { CLICKPIPE_PUBLISH_THREADS: "2", CLICKPIPE_PUBLISH_WORKER_MIN_BYTES: "1" };
    expect((await publish(members, file, ["--format", "combined"], threads)).counts).toBe(counts + ALREADY_STORED);
    expect(await messageCount(stream)).toBe(stored);
  });

  it("publishes a truncated gzip's complete lines, then fails naming the file and the byte where it ends", async () => {
    const content = readFileSync(SEMICOMPLETE);
    const whole = gzipSync(content);
    const truncated = whole.subarray(0, whole.length >> 1);
    const file = join(scratch.directory, "cut.log.gz");
    await writeFile(file, truncated);
    // Oracle: zlib's output for the truncated bytes without an error (a sync flush), up to its last newline.
    const available = gunzipSync(truncated, { finishFlush: constants.Z_SYNC_FLUSH });
    const complete = available.subarray(0, available.lastIndexOf(0x0a) + 1);
    const lines = complete.toString("latin1").split("\n").length - 1;
    expect(lines).toBeGreaterThan(3000);
    expect(lines).toBeLessThan(10000);
    for (const env of [ONE_THREAD, { CLICKPIPE_PUBLISH_THREADS: "2", CLICKPIPE_PUBLISH_WORKER_MIN_BYTES: "1" }]) {
      const pipe = await pipeline(env === ONE_THREAD ? "cut" : "cutthreads");
      const result = await publish(file, pipe.file, ["--format", "combined"], env);
      expect(result.code).toBe(1);
      expect(result.counts).toMatch(new RegExp(`^read ${lines}, `));
      expect(result.stderr).toContain(
        `clickpipe publish: ${file} ends in the middle of gzip data at byte ${truncated.length} (zlib: unexpected end of file): ` +
          `only the complete lines of the ${available.length} bytes decompressed before it were published`,
      );
      // What was published is what the complete lines give as a file of their own: a re-publish stores nothing.
      const stored = await messageCount(pipe.stream);
      expect(stored).toBeGreaterThan(0);
      const prefix = join(scratch.directory, "cut-prefix.log");
      await writeFile(prefix, complete);
      const again = await publish(prefix, pipe.file, ["--format", "combined"]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.counts).toMatch(new RegExp(`^read ${lines}, .*${ALREADY_STORED.replace(/[()]/g, "\\$&")}$`));
      expect(await messageCount(pipe.stream)).toBe(stored);
    }
  });

  it("fails on a JSON gzip cut short in its parse thread as on one thread, after publishing its complete lines", async () => {
    const lines = Array.from({ length: 20_000 }, (_, n) => `{"type":"page_view","ts":"2026-01-05T15:04:41.112Z","event_id":"e-${n}","site_id":"s","anon_id":"a${n % 97}","url":"/p/${n}"}`);
    const whole = gzipSync(`${lines.join("\n")}\n`);
    const truncated = whole.subarray(0, whole.length - 1000);
    const file = join(scratch.directory, "events.ndjson.gz");
    await writeFile(file, truncated);
    const available = gunzipSync(truncated, { finishFlush: constants.Z_SYNC_FLUSH }).toString();
    const complete = available.slice(0, available.lastIndexOf("\n") + 1).split("\n").length - 1;
    const { file: pipelineFile } = await pipeline("ndjsoncut");
    const result = await publish(file, pipelineFile, [], { CLICKPIPE_PUBLISH_WORKER_MIN_BYTES: "1", CLICKPIPE_PUBLISH_THREADS: "1" });
    expect(result.code).toBe(1);
    expect(result.counts).toBe(`read ${complete}, published ${complete}, rejected 0, filtered 0`);
    expect(result.stderr).toContain(`clickpipe publish: ${file} ends in the middle of gzip data at byte ${truncated.length}`);
  });

  it("reads a gzip from a pipe", async () => {
    const { file: pipelineFile } = await pipeline("piped");
    const gzip = gzipSync(await readFile(fixture("access-logs-json/caddy_access.log")));
    const file = join(scratch.directory, "piped.gz");
    await writeFile(file, gzip);
    // /dev/stdin as a pipe (read into memory, then decompressed), as in `curl … | clickpipe publish /dev/stdin`.
    const script = 'cat "$1" | "$2" "$3" publish /dev/stdin --pipeline "$4" --format caddy';
    const child = spawn("sh", ["-c", script, "sh", file, process.execPath, CLICKPIPE_BIN, pipelineFile], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...ONE_THREAD },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toContain("read 7, published 5, rejected 1, filtered 1");
  });
});
