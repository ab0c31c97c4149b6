// Logistic regression and an MLP in TensorFlow.js: standardization as a frozen first layer, class-weighted training.
import * as tf from "@tensorflow/tfjs";
import type { FeaturePlan } from "./features.ts";
import { SeededRandom } from "./random.ts";

export type NeuralModelName = "logistic" | "mlp";

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate?: number;
  seed: number;
  /** Called after each batch with (batches done, batches in all). */
  onBatch?: (done: number, total: number) => void;
}

export interface TrainSummary {
  /** Mean weighted loss of each epoch. */
  epochLosses: number[];
  /** Class weights used: weight of churned (1) and retained (0) examples. */
  classWeights: { positive: number; negative: number };
  /** Subtracted from the output logit after training to undo the class weights' shift of the odds. */
  priorCorrection: number;
}

/** A dense layer that computes (x − mean) / std with fixed weights, so a saved model takes raw (filled) features. */
function standardizeLayer(plan: FeaturePlan): tf.layers.Layer {
  const width = plan.names.length;
  const kernel = new Float32Array(width * width);
  for (let j = 0; j < width; j++) kernel[j * width + j] = 1 / plan.std[j];
  const bias = Float32Array.from(plan.mean, (mean, j) => -mean / plan.std[j]);
  return tf.layers.dense({
    units: width,
    inputShape: [width],
    trainable: false,
    name: "standardize",
    weights: [tf.tensor2d(kernel, [width, width]), tf.tensor1d(bias)],
  });
}

export function buildModel(name: NeuralModelName, plan: FeaturePlan, seed: number): tf.Sequential {
  const random = new SeededRandom(seed);
  const model = tf.sequential({ name });
  model.add(standardizeLayer(plan));
  if (name === "mlp") {
    model.add(tf.layers.dense({ units: 32, activation: "relu", kernelInitializer: tf.initializers.heNormal({ seed: random.seed() }), name: "hidden1" }));
    model.add(tf.layers.dense({ units: 16, activation: "relu", kernelInitializer: tf.initializers.heNormal({ seed: random.seed() }), name: "hidden2" }));
  }
  model.add(
    tf.layers.dense({
      units: 1,
      activation: "sigmoid",
      kernelInitializer: tf.initializers.glorotUniform({ seed: random.seed() }),
      kernelRegularizer: name === "logistic" ? tf.regularizers.l2({ l2: 1e-4 }) : undefined,
      name: "churn",
    }),
  );
  return model;
}

/** Balanced class weights n / (2 n_c), as scikit-learn's class_weight="balanced". */
export function balancedClassWeights(labels: ArrayLike<number>): { positive: number; negative: number } {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i];
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return { positive: 1, negative: 1 };
  return { positive: labels.length / (2 * positives), negative: labels.length / (2 * negatives) };
}

/**
 * Mini-batch Adam on the class-weighted binary cross-entropy, batches in a seeded order (tfjs's own shuffle is
 * not seedable). Weighting multiplies the odds by w₁/w₀, so afterwards the output bias is lowered by ln(w₁/w₀):
 * rankings are unchanged and probabilities are calibrated again.
 */
export function trainModel(model: tf.Sequential, features: Float32Array, labels: Uint8Array, options: TrainOptions): TrainSummary {
  const width = features.length / labels.length;
  const n = labels.length;
  const weights = balancedClassWeights(labels);
  const optimizer = tf.train.adam(options.learningRate ?? 0.005);
  const random = new SeededRandom(options.seed);
  const batchSize = Math.min(options.batchSize, n);
  const batchesPerEpoch = Math.ceil(n / batchSize);
  const batchFeatures = new Float32Array(batchSize * width);
  const batchLabels = new Float32Array(batchSize);
  const batchWeights = new Float32Array(batchSize);
  const epochLosses: number[] = [];
  // Only the trainable layers' variables: the frozen standardization must not move.
  const trainable = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  let done = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const order = random.permutation(n);
    let lossSum = 0;
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      for (let b = 0; b < size; b++) {
        const row = order[start + b];
        batchFeatures.set(features.subarray(row * width, (row + 1) * width), b * width);
        batchLabels[b] = labels[row];
        batchWeights[b] = labels[row] === 1 ? weights.positive : weights.negative;
      }
      const loss = tf.tidy(() => {
        const x = tf.tensor2d(batchFeatures.subarray(0, size * width), [size, width]);
        const y = tf.tensor2d(batchLabels.subarray(0, size), [size, 1]);
        const w = tf.tensor1d(batchWeights.subarray(0, size));
        return optimizer.minimize(() => {
          const predicted = model.apply(x, { training: true }) as tf.Tensor2D;
          const perExample = tf.metrics.binaryCrossentropy(y, predicted).reshape([size]);
          const weighted = tf.mean(tf.mul(perExample, w)) as tf.Scalar;
          const penalties = model.losses.map((penalty) => penalty());
          return penalties.length > 0 ? (tf.addN([weighted, ...penalties]) as tf.Scalar) : weighted;
        }, true, trainable)!;
      });
      lossSum += (loss.dataSync()[0] * size) / n;
      loss.dispose();
      options.onBatch?.(++done, batchesPerEpoch * options.epochs);
    }
    epochLosses.push(lossSum);
  }
  optimizer.dispose();
  const priorCorrection = Math.log(weights.positive / weights.negative);
  shiftOutputBias(model, -priorCorrection);
  return { epochLosses, classWeights: weights, priorCorrection };
}

function shiftOutputBias(model: tf.Sequential, delta: number): void {
  const output = model.getLayer("churn");
  const [kernel, bias] = output.getWeights();
  const shifted = tf.tidy(() => bias.add(tf.scalar(delta)));
  output.setWeights([kernel, shifted]);
  shifted.dispose();
}

/** Churn probabilities for size × width features, predicted in chunks to bound memory. */
export function predict(model: tf.LayersModel, features: Float32Array, size: number, chunk = 16_384): Float64Array {
  const width = size === 0 ? 0 : features.length / size;
  const out = new Float64Array(size);
  for (let start = 0; start < size; start += chunk) {
    const rows = Math.min(chunk, size - start);
    const values = tf.tidy(() => {
      const x = tf.tensor2d(features.subarray(start * width, (start + rows) * width), [rows, width]);
      return (model.predict(x, { batchSize: rows }) as tf.Tensor).dataSync();
    });
    out.set(values, start);
  }
  return out;
}
