// Picks the TensorFlow.js backend: tensorflow when @tensorflow/tfjs-node is installed, else wasm, else cpu.
import * as tf from "@tensorflow/tfjs";

export const BACKEND_ENV = "CLICKPIPE_TF_BACKEND";

let chosen: string | undefined;

/** Registers the optional native backend; it is not a dependency (its install downloads a binary), so it may be absent. */
async function registerNative(): Promise<boolean> {
  const name = "@tensorflow/tfjs-node";
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

async function tryBackend(name: string): Promise<boolean> {
  try {
    return (await tf.setBackend(name)) && (await tf.ready(), tf.getBackend() === name);
  } catch {
    return false;
  }
}

/**
 * Sets the backend once per process and returns its name. `CLICKPIPE_TF_BACKEND` (tensorflow, wasm, cpu) asks for
 * one; an unavailable request falls through to the next in the order tensorflow → wasm → cpu.
 */
export async function initBackend(requested = process.env[BACKEND_ENV]): Promise<string> {
  if (chosen !== undefined) return chosen;
  const order = ["tensorflow", "wasm", "cpu"];
  const start = requested !== undefined && order.includes(requested) ? order.indexOf(requested) : 0;
  for (const name of order.slice(start)) {
    if (name === "tensorflow" && !(await registerNative())) continue;
    if (name === "wasm") await import("@tensorflow/tfjs-backend-wasm");
    if (await tryBackend(name)) {
      chosen = name;
      return name;
    }
  }
  throw new Error("no TensorFlow.js backend could be initialised (tried tensorflow, wasm, cpu)");
}
