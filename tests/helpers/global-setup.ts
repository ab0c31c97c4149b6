// Vitest globalSetup of the integration project: resolves one NATS URL for all test files and stops a server it started.
import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { natsUrlForTests, stopNatsServerForTests } from "./nats-server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of a JetStream-enabled nats-server every integration test may use (`inject("natsUrl")`). */
    natsUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  project.provide("natsUrl", await natsUrlForTests());
  return stopNatsServerForTests;
}
