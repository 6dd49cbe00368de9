import path from "node:path";
import { run, runOnce, type RunnerOptions } from "graphile-worker";
import type pg from "pg";
import { ownerUrl } from "../db/connection-strings.ts";
import { graphileLogger } from "../graphile-logger.ts";
import { makePool } from "../db/pool.ts";
import { projectRoot } from "../paths.ts";

export interface RunningWorker {
  stop(): Promise<void>;
}

/**
 * The worker's own pool, so that a database going away (as at shutdown) is
 * logged rather than crashing the process, and so that we close it.
 */
function workerPool(databaseUrl: string): pg.Pool {
  // Jobs act as the owner: the governed machinery they run is the owner's.
  return makePool(ownerUrl(databaseUrl), 4, "worker");
}

function workerOptions(pgPool: pg.Pool): RunnerOptions {
  return {
    pgPool,
    taskDirectory: path.join(projectRoot, "worker", "tasks"),
    crontabFile: path.join(projectRoot, "worker", "crontab"),
    concurrency: 2,
    logger: graphileLogger("worker"),
    // Custodian stops the worker itself, before the database.
    noHandleSignals: true,
  };
}

/** Runs the worker until stopped: jobs as they come, and the crontab. */
export async function startWorker(databaseUrl: string): Promise<RunningWorker> {
  const pool = workerPool(databaseUrl);
  const runner = await run(workerOptions(pool));
  return {
    async stop() {
      await runner.stop();
      await pool.end();
    },
  };
}

/** Runs every job that is due now, then returns. */
export async function runDueJobs(databaseUrl: string): Promise<void> {
  const pool = workerPool(databaseUrl);
  try {
    await runOnce(workerOptions(pool));
  } finally {
    await pool.end();
  }
}
