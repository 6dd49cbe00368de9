import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { log } from "../log.ts";

/** A job that a worker pool that is gone had locked, released by the sweep. */
export interface ReleasedJob {
  jobId: string;
  task: string;
  attempts: number;
  maxAttempts: number;
  poolId: string;
}

export interface Sweep {
  released: ReleasedJob[];
  /** Retention runs a dead process left marked running, now closed as failed. */
  abandonedRetentionRuns: number;
}

/**
 * Frees what dead worker processes left behind: the jobs (and named queues)
 * their pools had locked, and a retention run still marked running. The
 * worker does it as it starts, and the worker_release_gone task every minute.
 */
export async function releaseWhatGoneWorkersLeft(client: pg.ClientBase): Promise<Sweep> {
  const { rows } = await client.query<{ job_id: string; task_identifier: string; attempts: number; max_attempts: number; pool_id: string }>(
    "select job_id::text, task_identifier, attempts, max_attempts, pool_id from app_private.release_jobs_of_gone_workers()");
  const { rows: [closed] } = await client.query<{ n: number }>("select app_private.close_abandoned_retention_runs() as n");
  return {
    released: rows.map((row) => ({ jobId: row.job_id, task: row.task_identifier, attempts: row.attempts, maxAttempts: row.max_attempts, poolId: row.pool_id })),
    abandonedRetentionRuns: closed!.n,
  };
}

/** The sweep in words, one line per job, for the log. */
export function describeSweep(sweep: Sweep): string[] {
  const lines = sweep.released.map((job) =>
    `released job ${job.jobId} (${job.task}) of worker pool ${job.poolId}, which is gone: ` +
    (job.attempts < job.maxAttempts ? `it runs again now (attempt ${job.attempts + 1} of ${job.maxAttempts})` : `it had its ${job.maxAttempts} attempt(s); the task's next run does its work`));
  if (sweep.abandonedRetentionRuns > 0) lines.push(`closed ${sweep.abandonedRetentionRuns} retention run(s) a dead process left running, as failed`);
  return lines;
}

export interface Presence {
  /** Resolves once the pool is registered and its session named. */
  ready: Promise<void>;
  /** Forgets the pool and closes its session (a clean stop). */
  close(): Promise<void>;
}

/**
 * Keeps one session open that says this worker pool is alive, for as long as
 * it runs: registered in app_private.worker_pools and named after the pool.
 * When the database restarts the session is opened and registered again.
 * When the process dies the session ends with it, and the pool is gone.
 */
export function keepPresence(connectionString: string, poolId: string): Presence {
  let closing = false;
  let current: pg.Client | null = null;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const loop = (async () => {
    while (!closing) {
      const client = new pg.Client({ connectionString });
      const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
      client.on("error", (error) => log.warn({ err: error, poolId }, "worker presence: connection lost"));
      current = client;
      try {
        await client.connect();
        await client.query("select app_private.register_worker_pool($1, $2, $3)", [poolId, os.hostname(), process.pid]);
        markReady();
        await ended;
      } catch (error) {
        if (!closing) log.warn({ err: error, poolId }, "worker presence: could not register; trying again");
        await client.end().catch(() => undefined);
      }
      current = null;
      if (!closing) await sleep(1000);
    }
  })();
  return {
    ready,
    async close() {
      closing = true;
      const client = current;
      if (client) {
        await client.query("delete from app_private.worker_pools where pool_id = $1", [poolId]).catch(() => undefined);
        await client.end().catch(() => undefined);
      }
      markReady();
      await loop;
    },
  };
}
