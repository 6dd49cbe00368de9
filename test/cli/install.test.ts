import { spawn } from "node:child_process";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";

// `npm install` in the project on the user's own Node (20 here) is quiet: the
// project's .npmrc shows npm's errors only, since the EBADENGINE warnings of
// packages that want Node 22.18+ are harmless (they run on Node 24).

const userPath = (process.env.PATH ?? "")
  .split(path.delimiter)
  .filter((dir) => dir && !dir.includes("node_modules"))
  .join(path.delimiter);
const userEnvironment = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { cwd: projectRoot, env: { ...userEnvironment, PATH: userPath }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}
const npm = (args: string[]) => run("npm", args);

const installArgs = ["install", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund"];

test("npm install prints no warnings, and npm's errors still show", async () => {
  const install = await npm(installArgs);
  expect(install).toMatchObject({ code: 0, stderr: "" });
  expect(install.stdout).not.toMatch(/EBADENGINE|npm warn/);

  const missing = await npm(["run", "no-such-script"]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/^npm error Missing script: "no-such-script"$/m);
}, 180_000);

test("on a Node older than 22.18 the warnings are still there for whoever asks (--loglevel=warn)", async () => {
  // The node npm itself runs on: the one that checks the engines.
  const version = await run("node", ["-p", "process.versions.node"]);
  const [major, minor] = version.stdout.trim().split(".").map(Number) as [number, number];
  const install = await npm([...installArgs, "--loglevel=warn"]);
  expect(install.code).toBe(0);
  if (major < 22 || (major === 22 && minor < 18)) expect(install.stderr).toMatch(/npm warn EBADENGINE/);
  else expect(install.stderr).not.toMatch(/EBADENGINE/);
}, 180_000);
