import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, waitUntilBlocked, withRootDb } from "../support/db.ts";
import { createUser, testPlanId } from "../support/fixtures.ts";
import {
  createBillingCoach,
  createPlan,
  createRates,
  createSession,
  deleteBillingCoach,
  eventOf,
  eventsOfAttempt,
  eventsOfCoaches,
  insertAttempt,
  ledgerOf,
  rateUsage,
  setStatus,
  shapeProblems,
  type BillingCoach,
  type Rate,
} from "./helpers.ts";

afterAll(closeRootPool);

const attemptRow = async (client: pg.ClientBase, id: string) =>
  (await client.query(
    "select status::text, billed_duration_seconds, started_at, finished_at, updated_at from app_public.transcriptions where id = $1",
    [id],
  )).rows[0];

describe("capture, exactly once per attempt", () => {
  test("an attempt that completes cannot go back to processing nor fail: one event, with its first outcome and figures", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 10, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const id = await insertAttempt(client, await createSession(client, coach), { status: "queued", rate });
      await setStatus(client, id, "processing");
      await setStatus(client, id, "completed", 900);
      const captured = await eventOf(client, id);
      expect(captured).toMatchObject({ outcome: "completed", reason: "first_success", included_seconds: 600, charged_seconds: 300, amount: 35 });
      const month = captured.billing_month;
      const ledger = await ledgerOf(client, coach.profileId, month);

      for (const status of ["processing", "failed", "queued"]) {
        expect(await errorOf(client, "update app_public.transcriptions set status = $2 where id = $1", [id, status])).toMatchObject({
          code: "55000",
          message: `Transcription ${id} is completed, which is final: it cannot go from completed to ${status}. To try again, create a new attempt with retry_of = ${id}.`,
        });
      }
      expect(await attemptRow(client, id)).toMatchObject({ status: "completed", billed_duration_seconds: 900 });
      expect(await eventsOfAttempt(client, id)).toEqual([captured]);
      expect(await ledgerOf(client, coach.profileId, month)).toEqual(ledger);
      expect(ledger).toMatchObject({ included: 600, charged: 300, amount: 35 });
    }));

  test("a failed attempt cannot be marked completed: it stays a free failure and uses no included minutes", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 10, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const id = await insertAttempt(client, await createSession(client, coach, 300), { status: "queued", rate });
      await setStatus(client, id, "failed");
      expect(await errorOf(client, "update app_public.transcriptions set status = 'completed', billed_duration_seconds = 600 where id = $1", [id]))
        .toMatchObject({ code: "55000", message: expect.stringMatching(/ is failed, which is final: it cannot go from failed to completed\./) });
      const events = await eventsOfAttempt(client, id);
      expect(events.map(({ outcome, reason, billable, audio_seconds, included_seconds, amount }) =>
        ({ outcome, reason, billable, audio_seconds, included_seconds, amount })))
        .toEqual([{ outcome: "failed", reason: "failed_free", billable: false, audio_seconds: 300, included_seconds: 0, amount: 0 }]);
      expect(await ledgerOf(client, coach.profileId, events[0]!.billing_month)).toMatchObject({ included: 0, charged: 0, amount: 0 });
    }));

  test("an attempt inserted already completed is captured at once, later edits write nothing, and unfinished attempts have no event", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const sessionId = await createSession(client, coach);
      const done = await insertAttempt(client, sessionId, { status: "completed", seconds: 300, rate });
      const captured = await eventOf(client, done);
      await client.query("update app_public.transcriptions set transcript_text = 'Corrected.', language = 'de' where id = $1", [done]);
      await client.query("update app_public.transcriptions set status = 'completed' where id = $1", [done]);
      expect(await eventsOfAttempt(client, done)).toEqual([captured]);

      const queued = await insertAttempt(client, sessionId, { status: "queued", rate });
      const processing = await insertAttempt(client, sessionId, { status: "processing", rate });
      expect(await eventsOfAttempt(client, queued)).toEqual([]);
      expect(await eventsOfAttempt(client, processing)).toEqual([]);
      expect((await eventsOfCoaches(client, [coach.profileId])).map((event) => event.transcription_id)).toEqual([done]);
    }));
});

describe("the unique key behind exactly once", () => {
  test("a second record or attempt event for one attempt is refused by its unique key, even to the owner writing it directly", () =>
    withRootDb(async (client) => {
      const coach = await createBillingCoach(client, (await createPlan(client)).id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const id = await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 60, rate });
      // The captured record: one per attempt.
      const record = await errorOf(client, `insert into app_private.usage_records (transcription_id, coach_profile_id, is_retry,
          outcome, billed_duration_seconds, finished_at)
        select transcription_id, coach_profile_id, is_retry, outcome, billed_duration_seconds, finished_at
        from app_private.usage_records where transcription_id = $1`, [id]);
      expect(record).toMatchObject({ code: "23505", constraint: "usage_records_one_per_attempt" });
      // The rated charge: one per attempt.
      await rateUsage(client);
      const duplicate = await errorOf(client, `insert into app_public.usage_events (kind, occurred_at, coach_profile_id, session_id,
          transcription_id, billable, billing_reason, amount_minor, usage_month, billing_month, rule_version)
        select kind, occurred_at, coach_profile_id, session_id, transcription_id, billable, billing_reason, amount_minor,
          usage_month, billing_month, rule_version
        from app_public.usage_events where transcription_id = $1`, [id]);
      expect(duplicate).toMatchObject({ code: "23505", constraint: "usage_events_one_per_attempt" });
      expect(await eventsOfAttempt(client, id)).toHaveLength(1);
    }));
});

describe("capture under concurrency (committed, cleaned up)", () => {
  const coaches: BillingCoach[] = [];
  const rates: Rate[] = [];
  let planId: string;

  beforeAll(async () => {
    planId = await testPlanId(rootPool()); // 300 included minutes, 10 a minute after
  });

  afterAll(async () => {
    for (const coach of coaches) await deleteBillingCoach(rootPool(), coach);
    for (const rate of rates) await rootPool().query("delete from app_public.provider_rates where provider = $1", [rate.provider]);
  });

  async function setUp(label: string, sessions: number) {
    const coach = await createBillingCoach(rootPool(), planId, label);
    coaches.push(coach);
    const rate = await createRates(rootPool(), [{ costPerMinuteMinor: "0.43" }]);
    rates.push(rate);
    const sessionIds = [];
    for (let n = 0; n < sessions; n++) sessionIds.push(await createSession(rootPool(), coach, 600));
    return { coach, rate, sessionIds };
  }

  /**
   * Two connections each run `statements[i]` in a transaction; the second is
   * sent while the first is still open (it waits only for the same attempt's
   * row: capture locks nothing). Then both commit, and the rating step prices
   * what they captured.
   */
  async function race(statements: Array<[string, unknown[]]>, sameRow = false): Promise<number[]> {
    const [a, b] = [await rootPool().connect(), await rootPool().connect()];
    try {
      await a.query("begin");
      await b.query("begin");
      const bPid = (await b.query("select pg_backend_pid() as pid")).rows[0].pid as number;
      const first = await a.query(...statements[0]!);
      const second = b.query(...statements[1]!);
      if (sameRow) await waitUntilBlocked(rootPool(), bPid);
      else await second;
      await a.query("commit");
      const secondResult = await second;
      await b.query("commit");
      return [first.rowCount ?? -1, secondResult.rowCount ?? -1];
    } finally {
      await a.query("rollback").catch(() => undefined);
      await b.query("rollback").catch(() => undefined);
      a.release();
      b.release();
    }
  }

  // The racers' attempts finish at one instant, read once (each transaction's
  // now() would differ, and a month could end between them).
  const complete = "update app_public.transcriptions set status = 'completed', billed_duration_seconds = $2, finished_at = $3 where id = $1";
  const anInstant = async (): Promise<Date> => (await rootPool().query("select now() as at")).rows[0].at;

  test("two sessions completing the same attempt at once write one event and count its seconds once", async () => {
    const { coach, rate, sessionIds } = await setUp("same-attempt", 1);
    const id = await insertAttempt(rootPool(), sessionIds[0]!, { status: "processing", rate });
    const at = await anInstant();
    expect(await race([[complete, [id, 600, at]], [complete, [id, 600, at]]], true)).toEqual([1, 1]);

    const events = await eventsOfAttempt(rootPool(), id);
    expect(events.map(({ outcome, reason, audio_seconds, included_seconds, charged_seconds, amount }) =>
      ({ outcome, reason, audio_seconds, included_seconds, charged_seconds, amount })))
      .toEqual([{ outcome: "completed", reason: "included_minutes", audio_seconds: 600, included_seconds: 600, charged_seconds: 0, amount: 0 }]);
    expect(await ledgerOf(rootPool(), coach.profileId, events[0]!.billing_month)).toMatchObject({ included: 600, charged: 0, amount: 0 });
  });

  test("two attempts of one coach completing at once are priced one after the other, without using the included minutes twice", async () => {
    const { coach, rate, sessionIds } = await setUp("two-attempts", 2);
    const first = await insertAttempt(rootPool(), sessionIds[0]!, { status: "processing", rate });
    const second = await insertAttempt(rootPool(), sessionIds[1]!, { status: "processing", rate });
    const at = await anInstant();
    expect(await race([[complete, [first, 10_000, at]], [complete, [second, 10_000, at]]])).toEqual([1, 1]);

    const figures = async (id: string) => {
      const { reason, is_retranscription, included_seconds, charged_seconds, amount, billing_month } = await eventOf(rootPool(), id);
      return { reason, is_retranscription, included_seconds, charged_seconds, amount, billing_month };
    };
    const one = await figures(first);
    const two = await figures(second);
    // 300 included minutes are 18,000 s: 10,000 for the first, 8,000 + 2,000 at 10/min (333.33 → 333) for the second.
    expect(one).toEqual({ reason: "included_minutes", is_retranscription: false, included_seconds: 10_000, charged_seconds: 0, amount: 0, billing_month: one.billing_month });
    expect(two).toEqual({ reason: "first_success", is_retranscription: false, included_seconds: 8_000, charged_seconds: 2_000, amount: 333, billing_month: one.billing_month });
    expect(await ledgerOf(rootPool(), coach.profileId, one.billing_month)).toMatchObject({ included: 18_000, charged: 2_000, amount: 333 });
    expect(shapeProblems(await eventsOfCoaches(rootPool(), [coach.profileId]))).toEqual([]);
  });

  test("two attempts of one session completing at once: the one priced second is the re-transcription", async () => {
    const { coach, rate, sessionIds } = await setUp("one-session", 1);
    const first = await insertAttempt(rootPool(), sessionIds[0]!, { status: "processing", rate });
    const second = await insertAttempt(rootPool(), sessionIds[0]!, { status: "processing", rate });
    const at = await anInstant();
    expect(await race([[complete, [first, 10_000, at]], [complete, [second, 10_000, at]]])).toEqual([1, 1]);

    const events = (await eventsOfCoaches(rootPool(), [coach.profileId]))
      .map(({ transcription_id, reason, is_retranscription, included_seconds, charged_seconds, amount }) =>
        ({ transcription_id, reason, is_retranscription, included_seconds, charged_seconds, amount }));
    expect(events).toEqual([
      { transcription_id: first, reason: "included_minutes", is_retranscription: false, included_seconds: 10_000, charged_seconds: 0, amount: 0 },
      { transcription_id: second, reason: "retranscription", is_retranscription: true, included_seconds: 8_000, charged_seconds: 2_000, amount: 333 },
    ]);
  });
});

describe("permanence", () => {
  test("usage events outlive the soft delete and the governed hard delete of the coach profile, every figure intact", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 10, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const sessionId = await createSession(client, coach, 1800);
      const failed = await insertAttempt(client, sessionId, { status: "failed", finishedAt: "2026-08-03T10:00:00Z", rate });
      await insertAttempt(client, sessionId, { status: "completed", seconds: 900, finishedAt: "2026-08-03T11:00:00Z", rate, retryOf: failed });
      await insertAttempt(client, sessionId, { status: "completed", seconds: 1000, finishedAt: "2026-08-04T11:00:00Z", rate });
      const explanations = async (ids: string[]) =>
        (await client.query("select app_public.explain_charge(id) as x from unnest($1::bigint[]) id order by id", [ids])).rows.map((row) => row.x);
      const before = await eventsOfCoaches(client, [coach.profileId]);
      expect(before.map((event) => [event.reason, event.amount])).toEqual([["failed_free", 0], ["first_success", 35], ["retranscription", 117]]);
      expect(shapeProblems(before)).toEqual([]);
      const explained = await explanations(before.map((event) => event.id));

      await client.query("delete from app_public.coach_profiles where id = $1", [coach.profileId]);
      const soft = await client.query("select count(*)::int as n from app_public.transcriptions where coach_profile_id = $1 and is_deleted", [coach.profileId]);
      expect(soft.rows[0].n).toBe(3);
      expect(await eventsOfCoaches(client, [coach.profileId])).toEqual(before);

      await client.query("select governance.hard_delete('app_public.coach_profiles', $1, 'GDPR erasure request')", [coach.profileId]);
      const gone = await client.query(
        `select (select count(*) from app_public.coach_profiles where id = $1)::int as profiles,
                (select count(*) from app_public.transcriptions where coach_profile_id = $1)::int as attempts`,
        [coach.profileId],
      );
      expect(gone.rows[0]).toEqual({ profiles: 0, attempts: 0 });
      expect(await eventsOfCoaches(client, [coach.profileId])).toEqual(before);
      expect(await explanations(before.map((event) => event.id))).toEqual(explained);
      expect(await ledgerOf(client, coach.profileId, "2026-08-01")).toMatchObject({ included: 600, charged: 1300, amount: 152 });
    }));

  test("usage events refuse UPDATE, DELETE and TRUNCATE to everyone, the superuser included, and stay as they were", () =>
    withRootDb(async (client) => {
      // TRUNCATE waits for every other writer of the table: bounded, so that it never holds up the suite for long.
      await client.query("set local lock_timeout = '10s'");
      const appendOnly = { code: "42501", message: "app_public.usage_events is append-only: corrections are new rows." };
      // First, holding nothing: later this transaction holds the rating lock, which another file's rating may wait for while holding the table.
      expect(await errorOf(client, "truncate app_public.usage_events")).toMatchObject(appendOnly);
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const id = await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 60, rate });
      const event = await eventOf(client, id);

      expect(await errorOf(client, "update app_public.usage_events set amount_minor = 0 where id = $1", [event.id])).toMatchObject(appendOnly);
      expect(await errorOf(client, "delete from app_public.usage_events where id = $1", [event.id])).toMatchObject(appendOnly);

      for (const user of [admin, coach.user]) {
        await becomeUser(client, user);
        expect((await errorOf(client, "update app_public.usage_events set amount_minor = 0 where id = $1", [event.id]))?.code).toBe("42501");
        expect((await errorOf(client, "delete from app_public.usage_events where id = $1", [event.id]))?.code).toBe("42501");
        expect((await errorOf(client,
          `insert into app_public.usage_events (kind, occurred_at, coach_profile_id, billable, billing_reason, amount_minor, usage_month, billing_month, rule_version, note)
           values ('credit', now(), $1, false, 'credit', -100, '2026-08-01', '2026-08-01', 'x', 'forged credit')`, [coach.profileId]))?.code).toBe("42501");
        await becomeRoot(client);
      }
      expect(await eventsOfAttempt(client, id)).toEqual([event]);
    }));
});

describe("bad input from the pipeline", () => {
  test("completing without a billed duration, or with a negative one, is refused and the attempt is left unchanged", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const sessionId = await createSession(client, coach);
      const id = await insertAttempt(client, sessionId, { status: "processing", rate });
      const before = await attemptRow(client, id);

      await becomeUser(client, admin);
      const missing = await errorOf(client, "update app_public.transcriptions set status = 'completed' where id = $1", [id]);
      expect(missing).toMatchObject({ code: "23514", constraint: "transcriptions_completed_has_billed_duration",
        message: "A completed attempt needs its billed duration: set billed_duration_seconds (the audio seconds the provider billed)." });
      const negative = await errorOf(client, "update app_public.transcriptions set status = 'completed', billed_duration_seconds = -5 where id = $1", [id]);
      expect(negative).toMatchObject({ code: "23514", constraint: "transcriptions_billed_duration_seconds_check",
        message: "A billed duration cannot be negative (got -5 seconds)." });
      const negativeFailure = await errorOf(client, "update app_public.transcriptions set status = 'failed', billed_duration_seconds = -1 where id = $1", [id]);
      expect(negativeFailure?.code).toBe("23514");
      const inserted = await errorOf(client,
        "insert into app_public.transcriptions (session_id, provider, model, status) values ($1, $2, $3, 'completed')", [sessionId, rate.provider, rate.model]);
      expect(inserted).toMatchObject({ code: "23514", constraint: "transcriptions_completed_has_billed_duration" });
      await becomeRoot(client);

      expect(await attemptRow(client, id)).toEqual(before);
      expect(before).toMatchObject({ status: "processing", billed_duration_seconds: null, finished_at: null });
      const left = await client.query("select count(*)::int as n from app_public.transcriptions where session_id = $1", [sessionId]);
      expect(left.rows[0].n).toBe(1);
      expect(await eventsOfCoaches(client, [coach.profileId])).toEqual([]);
      const ledgers = await client.query("select count(*)::int as n from app_private.usage_ledgers where coach_profile_id = $1", [coach.profileId]);
      expect(ledgers.rows[0].n).toBe(0);
    }));

  test("an attempt whose coach has no known plan still completes; its record is kept unrated, named by the rating run and reconcile, and rated once the coach has a plan", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const id = await insertAttempt(client, await createSession(client, coach), { status: "processing", rate });

      // The schema refuses an unknown plan: the foreign key.
      const unknownPlan = "00000000-0000-4000-8000-000000000000";
      const assigned = await errorOf(client, "update app_public.coach_profiles set plan_id = $2 where id = $1", [coach.profileId, unknownPlan]);
      expect(assigned).toMatchObject({ code: "23503", constraint: "coach_profiles_plan_id_fkey" });
      // Should one get there anyway (a superuser with triggers off), capture
      // still records the attempt (it reads no plan), and rating cannot price it.
      await client.query("set session_replication_role = replica");
      await client.query("update app_public.coach_profiles set plan_id = $2 where id = $1", [coach.profileId, unknownPlan]);
      await client.query("set session_replication_role = origin");
      await client.query("update app_public.transcriptions set status = 'completed', billed_duration_seconds = 60, finished_at = now() where id = $1", [id]);
      expect((await attemptRow(client, id)).status).toBe("completed");

      const { rows: [run] } = await client.query("select rated, unratable from app_private.rate_usage_records(null)");
      expect(run.unratable).toBeGreaterThanOrEqual(1);
      const { rows: unratable } = await client.query(
        "select transcription_id, reason from app_private.unratable_usage_records() where coach_profile_id = $1", [coach.profileId]);
      expect(unratable).toEqual([{ transcription_id: id, reason: `coach profile ${coach.profileId} has no billing plan` }]);
      expect(await eventsOfAttempt(client, id)).toEqual([]);
      const { rows: differences } = await client.query(
        "select check_name, subject, expected, actual from app_public.usage_reconcile(current_date, current_date + 1) where subject = $1", [id]);
      expect(differences).toEqual([{ check_name: "unrated_record", subject: id, expected: "a usage event",
        actual: `not rated: coach profile ${coach.profileId} has no billing plan` }]);

      await client.query("update app_public.coach_profiles set plan_id = $2 where id = $1", [coach.profileId, plan.id]);
      const [event] = await eventsOfAttempt(client, id);
      expect(event).toMatchObject({ outcome: "completed", reason: "included_minutes", audio_seconds: 60, plan_id: plan.id });
      expect((await client.query("select count(*)::int as n from app_private.unratable_usage_records() where coach_profile_id = $1",
        [coach.profileId])).rows[0].n).toBe(0);
    }));
});
