import type pg from "pg";
import { runCli } from "../support/cli.ts";
import { closeRootPool, rootPool, waitUntilBlocked, withRootDb } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { testPlanId } from "../support/fixtures.ts";
import { runWorkerOnce } from "../support/worker-once.ts";
import {
  createBillingCoach,
  createPlan,
  createRates,
  createSession,
  dailyRowsOf,
  deleteBillingCoach,
  eventsOfCoaches,
  insertAttempt,
  ledgerOf,
  seededRandom,
  setStatus,
  shapeProblems,
  type AttemptInput,
  type BillingCoach,
  type Plan,
  type Rate,
} from "./helpers.ts";

afterAll(closeRootPool);

const reconcile = async (client: pg.ClientBase, from: string, to: string) =>
  (await client.query("select check_name, day::text, subject, expected, actual from app_public.usage_reconcile($1, $2)", [from, to])).rows;

const dirtyDays = async (client: pg.ClientBase | pg.Pool, days: string[]) =>
  (await client.query("select day::text from app_private.usage_dirty_days where day = any($1::date[]) order by day", [days])).rows
    .map((row) => row.day as string);

/** Round half away from zero of a non-negative number of sixtieths of a minor unit. */
const roundSixtieths = (sixtieths: number) => Math.floor((2 * sixtieths + 60) / 120);


/** How many rollup rows a day's rebuild writes: what its usage events roll up to. */
async function rollupRowsOfDay(day: string): Promise<number> {
  return (await rootPool().query("select count(*)::int as n from app_private.usage_rollup_rows($1, $1::date + 1)", [day])).rows[0].n;
}
describe("reconciliation", () => {
  test("after a random workload the rebuilt rollups, the events and the attempts agree, and a tampered rollup or attempt is listed", () =>
    withRootDb(async (client) => {
      const seed = Number(process.env.USAGE_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const random = seededRandom(seed);
      const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
      const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));

      // Prices that are multiples of 4 a minute never make a total end in exactly half a
      // minor unit, so that the sums below hold exactly (see billing-rules for the halves).
      const plans = [
        await createPlan(client, { feeMinor: 1900, includedMinutes: 5, pricePerMinuteMinor: 8 }),
        await createPlan(client, { feeMinor: 0, includedMinutes: 0, pricePerMinuteMinor: 16 }),
      ];
      const coaches: Array<{ coach: BillingCoach; plan: Plan; sessions: string[] }> = [];
      for (const plan of [plans[0]!, plans[0]!, plans[1]!]) {
        const coach = await createBillingCoach(client, plan.id, "random");
        const sessions = [];
        for (let n = 0; n < 3; n++) sessions.push(await createSession(client, coach, between(60, 3000)));
        coaches.push({ coach, plan, sessions });
      }
      const rates: Rate[] = [
        await createRates(client, [{ costPerMinuteMinor: "0.4300" }]),
        await createRates(client, [{ costPerMinuteMinor: "0.6000" }, { costPerMinuteMinor: "0.6500", from: "2019-04-01T00:00:00Z" }]),
      ];
      const from = Date.parse("2019-03-27T00:00:00Z");
      const to = Date.parse("2019-04-05T00:00:00Z");
      const lastFailed = new Map<string, string>();
      const finished: string[] = [];
      for (let n = 0; n < 60; n++) {
        const { sessions } = pick(coaches);
        const sessionId = pick(sessions);
        const roll = random();
        const status: AttemptInput["status"] = roll < 0.6 ? "completed" : roll < 0.9 ? "failed" : roll < 0.95 ? "queued" : "processing";
        const seconds = status === "completed" ? between(0, 1500) : status === "failed" && random() < 0.5 ? between(0, 900) : null;
        const finishedAt = status === "completed" || status === "failed"
          ? new Date(from + Math.floor(random() * (to - from))).toISOString() : null;
        const retryOf = lastFailed.has(sessionId) && random() < 0.5 ? lastFailed.get(sessionId)! : null;
        const rate = pick(rates);
        let id: string;
        if (random() < 0.5 || finishedAt === null) {
          id = await insertAttempt(client, sessionId, { status, seconds, finishedAt, rate, retryOf });
        } else {
          id = await insertAttempt(client, sessionId, { status: "queued", rate, retryOf });
          await setStatus(client, id, status, seconds, finishedAt);
        }
        if (status === "failed") lastFailed.set(sessionId, id);
        if (finishedAt) finished.push(id);
      }
      await client.query("select app_private.rebuild_usage_day(d::date) from generate_series('2019-03-27'::date, '2019-04-04', interval '1 day') d");

      // The seed is in the compared value, so that a failure can be replayed with USAGE_SEED.
      expect({ seed, differences: await reconcile(client, "2019-03-27", "2019-04-05") }).toEqual({ seed, differences: [] });

      const profileIds = coaches.map(({ coach }) => coach.profileId);
      const events = await eventsOfCoaches(client, profileIds);
      expect({ seed, events: events.length }).toEqual({ seed, events: finished.length });
      expect({ seed, problems: shapeProblems(events) }).toEqual({ seed, problems: [] });
      for (const { coach, plan } of coaches) {
        for (const month of ["2019-03-01", "2019-04-01"]) {
          const mine = events.filter((event) => event.coach_profile_id === coach.profileId && event.billing_month === month);
          const completed = mine.filter((event) => event.outcome === "completed").reduce((sum, event) => sum + event.audio_seconds, 0);
          const included = Math.min(completed, plan.includedMinutes * 60);
          const sums = {
            included: mine.reduce((sum, event) => sum + event.included_seconds, 0),
            charged: mine.reduce((sum, event) => sum + event.charged_seconds, 0),
            amount: mine.reduce((sum, event) => sum + event.amount, 0),
          };
          const expected = { included, charged: completed - included, amount: roundSixtieths((completed - included) * plan.pricePerMinuteMinor) };
          expect({ seed, month, sums }).toEqual({ seed, month, sums: expected });
          const ledger = await ledgerOf(client, coach.profileId, month);
          if (mine.length > 0) expect({ seed, month, ledger }).toEqual({ seed, month, ledger: { ...expected, exact: expect.any(String) } });
        }
      }
      const totals = await client.query(
        `select (select sum(revenue_minor)::int from app_public.usage_daily where coach_profile_id = any($1::uuid[])) as rolled,
                (select sum(amount_minor)::int from app_public.usage_events where coach_profile_id = any($1::uuid[])) as raw`,
        [profileIds],
      );
      expect(totals.rows[0].rolled).toBe(totals.rows[0].raw);
      // The ledger carries what an invoice sums of the month's rated attempts.
      const ledgers = await client.query(
        `select l.billing_month::text as month,
           (l.billable_audio_seconds, l.attempts, l.late_attempts, l.last_event_id, l.last_plan_id)::text as ledger,
           (select (coalesce(sum(e.audio_seconds) filter (where e.billable), 0), count(*), count(*) filter (where e.usage_month < e.billing_month),
                    max(e.id), (array_agg(e.plan_id order by e.id desc))[1])::text
            from app_public.usage_events e
            where e.kind = 'attempt' and e.coach_profile_id = l.coach_profile_id and e.billing_month = l.billing_month) as events
         from app_private.usage_ledgers l where l.coach_profile_id = any($1::uuid[])`, [profileIds]);
      expect(ledgers.rows.length).toBeGreaterThan(0);
      expect({ seed, differing: ledgers.rows.filter((row) => row.ledger !== row.events) }).toEqual({ seed, differing: [] });

      // Tampering with any measure of one rollup row shows up twice: the row
      // against its events, and the admins' totals against the rows they sum;
      // a third time for what a coach's day sums too (revenue, billable seconds).
      const [row] = await dailyRowsOf(client, profileIds);
      const rowKey = [row.day, row.coach_profile_id, row.provider, row.billing_month];
      const whereRow = "day = $1 and coach_profile_id = $2 and provider = $3 and billing_month = $4";
      for (const measure of ["revenue_minor", "failed", "free_retries", "billable_seconds", "unknown_cost_attempts"]) {
        await client.query("savepoint tampering");
        await client.query(`update app_public.usage_daily set ${measure} = ${measure} + 1 where ${whereRow}`, rowKey);
        const value = Number(row[measure]);
        expect({ measure, differences: await reconcile(client, "2019-03-27", "2019-04-05") }).toEqual({ measure, differences: [
          // (Listed first: by check name.)
          ...(["revenue_minor", "billable_seconds"].includes(measure)
            ? [{ check_name: "coach_days_vs_rollups", day: row.day, subject: row.coach_profile_id,
                 expected: expect.stringMatching(new RegExp(`^${measure} \\d+$`)), actual: expect.stringMatching(new RegExp(`^${measure} \\d+$`)) }]
            : []),
          { check_name: "rollup_vs_events", day: row.day,
            subject: `${row.coach_profile_id} ${row.provider} ${row.model} plan ${row.plan_id} billed in ${row.billing_month}`,
            expected: `${measure} ${value}`, actual: `${measure} ${value + 1}` },
          { check_name: "totals_vs_rollups", day: row.day, subject: `${row.provider} ${row.model} plan ${row.plan_id} billed in ${row.billing_month}`,
            expected: expect.stringMatching(new RegExp(`^${measure} \\d+$`)), actual: expect.stringMatching(new RegExp(`^${measure} \\d+$`)) },
        ] });
        await client.query("rollback to savepoint tampering");
      }

      // A totals row on its own, and a rollup row without events, are listed too.
      await client.query("savepoint tampering");
      await client.query(
        "update app_private.usage_daily_totals set completed = completed + 2 where day = $1 and provider = $2 and billing_month = $3",
        [row.day, row.provider, row.billing_month],
      );
      await client.query(`insert into app_public.usage_daily select '2019-04-05', coach_profile_id, plan_id, provider, model, billing_month,
        attempts, completed, failed, free_retries, retranscriptions, audio_seconds, billable_seconds, charged_seconds, revenue_minor,
        retranscription_revenue_minor, provider_cost_minor, failed_cost_minor, unknown_cost_attempts
        from app_public.usage_daily where ${whereRow}`, rowKey);
      const extra = await reconcile(client, "2019-03-27", "2019-04-05");
      expect(extra).toContainEqual(expect.objectContaining({
        check_name: "totals_vs_rollups", day: row.day, expected: expect.stringMatching(/^completed \d+$/), actual: expect.stringMatching(/^completed \d+$/) }));
      const phantom = await reconcile(client, "2019-03-27", "2019-04-06");
      expect(phantom).toContainEqual(expect.objectContaining({ check_name: "rollup_vs_events", day: "2019-04-05", expected: "no row" }));
      await client.query("rollback to savepoint tampering");
      expect(await reconcile(client, "2019-03-27", "2019-04-05")).toEqual([]);

      // So does a completed attempt whose status was turned to failed, its
      // event staying completed, and one whose model was changed: both behind
      // the rules' back (the owner with triggers off), since the status rule
      // and the billed facts rule refuse them to every writer.
      const [flipped, renamed] = events.filter((event) => event.outcome === "completed");
      await client.query("set local session_replication_role = replica");
      await client.query("update app_public.transcriptions set status = 'failed' where id = $1", [flipped!.transcription_id]);
      await client.query("update app_public.transcriptions set model = 'm2' where id = $1", [renamed!.transcription_id]);
      await client.query("set local session_replication_role = origin");
      const differences = await reconcile(client, "2019-03-27", "2019-04-05");
      const providers = new Map((await client.query(
        "select id::text, provider from app_public.transcriptions where id = any($1::uuid[])",
        [[flipped!.transcription_id, renamed!.transcription_id]],
      )).rows.map((attempt) => [attempt.id as string, attempt.provider as string]));
      const rateOf = (event: { transcription_id: string | null }) => `${providers.get(event.transcription_id!)} m1`;
      expect(differences.filter((difference) => difference.check_name === "attempt_vs_event")).toEqual(expect.arrayContaining([
        { check_name: "attempt_vs_event", day: expect.any(String), subject: flipped!.transcription_id,
          expected: `failed, ${flipped!.audio_seconds} s, ${rateOf(flipped!)}`, actual: `completed, ${flipped!.audio_seconds} s, ${rateOf(flipped!)}` },
        { check_name: "attempt_vs_event", day: expect.any(String), subject: renamed!.transcription_id,
          expected: `completed, ${renamed!.audio_seconds} s, ${providers.get(renamed!.transcription_id!)} m2`, actual: `completed, ${renamed!.audio_seconds} s, ${rateOf(renamed!)}` },
      ]));
      expect(differences).toHaveLength(2);
    }));
});

describe("the daily rollups", () => {
  test("rebuilding a day gives the figures of its events, and rebuilding it again gives identical rows", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { feeMinor: 0, includedMinutes: 10, pricePerMinuteMinor: 8 });
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.4300" }]);
      const unknown: Rate = { provider: `unpriced-${coach.profileId.slice(0, 8)}`, model: "m1" };
      const sessionId = await createSession(client, coach, 1800);
      const first = await insertAttempt(client, sessionId, { status: "failed", finishedAt: "2019-06-12T10:00:00Z", rate });
      const retry = await insertAttempt(client, sessionId, { status: "failed", seconds: 300, finishedAt: "2019-06-12T10:30:00Z", rate, retryOf: first });
      await insertAttempt(client, sessionId, { status: "completed", seconds: 900, finishedAt: "2019-06-12T11:00:00Z", rate, retryOf: retry });
      await insertAttempt(client, sessionId, { status: "completed", seconds: 600, finishedAt: "2019-06-12T12:00:00Z", rate });
      await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 120, finishedAt: "2019-06-12T23:59:59Z", rate: unknown });
      expect((await client.query("select app_private.mark_usage_days_dirty('2019-06-12', '2019-06-12') as n")).rows[0].n).toBe(1);
      expect(await dirtyDays(client, ["2019-06-12"])).toEqual(["2019-06-12"]);

      const rebuild = async () => (await client.query("select app_private.rebuild_usage_day('2019-06-12') as written")).rows[0].written;
      expect(await rebuild()).toBe(2);
      const rows = await dailyRowsOf(client, [coach.profileId]);
      const key = { day: "2019-06-12", coach_profile_id: coach.profileId, plan_id: plan.id, model: "m1", billing_month: "2019-06-01" };
      expect(rows).toEqual([
        // 1800 + 300 s failed (free; 15.05 at the provider), 900 s (600 included, 300 at 8/min = 40) and 600 s (80).
        { ...key, provider: rate.provider, attempts: 4, completed: 2, failed: 2, free_retries: 1, retranscriptions: 1, audio_seconds: 3600,
          billable_seconds: 1500, charged_seconds: 900, revenue_minor: 120, provider_cost_minor: "25.800000", failed_cost_minor: "15.050000",
          unknown_cost_attempts: 0 },
        { ...key, provider: unknown.provider, attempts: 1, completed: 1, failed: 0, free_retries: 0, retranscriptions: 0, audio_seconds: 120,
          billable_seconds: 120, charged_seconds: 120, revenue_minor: 16, provider_cost_minor: "0.000000", failed_cost_minor: "0.000000",
          unknown_cost_attempts: 1 },
      ]);
      expect(await dirtyDays(client, ["2019-06-12"])).toEqual([]);
      expect(await rebuild()).toBe(2);
      expect(await dailyRowsOf(client, [coach.profileId])).toEqual(rows);
    }));
});

describe("rolling up committed usage: SQL, the worker and the CLI (cleaned up)", () => {
  const coaches: BillingCoach[] = [];
  const plans: Plan[] = [];
  const rates: Rate[] = [];

  afterAll(async () => {
    for (const coach of coaches) await deleteBillingCoach(rootPool(), coach);
    for (const plan of plans) await rootPool().query("delete from app_public.billing_plans where id = $1", [plan.id]);
    for (const rate of rates) await rootPool().query("delete from app_public.provider_rates where provider = $1", [rate.provider]);
  });

  /** A committed coach on the shared test plan (300 included minutes, 10 a minute) with a completed and a failed attempt on two days. */
  async function twoDaysOfUsage(label: string, days: [string, string]) {
    const coach = await createBillingCoach(rootPool(), await testPlanId(rootPool()), label);
    coaches.push(coach);
    const rate = await createRates(rootPool(), [{ costPerMinuteMinor: "0.6000" }]);
    rates.push(rate);
    const sessionId = await createSession(rootPool(), coach, 600);
    await insertAttempt(rootPool(), sessionId, { status: "completed", seconds: 600, finishedAt: `${days[0]}T09:00:00Z`, rate });
    await insertAttempt(rootPool(), sessionId, { status: "failed", finishedAt: `${days[1]}T09:00:00Z`, rate });
    const common = { coach_profile_id: coach.profileId, provider: rate.provider, model: "m1", billing_month: `${days[0].slice(0, 7)}-01`,
      free_retries: 0, charged_seconds: 0, revenue_minor: 0, unknown_cost_attempts: 0 };
    const expected = [
      { ...common, day: days[0], attempts: 1, completed: 1, failed: 0, retranscriptions: 0, audio_seconds: 600, billable_seconds: 600,
        provider_cost_minor: "6.000000", failed_cost_minor: "0.000000" },
      { ...common, day: days[1], attempts: 1, completed: 0, failed: 1, retranscriptions: 0, audio_seconds: 600, billable_seconds: 0,
        provider_cost_minor: "6.000000", failed_cost_minor: "6.000000" },
    ].map((row) => ({ ...row, plan_id: coach.planId }));
    return { coach, expected };
  }

  /** Runs `work` in a transaction of its own on one connection, and commits it. */
  async function committed<T>(work: (client: pg.PoolClient) => Promise<T>, begin = "begin"): Promise<T> {
    const client = await rootPool().connect();
    try {
      await client.query(begin);
      const result = await work(client);
      await client.query("commit");
      return result;
    } catch (error) {
      await client.query("rollback");
      throw error;
    } finally {
      client.release();
    }
  }

  test("only the days of new events are rebuilt: rebuild_dirty_usage_days returns how many days were dirty, then 0", async () => {
    const plan = await createPlan(rootPool(), { feeMinor: 0, includedMinutes: 0, pricePerMinuteMinor: 60 });
    const coach = await createBillingCoach(rootPool(), plan.id, "incremental");
    coaches.push(coach);
    plans.push(plan);
    const rate = await createRates(rootPool(), [{ costPerMinuteMinor: "1" }]);
    rates.push(rate);
    const sessionId = await createSession(rootPool(), coach);
    await insertAttempt(rootPool(), sessionId, { status: "completed", seconds: 10, finishedAt: "2019-07-01T09:00:00Z", rate });
    await insertAttempt(rootPool(), sessionId, { status: "completed", seconds: 20, finishedAt: "2019-07-02T09:00:00Z", rate });
    const days = ["2019-07-01", "2019-07-02"];
    // Null when other writers did not finish within its 10 s: then the next call catches up.
    const markNew = async () => {
      for (let tries = 0; tries < 5; tries++) {
        const marked = await committed(async (client) => (await client.query("select app_private.mark_new_usage_days_dirty() as n")).rows[0].n);
        if (marked !== null) return marked as number;
      }
      throw new Error("mark_new_usage_days_dirty() kept waiting for other writers");
    };
    expect(await markNew()).toBeGreaterThanOrEqual(2);
    expect(await dirtyDays(rootPool(), days)).toEqual(days);

    // One snapshot, so that other writers' new dirty days do not change the count.
    const rebuildDirty = (client: pg.PoolClient) =>
      client.query("select app_private.rebuild_dirty_usage_days(1000000) as n").then(({ rows }) => rows[0].n as number);
    const [dirty, rebuilt, again] = await committed(async (client) => {
      const { rows } = await client.query("select count(*)::int as n from app_private.usage_dirty_days");
      return [rows[0].n as number, await rebuildDirty(client), await rebuildDirty(client)];
    }, "begin isolation level repeatable read");
    expect([rebuilt, again]).toEqual([dirty, 0]);
    const revenue = async () => (await dailyRowsOf(rootPool(), [coach.profileId])).map((row) => [row.day, row.attempts, row.revenue_minor]);
    expect(await revenue()).toEqual([["2019-07-01", 1, 10], ["2019-07-02", 1, 20]]);

    // A mark on the first day's row shows whether it is rebuilt; a new event makes the second day dirty, and only it.
    await rootPool().query("update app_public.usage_daily set revenue_minor = 999 where coach_profile_id = $1 and day = '2019-07-01'", [coach.profileId]);
    await insertAttempt(rootPool(), sessionId, { status: "completed", seconds: 30, finishedAt: "2019-07-02T18:00:00Z", rate });
    expect(await dirtyDays(rootPool(), days)).toEqual([]);
    expect(await markNew()).toBeGreaterThanOrEqual(1);
    expect(await dirtyDays(rootPool(), days)).toEqual(["2019-07-02"]);
    expect(await committed(rebuildDirty)).toBeGreaterThanOrEqual(1);
    expect(await revenue()).toEqual([["2019-07-01", 1, 999], ["2019-07-02", 2, 50]]);
    expect(await committed(rebuildDirty)).toBe(0);
    await rootPool().query("select app_private.rebuild_usage_day('2019-07-01')");
    expect(await revenue()).toEqual([["2019-07-01", 1, 10], ["2019-07-02", 2, 50]]);
  });

  test("a rebuild killed midway leaves its day as it was and still dirty; the next run puts it right", async () => {
    const days: [string, string] = ["2019-05-21", "2019-05-22"];
    const { coach, expected } = await twoDaysOfUsage("killed", days);
    await rootPool().query("select app_private.rebuild_usage_day($1)", [days[0]]);
    await rootPool().query("update app_public.usage_daily set revenue_minor = 999 where coach_profile_id = $1", [coach.profileId]);
    await rootPool().query("select app_private.mark_usage_days_dirty($1, $1)", [days[0]]);
    const before = await dailyRowsOf(rootPool(), [coach.profileId]);

    // A lock on the day's totals stops the rebuild after it has replaced the
    // per-coach rows and before it replaces the totals; then it is killed.
    const holder = await rootPool().connect();
    const victim = await rootPool().connect();
    try {
      await holder.query("begin");
      await holder.query("select * from app_private.usage_daily_totals where day = $1 for update", [days[0]]);
      const pid = (await victim.query("select pg_backend_pid() as pid")).rows[0].pid as number;
      victim.on("error", () => undefined); // the terminated connection reports its end
      const rebuilding = victim.query("select app_private.rebuild_usage_day($1)", [days[0]]).then(() => "finished", (error: Error) => error.message);
      await waitUntilBlocked(rootPool(), pid);
      await rootPool().query("select pg_terminate_backend($1)", [pid]);
      expect(await rebuilding).toMatch(/terminat/i);
      await holder.query("commit");
    } finally {
      holder.release();
      victim.release(true);
    }

    expect(await dailyRowsOf(rootPool(), [coach.profileId])).toEqual(before);
    expect(await dirtyDays(rootPool(), [days[0]])).toEqual([days[0]]);
    await rootPool().query("select app_private.rebuild_usage_day($1)", [days[0]]);
    expect(await dailyRowsOf(rootPool(), [coach.profileId])).toEqual(expected.filter((row) => row.day === days[0]));
    expect(await dirtyDays(rootPool(), [days[0]])).toEqual([]);
  });

  test("two rebuilds of one day wait for each other instead of colliding", async () => {
    const days: [string, string] = ["2019-05-24", "2019-05-25"];
    const { coach, expected } = await twoDaysOfUsage("concurrent", days);
    const first = await rootPool().connect();
    const second = await rootPool().connect();
    try {
      await first.query("begin");
      await first.query("select app_private.rebuild_usage_day($1)", [days[0]]);
      const pid = (await second.query("select pg_backend_pid() as pid")).rows[0].pid as number;
      const waiting = second.query("select app_private.rebuild_usage_day($1) as written", [days[0]]);
      await waitUntilBlocked(rootPool(), pid);
      await first.query("commit");
      // One row per coach with usage that day: this test's, and on a reused TEST_DATABASE_URL an earlier run's (usage events stay).
      expect((await waiting).rows[0].written).toBe(await rollupRowsOfDay(days[0]));
    } finally {
      first.release();
      second.release();
    }
    expect(await dailyRowsOf(rootPool(), [coach.profileId])).toEqual(expected.filter((row) => row.day === days[0]));
  });

  test("the job's rebuild of dirty days and a CLI rebuild of one of them do not deadlock: the job leaves that day to the CLI", async () => {
    // Days older than any other test's, so that the job takes their dirty marks first.
    const days: [string, string] = ["1900-01-08", "1900-01-09"];
    const { coach, expected } = await twoDaysOfUsage("job-and-cli", days);
    await rootPool().query("select app_private.rebuild_usage_day(d::date) from unnest($1::date[]) d", [days]);
    await rootPool().query("select app_private.mark_usage_days_dirty($1, $2)", days);
    const holder = await rootPool().connect();
    const job = await rootPool().connect();
    const cli = await rootPool().connect();
    try {
      // The job locks the dirty marks, then waits on the first day (held here) ...
      await holder.query("begin");
      await holder.query("select * from app_private.usage_daily_totals where day = $1 for update", [days[0]]);
      const jobPid = (await job.query("select pg_backend_pid() as pid")).rows[0].pid as number;
      await job.query("begin");
      const jobRun = job.query("select app_private.rebuild_dirty_usage_days(1000000) as n");
      await waitUntilBlocked(rootPool(), jobPid);
      // ... while the CLI starts on the second day and waits for the job's mark on it.
      const cliPid = (await cli.query("select pg_backend_pid() as pid")).rows[0].pid as number;
      const cliRun = cli.query("select app_private.rebuild_usage_day($1) as written", [days[1]]);
      await waitUntilBlocked(rootPool(), cliPid);
      await holder.query("commit");
      await jobRun;
      await job.query("commit");
      expect((await cliRun).rows[0].written).toBe(await rollupRowsOfDay(days[1]));
    } finally {
      await holder.query("rollback").catch(() => undefined);
      await job.query("rollback").catch(() => undefined);
      holder.release();
      job.release();
      cli.release();
    }
    expect(await dailyRowsOf(rootPool(), [coach.profileId])).toEqual(expected);
    expect(await dirtyDays(rootPool(), days)).toEqual([]);
  });

  test("a rebuild of one day that holds the rating lock and the job's rebuild of dirty days do not deadlock: the job waits before it takes any day", async () => {
    // Days older than any other test's, so that the job takes their dirty marks first.
    const days: [string, string] = ["1900-02-12", "1900-02-13"];
    const { coach, expected } = await twoDaysOfUsage("rating-lock", days);
    await rootPool().query("select app_private.rebuild_usage_day(d::date) from unnest($1::date[]) d", [days]);
    await rootPool().query("select app_private.mark_usage_days_dirty($1, $2)", days);
    const cli = await rootPool().connect();
    const job = await rootPool().connect();
    try {
      // A rebuild of one day rates first, holding the rating lock to its commit ...
      await cli.query("begin");
      await cli.query("select app_private.rate_usage_records(null)");
      // ... the job's run waits for that lock ...
      const jobPid = (await job.query("select pg_backend_pid() as pid")).rows[0].pid as number;
      await job.query("begin");
      const jobRun = job.query("select app_private.rebuild_dirty_usage_days(1000000) as n");
      await waitUntilBlocked(rootPool(), jobPid);
      // ... holding no day's mark: the rebuild takes the second day's and finishes.
      expect((await cli.query("select app_private.rebuild_usage_day($1) as written", [days[1]])).rows[0].written)
        .toBe(await rollupRowsOfDay(days[1]));
      await cli.query("commit");
      await jobRun;
      await job.query("commit");
    } finally {
      await cli.query("rollback").catch(() => undefined);
      await job.query("rollback").catch(() => undefined);
      cli.release();
      job.release();
    }
    expect(await dailyRowsOf(rootPool(), [coach.profileId])).toEqual(expected);
    expect(await dirtyDays(rootPool(), days)).toEqual([]);
  });

  test("the usage_aggregate job rolls the days of new events up in `custodian worker --once`", async () => {
    const days: [string, string] = ["2019-05-03", "2019-05-04"];
    const { coach, expected } = await twoDaysOfUsage("worker", days);
    expect(await dailyRowsOf(rootPool(), [coach.profileId])).toEqual([]);
    const { rows: [job] } = await rootPool().query("select id from graphile_worker.add_job('usage_aggregate', '{}'::json)");

    const result = await runWorkerOnce();
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);

    const left = await rootPool().query("select count(*)::int as n from graphile_worker.jobs where id = $1", [job.id]);
    expect(left.rows[0].n).toBe(0);
    expect(await dirtyDays(rootPool(), days)).toEqual([]);
    expect(await dailyRowsOf(rootPool(), [coach.profileId])).toEqual(expected);
    const differences = await rootPool().query(
      "select * from app_public.usage_reconcile('2019-05-03', '2019-05-05') where subject like $1", [`${coach.profileId}%`]);
    expect(differences.rows).toEqual([]);
  });

  test("`custodian usage aggregate --from --to` rebuilds every day from --from up to, not including, --to (as every door reads a range), says how many, and refuses a bad range in one line", async () => {
    const days: [string, string] = ["2019-05-13", "2019-05-14"];
    const { coach, expected } = await twoDaysOfUsage("cli", days);

    // --to is excluded: 2019-05-15 ends the range on 2019-05-14.
    const first = await runCli(["usage", "aggregate", "--from", days[0], "--to", "2019-05-15"], testEnvironment());
    // It rates what was captured first, and says so when there was some (other tests' records too: their count varies).
    expect(first).toMatchObject({ code: 0, stdout: expect.stringMatching(/^(Rated [1-9]\d* usage records?\.\n(.*\n)*)?Rebuilt the usage rollups of 2 days \(2019-05-13 through 2019-05-14\)\.\n$/) });
    // Its progress goes to stderr (plain lines when stderr is not a terminal).
    expect(first.stderr).toContain("Rebuilding usage days: 100% (2/2)");
    expect(await dailyRowsOf(rootPool(), [coach.profileId])).toEqual(expected);
    expect(await dirtyDays(rootPool(), days)).toEqual([]);

    // A rollup changed behind its back is put right by the next run: the command is idempotent.
    await rootPool().query("update app_public.usage_daily set revenue_minor = 999 where coach_profile_id = $1", [coach.profileId]);
    const again = await runCli(["usage", "aggregate", "--from", days[0], "--to", "2019-05-15"], testEnvironment());
    expect(again).toMatchObject({ code: 0, stdout: expect.stringMatching(/Rebuilt the usage rollups of 2 days \(2019-05-13 through 2019-05-14\)\.\n$/) });
    // A range of one day: the day of --from only.
    const one = await runCli(["usage", "aggregate", "--from", days[1], "--to", "2019-05-15"], testEnvironment());
    expect(one).toMatchObject({ code: 0, stdout: expect.stringMatching(/Rebuilt the usage rollups of 1 day \(2019-05-14 through 2019-05-14\)\.\n$/) });
    expect(await dailyRowsOf(rootPool(), [coach.profileId])).toEqual(expected);

    const refusals: Array<[string[], string]> = [
      [["--from", days[1], "--to", days[0]], "--from (2019-05-14) must be before --to (2019-05-13): --to is excluded, so --to 2019-05-13 ends the range on 2019-05-12."],
      [["--from", days[0], "--to", days[0]], "--from (2019-05-13) must be before --to (2019-05-13)"],
      [["--from", "2019-13-01", "--to", days[1]], '--from takes a date like 2026-11-01 (got "2019-13-01").'],
      [["--from", days[0], "--to", "yesterday"], '--to takes a date like 2026-11-01 (got "yesterday").'],
    ];
    for (const [args, message] of refusals) {
      const refused = await runCli(["usage", "aggregate", ...args], testEnvironment());
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe("");
      expect(refused.stderr.trim().split("\n")).toHaveLength(1);
      expect(refused.stderr).toContain(message);
    }
    const unknown = await runCli(["usage", "summarize"], testEnvironment());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("Usage: custodian usage rate | custodian usage aggregate [--from YYYY-MM-DD --to YYYY-MM-DD] (--to excluded, like every range's end)");
  });
});
