// What the pipeline gives an operator at construction, besides its own config.

export interface OperatorEnvironment {
  /** The pipeline's `name`. */
  pipelineName: string;
  /** The sessionize operator's settings, for operators that consume sessions (undefined when there is none). */
  session?: { gap: number; allowedLateness: number };
  /**
   * Whether window mining may run on a thread of its own (sequencePatterns' counting). The worker sets it where there
   * are two cores (miningThreadsEnabled); an operator that starts one releases it in close().
   */
  miningThread?: boolean;
  /**
   * How many input partitions feed the operator's events, when that is known up front: the customer stage of a
   * partitioned pipeline merges every events partition. Each holds the event-time watermark back from the start.
   */
  inputPartitions?: number;
}
