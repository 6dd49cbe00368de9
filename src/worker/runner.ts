import { EventEmitter } from "node:events";
import path from "node:path";
import { run, runOnce, type RunnerOptions, type WorkerEvents, type WorkerPool } from "graphile-worker";
import type pg from "pg";
import { ownerUrl } from "../db/connection-strings.ts";
import { graphileLogger } from "../graphile-logger.ts";
import { log } from "../log.ts";
import { makePool } from "../db/pool.ts";
import { projectRoot } from "../paths.ts";
import { describeSweep, keepPresence, releaseWhatGoneWorkersLeft, type Presence } from "./gone-workers.ts";

export interface RunningWorker {
  /** graphile-worker's id of the pool, as it writes it into locked_by. */
  poolId: string;
  stop(): Promise<void>;
}

/**
 * The worker's connections act as the owner (the governed machinery they run
 * is the owner's), and PostgreSQL checks every second that the worker is
 * still there while a statement runs: a killed worker's sessions end and let
 * go of their locks instead of running on (or waiting on a lock) for nobody.
 */
function workerUrl(databaseUrl: string): string {
  const url = new URL(ownerUrl(databaseUrl));
  url.searchParams.set("options", `${url.searchParams.get("options") ?? ""} -c client_connection_check_interval=1000`.trim());
  return url.toString();
}

/**
 * The worker's own pool, so that a database going away (as at shutdown) is
 * logged rather than crashing the process, and so that we close it.
 */
function workerPool(databaseUrl: string): pg.Pool {
  return makePool(workerUrl(databaseUrl), 4, "worker");
}

function workerOptions(pgPool: pg.Pool, events: WorkerEvents): RunnerOptions {
  return {
    pgPool,
    taskDirectory: path.join(projectRoot, "worker", "tasks"),
    crontabFile: path.join(projectRoot, "worker", "crontab"),
    concurrency: 2,
    logger: graphileLogger("worker"),
    // Custodian stops the worker itself, before the database.
    noHandleSignals: true,
    events,
  };
}

/** Releases what dead workers left (their locked jobs at once, not after graphile-worker's 4 hours) and logs it. */
async function sweep(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    for (const line of describeSweep(await releaseWhatGoneWorkersLeft(client))) log.warn({ component: "worker" }, line);
  } finally {
    client.release();
  }
}

/** Registers the pool graphile-worker creates, as soon as it creates it. */
function registerPools(databaseUrl: string): { events: WorkerEvents; registered: () => { poolId: string; presence: Presence } | null } {
  const events: WorkerEvents = new EventEmitter();
  let registered: { poolId: string; presence: Presence } | null = null;
  events.on("pool:create", ({ workerPool }: { workerPool: WorkerPool }) => {
    registered = { poolId: workerPool.id, presence: keepPresence(workerUrl(databaseUrl), workerPool.id) };
  });
  return { events, registered: () => registered };
}

/** Runs the worker until stopped: jobs as they come, and the crontab. */
export async function startWorker(databaseUrl: string): Promise<RunningWorker> {
  const pool = workerPool(databaseUrl);
  await sweep(pool);
  const { events, registered } = registerPools(databaseUrl);
  const runner = await run(workerOptions(pool, events));
  const { poolId, presence: alive } = registered()!;
  await alive.ready;
  return {
    poolId,
    async stop() {
      await runner.stop();
      await alive.close();
      await pool.end();
    },
  };
}

/** Runs every job that is due now (those a dead worker left locked included), then returns. */
export async function runDueJobs(databaseUrl: string): Promise<void> {
  const pool = workerPool(databaseUrl);
  const { events, registered } = registerPools(databaseUrl);
  try {
    await sweep(pool);
    await runOnce(workerOptions(pool, events));
  } finally {
    await registered()?.presence.close();
    await pool.end();
  }
}
