import { becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl, graphql, login } from "../support/http.ts";
import { createRates, insertAttempt, type Rate } from "./helpers.ts";

// What a provider charges the platform, and the margin on it, are the
// platform's: admins and auditors read them, a coach (a customer) reads what
// they pay and their own usage. Each door is tried: SQL as the role, GraphQL
// fields, REST columns and the audit trail of the rates.

let coach: Coach;
let admin: User;
let auditor: User;
let tokens: { coach: string; admin: string; auditor: string };
let rate: Rate;
/** The day of the coach's one priced attempt, pinned. */
const from = "2026-01-05";
const to = "2026-01-06";

beforeAll(async () => {
  const pool = rootPool();
  coach = await createCoach(pool, "cost-coach");
  admin = await createUser(pool, "admin", "cost-admin");
  auditor = await createUser(pool, "auditor", "cost-auditor");
  rate = await createRates(pool, [{ costPerMinuteMinor: "3.0000" }]);
  await insertAttempt(pool, coach.sessionId, { status: "completed", seconds: 120, finishedAt: "2026-01-05T10:00:00Z", rate });
  await pool.query("select app_private.rate_usage_records(null)"); // as the usage_rate job does a moment later
  tokens = { coach: await login(coach.user.email), admin: await login(admin.email), auditor: await login(auditor.email) };
});

afterAll(async () => {
  const pool = rootPool();
  await deleteCoach(pool, coach);
  await pool.query("delete from app_public.users where id = any($1)", [[admin.id, auditor.id]]);
  await pool.query("delete from app_public.provider_rates where provider = $1", [rate.provider]);
  await closeRootPool();
});

describe("in SQL, as the role a writer would have", () => {
  test("a coach may not select the provider cost of a usage event, a rollup or a rate, nor a whole row holding one", () =>
    withRootDb(async (client) => {
      await becomeUser(client, coach.user);
      for (const sql of [
        "select provider_cost_minor from app_public.usage_events",
        "select * from app_public.usage_events",
        "select provider_cost_minor from app_public.usage_daily",
        "select failed_cost_minor from app_public.usage_daily",
        "select cost_per_minute_minor from app_public.provider_rates",
      ]) {
        expect(await errorOf(client, sql)).toMatchObject({ code: "42501" });
      }
      const { rows } = await client.query("select count(*)::int as n from app_public.usage_events where coach_profile_id = $1", [coach.profileId]);
      expect(rows[0].n).toBeGreaterThan(0);
    }));

  test("the functions a coach calls answer null where a figure is the platform's", () =>
    withRootDb(async (client) => {
      await becomeUser(client, coach.user);
      const events = await client.query("select provider_cost_minor from app_public.usage_in_range($1, $2)", [from, to]);
      expect(events.rows.length).toBeGreaterThan(0);
      expect(events.rows.every((row) => row.provider_cost_minor === null)).toBe(true);
      const summary = await client.query("select * from app_public.revenue_summary($1, $2)", [from, to]);
      expect(summary.rows[0]).toMatchObject({ provider_cost_minor: null, gross_margin_minor: null, gross_margin_ratio: null });
      const failures = await client.query("select failed_attempts_cost_minor from app_public.failure_stats($1, $2)", [from, to]);
      expect(failures.rows[0].failed_attempts_cost_minor).toBeNull();
      const explained = await client.query(
        "select app_public.explain_charge(e.id) -> 'provider_cost_minor' as cost from app_public.usage_events e where e.coach_profile_id = $1",
        [coach.profileId],
      );
      expect(explained.rows.length).toBeGreaterThan(0);
      expect(explained.rows.map((row) => row.cost)).toEqual(explained.rows.map(() => null));
    }));

  test("an admin and an auditor read the provider cost", () =>
    withRootDb(async (client) => {
      for (const staff of [admin, auditor]) {
        await becomeUser(client, staff);
        const { rows } = await client.query(
          "select provider_cost_minor::text from app_public.usage_in_range($1, $2, $3)",
          [from, to, coach.profileId],
        );
        expect(rows).toEqual([{ provider_cost_minor: "6.000000" }]);
        const rates = await client.query("select count(cost_per_minute_minor)::int as n from app_public.provider_rates");
        expect(rates.rows[0].n).toBeGreaterThan(0);
      }
    }));

  test("a coach reads no audit event of the provider rates", () =>
    withRootDb(async (client) => {
      await client.query("update app_public.provider_rates set cost_per_minute_minor = 4 where provider = $1", [rate.provider]);
      await becomeUser(client, coach.user);
      const { rows } = await client.query("select count(*)::int as n from audit.events where table_name = 'provider_rates'");
      expect(rows[0].n).toBe(0);
    }));
});

describe("over GraphQL", () => {
  test("a coach asking for a usage event's provider cost is refused in words naming the field; without it the events come", async () => {
    const refused = await graphql("{ usageEvents { nodes { rowId providerCostMinor } } }", {}, tokens.coach);
    expect(refused.body.errors?.[0]).toMatchObject({
      message: "A coach may not read providerCostMinor of usage_events; leave it out.",
      extensions: { code: "42501" },
    });
    const allowed = await graphql("{ usageEvents { nodes { rowId amountMinor } } }", {}, tokens.coach);
    expect(allowed.body.errors).toBeUndefined();
    expect(allowed.body.data!.usageEvents.nodes.length).toBeGreaterThan(0);
  });

  test("a coach asking for a rate's cost is refused; the providers and models stay readable", async () => {
    const refused = await graphql("{ providerRates { nodes { provider costPerMinuteMinor } } }", {}, tokens.coach);
    expect(refused.body.errors?.[0]?.message).toBe("A coach may not read costPerMinuteMinor of provider_rates; leave it out.");
    const allowed = await graphql("{ providerRates { nodes { provider model } } }", {}, tokens.coach);
    expect(allowed.body.data!.providerRates.nodes).toEqual(expect.arrayContaining([{ provider: rate.provider, model: rate.model }]));
  });

  test("revenueSummary gives a coach their revenue without cost or margin, and an admin all of it", async () => {
    const query = `{ revenueSummary(fromDay: "${from}", toDay: "${to}") { revenueMinor providerCostMinor grossMarginMinor } }`;
    const mine = (await graphql(query, {}, tokens.coach)).body.data!.revenueSummary;
    expect(mine).toMatchObject({ providerCostMinor: null, grossMarginMinor: null });
    const all = (await graphql(query, {}, tokens.admin)).body.data!.revenueSummary;
    expect(all.providerCostMinor).not.toBeNull(); // the platform's, over every coach's usage of the day
  });
});

describe("over REST", () => {
  const usageCsv = async (token: string) => {
    const response = await fetch(apiUrl(`/api/v1/usage?from=${from}&to=${to}&format=csv&coach_profile_id=${coach.profileId}`), { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    const [header, ...rows] = (await response.text()).trim().split("\r\n").map((line) => line.split(","));
    const cost = header!.indexOf("providerCostMinor");
    return rows.map((row) => row[cost]);
  };

  test("a coach's usage export leaves the provider cost empty; an admin's holds it", async () => {
    expect(await usageCsv(tokens.coach)).toEqual([""]);
    expect(await usageCsv(tokens.admin)).toEqual(["6.000000"]);
    expect(await usageCsv(tokens.auditor)).toEqual(["6.000000"]);
  });
});
