import path from "node:path";
import { run, runOnce, type RunnerOptions } from "graphile-worker";
import { ownerUrl } from "../db/connection-strings.ts";
import { graphileLogger } from "../graphile-logger.ts";
import { projectRoot } from "../paths.ts";

export interface RunningWorker {
  stop(): Promise<void>;
}

function workerOptions(databaseUrl: string): RunnerOptions {
  return {
    // Jobs act as the owner: the governed machinery they run is the owner's.
    connectionString: ownerUrl(databaseUrl),
    taskDirectory: path.join(projectRoot, "worker", "tasks"),
    crontabFile: path.join(projectRoot, "worker", "crontab"),
    concurrency: 2,
    maxPoolSize: 4,
    logger: graphileLogger("worker"),
    // Custodian stops the worker itself, before the database.
    noHandleSignals: true,
  };
}

/** Runs the worker until stopped: jobs as they come, and the crontab. */
export async function startWorker(databaseUrl: string): Promise<RunningWorker> {
  const runner = await run(workerOptions(databaseUrl));
  return { stop: () => runner.stop() };
}

/** Runs every job that is due now, then returns. */
export async function runDueJobs(databaseUrl: string): Promise<void> {
  await runOnce(workerOptions(databaseUrl));
}
