import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { projectRoot } from "../../src/paths.ts";

// Every documented way of running the CLI, through the real command, with
// the PATH a user has (their own node and npm first, not the project's
// node_modules/.bin). `help` proves the project's files were found: the bin
// script has to locate src/cli/main.ts from wherever it was linked.

const run = promisify(execFile);
const userPath = (process.env.PATH ?? "").split(path.delimiter).filter((dir) => !dir.includes("node_modules")).join(path.delimiter);

async function custodian(command: string, args: string[], cwd: string) {
  const { stdout } = await run(command, args, { cwd, env: { ...process.env, PATH: userPath }, timeout: 90_000 });
  return stdout;
}

const usage = /^Usage: custodian <command>/;

test("bin/custodian runs the CLI", async () => {
  expect(await custodian(path.join(projectRoot, "bin", "custodian"), ["help"], os.tmpdir())).toMatch(usage);
});

test("npm run custodian -- runs the CLI", async () => {
  expect(await custodian("npm", ["run", "--silent", "custodian", "--", "help"], projectRoot)).toMatch(usage);
});

test("npx custodian runs the CLI in the project (npx links the bin from its own cache)", async () => {
  expect(await custodian("npx", ["--no-install", "custodian", "help"], projectRoot)).toMatch(usage);
});

test("the bin reached through a chain of symbolic links, as when Custodian is a dependency of another project", async () => {
  const consumer = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-consumer-"));
  try {
    // What `npm install <custodian>` lays out: the package in node_modules,
    // its bin linked from node_modules/.bin, Node 24 (its dependency) hoisted.
    const modules = path.join(consumer, "node_modules");
    fs.mkdirSync(path.join(modules, ".bin"), { recursive: true });
    fs.symlinkSync(projectRoot, path.join(modules, "custodian"));
    fs.symlinkSync("../custodian/bin/custodian", path.join(modules, ".bin", "custodian"));
    fs.symlinkSync(fs.realpathSync(path.join(projectRoot, "node_modules", ".bin", "node")), path.join(modules, ".bin", "node"));
    fs.symlinkSync(path.join(modules, ".bin", "custodian"), path.join(consumer, "linked-custodian"));
    fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, dependencies: { custodian: "*" } }));

    expect(await custodian(path.join(modules, ".bin", "custodian"), ["help"], consumer)).toMatch(usage);
    expect(await custodian(path.join(consumer, "linked-custodian"), ["help"], consumer)).toMatch(usage);
    expect(await custodian("npx", ["--no-install", "custodian", "help"], consumer)).toMatch(usage);
  } finally {
    fs.rmSync(consumer, { recursive: true, force: true });
  }
});

test("an unknown command says so in one line and exits 1, whichever way it is run", async () => {
  await expect(custodian(path.join(projectRoot, "bin", "custodian"), ["no-such-command"], projectRoot)).rejects.toMatchObject({
    code: 1,
    stderr: 'custodian: Unknown command "no-such-command". Run "custodian help".\n',
  });
});
