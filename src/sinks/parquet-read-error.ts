// Errors of reading a Parquet file, named by the file: apart from parquet-reader.ts so that code loading apache-arrow and
// parquet-wasm on demand (the encoder threads' merges, parquet-merge.ts) can use them without importing either package.

/** A file that parquet-wasm cannot read (truncated, corrupt, not Parquet): the message names the file. */
export class ParquetReadError extends Error {
  override name = "ParquetReadError";
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`${path}: cannot read it as Parquet (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
}

/** Runs a read of `path`, naming the file in what parquet-wasm throws (its own messages say only "Corrupt footer"). */
export async function readingParquet<T>(path: string, read: () => Promise<T> | T): Promise<T> {
  try {
    return await read();
  } catch (error) {
    // File system errors (ENOENT, EMFILE) already name their path and are not about the file's content.
    if (error instanceof ParquetReadError || (error instanceof Error && "code" in error)) throw error;
    throw new ParquetReadError(path, error);
  }
}
