// Benchmark (not a test): churn-model training and scoring on synthetic customers; prints one JSON object.
// Usage: node --import tsx bench/training.ts [--rows 1000000] [--features 30] [--epochs 2] [--model mlp|logistic]
import { parseArgs } from "node:util";
import { initBackend } from "../src/training/backend.ts";
import { fitFeaturePlan } from "../src/training/features.ts";
import { buildModel, predict, trainModel, type NeuralModelName } from "../src/training/neural-models.ts";
import { SeededRandom } from "../src/training/random.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    features: { type: "string", default: "30" },
    epochs: { type: "string", default: "2" },
    model: { type: "string", default: "mlp" },
    "batch-size": { type: "string", default: "1024" },
  },
});
const rows = Number(values.rows);
const width = Number(values.features);
const epochs = Number(values.epochs);
const batchSize = Number(values["batch-size"]);
const modelName = values.model as NeuralModelName;

/** Standard normal features with different scales, and churn labels from a known logistic model plus noise. */
function syntheticCustomers(random: SeededRandom): { columns: Record<string, Float64Array>; features: Float32Array; labels: Uint8Array } {
  const columns: Record<string, Float64Array> = {};
  const features = new Float32Array(rows * width);
  const weights = Array.from({ length: width }, () => random.next() * 2 - 1);
  const logits = new Float64Array(rows).fill(-1);
  for (let j = 0; j < width; j++) {
    const column = new Float64Array(rows);
    const scale = 1 + j * 3;
    for (let i = 0; i < rows; i++) {
      const z = Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
      column[i] = z * scale + j;
      features[i * width + j] = column[i];
      logits[i] += weights[j] * z;
    }
    columns[`f${j}`] = column;
  }
  const labels = Uint8Array.from(logits, (logit) => (random.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0));
  return { columns, features, labels };
}

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
const backend = await initBackend();
const random = new SeededRandom(42);
const generateStart = performance.now();
const data = syntheticCustomers(random);
const generateSeconds = (performance.now() - generateStart) / 1000;
const plan = fitFeaturePlan(data.columns, rows, Object.keys(data.columns));
const model = buildModel(modelName, plan, 42);
const trainStart = performance.now();
trainModel(model, data.features, data.labels, { epochs, batchSize, seed: 42 });
const trainSeconds = (performance.now() - trainStart) / 1000;
const scoreStart = performance.now();
const scores = predict(model, data.features, rows);
const scoreSeconds = (performance.now() - scoreStart) / 1000;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
console.log(
  JSON.stringify({
    benchmark: "training",
    backend,
    model: modelName,
    rows,
    features: width,
    epochs,
    batchSize,
    generateSeconds: round(generateSeconds),
    secondsPerEpoch: round(trainSeconds / epochs),
    trainRowsPerSecond: Math.round((rows * epochs) / trainSeconds),
    scoreRowsPerSecond: Math.round(rows / scoreSeconds),
    peakRssMB: Math.round(peakRss / 2 ** 20),
    meanScore: round(scores.reduce((a, b) => a + b, 0) / rows),
  }),
);
model.dispose();

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
