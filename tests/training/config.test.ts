// The training file: defaults, strict keys and errors that name the key, its line and what to do.
import { describe, expect, it } from "vitest";
import { loadTrainingConfig, parseTrainingText, TrainingConfigError } from "../../src/training/config.ts";

const VALID = `features: ./data/customer_features
train: { from: 1997-06-30, to: 1997-06-30 }
validate: { from: 1997-09-30, to: 1997-09-30 }
horizon: 90d
label: noPurchase
models: [logistic, mlp, bgnbd]
segments: { method: kmeans, k: 5 }
out: ./models/churn
seed: 42
`;

function errorsOf(text: string): string[] {
  try {
    parseTrainingText(text, "training.yaml", {});
  } catch (error) {
    if (error instanceof TrainingConfigError) return error.lines;
    throw error;
  }
  throw new Error("expected the file to be rejected");
}

describe("training file", () => {
  it("reads the issue's example: dates as text, the horizon in ms, defaults filled in", () => {
    const config = parseTrainingText(VALID, "training.yaml", {});
    expect(config).toMatchObject({
      features: "./data/customer_features",
      train: { from: "1997-06-30", to: "1997-06-30" },
      validate: { from: "1997-09-30", to: "1997-09-30" },
      horizon: 90 * 86_400_000,
      label: "noPurchase",
      models: ["logistic", "mlp", "bgnbd"],
      segments: { method: "kmeans", k: 5 },
      seed: 42,
      epochs: 40,
      batchSize: 256,
    });
    expect(config.scores).toBeUndefined();
  });

  it("rejects an unknown key with its path and line", () => {
    expect(errorsOf(VALID.replace("seed: 42", "seed: 42\nepocs: 3"))).toEqual([expect.stringMatching(/^epocs \(training\.yaml:10:1\): unknown key "epocs".*epochs/)]);
  });

  it("rejects an unknown segmentation method naming the allowed ones", () => {
    expect(errorsOf(VALID.replace("method: kmeans", "method: dbscan"))).toEqual([
      'segments.method (training.yaml:7:13): expected one of "kmeans", "fcm", got "dbscan". kmeans, or fcm (fuzzy c-means).',
    ]);
  });

  it("rejects validation snapshots inside the training label windows", () => {
    const lines = errorsOf(VALID.replace("validate: { from: 1997-09-30", "validate: { from: 1997-09-28"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^validate\.from \(training\.yaml:3:13\): validation snapshots must come after the training label windows, which end 1997-09-28/);
  });

  it("says a horizon without a unit needs one, in days, rather than 'expected text'", () => {
    expect(errorsOf(VALID.replace("horizon: 90d", "horizon: 90"))).toEqual([
      'horizon (training.yaml:4:1): expected whole days like "90d", got 90. A number alone has no unit: write "90d" for 90 days.',
    ]);
  });

  it("rejects an impossible date and a horizon that is not whole days", () => {
    const lines = errorsOf(VALID.replace("to: 1997-06-30", "to: 1997-06-31").replace("horizon: 90d", "horizon: 36h"));
    expect(lines.some((line) => /^train\.to .*expected a date like "1997-06-30"/.test(line))).toBe(true);
    expect(lines.some((line) => /^horizon .*expected whole days/.test(line))).toBe(true);
  });

  it("names missing required keys", () => {
    expect(errorsOf("features: x\n").join("\n")).toMatch(/missing required key "train"/);
  });

  it("names a training file it cannot read without Node's errno text", async () => {
    const linesOf = (path: string) => loadTrainingConfig(path, {}).then(() => [], (error: TrainingConfigError) => error.lines);
    expect(await linesOf("no/such.yaml")).toEqual(["no/such.yaml: no such file. Check the path (pipelines/training/churn.yaml is an example)."]);
    expect(await linesOf("pipelines/training")).toEqual(["pipelines/training: is a directory, not a file: name a file in it"]);
  });

  it("says a pipeline file is one, instead of listing its keys as unknown and a training file's as missing", () => {
    expect(errorsOf("name: shop\nnats: { stream: SHOP }\noperators: [{ type: churnFeatures }]\nsinks: [{ type: parquet, path: ./data }]\n")).toEqual([
      "training.yaml: this is a pipeline file (clickpipe run/validate read it), not a training file. " +
        "A training file has features:, train:, validate:, horizon: and out: (pipelines/training/churn.yaml is an example).",
    ]);
  });
});

describe("training file - ${VAR} set but empty, keys that are no plain name", () => {
  it("leaves a key out whose variable is set but empty, its default applying, and hands the warning to warn, once", () => {
    const warnings: string[] = [];
    const config = parseTrainingText(VALID.replace("seed: 42", "seed: ${SEED}"), "training.yaml", { SEED: "" }, (line) => warnings.push(line));
    expect(config.seed).toBe(42);
    expect(warnings).toEqual([
      "seed (training.yaml:9:1): warning: environment variable SEED is set but empty, so seed is left out and its default 42 applies. Set SEED to a value, or write ${SEED:-} to leave it out on purpose.",
    ]);
  });

  it("warns of a failing file's emptied key too, and not of a required key, which is an error instead", () => {
    const warnings: string[] = [];
    const text = VALID.replace("seed: 42", "seed: ${SEED}").replace("out: ./models/churn", "out: ${OUT}").replace("horizon: 90d", "horizon: 90");
    const lines = (() => {
      try {
        parseTrainingText(text, "training.yaml", { SEED: "", OUT: "" }, (line) => warnings.push(line));
      } catch (error) {
        if (error instanceof TrainingConfigError) return error.lines;
        throw error;
      }
      return [];
    })();
    expect(lines.map((line) => line.split(":")[0])).toEqual(["horizon (training.yaml", 'out (training.yaml']);
    expect(warnings.map((line) => line.split(" (")[0])).toEqual(["seed"]);
  });

  it("reports a list or mapping written as a key, or a null key, at its line, without a warning of the YAML library", async () => {
    const nodeWarnings: string[] = [];
    const onWarning = (warning: Error) => nodeWarnings.push(warning.message);
    process.on("warning", onWarning);
    try {
      const lines = errorsOf(`${VALID}? [a, b]\n: 1\n~: 3\n`);
      expect(lines.map((line) => line.split(". ")[0])).toEqual([
        "training.yaml:10:3: the key [a, b] is a list, not a plain name",
        "training.yaml:12:1: the key ~ is YAML's null, not a name",
      ]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(nodeWarnings).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
