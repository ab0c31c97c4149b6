// An accessLog source's instance: which names it takes, and how it appears in file names, ids and metric places.
import { describe, expect, it } from "vitest";
import { claimPlace, instanceKey, instanceProblem } from "../../src/ingest/tailer-instance.ts";

describe("tailer instance", () => {
  it("takes host names: letters, digits, ., _ and -, starting with a letter or digit, up to 128 characters", () => {
    for (const name of ["web-1", "ip-172-31-23-45.eu-west-1.compute.internal", "WEB_2", "7", "a".repeat(128)]) expect(instanceProblem(name)).toBeUndefined();
  });

  it("says what is wrong with a name that cannot be part of a file name", () => {
    expect(instanceProblem("")).toBe("an instance cannot be empty");
    expect(instanceProblem("web 1/eu")).toBe('"web 1/eu" holds " ", "/": an instance has only letters, digits, ".", "_" and "-"');
    expect(instanceProblem("..")).toBe('".." starts with ".": an instance starts with a letter or a digit');
    expect(instanceProblem("-web")).toBe('"-web" starts with "-": an instance starts with a letter or a digit');
    expect(instanceProblem("a".repeat(129))).toBe("an instance has at most 128 characters, this one 129");
  });

  it("compares names as host names do, without case", () => {
    expect(instanceKey("Web-1.Example.COM")).toBe("web-1.example.com");
  });

  it("adds the instance to a tailer's claim place, and leaves a place without one as it is", () => {
    expect(claimPlace("sources[1]", undefined)).toBe("sources[1]");
    expect(claimPlace("sources[1]", "Web-1")).toBe("sources[1]@web-1");
  });
});
