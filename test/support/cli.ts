import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";

const main = path.join(projectRoot, "src", "cli", "main.ts");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `custodian <args>` as its own process, as a user would, and waits for it; `started` sees the process (its pid). */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, started?: (child: ChildProcess) => void): Promise<CliResult> {
  const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, ...env }, stdio: "pipe" });
  started?.(child);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

export interface RunningCli {
  child: ChildProcess;
  output: () => { stdout: string; stderr: string };
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a long-running command and resolves once its stdout matches `ready`. */
export function startCli(
  args: string[],
  env: Record<string, string | undefined>,
  ready: RegExp,
  timeoutMs = 60_000,
): Promise<RunningCli & { match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, ...env }, stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`custodian ${args.join(" ")} not ready:\n${stdout}\n${stderr}`)), timeoutMs);
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = stdout.match(ready);
      if (match) {
        clearTimeout(timer);
        resolve({
          child,
          match,
          output: () => ({ stdout, stderr }),
          async stop(signal = "SIGTERM") {
            if (child.exitCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`custodian ${args.join(" ")} exited with ${code}:\n${stdout}\n${stderr}`));
    });
  });
}
