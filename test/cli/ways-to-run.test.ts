import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";
import { testEnvironment } from "../support/environment.ts";
import { queryOnce, withScratchDatabase } from "../support/scratch-database.ts";

// Every documented way of running the CLI, through the real command (bin
// script, npm, npx), as a user's shell runs it: the user's PATH (their own
// node and npm first, no node_modules/.bin) and no npm_* variables of the
// npm that may have started Jest.
//
// A probe preloaded through NODE_OPTIONS records, in the process that runs
// src/cli/main.ts, which main.ts it was (so which copy of the package was
// found) and which Node binary ran it. npm itself runs on the user's node;
// the probe ignores it.

/** npm and npx start in seconds each, more on a busy machine. */
const timeout = 180_000;

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-ways-"));
const probeFile = path.join(scratch, "probe.cjs");
fs.writeFileSync(
  probeFile,
  `if (/src[\\\\/]cli[\\\\/]main\\.ts$/.test(process.argv[1] ?? "")) {
  require("node:fs").appendFileSync(process.env.CUSTODIAN_PROBE_LOG, JSON.stringify({ main: process.argv[1], node: process.execPath, version: process.version }) + "\\n");
}
`,
);
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const userPath = (process.env.PATH ?? "")
  .split(path.delimiter)
  .filter((dir) => dir && !dir.includes("node_modules"))
  .join(path.delimiter);
const userEnvironment = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

const real = (file: string) => fs.realpathSync(file);
const projectMain = path.join(real(projectRoot), "src", "cli", "main.ts");
const projectNode = real(path.join(projectRoot, "node_modules", "node", "bin", "node"));
const nodeVersion = `v${JSON.parse(fs.readFileSync(path.join(projectRoot, "node_modules", "node", "package.json"), "utf8")).version}`;
const usage = /^Usage: custodian <command>/m;

interface Ran {
  main: string;
  node: string;
  version: string;
}

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Every process that ran src/cli/main.ts. */
  ran: Ran[];
}

let runs = 0;

function launch(command: string, args: string[], options: { cwd: string; env?: Record<string, string>; detached?: boolean }) {
  const log = path.join(scratch, `ran-${++runs}.jsonl`);
  const child = spawn(command, args, {
    cwd: options.cwd,
    detached: options.detached ?? false,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...userEnvironment,
      PATH: userPath,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require "${probeFile}"`.trim(),
      CUSTODIAN_PROBE_LOG: log,
      ...options.env,
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const done = new Promise<Result>((resolve) =>
    child.on("close", (code, signal) => {
      const ran = fs.existsSync(log)
        ? fs.readFileSync(log, "utf8").trim().split("\n").map((line) => JSON.parse(line) as Ran)
        : [];
      resolve({ code, signal, stdout, stderr, ran });
    }),
  );
  return { child, done, output: () => stdout };
}

const run = (command: string, args: string[], cwd: string, env: Record<string, string> = {}) => launch(command, args, { cwd, env }).done;

/** The command printed the usage, and main.ts of `main`'s package ran on Node 24 (`node`), once. */
function expectUsage(result: Result, main = projectMain, node = projectNode) {
  expect(result).toMatchObject({ code: 0, stdout: expect.stringMatching(usage) });
  expect(result.ran).toEqual([{ main, node, version: nodeVersion }]);
}

describe("in the project", () => {
  test("bin/custodian, by absolute path from elsewhere, by relative path, and with CDPATH set", async () => {
    expectUsage(await run(path.join(projectRoot, "bin", "custodian"), ["help"], os.tmpdir()));
    // cd with a CDPATH prints the folder it found, which must not end up in the path to main.ts.
    expectUsage(await run("bin/custodian", ["help"], projectRoot, { CDPATH: `${projectRoot}:${os.tmpdir()}` }));
    expectUsage(await run("./custodian", ["--help"], path.join(projectRoot, "bin")));
  }, timeout);

  test("bin/custodian passes its arguments on and the CLI's exit code back", async () => {
    const result = await run(path.join(projectRoot, "bin", "custodian"), ["no-such-command", "two words"], os.tmpdir());
    expect(result).toMatchObject({ code: 1, stderr: 'custodian: Unknown command "no-such-command". Run "custodian help".\n' });
    expect(result.ran).toEqual([{ main: projectMain, node: projectNode, version: nodeVersion }]);
  }, timeout);

  test("npm run custodian -- <command>", async () => {
    expectUsage(await run("npm", ["run", "--silent", "custodian", "--", "help"], projectRoot));
  }, timeout);

  test("npx custodian <command>, in the project's folder and in a folder inside it", async () => {
    // --no-install changes nothing when npx finds the project's bin; without
    // it, a failure to find it would fetch a package of the same name.
    expectUsage(await run("npx", ["--no-install", "custodian", "help"], projectRoot));
    expectUsage(await run("npx", ["--no-install", "custodian", "help"], path.join(projectRoot, "src", "cli")));
  }, timeout);

  test("with no node package in or above the package's folder, PATH's node runs the CLI", async () => {
    // A checkout without node_modules, its bin linked from elsewhere.
    const folder = fs.mkdtempSync(path.join(scratch, "checkout-"));
    const checkout = path.join(folder, "custodian");
    fs.mkdirSync(path.join(checkout, "bin"), { recursive: true });
    fs.copyFileSync(path.join(projectRoot, "bin", "custodian"), path.join(checkout, "bin", "custodian"));
    fs.symlinkSync("custodian/bin/custodian", path.join(folder, "link"));
    const userBin = path.join(folder, "user-bin");
    fs.mkdirSync(userBin);
    fs.writeFileSync(path.join(userBin, "node"), `#!/bin/sh\nprintf '%s\\n' "PATH's node" "$@"\n`, { mode: 0o755 });

    const result = await run(path.join(folder, "link"), ["users", "create", "--name", "two words"], os.tmpdir(), {
      PATH: `${userBin}${path.delimiter}${userPath}`,
    });
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout.split("\n")).toEqual([
      "PATH's node",
      path.join(real(checkout), "src", "cli", "main.ts"),
      "users",
      "create",
      "--name",
      "two words",
      "",
    ]);
  }, timeout);

  test("npm start runs `custodian start` until Ctrl-C", () =>
    withScratchDatabase(async (databaseUrl) => {
      // Its own process group, so that "Ctrl-C" reaches npm and the CLI, as a terminal's does.
      const started = launch("npm", ["start"], { cwd: projectRoot, env: testEnvironment({ DATABASE_URL: databaseUrl, PORT: "0" }), detached: true });
      try {
        const base = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`npm start not ready:\n${started.output()}`)), 120_000);
          started.child.stdout.on("data", () => {
            const match = /GraphQL\s+(http:\S+)\/graphql[\s\S]*Press Ctrl-C to stop\./.exec(started.output());
            if (match) {
              clearTimeout(timer);
              resolve(match[1]);
            }
          });
          void started.done.then((result) => {
            clearTimeout(timer);
            reject(new Error(`npm start exited with ${result.code}:\n${result.stdout}\n${result.stderr}`));
          });
        });
        expect((await fetch(`${base}/healthz`)).status).toBe(200);
      } finally {
        if (started.child.exitCode === null) process.kill(-started.child.pid!, "SIGINT");
      }
      // The CLI stops cleanly (npm's copy of the interrupt is the same request), and npm reports its exit code.
      const result = await started.done;
      expect(result).toMatchObject({ code: 0, signal: null, stdout: expect.stringMatching(/Custodian stopped\.\n$/), stderr: "" });
      expect(result.ran).toEqual([{ main: projectMain, node: projectNode, version: nodeVersion }]);
    }), timeout);
});

describe("installed as a dependency of another project", () => {
  let consumer: string;
  beforeEach(() => {
    consumer = fs.mkdtempSync(path.join(scratch, "consumer-"));
    fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, dependencies: { custodian: "*" } }));
  });

  /** Links node_modules/.bin/<name> to `target` (relative to that folder), as npm does. */
  function linkBin(modules: string, name: string, target: string) {
    fs.mkdirSync(path.join(modules, ".bin"), { recursive: true });
    fs.symlinkSync(target, path.join(modules, ".bin", name));
  }

  /** The package's files as `npm pack` puts them in its tarball, copied to `destination`. */
  async function copyPackedFiles(destination: string) {
    const packed = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], projectRoot);
    expect(packed.code).toBe(0);
    for (const { path: file } of JSON.parse(packed.stdout)[0].files as Array<{ path: string }>) {
      fs.mkdirSync(path.dirname(path.join(destination, file)), { recursive: true });
      fs.copyFileSync(path.join(projectRoot, file), path.join(destination, file));
    }
  }

  /** The package's dependencies hoisted into `modules`: each one a link to the project's installed copy. */
  function hoistDependencies(modules: string, { except = [] as string[] } = {}) {
    for (const name of fs.readdirSync(path.join(projectRoot, "node_modules"))) {
      if (name.startsWith(".") || except.includes(name)) continue;
      fs.symlinkSync(path.join(projectRoot, "node_modules", name), path.join(modules, name));
    }
  }

  test("npm install /path/to/custodian: node_modules/custodian links to the project, whose own node_modules holds Node 24", async () => {
    const modules = path.join(consumer, "node_modules");
    fs.mkdirSync(modules);
    fs.symlinkSync(projectRoot, path.join(modules, "custodian"));
    linkBin(modules, "custodian", "../custodian/bin/custodian");
    // A link to the link, as a user's ~/bin might hold.
    fs.symlinkSync(path.join(modules, ".bin", "custodian"), path.join(consumer, "custodian"));

    expectUsage(await run(path.join(modules, ".bin", "custodian"), ["help"], os.tmpdir()));
    expectUsage(await run(path.join(consumer, "custodian"), ["help"], os.tmpdir()));
    expectUsage(await run("npx", ["--no-install", "custodian", "help"], consumer));
  }, timeout);

  test("installed from its tarball: a copy of the packed files, Node 24 and the other dependencies hoisted beside it", () =>
    withScratchDatabase(async (databaseUrl) => {
      const modules = path.join(consumer, "node_modules");
      fs.mkdirSync(modules);
      await copyPackedFiles(path.join(modules, "custodian"));
      hoistDependencies(modules);
      linkBin(modules, "custodian", "../custodian/bin/custodian");
      linkBin(modules, "node", "../node/bin/node");
      const copyMain = path.join(real(modules), "custodian", "src", "cli", "main.ts");

      expectUsage(await run(path.join(modules, ".bin", "custodian"), ["help"], os.tmpdir()), copyMain);
      expectUsage(await run("npx", ["--no-install", "custodian", "help"], consumer), copyMain);

      // The copy's migrations, .gmrc and worker tasks were packed, are found,
      // and its .ts files load under node_modules.
      const migrated = await run("npx", ["--no-install", "custodian", "migrate"], consumer, testEnvironment({ DATABASE_URL: databaseUrl }));
      expect(migrated).toMatchObject({ code: 0, stdout: "Database is up to date.\n", stderr: "" });
      const job = await queryOnce(databaseUrl, "select id::text from graphile_worker.add_job('worker_heartbeat', '{}'::json)");
      const worked = await run(path.join(modules, ".bin", "custodian"), ["worker", "--once"], consumer, testEnvironment({ DATABASE_URL: databaseUrl }));
      expect(worked).toMatchObject({ code: 0, stderr: "" });
      const heartbeat = await queryOnce(databaseUrl, "select last_job_id::text from app_private.worker_heartbeats");
      expect(heartbeat.rows).toEqual([{ last_job_id: job.rows[0].id }]);
      expect([...migrated.ran, ...worked.ran]).toEqual([
        { main: copyMain, node: projectNode, version: nodeVersion },
        { main: copyMain, node: projectNode, version: nodeVersion },
      ]);
    }), timeout);

  test("nested under another dependency, with Node 24 hoisted two node_modules up and no node in any .bin", async () => {
    const modules = path.join(consumer, "node_modules");
    const nested = path.join(modules, "some-tool", "node_modules");
    fs.mkdirSync(nested, { recursive: true });
    await copyPackedFiles(path.join(nested, "custodian"));
    hoistDependencies(modules);
    linkBin(nested, "custodian", "../custodian/bin/custodian");

    expectUsage(await run(path.join(nested, ".bin", "custodian"), ["help"], os.tmpdir()), path.join(real(nested), "custodian", "src", "cli", "main.ts"));
  }, timeout);
});
