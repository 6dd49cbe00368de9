import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, withRootDb } from "../support/db.ts";
import { createUser } from "../support/fixtures.ts";
import {
  createBillingCoach,
  createPlan,
  createRates,
  createSession,
  eventOf,
  eventsOfCoaches,
  insertAttempt,
  ledgerOf,
  setStatus,
  shapeProblems,
  type Rate,
} from "./helpers.ts";

afterAll(closeRootPool);

/** The current billing month (UTC) of the transaction, as YYYY-MM-DD. */
async function currentMonth(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query("select to_char(date_trunc('month', now() at time zone 'UTC'), 'YYYY-MM-DD') as month");
  return rows[0].month;
}

/** A coach asks for an attempt, as the API lets them: session, provider, model, language, retry_of only. */
async function requestAttempt(client: pg.ClientBase, sessionId: string, rate: Rate, retryOf: string | null = null): Promise<string> {
  const { rows } = await client.query(
    "insert into app_public.transcriptions (session_id, provider, model, language, retry_of) values ($1, $2, $3, 'en', $4) returning id",
    [sessionId, rate.provider, rate.model, retryOf],
  );
  return rows[0].id;
}

/** Round half away from zero of a non-negative number of sixtieths of a minor unit, in integers (no float drift). */
const roundSixtieths = (sixtieths: number) => Math.floor((2 * sixtieths + 60) / 120);

describe("the billing rule", () => {
  test("fail, fail, success and a re-transcription are priced failed_free, failed_free, first_success and retranscription, and explain_charge names the prior attempts", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { feeMinor: 1500, includedMinutes: 10, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.4300" }]);
      const sessionId = await createSession(client, coach, 1800);
      const month = await currentMonth(client);

      // The coach asks; the pipeline (an admin's role) moves each attempt along.
      await becomeUser(client, coach.user);
      const first = await requestAttempt(client, sessionId, rate);
      await becomeUser(client, admin);
      await setStatus(client, first, "processing");
      await setStatus(client, first, "failed");
      await becomeUser(client, coach.user);
      const second = await requestAttempt(client, sessionId, rate, first);
      await becomeUser(client, admin);
      await setStatus(client, second, "processing");
      await setStatus(client, second, "failed", 1200);
      await becomeUser(client, coach.user);
      const third = await requestAttempt(client, sessionId, rate, second);
      await becomeUser(client, admin);
      await setStatus(client, third, "processing");
      await setStatus(client, third, "completed", 900);
      await becomeUser(client, coach.user);
      const fourth = await requestAttempt(client, sessionId, rate);
      await becomeUser(client, admin);
      await setStatus(client, fourth, "processing");
      await setStatus(client, fourth, "completed", 1000);
      await becomeRoot(client);

      const common = {
        kind: "attempt", coach_profile_id: coach.profileId, session_id: sessionId, unit_price: 7, plan_id: plan.id,
        usage_month: month, billing_month: month, rule_version: "billing-rules-2026-11-v1", corrects: null, note: null, created_by: null,
      };
      const events = await eventsOfCoaches(client, [coach.profileId]);
      expect(events).toEqual([
        { ...common, id: expect.any(String), transcription_id: first, outcome: "failed", billable: false, reason: "failed_free",
          is_retry: false, is_retranscription: false, audio_seconds: 1800, included_seconds: 0, charged_seconds: 0, amount: 0,
          provider_cost: "12.900000" },
        { ...common, id: expect.any(String), transcription_id: second, outcome: "failed", billable: false, reason: "failed_free",
          is_retry: true, is_retranscription: false, audio_seconds: 1200, included_seconds: 0, charged_seconds: 0, amount: 0,
          provider_cost: "8.600000" },
        { ...common, id: expect.any(String), transcription_id: third, outcome: "completed", billable: true, reason: "first_success",
          is_retry: true, is_retranscription: false, audio_seconds: 900, included_seconds: 600, charged_seconds: 300, amount: 35,
          provider_cost: "6.450000" },
        // 1000 s at 7/min is 116.67; the month's total goes from 35 to 151.67, which rounds to 152: 117 more.
        { ...common, id: expect.any(String), transcription_id: fourth, outcome: "completed", billable: true, reason: "retranscription",
          is_retry: false, is_retranscription: true, audio_seconds: 1000, included_seconds: 0, charged_seconds: 1000, amount: 117,
          provider_cost: "7.166667" },
      ]);
      expect(shapeProblems(events)).toEqual([]);
      const ledger = await ledgerOf(client, coach.profileId, month);
      expect(ledger).toMatchObject({ included: 600, charged: 1300, amount: 152 });
      expect(Number(ledger.exact)).toBeCloseTo(151.666667, 5);

      const explain = async (id: string) =>
        (await client.query("select app_public.explain_charge($1) as x", [id])).rows[0].x;
      const priorOf = (index: number) => ({
        usage_event_id: Number(events[index]!.id), transcription_id: events[index]!.transcription_id, occurred_at: expect.any(String),
        outcome: events[index]!.outcome, billing_reason: events[index]!.reason, amount_minor: events[index]!.amount,
      });
      expect(await explain(events[0]!.id)).toMatchObject({
        rule: "failed_free", outcome: "failed", billable: false, amount_minor: 0, provider_cost_minor: 12.9, prior_attempts: [],
        explanation: "The attempt failed, and failed attempts are free. It still cost us 12.900000 minor units at the provider.",
      });
      expect(await explain(events[2]!.id)).toEqual({
        usage_event_id: Number(events[2]!.id), kind: "attempt", rule: "first_success", rule_version: "billing-rules-2026-11-v1",
        explanation: "The session's first successful transcription (after 2 failed attempts, which were free) is charged. "
          + "600 of its 900 seconds used included minutes; 300 seconds at 7 minor units per minute came to 35 minor units.",
        outcome: "completed", billable: true, audio_seconds: 900, audio_minutes: 15, included_seconds: 600, charged_seconds: 300,
        unit_price_minor: 7, amount_minor: 35, provider_cost_minor: 6.45,
        plan: { id: plan.id, name: expect.stringMatching(/^Usage test plan /), included_minutes: 10, price_per_extra_minute_minor: 7 },
        usage_month: month, billing_month: month, late: false,
        prior_attempts: [priorOf(0), priorOf(1)],
      });
      expect(await explain(events[3]!.id)).toMatchObject({
        rule: "retranscription", amount_minor: 117,
        explanation: "A successful re-transcription: the session already had a successful transcription, so this attempt is charged. "
          + "0 of its 1000 seconds used included minutes; 1000 seconds at 7 minor units per minute came to 117 minor units.",
        prior_attempts: [priorOf(0), priorOf(1), priorOf(2)],
      });
    }));

  test("included minutes pay first: wholly covered attempts are included_minutes, re-transcriptions too, and the one crossing the boundary is split exactly", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 10, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.5000" }]);
      const [one, two, three] = [await createSession(client, coach), await createSession(client, coach), await createSession(client, coach)];
      const finishedAt = "2026-08-10T12:00:00Z";
      const attempts = [
        await insertAttempt(client, one!, { status: "completed", seconds: 400, finishedAt, rate }),
        await insertAttempt(client, two!, { status: "failed", seconds: 500, finishedAt, rate }),
        await insertAttempt(client, one!, { status: "completed", seconds: 150, finishedAt, rate }),
        await insertAttempt(client, two!, { status: "completed", seconds: 130, finishedAt, rate }),
        await insertAttempt(client, three!, { status: "completed", seconds: 60, finishedAt, rate }),
      ];
      const figures = [];
      for (const id of attempts) {
        const { reason, is_retranscription, audio_seconds, included_seconds, charged_seconds, amount } = await eventOf(client, id);
        figures.push({ reason, is_retranscription, audio_seconds, included_seconds, charged_seconds, amount });
      }
      expect(figures).toEqual([
        { reason: "included_minutes", is_retranscription: false, audio_seconds: 400, included_seconds: 400, charged_seconds: 0, amount: 0 },
        // A failed attempt uses none of the included minutes.
        { reason: "failed_free", is_retranscription: false, audio_seconds: 500, included_seconds: 0, charged_seconds: 0, amount: 0 },
        { reason: "included_minutes", is_retranscription: true, audio_seconds: 150, included_seconds: 150, charged_seconds: 0, amount: 0 },
        // 50 s of the 600 remain: 50 included + 80 charged = 130; 80 s at 7/min = 9.33 → 9.
        { reason: "first_success", is_retranscription: false, audio_seconds: 130, included_seconds: 50, charged_seconds: 80, amount: 9 },
        // 9.33 + 7 = 16.33 → 16: 7 more.
        { reason: "first_success", is_retranscription: false, audio_seconds: 60, included_seconds: 0, charged_seconds: 60, amount: 7 },
      ]);
      expect(shapeProblems(await eventsOfCoaches(client, [coach.profileId]))).toEqual([]);
      const ledger = await ledgerOf(client, coach.profileId, "2026-08-01");
      expect(ledger).toMatchObject({ included: 600, charged: 140, amount: 16 });
      expect(Number(ledger.exact)).toBeCloseTo(16.333333, 5);
    }));

  test("included minutes are per coach and per billing month: another coach and the next month start afresh", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 1, pricePerMinuteMinor: 60 });
      const first = await createBillingCoach(client, plan.id, "first");
      const second = await createBillingCoach(client, plan.id, "second");
      const rate = await createRates(client, [{ costPerMinuteMinor: "1" }]);
      const attempt = async (coach: typeof first, finishedAt: string) =>
        eventOf(client, await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 90, finishedAt, rate }));
      const figures = [
        await attempt(first, "2026-07-31T23:59:59Z"),
        await attempt(second, "2026-07-31T23:59:59Z"),
        await attempt(first, "2026-08-01T00:00:00Z"),
        await attempt(first, "2026-08-02T00:00:00Z"),
      ].map(({ billing_month, included_seconds, charged_seconds, amount }) => ({ billing_month, included_seconds, charged_seconds, amount }));
      expect(figures).toEqual([
        { billing_month: "2026-07-01", included_seconds: 60, charged_seconds: 30, amount: 30 },
        { billing_month: "2026-07-01", included_seconds: 60, charged_seconds: 30, amount: 30 },
        { billing_month: "2026-08-01", included_seconds: 60, charged_seconds: 30, amount: 30 },
        { billing_month: "2026-08-01", included_seconds: 0, charged_seconds: 90, amount: 90 },
      ]);
    }));

  test("charges are rounded on the month's running total, so that many small charges add up to round(total), not to the sum of their own roundings", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 0, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const sessionId = await createSession(client, coach);
      const finishedAt = "2026-08-20T08:00:00Z";
      for (let n = 0; n < 50; n++) await insertAttempt(client, sessionId, { status: "completed", seconds: 5, finishedAt, rate });

      // 5 s at 7/min is 35/60 = 0.583: each alone would round to 1 (50 in all); the month's total is 29.17 → 29.
      const amounts = (await eventsOfCoaches(client, [coach.profileId])).map((event) => event.amount);
      expect(amounts).toHaveLength(50);
      expect(new Set(amounts)).toEqual(new Set([0, 1]));
      expect(amounts.reduce((sum, amount) => sum + amount, 0)).toBe(roundSixtieths(50 * 35));
      expect(roundSixtieths(50 * 35)).toBe(29);
      const ledger = await ledgerOf(client, coach.profileId, "2026-08-01");
      expect(ledger).toMatchObject({ included: 0, charged: 250, amount: 29 });
      expect(Number(ledger.exact)).toBeCloseTo(29.166667, 5);
    }));

  test("a running total that lands exactly on a half rounds away from zero, however the month's seconds were split", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 0, pricePerMinuteMinor: 7 });
      const split = await createBillingCoach(client, plan.id, "split");
      const whole = await createBillingCoach(client, plan.id, "whole");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const finishedAt = "2026-08-20T08:00:00Z";
      const splitSession = await createSession(client, split);
      for (let n = 0; n < 6; n++) await insertAttempt(client, splitSession, { status: "completed", seconds: 5, finishedAt, rate });
      await insertAttempt(client, await createSession(client, whole), { status: "completed", seconds: 30, finishedAt, rate });

      // 30 s at 7/min is 210/60 = 3.5 exactly, which rounds to 4 whether it came as one attempt or six of 5 s.
      const amountsOf = async (coach: typeof split) => (await eventsOfCoaches(client, [coach.profileId])).map((event) => event.amount);
      expect(await amountsOf(whole)).toEqual([4]);
      expect(await amountsOf(split)).toEqual(Array.from({ length: 6 }, (_, k) => roundSixtieths(35 * (k + 1)) - roundSixtieths(35 * k)));
      expect(await amountsOf(split)).toEqual([1, 0, 1, 0, 1, 1]);
      expect(await ledgerOf(client, split.profileId, "2026-08-01")).toMatchObject({ charged: 30, amount: 4 });
    }));

  test("a half rounds away from zero, on the running total", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 0, pricePerMinuteMinor: 1 });
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const sessionId = await createSession(client, coach);
      for (let n = 0; n < 3; n++) {
        await insertAttempt(client, sessionId, { status: "completed", seconds: 30, finishedAt: "2026-08-20T08:00:00Z", rate });
      }
      // Running totals 0.5, 1.0 and 1.5 round to 1, 1 and 2.
      expect((await eventsOfCoaches(client, [coach.profileId])).map((event) => event.amount)).toEqual([1, 0, 1]);
    }));

  test("a completed attempt of zero seconds is billable and free, and uses no included minutes", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const id = await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 0, finishedAt: "2026-08-20T08:00:00Z", rate });
      expect(await eventOf(client, id)).toMatchObject({
        outcome: "completed", billable: true, reason: "first_success", audio_seconds: 0, included_seconds: 0, charged_seconds: 0,
        amount: 0, provider_cost: "0.000000",
      });
    }));
});

describe("provider cost", () => {
  test("comes from the rate in force when the attempt finished; an unknown rate leaves it null and usage_reconcile lists the event", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.5000" }, { costPerMinuteMinor: "0.8000", from: "2026-06-01T00:00:00Z" }]);
      const unknown: Rate = { provider: `nobody-${coach.profileId.slice(0, 8)}`, model: "m1" };
      const sessionId = await createSession(client, coach, 600);
      const before = await insertAttempt(client, sessionId, { status: "failed", finishedAt: "2026-05-31T23:59:59Z", rate });
      const onTheDay = await insertAttempt(client, sessionId, { status: "completed", seconds: 600, finishedAt: "2026-06-01T00:00:00Z", rate });
      const unpriced = await insertAttempt(client, sessionId, { status: "completed", seconds: 90, finishedAt: "2026-06-02T10:00:00Z", rate: unknown });

      // The failed attempt without a billed duration counts the recording's 600 s.
      expect(await eventOf(client, before)).toMatchObject({ reason: "failed_free", audio_seconds: 600, amount: 0, provider_cost: "5.000000" });
      expect(await eventOf(client, onTheDay)).toMatchObject({ reason: "included_minutes", audio_seconds: 600, provider_cost: "8.000000" });
      const event = await eventOf(client, unpriced);
      // The included minutes of June are used up: 90 s at 7/min = 10.5, which rounds to 11.
      expect(event).toMatchObject({ reason: "retranscription", is_retranscription: true, charged_seconds: 90, amount: 11, provider_cost: null });

      const { rows } = await client.query(
        `select check_name, day::text, subject, expected, actual from app_public.usage_reconcile('2026-05-01', '2026-07-01')
         where check_name = 'unknown_provider_cost' and subject = any($1)`,
        [[(await eventOf(client, before)).id, (await eventOf(client, onTheDay)).id, event.id]],
      );
      expect(rows).toEqual([
        { check_name: "unknown_provider_cost", day: "2026-06-02", subject: event.id, expected: `a rate for ${unknown.provider} m1`, actual: "none" },
      ]);
      expect((await client.query("select app_public.explain_charge($1) ->> 'provider_cost_minor' as cost", [event.id])).rows[0].cost).toBeNull();
    }));
});

describe("who sees the charges", () => {
  test("a coach sees their own usage events and explanations, and nothing of another coach's", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const mine = await createBillingCoach(client, plan.id, "mine");
      const theirs = await createBillingCoach(client, plan.id, "theirs");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const own = await insertAttempt(client, await createSession(client, mine), { status: "completed", seconds: 60, finishedAt: "2026-08-01T09:00:00Z", rate });
      const other = await insertAttempt(client, await createSession(client, theirs), { status: "completed", seconds: 60, finishedAt: "2026-08-01T09:00:00Z", rate });
      const ownEvent = await eventOf(client, own);
      const otherEvent = await eventOf(client, other);

      await becomeUser(client, mine.user);
      const { rows } = await client.query(
        "select id::text, transcription_id from app_public.usage_events where coach_profile_id = any($1::uuid[])",
        [[mine.profileId, theirs.profileId]],
      );
      expect(rows).toEqual([{ id: ownEvent.id, transcription_id: own }]);
      const explained = await client.query(
        "select app_public.explain_charge($1) ->> 'rule' as own, app_public.explain_charge($2) as other",
        [ownEvent.id, otherEvent.id],
      );
      expect(explained.rows).toEqual([{ own: "included_minutes", other: null }]);
    }));
});
