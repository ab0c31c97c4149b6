// Shared by the soaks: publish the seeded input and time the no-fault drain every faulty run is compared with.
import { runCli } from "../tests/helpers/cli.ts";

/** Publishes `input` through `pipelineFile`, drains it once without faults (extra `runArgs`), returns the drain's ms. */
export async function publishAndDrainNoFault(input: string, pipelineFile: string, label: string, runArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const published = await runCli(["publish", input, "--pipeline", pipelineFile], {}, { timeoutMs: 600_000 });
  if (published.code !== 0) throw new Error(`publish failed: ${published.stderr}`);
  const started = performance.now();
  const baseline = await runCli(["run", pipelineFile, "--drain", ...runArgs], env, { timeoutMs: 3_600_000 });
  if (baseline.code !== 0) throw new Error(`no-fault run failed: ${baseline.stderr}`);
  const baselineMs = performance.now() - started;
  console.log(`${label}: ${(baselineMs / 1000).toFixed(1)} s`);
  return baselineMs;
}
