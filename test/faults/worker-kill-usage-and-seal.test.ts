import type pg from "pg";
import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import {
  addCrontabJob, holdLocks, jobState, killWorker, queueLock, reconcileDifferences, startWorkerProcess, testPool,
  waitFor, waitUntilJobDone, waitUntilOnlyTestSessions, waitUntilWaitingOn, type RunningWorker,
} from "../support/faults.ts";
import { createBillingCoach, createPlan, createRates, createSession, insertAttempt, type BillingCoach, type Rate } from "../usage/helpers.ts";
import { openScratchDatabase, type ScratchDatabase } from "../support/file-scratch-database.ts";

// kill -9 of `custodian worker` in the middle of sealing the audit trail,
// rating usage and rolling it up, on a database of this file's own (the
// suite's database and its other files are not disturbed). "In the middle" is
// made exact with locks: a session of the test holds what the task needs
// next, the test waits until the worker's session waits on it, then kills.

let scratch: ScratchDatabase;
let db: pg.Pool;
let env: Record<string, string>;

beforeAll(async () => {
  scratch = await openScratchDatabase();
  env = testEnvironment({ DATABASE_URL: scratch.url });
  expect((await runCli(["migrate"], env)).code).toBe(0);
  db = testPool(scratch.url);
}, 120_000);

afterAll(async () => {
  await db?.end();
  await scratch?.drop();
});

/** A crontab job (one attempt) the killed worker held: freed by the restarted one, failed with words, its log line written. */
async function expectReleasedWithoutAttempts(restarted: RunningWorker, jobId: string, task: string): Promise<void> {
  expect(await jobState(db, jobId)).toEqual({
    attempts: 1, max_attempts: 1, locked_by: null, queue_name: null,
    last_error: "The worker process running it died (its worker pool's session ended) with no attempt left; the task's next run does its work.",
  });
  expect(restarted.output().stderr).toContain(`released job ${jobId} (${task}) of worker pool`);
}

async function chainVerifies(): Promise<void> {
  expect(await runCli(["audit", "seal"], env)).toMatchObject({ code: 0 });
  expect(await runCli(["audit", "verify"], env)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Audit trail intact: /) });
}

test("killed between two seal batches: the first seal stands whole, nothing of the second is there, the next run seals the rest and the chain verifies", async () => {
  // Past one batch (10,000 events) of pending events.
  await db.query(`insert into app_public.provider_rates (provider, model, cost_per_minute_minor)
    select 'seal-fault-' || g, 'm', 1 from generate_series(1, 10500) g`);
  const pending = Number((await db.query("select count(*) from audit.events")).rows[0].count);
  expect(pending).toBeGreaterThan(10_000);
  const worker = await startWorkerProcess(env);

  // The first batch waits behind one session; a second session queues behind the worker, so that it holds the lock the second batch needs.
  const first = await holdLocks(db, "lock table audit.seals in row share mode");
  const jobId = await addCrontabJob(db, "audit_seal");
  await waitUntilWaitingOn(db, first.pid, "the first seal batch waits");
  const second = await queueLock(db, "lock table audit.seals in row share mode");
  await waitFor("the second session queues behind the worker", async () =>
    (await db.query("select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'", [second.pid])).rowCount === 1);
  await first.release();
  await second.granted;
  await waitUntilWaitingOn(db, second.pid, "the second seal batch waits");
  expect((await db.query("select count(*)::int as n from audit.seals")).rows[0].n).toBe(1);

  await killWorker(worker);
  await waitUntilOnlyTestSessions(db);
  await second.release();

  // One seal of exactly 10,000 events, its range whole; the rest pending, in no seal.
  const { rows: seals } = await db.query("select first_event_id::int, last_event_id::int, cardinality(event_ids) as n from audit.seals");
  expect(seals).toEqual([{ first_event_id: expect.any(Number), last_event_id: expect.any(Number), n: 10_000 }]);
  const { rows: [unsealed] } = await db.query("select count(*)::int as n from audit.events where id > $1", [seals[0].last_event_id]);
  expect(unsealed.n).toBe(pending - 10_000);
  expect(await jobState(db, jobId)).toMatchObject({ locked_by: expect.stringMatching(/^pool-/), attempts: 1, max_attempts: 1 });

  // The restarted worker frees the dead pool's job at once; the crontab's next run (added as it adds it) seals the rest.
  const restarted = await startWorkerProcess(env);
  try {
    await expectReleasedWithoutAttempts(restarted, jobId, "audit_seal");
    await waitUntilJobDone(db, await addCrontabJob(db, "audit_seal"));
    const { rows: [after] } = await db.query("select count(*)::int as unsealed from audit.events where id > (select max(last_event_id) from audit.seals)");
    expect(after.unsealed).toBe(0);
  } finally {
    await restarted.stop();
  }
  await chainVerifies();
});

/** A completed attempt of the coach's session that finished at `finishedAt`: captured, to be rated. */
async function attempt(coach: BillingCoach, sessionId: string, rate: Rate, finishedAt: string, seconds = 600): Promise<string> {
  void coach;
  return insertAttempt(db, sessionId, { status: "completed", seconds, finishedAt, rate });
}

/** Each coach-month's ledger against the events rated into it: they move together or not at all. */
async function ledgersAgainstEvents(profileIds: string[]) {
  const { rows } = await db.query(
    `select l.coach_profile_id, l.billing_month::text, l.included_seconds_used::int, l.charged_minor::int,
            (select coalesce(sum(e.included_seconds), 0)::int from app_public.usage_events e
             where e.coach_profile_id = l.coach_profile_id and e.billing_month = l.billing_month) as events_included_seconds,
            (select coalesce(sum(e.amount_minor), 0)::int from app_public.usage_events e
             where e.coach_profile_id = l.coach_profile_id and e.billing_month = l.billing_month) as events_amount_minor,
            (select count(*)::int from app_public.usage_events e
             where e.coach_profile_id = l.coach_profile_id and e.billing_month = l.billing_month) as events
     from app_private.usage_ledgers l where l.coach_profile_id = any ($1) order by l.coach_profile_id::text, l.billing_month`, [profileIds]);
  for (const row of rows) {
    expect({ included: row.included_seconds_used, charged: row.charged_minor }).toEqual({ included: row.events_included_seconds, charged: row.events_amount_minor });
  }
  return rows.map((row) => ({ coach: row.coach_profile_id, month: row.billing_month, events: row.events }));
}

test("killed in the middle of a rating run: no coach-month half rated (events, ledger and queue move together), and the next run rates each record once", async () => {
  const plan = await createPlan(db);
  const rate = await createRates(db, [{ costPerMinuteMinor: "0.5" }]);
  const a = await createBillingCoach(db, plan.id, "rating-fault-a");
  const b = await createBillingCoach(db, plan.id, "rating-fault-b");
  const sessionA = await createSession(db, a);
  const sessionB = await createSession(db, b);
  // A's October already has a rated charge, so its ledger row exists for the run to wait on.
  await attempt(a, sessionA, rate, "2026-10-02T10:00:00Z");
  expect(await runCli(["usage", "rate"], env)).toMatchObject({ code: 0 });
  const before = await ledgersAgainstEvents([a.profileId, b.profileId]);
  expect(before).toEqual([{ coach: a.profileId, month: "2026-10-01", events: 1 }]);
  for (const day of ["03", "04", "05"]) {
    await attempt(b, sessionB, rate, `2026-10-${day}T10:00:00Z`);
    await attempt(a, sessionA, rate, `2026-10-${day}T11:00:00Z`);
  }
  const queued = async () => (await db.query(
    "select count(*)::int as n from app_private.usage_records where coach_profile_id = any ($1)", [[a.profileId, b.profileId]])).rows[0].n;
  expect(await queued()).toBe(6);

  const worker = await startWorkerProcess(env);
  // The run prices every record, writes B's events and ledger, then waits on A's ledger row.
  const holder = await holdLocks(db, `select 1 from app_private.usage_ledgers where coach_profile_id = '${a.profileId}' and billing_month = '2026-10-01' for update`);
  const jobId = await addCrontabJob(db, "usage_rate");
  await waitUntilWaitingOn(db, holder.pid, "the rating run waits on A's ledger");
  await killWorker(worker);
  await waitUntilOnlyTestSessions(db);
  await holder.release();

  expect(await ledgersAgainstEvents([a.profileId, b.profileId])).toEqual(before);
  expect(await queued()).toBe(6);

  const restarted = await startWorkerProcess(env);
  try {
    await expectReleasedWithoutAttempts(restarted, jobId, "usage_rate");
    await waitUntilJobDone(db, await addCrontabJob(db, "usage_rate"));
  } finally {
    await restarted.stop();
  }
  const byCoach = (x: { coach: string }, y: { coach: string }) => (x.coach < y.coach ? -1 : 1);
  expect((await ledgersAgainstEvents([a.profileId, b.profileId])).sort(byCoach)).toEqual([
    { coach: a.profileId, month: "2026-10-01", events: 4 },
    { coach: b.profileId, month: "2026-10-01", events: 3 },
  ].sort(byCoach));
  expect(await queued()).toBe(0);
  const { rows: [once] } = await db.query(
    "select count(*)::int as events, count(distinct transcription_id)::int as attempts from app_public.usage_events where coach_profile_id = any ($1)",
    [[a.profileId, b.profileId]]);
  expect(once).toEqual({ events: 7, attempts: 7 });
  expect(await reconcileDifferences(db)).toEqual([]);
  await chainVerifies();
});

test("killed in the middle of a rollup: every day is rebuilt whole or left as it was (still marked), and the next run rebuilds the rest", async () => {
  const plan = await createPlan(db);
  const rate = await createRates(db, [{ costPerMinuteMinor: "0.5" }]);
  const coach = await createBillingCoach(db, plan.id, "rollup-fault");
  const sessionId = await createSession(db, coach);
  // Forty days with usage, rolled up; then one more attempt on each, rated but not yet rolled up.
  const days = Array.from({ length: 40 }, (_, i) => new Date(Date.UTC(2026, 7, 1 + i)).toISOString().slice(0, 10));
  for (const day of days) await attempt(coach, sessionId, rate, `${day}T09:00:00Z`);
  expect(await runCli(["usage", "aggregate"], env)).toMatchObject({ code: 0 });
  for (const day of days) await attempt(coach, sessionId, rate, `${day}T15:00:00Z`, 300);
  await db.query("select app_private.rate_usage_records(null)");
  const dailyRows = async () => (await db.query(
    "select day::text, attempts, audio_seconds::int from app_public.usage_daily where coach_profile_id = $1 order by day", [coach.profileId])).rows;
  const stale = await dailyRows();
  const dirty = async () => (await db.query("select day::text from app_private.usage_dirty_days order by day")).rows.map((row) => row.day);
  expect(await dirty()).toEqual(days);

  const worker = await startWorkerProcess(env);
  // A month of days (one transaction) is rebuilt and committed; the next transaction rebuilds days until the 35th, whose row the test holds.
  const holder = await holdLocks(db, `select 1 from app_public.usage_daily where coach_profile_id = '${coach.profileId}' and day = '${days[34]}' for update`);
  const jobId = await addCrontabJob(db, "usage_aggregate");
  await waitUntilWaitingOn(db, holder.pid, "the rollup waits on the 35th day");
  await killWorker(worker);
  await waitUntilOnlyTestSessions(db);
  await holder.release();

  // Each day is either rebuilt (two attempts) and unmarked, or as it was (one attempt) and still marked: never half.
  const halfway = await dailyRows();
  const stillDirty = await dirty();
  expect(stillDirty.length).toBeGreaterThan(0);
  expect(stillDirty.length).toBeLessThan(days.length);
  for (const row of halfway) {
    if (stillDirty.includes(row.day)) expect(row).toEqual(stale.find((old) => old.day === row.day));
    else expect(row).toMatchObject({ attempts: 2 });
  }
  expect(halfway.map((row) => row.day)).toEqual(days);

  const restarted = await startWorkerProcess(env);
  try {
    await expectReleasedWithoutAttempts(restarted, jobId, "usage_aggregate");
    await waitUntilJobDone(db, await addCrontabJob(db, "usage_aggregate"));
  } finally {
    await restarted.stop();
  }
  expect(await dirty()).toEqual([]);
  expect((await dailyRows()).every((row) => row.attempts === 2)).toBe(true);
  expect(await reconcileDifferences(db)).toEqual([]);
  await chainVerifies();
});
