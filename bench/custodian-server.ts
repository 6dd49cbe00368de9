// `custodian start` on a bench's scratch database, as a child process the
// teardown stops: the real server, and the real worker when asked for.
import crypto from "node:crypto";
import { spawn } from "node:child_process";
import path from "node:path";
import { projectRoot } from "../src/paths.ts";
import type { Teardown } from "./scratch-database.ts";

export interface RunningCustodian {
  /** The server's base URL, e.g. http://127.0.0.1:41234. */
  base: string;
  /** The process id, to read its CPU time. */
  pid: number;
}

/** Starts `custodian start` (no demo data; the worker only when `worker`; `env` added to its environment), resolving once it listens. */
export async function startCustodian(databaseUrl: string, teardown: Teardown, options: { worker: boolean; env?: Record<string, string> }): Promise<RunningCustodian> {
  const child = spawn(process.execPath, [path.join(projectRoot, "src/cli/main.ts"), "start"], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: "0",
      WORKER: options.worker ? "on" : "off",
      SEED_DEMO: "off",
      LOG_LEVEL: "warn",
      JWT_SECRET: crypto.randomBytes(32).toString("hex"),
      AUTHENTICATOR_PASSWORD: crypto.randomBytes(16).toString("hex"),
      ...options.env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  teardown.defer(async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
  });
  let stdout = "";
  let ready = false;
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      // The server's log (warnings and errors: a job that failed) goes on with the bench's progress.
      process.stderr.write(chunk);
      if (ready) return;
      stdout += chunk;
      const match = /GraphQL\s+(http:\S+)\/graphql/.exec(stdout);
      if (match) {
        ready = true;
        resolve({ base: match[1]!, pid: child.pid! });
      }
    });
    void exited.then(() => reject(new Error(`custodian start exited before it was ready:\n${stdout}`)));
  });
}
