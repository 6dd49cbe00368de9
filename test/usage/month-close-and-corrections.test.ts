import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, waitUntilBlocked, withRootDb } from "../support/db.ts";
import { createUser } from "../support/fixtures.ts";
import {
  createBillingCoach,
  createPlan,
  createRates,
  createSession,
  deleteBillingCoach,
  eventColumns,
  eventOf,
  eventsOfCoaches,
  insertAttempt,
  setStatus,
  shapeProblems,
  type UsageEvent,
} from "./helpers.ts";

afterAll(closeRootPool);

// close_month locks app_private.usage_ledgers in exclusive mode: it runs only
// in transactions that are rolled back, and those tests stay short.

const invoiceColumns = `coach_profile_id, month::text, plan_id, plan_name, currency, plan_fee_minor::int, included_minutes,
  audio_seconds::int, included_seconds::int, charged_seconds::int, usage_minor::int, credits_minor::int, total_minor::int,
  late_events, closed_at`;

const frozenInvoice = async (client: pg.ClientBase | pg.Pool, profileId: string, month: string) =>
  (await client.query(`select ${invoiceColumns} from app_public.invoices where coach_profile_id = $1 and month = $2`, [profileId, month])).rows;

const previewInvoice = async (client: pg.ClientBase, profileId: string | null, month: string | null = null) =>
  (await client.query(`select ${invoiceColumns} from app_public.invoice_preview($1, $2)`, [profileId, month])).rows;

async function currentMonth(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query("select to_char(date_trunc('month', now() at time zone 'UTC'), 'YYYY-MM-DD') as month");
  return rows[0].month;
}

async function usageEvent(client: pg.ClientBase, id: string): Promise<UsageEvent> {
  return (await client.query(`select ${eventColumns} from app_public.usage_events e where e.id = $1`, [id])).rows[0];
}

describe("closing a month", () => {
  test("freezes each coach's invoice at the plan fee plus the month's amounts; a second close is refused and invoices refuse changes", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { feeMinor: 1500, includedMinutes: 10, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const sessionId = await createSession(client, coach);
      const failed = await insertAttempt(client, sessionId, { status: "failed", finishedAt: "2026-09-02T10:00:00Z", rate });
      await insertAttempt(client, sessionId, { status: "completed", seconds: 900, finishedAt: "2026-09-02T11:00:00Z", rate, retryOf: failed });
      await insertAttempt(client, sessionId, { status: "completed", seconds: 120, finishedAt: "2026-09-15T11:00:00Z", rate });
      const amounts = (await eventsOfCoaches(client, [coach.profileId])).map((event) => event.amount);
      expect(amounts).toEqual([0, 35, 14]);

      await becomeUser(client, admin);
      const { rows: [closed] } = await client.query("select app_public.close_month('2026-09-01') as frozen");
      await becomeRoot(client);
      const count = await client.query("select count(*)::int as n from app_public.invoices where month = '2026-09-01'");
      expect(closed.frozen).toBe(count.rows[0].n);
      const month = await client.query("select closed_by from app_public.billing_months where month = '2026-09-01'");
      expect(month.rows).toEqual([{ closed_by: admin.id }]);

      const invoice = await frozenInvoice(client, coach.profileId, "2026-09-01");
      expect(invoice).toEqual([{
        coach_profile_id: coach.profileId, month: "2026-09-01", plan_id: plan.id, plan_name: expect.stringMatching(/^Usage test plan /),
        currency: "EUR", plan_fee_minor: 1500, included_minutes: 10, audio_seconds: 1020, included_seconds: 600, charged_seconds: 420,
        usage_minor: 49, credits_minor: 0, total_minor: 1549, late_events: 0, closed_at: expect.any(Date),
      }]);
      expect(invoice[0].total_minor).toBe(plan.feeMinor + amounts.reduce((sum, amount) => sum + amount, 0));
      expect(await previewInvoice(client, coach.profileId, "2026-09-01")).toEqual(invoice);

      await becomeUser(client, admin);
      expect(await errorOf(client, "select app_public.close_month('2026-09-01')"))
        .toMatchObject({ code: "55000", message: "Month 2026-09 is already closed; its invoices are frozen." });
      await becomeRoot(client);
      const appendOnly = { code: "42501", message: "app_public.invoices is append-only: corrections are new rows." };
      expect(await errorOf(client, "update app_public.invoices set total_minor = 0 where coach_profile_id = $1", [coach.profileId])).toMatchObject(appendOnly);
      expect(await errorOf(client, "delete from app_public.invoices where coach_profile_id = $1", [coach.profileId])).toMatchObject(appendOnly);
      expect((await errorOf(client, "delete from app_public.billing_months where month = '2026-09-01'"))?.code).toBe("42501");
      expect(await frozenInvoice(client, coach.profileId, "2026-09-01")).toEqual(invoice);
    }));

  test("an attempt finishing in a closed month is billed in the first open month after it, and the closed invoice stays as it was", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { feeMinor: 1500, includedMinutes: 10, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 900, finishedAt: "2026-09-10T10:00:00Z", rate });
      await client.query("select app_public.close_month('2026-09-01')");
      const frozen = await frozenInvoice(client, coach.profileId, "2026-09-01");
      expect(frozen).toMatchObject([{ usage_minor: 35, total_minor: 1535, late_events: 0 }]);

      // The pipeline reports an attempt that finished in September, after the close.
      const late = await insertAttempt(client, await createSession(client, coach), { status: "queued", rate });
      await setStatus(client, late, "completed", 700, "2026-09-20T12:00:00Z");
      const event = await eventOf(client, late);
      expect(shapeProblems(await eventsOfCoaches(client, [coach.profileId]))).toEqual([]);
      // October's included minutes pay first: 600 s, and 100 s at 7/min = 11.67 → 12.
      expect(event).toMatchObject({ usage_month: "2026-09-01", billing_month: "2026-10-01", reason: "first_success",
        included_seconds: 600, charged_seconds: 100, amount: 12 });
      expect((await client.query("select app_public.explain_charge($1) ->> 'late' as late", [event.id])).rows[0].late).toBe("true");
      expect(await frozenInvoice(client, coach.profileId, "2026-09-01")).toEqual(frozen);
      expect(await previewInvoice(client, coach.profileId, "2026-09-01")).toEqual(frozen);
      expect(await previewInvoice(client, coach.profileId, "2026-10-01")).toMatchObject([{
        audio_seconds: 700, included_seconds: 600, charged_seconds: 100, usage_minor: 12, total_minor: 1512, late_events: 1 }]);

      // With October closed too, the next late September attempt goes to the
      // first open month after it: November, whatever day the test runs on.
      await client.query("select app_public.close_month('2026-10-01')");
      const later = await insertAttempt(client, await createSession(client, coach), { status: "failed", finishedAt: "2026-09-25T12:00:00Z", rate });
      expect(await eventOf(client, later)).toMatchObject({ usage_month: "2026-09-01", billing_month: "2026-11-01", amount: 0 });
      expect(await frozenInvoice(client, coach.profileId, "2026-10-01")).toMatchObject([{ usage_minor: 12, late_events: 1 }]);
    }));

  test("only admins close months, only past ones and by their first day; refused closes leave no trace", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      const auditor = await createUser(client, "auditor");
      const month = await currentMonth(client);
      for (const user of [coach.user, auditor]) {
        await becomeUser(client, user);
        expect((await errorOf(client, "select app_public.close_month('2026-09-01')"))?.code).toBe("42501");
      }
      await becomeUser(client, admin);
      expect(await errorOf(client, "select app_public.close_month('2026-09-15')"))
        .toMatchObject({ code: "22023", message: "Give the first day of the month to close (like 2026-10-01), not 2026-09-15." });
      expect(await errorOf(client, "select app_public.close_month($1)", [month]))
        .toMatchObject({ code: "22023", message: `Month ${month.slice(0, 7)} has not ended yet; only past months can be closed.` });
      await becomeRoot(client);
      const closed = await client.query("select count(*)::int as n from app_public.billing_months where month in ('2026-09-01', $1)", [month]);
      expect(closed.rows[0].n).toBe(0);
    }));
});

describe("a late attempt meeting a month close (committed: closes a month of 1971-2009 for good)", () => {
  test("is captured without waiting for the close in progress; the rating waits for it, then bills it in the next open month, outside the frozen invoices", async () => {
    const plan = await createPlan(rootPool(), { feeMinor: 0, includedMinutes: 0, pricePerMinuteMinor: 6 });
    const coach = await createBillingCoach(rootPool(), plan.id, "late-close");
    const rate = await createRates(rootPool(), [{ costPerMinuteMinor: "0.43" }]);
    const sessionId = await createSession(rootPool(), coach);
    // The first month from 1971 on not closed yet (each run closes one, for good).
    const { rows: [{ month, next }] } = await rootPool().query(`select to_char(m, 'YYYY-MM-DD') as month, to_char(m + interval '1 month', 'YYYY-MM-DD') as next
      from generate_series('1971-01-01'::date, '2009-12-01', interval '1 month') m
      where not exists (select from app_public.billing_months b where b.month = m) order by m limit 1`);
    const closer = await rootPool().connect();
    const pipeline = await rootPool().connect();
    const rater = await rootPool().connect();
    try {
      await closer.query("begin");
      await closer.query("select app_public.close_month($1)", [month]);
      // Capture locks nothing: the attempt commits while the close is open.
      const late = await insertAttempt(pipeline, sessionId, { status: "completed", seconds: 120, finishedAt: `${month.slice(0, 8)}20T10:00:00Z`, rate });
      const pid = (await rater.query("select pg_backend_pid() as pid")).rows[0].pid as number;
      const rating = rater.query("select rated from app_private.rate_usage_records(null)");
      await waitUntilBlocked(rootPool(), pid);
      await closer.query("commit");
      // It waited for the close and then ran. (Another file's rating, waiting too, may rate the record
      // first: whoever rates it, it is billed in the next open month.)
      await rating;
      expect(await eventOf(rootPool(), late)).toMatchObject({ usage_month: month, billing_month: next, amount: 12 });
      expect(await frozenInvoice(rootPool(), coach.profileId, month)).toEqual([]);
    } finally {
      await closer.query("rollback").catch(() => undefined);
      closer.release();
      pipeline.release();
      rater.release();
      await deleteBillingCoach(rootPool(), coach);
      await rootPool().query("delete from app_public.billing_plans where id = $1", [plan.id]);
      await rootPool().query("delete from app_public.provider_rates where provider = $1", [rate.provider]);
    }
  });
});

describe("credits and voids", () => {
  test("an admin's credit is a new negative event with the reason in the current open month, and the invoice counts it", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { feeMinor: 1500, includedMinutes: 0, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const other = await createBillingCoach(client, plan.id, "other");
      const admin = await createUser(client, "admin");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 600, rate });
      const month = await currentMonth(client);

      await becomeUser(client, admin);
      const { rows: [issued] } = await client.query(
        "select id::text from app_public.issue_usage_credit($1, 250, '  Goodwill after the outage  ')", [coach.profileId]);
      await becomeRoot(client);
      expect(await usageEvent(client, issued.id)).toEqual({
        id: issued.id, kind: "credit", coach_profile_id: coach.profileId, session_id: null, transcription_id: null, outcome: null,
        billable: false, reason: "credit", is_retry: false, is_retranscription: false, audio_seconds: 0, included_seconds: 0,
        charged_seconds: 0, unit_price: null, amount: -250, provider_cost: null, plan_id: null, usage_month: month, billing_month: month,
        rule_version: "billing-rules-2026-11-v1", corrects: null, note: "Goodwill after the outage", created_by: admin.id,
      });
      expect((await client.query("select app_public.explain_charge($1) as x", [issued.id])).rows[0].x).toMatchObject({
        kind: "credit", rule: "credit", amount_minor: -250, prior_attempts: [],
        explanation: "A credit of 250 minor units issued by an admin: Goodwill after the outage",
      });

      // 600 s at 7/min = 70; the month's invoice: 1500 + 70 - 250.
      const events = await eventsOfCoaches(client, [coach.profileId]);
      expect(shapeProblems(events)).toEqual([]);
      const amounts = events.reduce((sum, event) => sum + event.amount, 0);
      expect(await previewInvoice(client, coach.profileId)).toMatchObject([{
        month, plan_fee_minor: 1500, audio_seconds: 600, charged_seconds: 600, usage_minor: 70, credits_minor: -250, total_minor: 1320 }]);
      expect(1500 + amounts).toBe(1320);

      await becomeUser(client, coach.user);
      const seen = (await previewInvoice(client, null)).map((row) => row.coach_profile_id);
      expect(seen).toEqual([coach.profileId]);
      expect(seen).not.toContain(other.profileId);
    }));

  test("a credit needs a positive amount, a reason and a coach that exists", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client);
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      await becomeUser(client, admin);
      const credit = (amount: number, reason: string | null, profileId = coach.profileId) =>
        errorOf(client, "select app_public.issue_usage_credit($1, $2, $3)", [profileId, amount, reason]);
      expect(await credit(0, "goodwill")).toMatchObject({ code: "22023", message: "A credit is a positive amount in minor units (got 0)." });
      expect((await credit(-5, "goodwill"))?.code).toBe("22023");
      expect(await credit(100, "  ")).toMatchObject({ code: "22023", message: "A credit needs a reason (at least 3 characters)." });
      expect((await credit(100, null))?.code).toBe("22023");
      const nobody = "00000000-0000-4000-8000-000000000000";
      expect(await credit(100, "goodwill", nobody)).toMatchObject({ code: "23503", message: `No coach profile with id ${nobody}.` });
      await becomeRoot(client);
      expect(await eventsOfCoaches(client, [coach.profileId, nobody])).toEqual([]);
    }));

  test("an admin voids a charged attempt once, with a reason: a new event of the opposite amount in the current open month", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 0, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const sessionId = await createSession(client, coach);
      const charged = await eventOf(client, await insertAttempt(client, sessionId, { status: "completed", seconds: 600, finishedAt: "2026-09-10T10:00:00Z", rate }));
      const free = await eventOf(client, await insertAttempt(client, sessionId, { status: "failed", finishedAt: "2026-09-11T10:00:00Z", rate }));
      expect([charged.amount, free.amount]).toEqual([70, 0]);
      const month = await currentMonth(client);

      await becomeUser(client, admin);
      const { rows: [voided] } = await client.query("select id::text from app_public.void_usage_event($1, ' Duplicate upload ')", [charged.id]);
      const again = await errorOf(client, "select app_public.void_usage_event($1, 'Twice')", [charged.id]);
      expect(again).toMatchObject({ code: "55000", message: `Usage event ${charged.id} is already voided; nothing changed.` });
      expect(await errorOf(client, "select app_public.void_usage_event($1, '')", [charged.id]))
        .toMatchObject({ code: "22023", message: "A void needs a reason (at least 3 characters)." });
      expect(await errorOf(client, "select app_public.void_usage_event($1, 'Free anyway')", [free.id]))
        .toMatchObject({ code: "55000", message: `Usage event ${free.id} charged nothing; there is nothing to void.` });
      expect(await errorOf(client, "select app_public.void_usage_event($1, 'Void the void')", [voided.id]))
        .toMatchObject({ code: "22023", message: `Usage event ${voided.id} is a void; only attempts can be voided.` });
      expect((await errorOf(client, "select app_public.void_usage_event(-1, 'Nothing there')"))?.code).toBe("P0002");
      await becomeRoot(client);

      expect(await usageEvent(client, voided.id)).toEqual({
        id: voided.id, kind: "void", coach_profile_id: coach.profileId, session_id: sessionId, transcription_id: charged.transcription_id,
        outcome: null, billable: false, reason: "void", is_retry: false, is_retranscription: false, audio_seconds: 0, included_seconds: 0,
        charged_seconds: 0, unit_price: null, amount: -70, provider_cost: null, plan_id: plan.id, usage_month: month, billing_month: month,
        rule_version: "billing-rules-2026-11-v1", corrects: charged.id, note: "Duplicate upload", created_by: admin.id,
      });
      expect((await client.query("select app_public.explain_charge($1) ->> 'explanation' as x", [voided.id])).rows[0].x)
        .toBe(`Cancels the 70 minor units charged by usage event ${charged.id}: Duplicate upload`);
      const events = await eventsOfCoaches(client, [coach.profileId]);
      expect(events.map((event) => [event.kind, event.amount])).toEqual([["attempt", 70], ["attempt", 0], ["void", -70]]);
      expect(shapeProblems(events)).toEqual([]);
      expect(await previewInvoice(client, coach.profileId)).toMatchObject([{ month, usage_minor: 0, credits_minor: -70 }]);
    }));

  test("coaches and auditors may neither credit nor void (42501), and nothing is written", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { includedMinutes: 0, pricePerMinuteMinor: 7 });
      const coach = await createBillingCoach(client, plan.id);
      const auditor = await createUser(client, "auditor");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const charged = await eventOf(client, await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 60, rate }));
      for (const user of [coach.user, auditor]) {
        await becomeUser(client, user);
        expect((await errorOf(client, "select app_public.issue_usage_credit($1, 100, 'Please')", [coach.profileId]))?.code).toBe("42501");
        expect((await errorOf(client, "select app_public.void_usage_event($1, 'Please')", [charged.id]))?.code).toBe("42501");
      }
      await becomeRoot(client);
      expect((await eventsOfCoaches(client, [coach.profileId])).map((event) => event.kind)).toEqual(["attempt"]);
    }));
});
