// What the pipeline gives an operator at construction, besides its own config.

export interface OperatorEnvironment {
  /** The pipeline's `name`. */
  pipelineName: string;
  /** The sessionize operator's settings, for operators that consume sessions (undefined when there is none). */
  session?: { gap: number; allowedLateness: number };
}
