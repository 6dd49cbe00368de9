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
  return waitForCli(spawn(process.execPath, [main, ...args], { env: { ...process.env, ...env }, stdio: "pipe" }), started);
}

/** What a confined command may not do: grow a file past a size (util-linux prlimit, RLIMIT_FSIZE), or act as root. */
export interface Confinement {
  /** A write beyond it fails with EFBIG, as a write to a full disk fails with ENOSPC, without a mount only root could make. */
  fileSizeLimitBytes?: number;
  /** As root every folder is writable: run as `nobody`, as a service account would (others' folders are then not writable). */
  unprivileged?: boolean;
}

/** runCli, confined. */
export function runConfinedCli(confinement: Confinement, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const command = [process.execPath, main, ...args];
  if (confinement.fileSizeLimitBytes !== undefined) command.unshift("prlimit", `--fsize=${confinement.fileSizeLimitBytes}`, "--");
  const asNobody = confinement.unprivileged && process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  return waitForCli(spawn(command[0]!, command.slice(1), { env: { ...process.env, ...env }, stdio: "pipe", ...asNobody }));
}

function waitForCli(child: ChildProcess & { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream }, started?: (child: ChildProcess) => void): Promise<CliResult> {
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
