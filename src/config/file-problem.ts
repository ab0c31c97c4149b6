// Why a file named by the user cannot be read, as a sentence with what to do, instead of Node's "ENOENT: …, open '…'".

/** `path: what is wrong (what to do)` for a failed open or read of `path`; Node's message for an error of another kind. */
export function fileProblem(path: string, error: unknown): string {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case "ENOENT":
      return `${path}: no such file`;
    case "ENOTDIR":
      return `${path}: no such file (a folder on its path is a file)`;
    case "EISDIR":
      return directoryProblem(path);
    case "EACCES":
    case "EPERM":
      return `${path}: permission denied: make it readable for this user (ls -l shows its owner and mode)`;
    default:
      return `${path}: cannot read it: ${(error as Error).message}`;
  }
}

/** A folder where a file was expected. */
export function directoryProblem(path: string): string {
  return `${path}: is a directory, not a file: name a file in it`;
}
