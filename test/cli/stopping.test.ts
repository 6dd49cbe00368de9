import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";

// `custodian start` stops cleanly on SIGINT and SIGTERM however it was
// started, when a process manager signals the process it started (npm's pid,
// the bin's pid), not the whole group as a terminal's Ctrl-C does: exit code
// 0, "Custodian stopped.", no warnings, and the embedded PostgreSQL stopped
// with the data folder let go of.
//
// Run as a user's shell runs it: the user's PATH (no node_modules/.bin) and no
// npm_* variables of an npm that may have started Jest.

const timeout = 240_000;
const userPath = (process.env.PATH ?? "")
  .split(path.delimiter)
  .filter((dir) => dir && !dir.includes("node_modules"))
  .join(path.delimiter);
const userEnvironment = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

/** One data folder for every start here: the first start creates the cluster, the others reuse it. */
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "custodian-stopping-"));
fs.chmodSync(dataDir, 0o755);
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

const environment = {
  ...userEnvironment,
  PATH: userPath,
  NODE_ENV: "development",
  DATABASE_URL: "",
  JWT_SECRET: "",
  AUTHENTICATOR_PASSWORD: "",
  DATA_DIR: dataDir,
  PORT: "0",
  SEED_DEMO: "off",
  WORKER: "on",
  LOG_LEVEL: "info",
};

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `command` in its own process group (as a process manager would) and resolves once stdout or stderr match `ready`. */
async function launch(command: string, args: string[], ready: RegExp) {
  const child = spawn(command, args, { cwd: projectRoot, env: environment, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const exited = new Promise<Exit>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} ${args.join(" ")} not ready:\n${stdout}\n${stderr}`)), 150_000);
    const check = () => {
      if (ready.test(stdout) || ready.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", (chunk) => ((stdout += chunk), check()));
    child.stderr.on("data", (chunk) => ((stderr += chunk), check()));
    void exited.then((result) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${result.code}:\n${result.stdout}\n${result.stderr}`));
    });
  });
  return { pid: child.pid!, exited };
}

/** Processes whose command line names the data folder (the embedded PostgreSQL, a Custodian left behind). */
function processesUsingDataDir(): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (commandLine.includes(dataDir)) found.push(`${pid}: ${commandLine}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Log lines above info (warnings, errors) and anything on stderr that is not a log line. */
function complaints(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((line) => line.trim() !== "")
    .filter((line) => {
      try {
        return (JSON.parse(line) as { level: number }).level > 30;
      } catch {
        return true;
      }
    });
}

async function expectCleanStop(exit: Exit) {
  expect(complaints(exit.stderr)).toEqual([]);
  expect(exit).toMatchObject({ code: 0, signal: null, stdout: expect.stringMatching(/Custodian stopped\.\n$/) });
  expect(fs.existsSync(path.join(dataDir, "custodian.pid"))).toBe(false);
  expect(fs.existsSync(path.join(dataDir, "pg", "postmaster.pid"))).toBe(false);
  expect(processesUsingDataDir()).toEqual([]);
}

const running = /Press Ctrl-C to stop\./;

describe.each([
  ["npm start", "npm", ["start"]],
  ["bin/custodian start", path.join(projectRoot, "bin", "custodian"), ["start"]],
] as const)("%s", (_name, command, args) => {
  test.each(["SIGINT", "SIGTERM"] as const)("stops cleanly when its own pid gets %s", async (signal) => {
    const started = await launch(command, [...args], running);
    process.kill(started.pid, signal);
    await expectCleanStop(await started.exited);
  }, timeout);
});

test("npm start stops cleanly on a terminal's Ctrl-C, which reaches npm and Custodian both (npm passes its copy on)", async () => {
  const started = await launch("npm", ["start"], running);
  process.kill(-started.pid, "SIGINT");
  await expectCleanStop(await started.exited);
}, timeout);

test("npx custodian start stops cleanly when npx gets SIGTERM (its shell dies of it; Custodian sees its launcher go)", async () => {
  const started = await launch("npx", ["--no-install", "custodian", "start"], running);
  process.kill(started.pid, "SIGTERM");
  const npx = await started.exited;
  // npm ends as its shell did, by the signal (a shell reports 143); Custodian goes on stopping after it.
  expect(npx.signal === "SIGTERM" || npx.code === 143).toBe(true);
  for (let waited = 0; waited < 30_000 && processesUsingDataDir().length > 0; waited += 200) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // Custodian shares npx's stdout: the pipe closes when Custodian is done too.
  expect(npx.stdout).toMatch(/Custodian stopped\.\n$/);
  expect(complaints(npx.stderr)).toEqual([]);
  expect(processesUsingDataDir()).toEqual([]);
  expect(fs.existsSync(path.join(dataDir, "custodian.pid"))).toBe(false);
}, timeout);

test("a stop requested while starting waits for the step under way, then stops what was started", async () => {
  // The migration runs once the embedded PostgreSQL is up: stop then.
  const started = await launch(path.join(projectRoot, "bin", "custodian"), ["start"], /graphile-migrate/);
  process.kill(started.pid, "SIGTERM");
  const exit = await started.exited;
  expect(exit.stdout).not.toMatch(running);
  await expectCleanStop(exit);
}, timeout);
