import { closeRootPool, errorOf, rootPool, waitUntilBlocked, withRootDb } from "../support/db.ts";
import { createUser } from "../support/fixtures.ts";
import { createBillingCoach, createPlan, createRates, createSession, eventOf, insertAttempt } from "./helpers.ts";

afterAll(closeRootPool);

test("a coach no longer live in the month pays no plan fee: a credit stays a credit", () =>
  withRootDb(async (client) => {
    const plan = await createPlan(client, { feeMinor: 1000 });
    const gone = await createBillingCoach(client, plan.id, "gone");
    await client.query("delete from app_public.coach_profiles where id = $1", [gone.profileId]);
    await client.query("update app_public.coach_profiles set deleted_at = deleted_at - interval '3 months' where id = $1", [gone.profileId]);
    // Charged nothing in the last 13 months: a credit needs an override (test/usage/credit-bounds.test.ts).
    await client.query("select app_public.issue_usage_credit($1, 100, 'goodwill', 'Settles a dispute from before the trial')", [gone.profileId]);
    const live = await createBillingCoach(client, plan.id, "live");
    // The credit's month, by the rule issue_usage_credit follows, at this transaction's time (not the test's clock).
    const { rows: [{ month }] } = await client.query(
      "select app_private.first_open_month(date_trunc('month', now() at time zone 'UTC')::date)::text as month");
    const { rows } = await client.query(
      `select coach_profile_id, plan_fee_minor::int as fee, credits_minor::int as credits, total_minor::int as total
       from app_public.invoice_preview(null, $1) where coach_profile_id = any ($2) order by total_minor`,
      [month, [gone.profileId, live.profileId]],
    );
    expect(rows).toEqual([
      { coach_profile_id: gone.profileId, fee: 0, credits: -100, total: -100 },
      { coach_profile_id: live.profileId, fee: 1000, credits: 0, total: 1000 },
    ]);
  }));

test("the plan fee follows UTC months whatever the session's time zone", () =>
  withRootDb(async (client) => {
    const plan = await createPlan(client, { feeMinor: 1000 });
    const coach = await createBillingCoach(client, plan.id, "utc-month");
    // Created in the last hours of March (UTC), already April in Kiritimati (UTC+14).
    await client.query("set local session_replication_role = replica"); // keep the pinned created_at
    await client.query("update app_public.coach_profiles set created_at = '2026-03-31T12:00:00Z' where id = $1", [coach.profileId]);
    await client.query("set local session_replication_role = origin");
    const fee = async (month: string) =>
      (await client.query("select plan_fee_minor::int as fee from app_public.invoice_preview($1, $2)", [coach.profileId, month])).rows;
    const revenue = async (month: string) =>
      (await client.query("select plan_fee_minor::int as fee from app_public.monthly_revenue($1, ($1::date + interval '1 month')::date)", [month])).rows[0].fee;
    for (const zone of ["UTC", "Pacific/Kiritimati", "America/Los_Angeles"]) {
      await client.query(`set local timezone = '${zone}'`);
      expect([zone, await fee("2026-03-01")]).toEqual([zone, [{ fee: 1000 }]]);
      expect([zone, await fee("2026-02-01")]).toEqual([zone, []]);
      await client.query("set local timezone = 'UTC'");
      const utcRevenue = await revenue("2026-03-01");
      await client.query(`set local timezone = '${zone}'`);
      expect([zone, await revenue("2026-03-01")]).toEqual([zone, utcRevenue]);
    }
  }));

test("a plan with a huge number of included minutes still prices attempts", () =>
  withRootDb(async (client) => {
    const plan = await createPlan(client, { includedMinutes: 2147483647, pricePerMinuteMinor: 0 });
    const coach = await createBillingCoach(client, plan.id, "unlimited");
    const rate = await createRates(client, [{ costPerMinuteMinor: "0.5000" }]);
    const sessionId = await createSession(client, coach);
    const attempt = await insertAttempt(client, sessionId, { status: "completed", seconds: 600, rate });
    expect(await eventOf(client, attempt)).toMatchObject({ reason: "included_minutes", included_seconds: 600, amount: 0 });
  }));

test("invoices and closed months refuse TRUNCATE, to the owner too", () =>
  withRootDb(async (client) => {
    await client.query("set local lock_timeout = '10s'");
    for (const table of ["app_public.invoices", "app_public.billing_months"]) {
      // TRUNCATE waits for every reader of the tables to finish; another file's long
      // transaction (the residue scan reads every table) may outlast the timeout: try again.
      let error = await errorOf(client, `truncate ${table} cascade`);
      for (let tries = 0; tries < 5 && error?.code === "55P03"; tries++) error = await errorOf(client, `truncate ${table} cascade`);
      expect(error?.code).toBe("42501");
      expect(error?.message).toMatch(/append-only/);
    }
  }));

test("restoring a client whose email a live client now holds is refused with a clear error", () =>
  withRootDb(async (client) => {
    const plan = await createPlan(client);
    const coach = await createBillingCoach(client, plan.id, "restorer");
    const { rows: [old] } = await client.query(
      "insert into app_public.clients (coach_profile_id, full_name, email) values ($1, 'Ann', 'ann@restore.example') returning id",
      [coach.profileId]);
    await client.query("delete from app_public.clients where id = $1", [old.id]);
    await client.query("insert into app_public.clients (coach_profile_id, full_name, email) values ($1, 'Ann again', 'ann@restore.example')", [coach.profileId]);
    const error = await errorOf(client, "select governance.restore('app_public.clients', $1)", [old.id]);
    expect(error).toMatchObject({ code: "23505", message: `The client ${old.id} cannot be restored: a live row already holds one of its unique values.` });
  }));

test("a session inserted while its coach profile is being deleted is deleted with it, never left live", async () => {
  const pool = rootPool();
  const plan = await createPlan(pool);
  const coach = await createBillingCoach(pool, plan.id, "racer");
  const inserter = await pool.connect();
  const deleter = await pool.connect();
  try {
    await inserter.query("begin");
    await inserter.query(
      `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
       values ($1, 'Race', now(), 'k', 60)`, [coach.clientId]);
    const { rows: [{ pid }] } = await deleter.query("select pg_backend_pid() as pid");
    const deleting = deleter.query("delete from app_public.coach_profiles where id = $1", [coach.profileId]);
    await waitUntilBlocked(pool, pid);
    await inserter.query("commit");
    await deleting;
    const { rows } = await pool.query(
      "select title, is_deleted from app_public.coaching_sessions where coach_profile_id = $1", [coach.profileId]);
    expect(rows).toEqual([{ title: "Race", is_deleted: true }]);
  } finally {
    inserter.release();
    deleter.release();
    await pool.query("select governance.hard_delete('app_public.coach_profiles', $1, 'test cleanup')", [coach.profileId]);
    await pool.query("delete from app_public.users where id = $1", [coach.user.id]);
    await pool.query("delete from app_public.billing_plans where id = $1", [plan.id]);
  }
});

test("only admins issue credits", () =>
  withRootDb(async (client) => {
    const plan = await createPlan(client);
    const coach = await createBillingCoach(client, plan.id, "creditee");
    const auditor = await createUser(client, "auditor");
    await client.query("select set_config('role', 'custodian_auditor', true), set_config('jwt.claims.user_id', $1, true)", [auditor.id]);
    const error = await errorOf(client, "select app_public.issue_usage_credit($1, 100, 'nice try')", [coach.profileId]);
    expect(error?.code).toBe("42501");
  }));
