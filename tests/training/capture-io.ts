// Collects what a command writes to stdout and stderr, for in-process CLI tests.

export class CapturedIo {
  out = "";
  err = "";
  readonly stdout = { write: (text: string) => (this.out += text) };
  readonly stderr = { write: (text: string) => (this.err += text) };
}
