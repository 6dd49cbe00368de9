import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { startCli, type RunningCli } from "./cli.ts";

/** The application_name of a fault test's own sessions, so that they are told apart from the worker's. */
export const testSessionName = "custodian fault test";

/** A pool on a scratch database whose sessions say they are the test's. */
export function testPool(databaseUrl: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 6, application_name: testSessionName });
  // An idle session ends only when the database goes on purpose: the scratch database dropped
  // while a closing session is still there, or the killed PostgreSQL of a fault test.
  pool.on("error", () => undefined);
  return pool;
}

/**
 * Waits until `check` returns a value (not null, undefined or false): a state
 * of the database reached, read again every 50 ms. Never a timed assertion:
 * the deadline only turns a hang into a failure that says what never came.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`never happened: ${what}`);
    await sleep(50);
  }
}

export interface RunningWorker extends RunningCli {
  poolId: string;
  pid: number;
}

/** `custodian worker` as its own process, once it says it runs. */
export async function startWorkerProcess(env: Record<string, string>): Promise<RunningWorker> {
  const worker = await startCli(["worker"], env, /^Worker running \(pool (\S+)\)/m);
  return Object.assign(worker, { poolId: worker.match[1]!, pid: worker.child.pid! });
}

/** kill -9 of the worker process; resolves once it is dead. */
export async function killWorker(worker: RunningCli): Promise<void> {
  expect(await worker.stop("SIGKILL")).toBe(null);
  expect(worker.child.signalCode).toBe("SIGKILL");
}

/** The pid of a session of the database (not the test's own) waiting on a lock that session `holderPid` holds. */
export function waitUntilWaitingOn(db: pg.Pool, holderPid: number, what: string): Promise<number> {
  return waitFor(what, async () => (await db.query<{ pid: number }>(
    `select pid from pg_stat_activity
     where datname = current_database() and application_name is distinct from $2 and $1 = any (pg_blocking_pids(pid))
     order by backend_start limit 1`, [holderPid, testSessionName])).rows[0]?.pid);
}

/** Waits until no session of the database but the test's own is left (a killed worker's sessions have ended). */
export function waitUntilOnlyTestSessions(db: pg.Pool): Promise<true> {
  return waitFor("the killed worker's sessions ended", async () => (await db.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
     where datname = current_database() and backend_type = 'client backend' and application_name is distinct from $1`,
    [testSessionName])).rows[0]!.n === 0);
}

/** A session of the test's that holds locks until it is let go (rolled back). */
export async function holdLocks(db: pg.Pool, ...statements: string[]): Promise<{ pid: number; release(): Promise<void> }> {
  const client = await db.connect();
  await client.query("begin");
  const { rows: [{ pid }] } = await client.query("select pg_backend_pid() as pid");
  for (const statement of statements) await client.query(statement);
  return {
    pid,
    async release() {
      await client.query("rollback");
      client.release();
    },
  };
}

/** Like holdLocks, for a lock that is waited for: resolves with the session once the request is queued (or granted). */
export async function queueLock(db: pg.Pool, statement: string): Promise<{ pid: number; granted: Promise<void>; release(): Promise<void> }> {
  const client = await db.connect();
  await client.query("begin");
  const { rows: [{ pid }] } = await client.query("select pg_backend_pid() as pid");
  const granted = client.query(statement).then(() => undefined);
  return {
    pid,
    granted,
    async release() {
      await granted;
      await client.query("rollback");
      client.release();
    },
  };
}

/** Adds a job as the crontab adds it: its job key, one attempt. Returns its id. */
export async function addCrontabJob(db: pg.Pool, task: string): Promise<string> {
  const { rows: [job] } = await db.query<{ id: string }>(
    "select id::text from graphile_worker.add_job($1, '{}'::json, job_key => $1, max_attempts => 1)", [task]);
  return job!.id;
}

/** Waits until the worker has finished a job: graphile-worker deletes a job that succeeded. */
export function waitUntilJobDone(db: pg.Pool, jobId: string): Promise<true> {
  return waitFor(`job ${jobId} finished`, async () => {
    const { rows: [job] } = await db.query("select attempts, max_attempts, last_error, locked_by from graphile_worker.jobs where id = $1", [jobId]);
    if (job?.last_error && job.attempts >= job.max_attempts) throw new Error(`job ${jobId} failed: ${job.last_error}`);
    return job === undefined;
  });
}

/** The state of a job, for what the worker left: null once it is gone. */
export async function jobState(db: pg.Pool, jobId: string) {
  const { rows: [job] } = await db.query(
    "select attempts, max_attempts, locked_by, last_error, queue_name from graphile_worker.jobs where id = $1", [jobId]);
  return job ?? null;
}

/** Usage events' first day up to (not including) the day after their last: the range reconcile is asked about. */
export async function reconcileDifferences(db: pg.Pool) {
  const { rows } = await db.query(
    `select r.* from app_private.usage_event_days() d, app_public.usage_reconcile(d.first_day, d.last_day + 1) r
     where d.first_day is not null`);
  return rows;
}
