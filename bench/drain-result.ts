// What bench/drain-child.ts prints: one drain's timing, phases, peak RSS and state size.

export interface DrainResult {
  seconds: number;
  events: number;
  eventsPerSecond: number;
  /** CPU seconds of the whole drain process (main thread, encoder threads, loader). */
  cpuSeconds: number;
  phases: {
    startupSeconds: number;
    processingSeconds: number;
    finalCommitSeconds: number;
    processingMainThreadCpuSeconds: number;
    /** While processing, seconds the main thread was runnable but waited for a core (schedstat; NaN off Linux). */
    processingMainThreadRunDelaySeconds?: number;
    /** Checkpoints taken (the last one included) and their summed duration; one runs beside processing at a time. */
    checkpoints: number;
    checkpointSeconds: number;
  };
  peakRssBytes: number;
  /** CPU seconds per thread name (Linux; empty elsewhere): main, encoder workers, V8 and libuv helpers. */
  threadCpuSeconds?: Record<string, number>;
  /** The same per thread, used while processing only (first batch to drained): start-up and the final commit left out. */
  processingThreadCpuSeconds?: Record<string, number>;
  peakStateBytes: number;
  peakOpenSessions: number;
  bytesPerOpenSessionAtPeak: number;
}
