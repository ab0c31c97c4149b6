// Before the tests: make sure the external programs they use are installed (apt when missing and possible).
import { spawnSync } from "node:child_process";

/** program → Debian package that provides it */
const TOOLS = [
  { program: "nats-server", args: ["--version"], pkg: "nats-server" },
  { program: "goaccess", args: ["--version"], pkg: "goaccess" },
  { program: "promtool", args: ["--version"], pkg: "prometheus" },
  { program: "prometheus", args: ["--version"], pkg: "prometheus" },
  // The browser tracker's tests drive Debian's Chromium through playwright-core, which downloads no browser of its own.
  { program: "chromium", args: ["--version"], pkg: "chromium" },
];

function present(tool) {
  const result = spawnSync(tool.program, tool.args, { stdio: "ignore" });
  return result.error === undefined && result.status === 0;
}

function canUseApt() {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const hasApt = spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status === 0;
  return isRoot && hasApt;
}

const missing = TOOLS.filter((tool) => !present(tool));
const packages = [...new Set(missing.map((tool) => tool.pkg))];
if (packages.length === 0) process.exit(0);

if (!canUseApt()) {
  console.error(
    `npm test needs these programs: ${missing.map((t) => t.program).join(", ")}.\n` +
      `Install the Debian/Ubuntu package(s): ${packages.join(" ")}  (e.g. sudo apt-get install -y ${packages.join(" ")})`,
  );
  process.exit(1);
}

console.error(`installing ${packages.join(", ")} with apt-get (needed by the tests)…`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
const update = spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
const install = spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], { stdio: "inherit", env });
const stillMissing = TOOLS.filter((tool) => !present(tool));
if (update.status !== 0 || install.status !== 0 || stillMissing.length > 0) {
  console.error(
    `could not install ${[...new Set(stillMissing.map((t) => t.pkg))].join(" ") || packages.join(" ")} with apt-get; ` +
      `install the package(s) by hand and run npm test again`,
  );
  process.exit(1);
}
console.error(`installed ${packages.join(", ")}`);
