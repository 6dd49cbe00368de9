import fs from "node:fs";
import path from "node:path";
import type pg from "pg";
import { projectRoot } from "../../src/paths.ts";
import { runCli } from "../support/cli.ts";
import { becomeRoot, becomeUser, closeRootPool, rootPool, waitUntilBlocked, withRootDb } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createUser } from "../support/fixtures.ts";
import { runWorkerOnce } from "../support/worker-once.ts";
import {
  createBillingCoach,
  createPlan,
  createRates,
  createSession,
  deleteBillingCoach,
  eventColumns,
  insertAttempt,
  rateUsage,
  type BillingCoach,
  type Plan,
  type Rate,
} from "./helpers.ts";

afterAll(closeRootPool);

type Queryable = pg.ClientBase | pg.Pool;

/** The coaches' priced usage as readers see it before rating (rated events plus records priced on the fly). */
const pricedNow = async (client: Queryable, profileIds: string[]) =>
  (await client.query(
    `select ${eventColumns} from (
       select * from app_public.usage_events where coach_profile_id = any($1::uuid[])
       union all
       select * from app_private.price_usage_records() where coach_profile_id = any($1::uuid[])) e
     order by e.id`,
    [profileIds],
  )).rows;

/** What rating wrote for the coaches: their events and ledgers. */
const books = async (client: Queryable, profileIds: string[]) => ({
  events: (await client.query(`select ${eventColumns} from app_public.usage_events e where e.coach_profile_id = any($1::uuid[]) order by e.id`,
    [profileIds])).rows,
  ledgers: (await client.query(
    `select coach_profile_id, billing_month::text, included_seconds_used::int, charged_seconds::int, charge_sixtieths::text, charged_minor::int
     from app_private.usage_ledgers where coach_profile_id = any($1::uuid[]) order by 1, 2`, [profileIds])).rows,
  pending: (await client.query("select count(*)::int as n from app_private.usage_records where coach_profile_id = any($1::uuid[])",
    [profileIds])).rows[0].n as number,
});

/** Some attempts of one coach over two sessions: failures, a first success, a re-transcription, overage. */
async function workload(client: Queryable, coach: BillingCoach, rate: Rate, finishedAt: string | null = null): Promise<string[]> {
  const one = await createSession(client, coach, 900);
  const two = await createSession(client, coach, 900);
  const ids = [];
  const failed = await insertAttempt(client, one, { status: "failed", finishedAt, rate });
  ids.push(failed);
  ids.push(await insertAttempt(client, one, { status: "completed", seconds: 500, finishedAt, rate, retryOf: failed }));
  ids.push(await insertAttempt(client, one, { status: "completed", seconds: 400, finishedAt, rate }));
  ids.push(await insertAttempt(client, two, { status: "completed", seconds: 333, finishedAt, rate }));
  ids.push(await insertAttempt(client, two, { status: "failed", seconds: 20, finishedAt, rate }));
  return ids;
}

describe("the rating step", () => {
  test("capture writes one raw record and nothing else; rating prices it as the rule says, continuing the month's ledger", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 10, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      await workload(client, coach, rate);
      // Nothing priced yet: five records, no event, no ledger.
      expect(await books(client, [coach.profileId])).toEqual({ events: [], ledgers: [], pending: 5 });

      await rateUsage(client);
      const { events, ledgers, pending } = await books(client, [coach.profileId]);
      expect(pending).toBe(0);
      // 600 included seconds: 500 of the first success, 100 of the re-transcription; then 300 + 333 s at 7/min.
      expect(events.map((e) => [e.reason, e.included_seconds, e.charged_seconds, e.amount])).toEqual([
        ["failed_free", 0, 0, 0], ["included_minutes", 500, 0, 0], ["retranscription", 100, 300, 35], ["first_success", 0, 333, 39],
        ["failed_free", 0, 0, 0],
      ]);
      // The amounts add up to the rounded exact charge: (300 + 333) × 7 / 60 = 73.85 → 74.
      expect(ledgers).toEqual([{ coach_profile_id: coach.profileId, billing_month: events[0].billing_month, included_seconds_used: 600,
        charged_seconds: 633, charge_sixtieths: String(633 * 7), charged_minor: 74 }]);

      // A later run continues the ledger where the last stopped.
      await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 61, rate });
      await rateUsage(client);
      const later = await books(client, [coach.profileId]);
      expect(later.events.at(-1)).toMatchObject({ reason: "first_success", included_seconds: 0, charged_seconds: 61, amount: 7 });
      expect(later.ledgers[0]).toMatchObject({ charged_seconds: 694, charge_sixtieths: String(694 * 7), charged_minor: 81 });
    }));

  test("rating a batch at once gives the same figures as rating each record alone, and rating again changes nothing", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 10, pricePerMinuteMinor: 7 });
      const [together, alone] = [await createBillingCoach(client, plan.id, "together"), await createBillingCoach(client, plan.id, "alone")];
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      await workload(client, together, rate);
      await rateUsage(client);
      for (const id of await workload(client, alone, rate)) {
        void id;
        await client.query("select app_private.rate_usage_records(1)");
      }
      const strip = (events: Array<Record<string, unknown>>) =>
        events.map(({ id: _id, coach_profile_id: _c, session_id: _s, transcription_id: _t, ...figures }) => figures);
      const a = await books(client, [together.profileId]);
      const b = await books(client, [alone.profileId]);
      expect(strip(b.events)).toEqual(strip(a.events));
      expect(b.ledgers.map(({ coach_profile_id: _c, ...ledger }) => ledger)).toEqual(a.ledgers.map(({ coach_profile_id: _c, ...ledger }) => ledger));

      const before = await books(client, [together.profileId, alone.profileId]);
      expect(await rateUsage(client)).toMatchObject({ rated: 0 });
      expect(await books(client, [together.profileId, alone.profileId])).toEqual(before);
    }));
});

describe("records of attempts rated before", () => {
  /** A second record of an attempt already rated, as a restored attempt's capture writes one. */
  const captureAgain = (client: Queryable, transcriptionId: string) => client.query(
    `insert into app_private.usage_records (transcription_id, coach_profile_id, session_id, is_retry, provider, model, language,
       outcome, billed_duration_seconds, finished_at)
     select t.id, t.coach_profile_id, t.session_id, t.retry_of is not null, t.provider, t.model, t.language,
       t.status::text::app_public.attempt_outcome, t.billed_duration_seconds, t.finished_at
     from app_public.transcriptions t where t.id = $1`, [transcriptionId]);

  test("are never priced again and leave the queue, before a batch's records or after them, in batches of any size", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 10, pricePerMinuteMinor: 7 });
      const [coach, alone] = [await createBillingCoach(client, plan.id, "captured-again"), await createBillingCoach(client, plan.id, "not-captured-again")];
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const first = await workload(client, coach, rate);
      await rateUsage(client);
      const rated = await books(client, [coach.profileId]);
      // One before the next attempts' records, one after them; the same attempts of another coach with none.
      await captureAgain(client, first[1]!);
      await workload(client, coach, rate);
      await captureAgain(client, first[2]!);
      await workload(client, alone, rate);
      await workload(client, alone, rate);
      // Batches of two (as rateCapturedUsage runs them, till one is short; other files' committed
      // records may be queued too): the full ones take off the record below their ids, the run's
      // last one the record above.
      for (let batch = 0; batch < 1000; batch++) {
        const { rows: [{ rated: now }] } = await client.query("select rated from app_private.rate_usage_records(2)");
        if (now < 2) break;
      }
      const after = await books(client, [coach.profileId]);
      expect(after.pending).toBe(0);
      expect(after.events.slice(0, rated.events.length)).toEqual(rated.events);
      expect(after.events).toHaveLength(10);
      const strip = (events: Array<Record<string, unknown>>) =>
        events.map(({ id: _id, coach_profile_id: _c, session_id: _s, transcription_id: _t, plan_id: _p, ...figures }) => figures);
      const other = await books(client, [alone.profileId]);
      expect(strip(after.events)).toEqual(strip(other.events));
      expect(after.ledgers.map(({ coach_profile_id: _c, ...ledger }) => ledger)).toEqual(other.ledgers.map(({ coach_profile_id: _c, ...ledger }) => ledger));
    }));
});

describe("readers that show money include what is not rated yet", () => {
  test("the invoice preview, explainCharge, the events of a range and today's analytics are the same before and after rating", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { feeMinor: 1500, includedMinutes: 10, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      await rateUsage(client); // only this test's records are pending below
      await workload(client, coach, rate);
      const ids = (await pricedNow(client, [coach.profileId])).map((e) => e.id);
      expect(ids).toHaveLength(5);

      const read = async () => {
        const seen: Record<string, unknown> = {};
        for (const [who, actor] of [["admin", admin], ["coach", coach.user]] as const) {
          await becomeUser(client, actor);
          seen[`${who} invoice`] = (await client.query(
            "select usage_minor::int, total_minor::int, audio_seconds::int, charged_seconds::int from app_public.invoice_preview($1)",
            [coach.profileId])).rows;
          seen[`${who} explanations`] = (await client.query(
            "select app_public.explain_charge(id) as x from unnest($1::bigint[]) id order by id", [ids])).rows.map((row) => row.x);
          seen[`${who} events`] = (await client.query(
            "select id::text, billing_reason::text, amount_minor::int from app_public.usage_in_range(current_date, current_date + 1, $1)",
            [coach.profileId])).rows;
          if (who === "coach") {
            // A coach's own figures (an admin's totals would count other tests' usage of today).
            seen.revenue = (await client.query("select revenue_minor::int from app_public.revenue_summary(current_date, current_date + 1)")).rows;
            seen.failures = (await client.query("select attempts::int, failed::int from app_public.failure_stats(current_date, current_date + 1)")).rows;
          }
          // Every card at once, of the coach named; the day before has none of the records (none is priced for it).
          seen[`${who} summary`] = (await client.query(
            `select revenue_minor::int, attempts::int, failed::int, completed::int, retranscriptions::int, free_retries::int
             from app_public.usage_summary(current_date, current_date + 1, $1)`, [coach.profileId])).rows;
          seen[`${who} summary of the day before`] = (await client.query(
            "select revenue_minor::int, attempts::int from app_public.usage_summary(current_date - 1, current_date, $1)", [coach.profileId])).rows;
          seen[`${who} top`] = (await client.query(
            "select attempts::int, revenue_minor::int from app_public.top_coaches(current_date, current_date + 1, 1000) where coach_profile_id = $1",
            [coach.profileId])).rows;
          await becomeRoot(client);
        }
        return seen;
      };
      const before = await read();
      expect(before["coach invoice"]).toEqual([{ usage_minor: 74, total_minor: 1574, audio_seconds: 1233, charged_seconds: 633 }]);
      expect((before["admin explanations"] as Array<{ amount_minor: number }>).map((x) => x.amount_minor)).toEqual([0, 0, 35, 39, 0]);
      expect(before["coach events"]).toHaveLength(5);
      expect(before["coach top"]).toEqual([{ attempts: 5, revenue_minor: 74 }]);
      expect(before.revenue).toEqual([{ revenue_minor: 74 }]);
      expect(before.failures).toEqual([{ attempts: 5, failed: 2 }]);
      for (const who of ["admin", "coach"]) {
        expect(before[`${who} summary`]).toEqual([{ revenue_minor: 74, attempts: 5, failed: 2, completed: 3, retranscriptions: 1, free_retries: 0 }]);
        expect(before[`${who} summary of the day before`]).toEqual([{ revenue_minor: 0, attempts: 0 }]);
      }

      // Rated, and today rolled up again (as the usage_rate job does).
      await rateUsage(client);
      await client.query("select app_private.rebuild_usage_day(current_date)");
      expect(await books(client, [coach.profileId])).toMatchObject({ pending: 0 });
      expect(await read()).toEqual(before);
    }));
});

describe("rating runs at once, killed, or unable to rate (committed, cleaned up)", () => {
  let plan: Plan;
  const coaches: BillingCoach[] = [];
  const rates: Rate[] = [];

  beforeAll(async () => {
    plan = await createPlan(rootPool(), { includedMinutes: 10, pricePerMinuteMinor: 7 });
  });

  afterAll(async () => {
    for (const coach of coaches) await deleteBillingCoach(rootPool(), coach);
    for (const rate of rates) await rootPool().query("delete from app_public.provider_rates where provider = $1", [rate.provider]);
    await rootPool().query("delete from app_public.billing_plans where id = $1", [plan.id]);
  });

  async function setUp(label: string) {
    const coach = await createBillingCoach(rootPool(), plan.id, label);
    coaches.push(coach);
    const rate = await createRates(rootPool(), [{ costPerMinuteMinor: "0.43" }]);
    rates.push(rate);
    return { coach, rate };
  }

  test("two rating runs at once never rate a record twice: the second waits, then finds nothing left of what the first rated", async () => {
    const { coach, rate } = await setUp("two-raters");
    await workload(rootPool(), coach, rate);
    const expected = await pricedNow(rootPool(), [coach.profileId]);
    const [a, b] = [await rootPool().connect(), await rootPool().connect()];
    try {
      await a.query("begin");
      await b.query("begin");
      const first = (await a.query("select rated from app_private.rate_usage_records(null)")).rows[0].rated as number;
      const bPid = (await b.query("select pg_backend_pid() as pid")).rows[0].pid as number;
      const second = b.query("select rated from app_private.rate_usage_records(null)");
      await waitUntilBlocked(rootPool(), bPid);
      await a.query("commit");
      await second;
      await b.query("commit");
      expect(first).toBeGreaterThanOrEqual(5);
    } finally {
      await a.query("rollback").catch(() => undefined);
      await b.query("rollback").catch(() => undefined);
      a.release();
      b.release();
    }
    const { events, pending, ledgers } = await books(rootPool(), [coach.profileId]);
    expect(pending).toBe(0);
    expect(events).toEqual(expected);
    expect(ledgers).toMatchObject([{ included_seconds_used: 600, charged_seconds: 633, charged_minor: 74 }]);
  });

  test("a rating run killed midway leaves no half-rated coach-month, and the next run resumes with the same figures", async () => {
    const { coach, rate } = await setUp("killed-rater");
    await workload(rootPool(), coach, rate);
    const expected = await pricedNow(rootPool(), [coach.profileId]);
    // The first two records are rated and committed; the run that rates the
    // rest is stopped on the ledger (held here) and killed.
    // (One record at a time: another file's records may come first in the queue.)
    let partly = await books(rootPool(), [coach.profileId]);
    while (partly.events.length < 2) {
      await rootPool().query("select app_private.rate_usage_records(1)");
      partly = await books(rootPool(), [coach.profileId]);
    }
    expect(partly.events).toHaveLength(2);
    const holder = await rootPool().connect();
    const victim = await rootPool().connect();
    try {
      await holder.query("begin");
      await holder.query("select * from app_private.usage_ledgers where coach_profile_id = $1 for update", [coach.profileId]);
      const pid = (await victim.query("select pg_backend_pid() as pid")).rows[0].pid as number;
      victim.on("error", () => undefined); // the terminated connection reports its end
      const rating = victim.query("select app_private.rate_usage_records(null)").then(() => "finished", (error: Error) => error.message);
      await waitUntilBlocked(rootPool(), pid);
      await rootPool().query("select pg_terminate_backend($1)", [pid]);
      expect(await rating).toMatch(/terminat/i);
      await holder.query("commit");
    } finally {
      holder.release();
      victim.release(true);
    }
    expect(await books(rootPool(), [coach.profileId])).toEqual(partly);

    await rootPool().query("select app_private.rate_usage_records(null)");
    const { events, pending, ledgers } = await books(rootPool(), [coach.profileId]);
    expect(pending).toBe(0);
    expect(events).toEqual(expected);
    expect(ledgers).toMatchObject([{ included_seconds_used: 600, charged_seconds: 633, charged_minor: 74 }]);
  });

  test("records of a coach without a plan are kept, named by `custodian usage rate` and reconcile, and rated once there is a plan", async () => {
    const { coach, rate } = await setUp("no-plan");
    const unknownPlan = "00000000-0000-4000-8000-000000000000";
    const setPlan = async (planId: string) => {
      const client = await rootPool().connect();
      try {
        await client.query("set session_replication_role = replica");
        await client.query("update app_public.coach_profiles set plan_id = $2 where id = $1", [coach.profileId, planId]);
        await client.query("set session_replication_role = origin");
      } finally {
        client.release();
      }
    };
    await setPlan(unknownPlan);
    const id = await insertAttempt(rootPool(), await createSession(rootPool(), coach), { status: "completed", seconds: 60, rate });
    try {
      const rated = await runCli(["usage", "rate"], testEnvironment());
      expect(rated.code).toBe(0);
      expect(rated.stdout).toMatch(/^Rated \d+ usage records?\.\n/);
      expect(rated.stdout).toContain(`1 usage record not rated: coach profile ${coach.profileId} has no billing plan.\n`);
      expect(await books(rootPool(), [coach.profileId])).toMatchObject({ events: [], pending: 1 });
      const { rows } = await rootPool().query(
        "select check_name, expected, actual from app_public.usage_reconcile(current_date, current_date + 1) where subject = $1", [id]);
      expect(rows).toEqual([{ check_name: "unrated_record", expected: "a usage event",
        actual: `not rated: coach profile ${coach.profileId} has no billing plan` }]);
    } finally {
      await setPlan(plan.id);
    }
    await rootPool().query("select app_private.rate_usage_records(null)");
    expect(await books(rootPool(), [coach.profileId])).toMatchObject({ events: [{ transcription_id: id, reason: "included_minutes" }], pending: 0 });
  });

  test("the worker rates every minute (and every 5 seconds between), one run at a time: the usage_rate job in `custodian worker --once` rates what was captured", async () => {
    const crontab = fs.readFileSync(path.join(projectRoot, "worker", "crontab"), "utf8");
    expect(crontab).toMatch(/^\* \* \* \* \* usage_rate \?max=1&jobKey=usage_rate$/m);
    const { coach, rate } = await setUp("worker-rates");
    await workload(rootPool(), coach, rate);
    const expected = await pricedNow(rootPool(), [coach.profileId]);
    const { rows: [job] } = await rootPool().query("select id from graphile_worker.add_job('usage_rate', '{}'::json)");
    const result = await runWorkerOnce();
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    expect((await rootPool().query("select count(*)::int as n from graphile_worker.jobs where id = $1", [job.id])).rows[0].n).toBe(0);
    const { events, pending } = await books(rootPool(), [coach.profileId]);
    expect({ events, pending }).toEqual({ events: expected, pending: 0 });
    // Added by hand, it ran once: nothing is scheduled after it.
    expect((await rootPool().query("select count(*)::int as n from graphile_worker.jobs where key = 'usage_rate'")).rows[0].n).toBe(0);
  });

  test("between the crontab's minutes the job comes back every 5 seconds: a scheduled run leaves the next one, under the same key", async () => {
    await rootPool().query("select graphile_worker.add_job('usage_rate', '{\"again\": true}'::json, job_key := 'usage_rate')");
    const before = Date.now();
    const result = await runWorkerOnce();
    expect(result.code).toBe(0);
    try {
      const { rows } = await rootPool().query(
        "select extract(epoch from run_at) * 1000 as run_at, key from graphile_worker.jobs where task_identifier = 'usage_rate'");
      expect(rows).toHaveLength(1);
      expect(rows[0].key).toBe("usage_rate");
      expect(Number(rows[0].run_at)).toBeGreaterThan(before + 4_000);
      expect(Number(rows[0].run_at)).toBeLessThan(Date.now() + 5_500);
    } finally {
      await rootPool().query("select graphile_worker.remove_job('usage_rate')");
    }
  });
});
