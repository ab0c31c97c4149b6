// Vitest globalSetup of the integration project: resolves one NATS URL for all test files, and at the end deletes the
// streams this run made there (by the names uniqueStreamName recorded) and stops a server it started.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { connectNats } from "../../src/transport/connection.ts";
import { natsUrlForTests, stopNatsServerForTests, TEST_STREAM_NAMES_FILE } from "./nats-server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of a JetStream-enabled nats-server every integration test may use (`inject("natsUrl")`). */
    natsUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const url = await natsUrlForTests();
  project.provide("natsUrl", url);
  // Test workers start after this and inherit the variable: every name they make is appended to the file.
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-test-streams-"));
  const namesFile = join(directory, "names.txt");
  process.env[TEST_STREAM_NAMES_FILE] = namesFile;
  return async () => {
    try {
      await deleteStreamsNamed(url, await readFile(namesFile, "utf8").catch(() => ""));
    } finally {
      delete process.env[TEST_STREAM_NAMES_FILE];
      await rm(directory, { recursive: true, force: true });
      await stopNatsServerForTests();
    }
  };
}

/**
 * Deletes every stream whose name holds one of the recorded names (a KV bucket's stream is KV_<bucket>, buckets being
 * named from them too). The names are unique to this run, so nothing else matches. A failure is reported, not thrown:
 * the tests have passed or failed by then.
 */
async function deleteStreamsNamed(url: string, namesText: string): Promise<void> {
  const names = namesText.split("\n").filter((name) => name !== "");
  if (names.length === 0) return;
  let connection: Awaited<ReturnType<typeof connectNats>> | undefined;
  try {
    connection = await connectNats({ url });
    const manager = await jetstreamManager(connection);
    const doomed: string[] = [];
    for await (const info of manager.streams.list()) {
      const upper = info.config.name.toUpperCase();
      if (names.some((name) => upper.includes(name))) doomed.push(info.config.name);
    }
    for (const stream of doomed) await manager.streams.delete(stream);
  } catch (error) {
    console.warn(`test teardown: deleting this run's streams failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await connection?.close();
  }
}
