// fileProblem: a failed open or read of a file the user named, as a sentence with what to do.
import { describe, expect, it } from "vitest";
import { fileProblem } from "../../src/config/file-problem.ts";

const failed = (code: string, message: string) => Object.assign(new Error(message), { code });

describe("fileProblem", () => {
  it("says what is wrong with the path instead of Node's errno text", () => {
    expect(fileProblem("a.log", failed("ENOENT", "ENOENT: no such file or directory, open 'a.log'"))).toBe("a.log: no such file");
    expect(fileProblem("a.log/b", failed("ENOTDIR", "ENOTDIR: not a directory, open 'a.log/b'"))).toBe("a.log/b: no such file (a folder on its path is a file)");
    expect(fileProblem("logs", failed("EISDIR", "EISDIR: illegal operation on a directory, read"))).toBe("logs: is a directory, not a file: name a file in it");
    // Root reads any file, so a test run as root cannot make this one happen for real.
    expect(fileProblem("a.log", failed("EACCES", "EACCES: permission denied, open 'a.log'"))).toBe(
      "a.log: permission denied: make it readable for this user (ls -l shows its owner and mode)",
    );
    expect(fileProblem("a.log", failed("EIO", "EIO: i/o error, read"))).toBe("a.log: cannot read it: EIO: i/o error, read");
  });
});
