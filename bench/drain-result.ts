// What bench/drain-child.ts prints: one drain's timing, phases, peak RSS and state size.

export interface DrainResult {
  /** From ready to read (connected, recovered, threads up) to the final commit's end: process start-up left out. */
  seconds: number;
  events: number;
  eventsPerSecond: number;
  /** `seconds` with the start-up before ready (connect, recover, threads starting): session 11 and before reported this. */
  secondsWithStartup?: number;
  /** The rate between 20% and 90% of the events (100 ms samples): without the warm-up and the end of input. */
  steadyEventsPerSecond?: number;
  /** CPU seconds of the whole drain process (main thread, mining thread, encoder threads, V8's helpers) over `seconds`. */
  cpuSeconds: number;
  cpuSecondsWithStartup?: number;
  phases: {
    /** Connect, recover, threads up (their modules loaded): not in `seconds`. */
    startupSeconds: number;
    /** Ready to the drained log line: open the consumer, read, decode, operators, appends, end-of-input flush. */
    processingSeconds: number;
    finalCommitSeconds: number;
    processingMainThreadCpuSeconds: number;
    /** While processing, seconds the main thread was runnable but waited for a core (schedstat; NaN off Linux). */
    processingMainThreadRunDelaySeconds?: number;
    /** While processing, the main thread's minor page faults (/proc; NaN off Linux): ≈ 4 µs each on these VMs. */
    processingMainThreadMinorFaults?: number;
    /** Checkpoints taken (the last one included) and their summed duration; one runs beside processing at a time. */
    checkpoints: number;
    checkpointSeconds: number;
  };
  peakRssBytes: number;
  /** CPU seconds per thread name (Linux; empty elsewhere): main, encoder workers, V8 and libuv helpers. */
  threadCpuSeconds?: Record<string, number>;
  /** The same per thread, used while processing only (ready to drained): start-up and the final commit left out. */
  processingThreadCpuSeconds?: Record<string, number>;
  peakStateBytes: number;
  peakOpenSessions: number;
  /** Every operator's state over open sessions at their peak: an upper bound for sessionize's. */
  bytesPerOpenSessionAtPeak: number;
  /** sessionize's own state (stateBytes()) over open sessions at their peak (since session 23). */
  sessionizeBytesPerOpenSessionAtPeak?: number;
  /**
   * Customers churnFeatures held at most (clickpipe_state_keys), and its state (stateBytes()) per customer at the first
   * sample that saw them: a sample that falls anywhere in a period, with that period's pending sessions held for its fold
   * (546–2,784 B per customer over the bench's last day, session 33), so no longer the headline.
   */
  peakCustomers?: number;
  churnBytesPerCustomerAtPeak?: number;
  /** churnFeatures' customers and state per customer after the end of input, every period folded (since session 33). */
  customersAtEnd?: number;
  churnBytesPerCustomerAtEnd?: number;
  /** churnFeatures' largest state in the drain, its pending period included (since session 33). */
  churnPeakBytes?: number;
}
