import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createUser, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";
import {
  createBillingCoach,
  createPlan,
  createRates,
  createSession,
  deleteBillingCoach,
  eventsOfCoaches,
  insertAttempt,
  type BillingCoach,
  type Plan,
} from "./helpers.ts";

afterAll(closeRootPool);

const CEILING = 10_000_000;

/** The month a credit issued now is billed in, by the database's clock (not the test's). */
async function creditMonth(client: pg.ClientBase | pg.Pool, monthsBack = 0): Promise<string> {
  const { rows } = await client.query(
    `select (app_private.first_open_month(date_trunc('month', now() at time zone 'UTC')::date) - make_interval(months => $1))::date::text as month`,
    [monthsBack]);
  return rows[0].month;
}

const overCharges = (amount: number, profileId: string, month: string, limit: number) =>
  `A credit of ${amount} minor units is above what coach profile ${profileId} was charged in ${month.slice(0, 7)} and the 12 months before it (${limit} minor units, net of earlier credits): the most it can be credited is ${limit}.`;
const overCeiling = (amount: string | number) =>
  `A credit of ${amount} minor units is above the limit of ${CEILING} minor units for any one credit, even with an override.`;

describe("a credit is bounded by what the coach was charged", () => {
  test("up to the open month's fee and usage, net of earlier credits; one minor unit more is refused in words (23514)", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { feeMinor: 1000, includedMinutes: 0, pricePerMinuteMinor: 6 });
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      await insertAttempt(client, await createSession(client, coach), { status: "completed", seconds: 600, rate }); // 60
      const month = await creditMonth(client);
      await becomeUser(client, admin);
      const credit = (amount: number | string, override: string | null = null) =>
        errorOf(client, "select app_public.issue_usage_credit($1, $2, 'Outage on the 3rd', $3)", [coach.profileId, amount, override]);

      expect(await credit(1061)).toMatchObject({ code: "23514", constraint: "usage_credit_within_charges", message: overCharges(1061, coach.profileId, month, 1060) });
      expect(await credit(400)).toBeNull();
      expect(await credit(661)).toMatchObject({ code: "23514", message: overCharges(661, coach.profileId, month, 660) });
      expect(await credit(660)).toBeNull();
      expect(await credit(1)).toMatchObject({ code: "23514", message: overCharges(1, coach.profileId, month, 0) });
      await becomeRoot(client);
      const { rows } = await client.query(
        "select total_minor::int as total, credits_minor::int as credits from app_public.invoice_preview($1, $2)", [coach.profileId, month]);
      expect(rows).toEqual([{ total: 0, credits: -1060 }]);
    }));

  test("an override with its own reason may exceed the charges, up to a ceiling for any one credit; the reason is kept in the note", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { feeMinor: 1000 });
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      await becomeUser(client, admin);
      const credit = (amount: number | string, override: string | null) =>
        errorOf(client, "select app_public.issue_usage_credit($1, $2, 'Refund of the annual plan', $3)", [coach.profileId, amount, override]);

      expect(await credit(5000, "short")).toMatchObject({
        code: "22023",
        message: "An override needs its own reason of at least 10 characters (why the credit may exceed what the coach was charged).",
      });
      expect(await credit("99999999999999", "Approved by finance, ticket 4411")).toMatchObject({
        code: "23514", constraint: "usage_credit_within_ceiling", message: overCeiling("99999999999999") });
      expect(await credit(CEILING + 1, "Approved by finance, ticket 4411")).toMatchObject({ code: "23514", message: overCeiling(CEILING + 1) });
      expect(await credit(5000, "Approved by finance, ticket 4411")).toBeNull();
      await becomeRoot(client);
      expect((await eventsOfCoaches(client, [coach.profileId])).map(({ kind, amount, note }) => ({ kind, amount, note }))).toEqual([
        { kind: "credit", amount: -5000, note: "Refund of the annual plan (override: Approved by finance, ticket 4411)" },
      ]);
    }));

  test("what a closed month charged counts too: its frozen invoice, for 12 months", () =>
    withRootDb(async (client) => {
      const plan = await createPlan(client, { feeMinor: 1000, includedMinutes: 0, pricePerMinuteMinor: 6 });
      const coach = await createBillingCoach(client, plan.id);
      const admin = await createUser(client, "admin");
      const rate = await createRates(client, [{ costPerMinuteMinor: "0.43" }]);
      const [month, twoBack, oneBack] = [await creditMonth(client), await creditMonth(client, 2), await creditMonth(client, 1)];
      // The coach has been live since two months ago, with 600 s charged then.
      await client.query("set local session_replication_role = replica"); // keep the pinned created_at
      await client.query("update app_public.coach_profiles set created_at = $2::date where id = $1", [coach.profileId, twoBack]);
      await client.query("set local session_replication_role = origin");
      await insertAttempt(client, await createSession(client, coach), {
        status: "completed", seconds: 600, rate, finishedAt: `${twoBack.slice(0, 8)}10T10:00:00Z` });
      await becomeUser(client, admin);
      for (const closing of [twoBack, oneBack]) {
        if ((await client.query("select from app_public.billing_months where month = $1", [closing])).rowCount === 0) {
          await client.query("select app_public.close_month($1)", [closing]);
        }
      }
      // 1060 two months ago, 1000 last month, 1000 this month.
      const credit = (amount: number) =>
        errorOf(client, "select app_public.issue_usage_credit($1, $2, 'Outage last quarter')", [coach.profileId, amount]);
      expect(await credit(3061)).toMatchObject({ code: "23514", message: overCharges(3061, coach.profileId, month, 3060) });
      expect(await credit(3060)).toBeNull();
    }));
});

describe("siblings: other money an admin types", () => {
  test("a plan's monthly fee and price per extra minute have an upper bound, named by their constraint", () =>
    withRootDb(async (client) => {
      const admin = await createUser(client, "admin");
      await becomeUser(client, admin);
      const plan = (fee: number | string, price: number | string) => errorOf(client,
        "insert into app_public.billing_plans (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor) values ('Bounded plan', $1, 0, $2)",
        [fee, price]);
      expect(await plan("99999999999999", 10)).toMatchObject({ code: "23514", constraint: "billing_plans_monthly_fee_minor_bound" });
      expect(await plan(1900, "99999999999999")).toMatchObject({ code: "23514", constraint: "billing_plans_price_per_extra_minute_minor_bound" });
      expect(await plan(100000000, 1000000)).toBeNull();
      await becomeRoot(client);
      const { rows } = await client.query(
        `select constraint_name as conname, words from app_private.constraint_words()
         where table_name = 'app_public.billing_plans' and constraint_name like '%_bound' order by 1`);
      expect(rows).toEqual([
        { conname: "billing_plans_monthly_fee_minor_bound", words: "A billing plan's monthlyFeeMinor may be at most 100,000,000 minor units (1,000,000.00 of the currency)." },
        { conname: "billing_plans_price_per_extra_minute_minor_bound", words: "A billing plan's pricePerExtraMinuteMinor may be at most 1,000,000 minor units (10,000.00 of the currency)." },
      ]);
    }));
});

describe("through the API", () => {
  let plan: Plan;
  let coach: BillingCoach;
  let admin: User;
  let adminToken: string;

  beforeAll(async () => {
    plan = await createPlan(rootPool(), { feeMinor: 1000 });
    coach = await createBillingCoach(rootPool(), plan.id, "credit-bounds");
    admin = await createUser(rootPool(), "admin", "credit-bounds-admin");
    adminToken = await login(admin.email);
  });
  afterAll(async () => {
    await deleteBillingCoach(rootPool(), coach);
    await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
    await rootPool().query("delete from app_public.billing_plans where id = $1", [plan.id]);
  });

  const credit = `mutation ($coach: UUID!, $amount: BigInt!, $reason: String!, $override: String) {
    issueUsageCredit(input: { coachProfileId: $coach, amountMinor: $amount, reason: $reason, overrideReason: $override }) {
      result { amountMinor note } } }`;

  test("issueUsageCredit(amountMinor: \"99999999999999\") is refused in words with its SQLSTATE, and so is one above the charges; nothing is written", async () => {
    const month = await creditMonth(rootPool());
    for (const [amount, message] of [
      ["99999999999999", overCeiling("99999999999999")],
      ["1001", overCharges(1001, coach.profileId, month, 1000)],
    ] as const) {
      const { body } = await graphql(credit, { coach: coach.profileId, amount, reason: "Goodwill gesture" }, adminToken);
      expect({ data: body.data?.issueUsageCredit ?? null, errors: body.errors?.map((error) => ({ message: error.message, code: error.extensions?.code })) })
        .toEqual({ data: null, errors: [{ message, code: "23514" }] });
    }
    expect(await eventsOfCoaches(rootPool(), [coach.profileId])).toEqual([]);

    const { body } = await graphql(credit, { coach: coach.profileId, amount: "1000", reason: "Goodwill gesture" }, adminToken);
    expect(body).toEqual({ data: { issueUsageCredit: { result: { amountMinor: "-1000", note: "Goodwill gesture" } } } });
  });
});
