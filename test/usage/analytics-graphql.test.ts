import crypto from "node:crypto";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// The billing analytics over GraphQL, with exact figures for a small known
// workload. Usage events are permanent and every test file writes some, so
// the workload lives in a year no other usage occupies (March 1 a Monday, so
// the weeks below start on the 1st, the 8th and April 5th), and the
// transcriptions are written as root with their finish times in that year,
// then rolled up with app_private.rebuild_usage_day as the worker would.
//
// The plan: a fee of 1000, 1 included minute, 6 per extra minute. The
// provider charges us 3 per minute for `rated`; `unrated` has no rate.
//
// Coach A, session 1 (a 120-second recording):
//   a1  failed          Tue 03-02 10:00  120 s          free, cost 6
//   a2  failed retry    Tue 03-02 11:00  (recording's length: 120 s) free, cost 6
//   a3  completed retry Thu 03-04 09:00  120 s  first success: 60 s included, 60 s charged = 6, cost 6
//   a4  completed       Tue 03-09 09:00   95 s  re-transcription: 95 s charged, 15.5 in all, rounds to 16, so 10; cost 4.75
// Coach A, session 2:
//   a5  completed       Mon 04-05 09:00   30 s  April's included minute: 0, cost 1.5
// (After June is closed, a6 (a 90-second re-transcription) finishes on 06-20 and is billed late, in July.)
// Coach B, session 1:
//   b1  completed (unrated) Tue 03-02 12:00  200 s  first success: 60 included, 140 charged = 14, cost unknown
//   b2  failed          Tue 03-09 10:00   40 s  free, cost 2

/** Years whose March 1 is a Monday; the workload takes the first that holds no usage yet. */
const candidateYears = [1909, 1915, 1926, 1937, 1943, 1954, 1965, 1971, 1982, 1993, 1999];
const suffix = crypto.randomBytes(4).toString("hex");
const provider = `analytics-${suffix}`;
const planName = `Analytics plan ${suffix}`;

let year: number;
/** A date of the workload's year, from "MM-DD". */
const day = (monthDay: string) => `${year}-${monthDay}`;
/** The whole workload: March and April. */
const range = () => ({ fromDay: day("03-01"), toDay: day("05-01") });

let a: Coach;
let b: Coach;
let admin: User;
let auditor: User;
let planId: string;
let rateId: string;
let tokens: { a: string; b: string; admin: string; auditor: string };
/** Usage event ids (as GraphQL's BigInt strings) and transcription ids of the workload, by name. */
const events: Record<string, string> = {};
const attempts: Record<string, string> = {};
const sessions: Record<string, string> = {};

async function freeYear(): Promise<number> {
  const { rows } = await rootPool().query(
    `select y from unnest($1::int[]) y
     where not exists (select from app_public.usage_events e
                       where e.occurred_at >= make_date(y, 1, 1)::timestamp at time zone 'UTC'
                         and e.occurred_at < make_date(y + 1, 1, 1)::timestamp at time zone 'UTC')
       and not exists (select from app_public.billing_months m where m.month >= make_date(y, 1, 1) and m.month < make_date(y + 1, 1, 1))
     order by y limit 1`,
    [candidateYears],
  );
  if (!rows[0]) throw new Error("every candidate year already holds usage");
  return rows[0].y;
}

async function addSession(coach: Coach, name: string, seconds: number): Promise<void> {
  const { rows } = await rootPool().query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, $2, $3, 'recordings/analytics.m4a', $4) returning id`,
    [coach.clientId, `Analytics ${name}`, `${day("03-01")}T08:00:00Z`, seconds],
  );
  sessions[name] = rows[0].id;
}

/** One terminal attempt, finished at a given time of the workload's year; its usage is captured as it is written, and rated. */
async function addAttempt(
  name: string,
  session: string,
  attempt: { status: "completed" | "failed"; at: string; seconds: number | null; model?: string; retryOf?: string },
): Promise<void> {
  const { rows } = await rootPool().query(
    `insert into app_public.transcriptions (session_id, provider, model, status, billed_duration_seconds, retry_of, started_at, finished_at)
     values ($1, $2, $3, $4, $5, $6, $7, $7) returning id`,
    [sessions[session], provider, attempt.model ?? "rated", attempt.status, attempt.seconds,
     attempt.retryOf ? attempts[attempt.retryOf] : null, `${day(attempt.at)}:00Z`],
  );
  attempts[name] = rows[0].id;
  await rootPool().query("select app_private.rate_usage_records(null)");
  const event = await rootPool().query("select id::text from app_public.usage_events where transcription_id = $1 and kind = 'attempt'", [rows[0].id]);
  events[name] = event.rows[0].id;
}

beforeAll(async () => {
  const root = rootPool();
  year = await freeYear();
  planId = (await root.query(
    `insert into app_public.billing_plans (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor)
     values ($1, 1000, 1, 6) returning id`, [planName])).rows[0].id;
  rateId = (await root.query(
    "insert into app_public.provider_rates (provider, model, cost_per_minute_minor) values ($1, 'rated', 3) returning id", [provider])).rows[0].id;
  a = await createCoach(root, "usage-analytics-a");
  b = await createCoach(root, "usage-analytics-b");
  admin = await createUser(root, "admin", "usage-analytics-admin");
  auditor = await createUser(root, "auditor", "usage-analytics-auditor");
  const [ta, tb, tadmin, tauditor] = await Promise.all([a.user, b.user, admin, auditor].map((user) => login(user.email)));
  tokens = { a: ta!, b: tb!, admin: tadmin!, auditor: tauditor! };

  // Both coaches are on the plan, and have been since mid-January of the workload's
  // year (created_at is kept by a trigger, so the backdating skips triggers).
  await root.query("update app_public.coach_profiles set plan_id = $1 where id = any($2)", [planId, [a.profileId, b.profileId]]);
  const client = await root.connect();
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    await client.query("update app_public.coach_profiles set created_at = $1 where id = any($2)", [`${day("01-15")}T00:00:00Z`, [a.profileId, b.profileId]]);
    await client.query("commit");
  } finally {
    client.release();
  }

  await addSession(a, "a-1", 120);
  await addSession(a, "a-2", 30);
  await addSession(b, "b-1", 200);
  await addAttempt("a1", "a-1", { status: "failed", at: "03-02T10:00", seconds: 120 });
  await addAttempt("a2", "a-1", { status: "failed", at: "03-02T11:00", seconds: null, retryOf: "a1" });
  await addAttempt("b1", "b-1", { status: "completed", at: "03-02T12:00", seconds: 200, model: "unrated" });
  await addAttempt("a3", "a-1", { status: "completed", at: "03-04T09:00", seconds: 120, retryOf: "a2" });
  await addAttempt("a4", "a-1", { status: "completed", at: "03-09T09:00", seconds: 95 });
  await addAttempt("b2", "b-1", { status: "failed", at: "03-09T10:00", seconds: 40 });
  await addAttempt("a5", "a-2", { status: "completed", at: "04-05T09:00", seconds: 30 });
  for (const each of ["03-02", "03-04", "03-09", "04-05"]) await root.query("select app_private.rebuild_usage_day($1)", [day(each)]);
});

afterAll(async () => {
  const root = rootPool();
  for (const coach of [a, b]) if (coach) await deleteCoach(root, coach);
  await root.query("delete from app_public.users where id = any($1)", [[admin?.id, auditor?.id].filter(Boolean)]);
  await root.query("delete from app_public.provider_rates where id = $1", [rateId]);
  await root.query("delete from app_public.billing_plans where id = $1", [planId]);
  await closeRootPool();
});

/** Runs a query that must succeed and returns its data. */
async function read<T = any>(token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const { body } = await graphql(query, variables, token);
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data as T;
}

/** Runs an operation that must fail and returns its data, error code and message. */
async function refusal(token: string, query: string, variables: Record<string, unknown> = {}) {
  const { body } = await graphql(query, variables, token);
  return { data: body.data ?? null, code: body.errors?.[0]?.extensions?.code, message: body.errors?.[0]?.message };
}

const periodFields = "periodStart attempts completed failed freeRetries retranscriptions audioMinutes billableMinutes revenueMinor providerCostMinor grossMarginMinor";

async function usageOverTime(token: string, granularity?: string) {
  const data = await read(token,
    `query ($fromDay: Date, $toDay: Date, $granularity: UsageGranularity) {
       usageOverTime(fromDay: $fromDay, toDay: $toDay, granularity: $granularity) { nodes { ${periodFields} } } }`,
    { ...range(), ...(granularity ? { granularity } : {}) });
  return data.usageOverTime.nodes;
}

/** A period in the order of periodFields: start, attempts, completed, failed, free retries, re-transcriptions, minutes, billable minutes, revenue, cost, margin. */
function period(...values: (string | null)[]) {
  const [periodStart, attempts, completed, failed, freeRetries, retranscriptions, audioMinutes, billableMinutes, revenueMinor, providerCostMinor, grossMarginMinor] = values;
  return { periodStart: day(periodStart!), attempts, completed, failed, freeRetries, retranscriptions, audioMinutes, billableMinutes, revenueMinor, providerCostMinor, grossMarginMinor };
}

describe("usage over time", () => {
  test("by day, an admin sees both coaches' usage of each day: attempts, outcomes, free retries, re-transcriptions, minutes, revenue, provider cost and margin", async () => {
    expect(await usageOverTime(tokens.admin, "day")).toEqual([
      period("03-02", "3", "1", "2", "1", "0", "7.33", "3.33", "14", "12.000000", "2.000000"),
      period("03-04", "1", "1", "0", "0", "0", "2.00", "2.00", "6", "6.000000", "0.000000"),
      period("03-09", "2", "1", "1", "0", "1", "2.25", "1.58", "10", "6.750000", "3.250000"),
      period("04-05", "1", "1", "0", "0", "0", "0.50", "0.50", "0", "1.500000", "-1.500000"),
    ]);
  });

  test("by week, the days add up into weeks that start on Monday", async () => {
    expect(await usageOverTime(tokens.admin, "week")).toEqual([
      period("03-01", "4", "2", "2", "1", "0", "9.33", "5.33", "20", "18.000000", "2.000000"),
      period("03-08", "2", "1", "1", "0", "1", "2.25", "1.58", "10", "6.750000", "3.250000"),
      period("04-05", "1", "1", "0", "0", "0", "0.50", "0.50", "0", "1.500000", "-1.500000"),
    ]);
  });

  test("by month, the days add up into calendar months", async () => {
    expect(await usageOverTime(tokens.admin, "month")).toEqual([
      period("03-01", "6", "3", "3", "1", "1", "11.58", "6.92", "30", "24.750000", "5.250000"),
      period("04-01", "1", "1", "0", "0", "0", "0.50", "0.50", "0", "1.500000", "-1.500000"),
    ]);
  });

  test("without a granularity, usage is given by day", async () => {
    expect(await usageOverTime(tokens.admin)).toEqual(await usageOverTime(tokens.admin, "day"));
  });

  test("the range is from inclusive, to exclusive", async () => {
    const data = await read(tokens.admin,
      `query ($fromDay: Date, $toDay: Date) { usageOverTime(fromDay: $fromDay, toDay: $toDay) { nodes { periodStart attempts } } }`,
      { fromDay: day("03-04"), toDay: day("03-09") });
    expect(data.usageOverTime.nodes).toEqual([{ periodStart: day("03-04"), attempts: "1" }]);
  });

  test("a coach sees only their own usage, by day, week and month, without the provider cost or margin", async () => {
    expect(await usageOverTime(tokens.a, "day")).toEqual([
      period("03-02", "2", "0", "2", "1", "0", "4.00", "0.00", "0", null, null),
      period("03-04", "1", "1", "0", "0", "0", "2.00", "2.00", "6", null, null),
      period("03-09", "1", "1", "0", "0", "1", "1.58", "1.58", "10", null, null),
      period("04-05", "1", "1", "0", "0", "0", "0.50", "0.50", "0", null, null),
    ]);
    expect(await usageOverTime(tokens.a, "week")).toEqual([
      period("03-01", "3", "1", "2", "1", "0", "6.00", "2.00", "6", null, null),
      period("03-08", "1", "1", "0", "0", "1", "1.58", "1.58", "10", null, null),
      period("04-05", "1", "1", "0", "0", "0", "0.50", "0.50", "0", null, null),
    ]);
    expect(await usageOverTime(tokens.b, "month")).toEqual([
      period("03-01", "2", "1", "1", "0", "0", "4.00", "3.33", "14", null, null),
    ]);
    expect(await usageOverTime(tokens.b, "day")).toEqual([
      period("03-02", "1", "1", "0", "0", "0", "3.33", "3.33", "14", null, null),
      period("03-09", "1", "0", "1", "0", "0", "0.67", "0.00", "0", null, null),
    ]);
  });

  test("an auditor sees every coach's usage, as an admin does", async () => {
    for (const granularity of ["day", "week", "month"]) {
      expect(await usageOverTime(tokens.auditor, granularity)).toEqual(await usageOverTime(tokens.admin, granularity));
    }
  });
});

const providerFields = "provider model attempts completed failed failureRate audioMinutes revenueMinor providerCostMinor unknownCostAttempts";

async function usageByProvider(token: string) {
  const data = await read(token, `query ($fromDay: Date, $toDay: Date) { usageByProvider(fromDay: $fromDay, toDay: $toDay) { nodes { ${providerFields} } } }`, range());
  return data.usageByProvider.nodes;
}

describe("usage by provider", () => {
  test("an admin sees attempts, failure rate, minutes, revenue and cost per provider and model, the busiest first; a model without a rate counts its attempts of unknown cost", async () => {
    expect(await usageByProvider(tokens.admin)).toEqual([
      { provider, model: "rated", attempts: "6", completed: "3", failed: "3", failureRate: "0.5000", audioMinutes: "8.75",
        revenueMinor: "16", providerCostMinor: "26.250000", unknownCostAttempts: "0" },
      { provider, model: "unrated", attempts: "1", completed: "1", failed: "0", failureRate: "0.0000", audioMinutes: "3.33",
        revenueMinor: "14", providerCostMinor: "0.000000", unknownCostAttempts: "1" },
    ]);
    expect(await usageByProvider(tokens.auditor)).toEqual(await usageByProvider(tokens.admin));
  });

  test("a coach sees only their own attempts per provider and model, without the provider cost", async () => {
    expect(await usageByProvider(tokens.a)).toEqual([
      { provider, model: "rated", attempts: "5", completed: "3", failed: "2", failureRate: "0.4000", audioMinutes: "8.08",
        revenueMinor: "16", providerCostMinor: null, unknownCostAttempts: null },
    ]);
    expect(await usageByProvider(tokens.b)).toEqual([
      { provider, model: "rated", attempts: "1", completed: "0", failed: "1", failureRate: "1.0000", audioMinutes: "0.67",
        revenueMinor: "0", providerCostMinor: null, unknownCostAttempts: null },
      { provider, model: "unrated", attempts: "1", completed: "1", failed: "0", failureRate: "0.0000", audioMinutes: "3.33",
        revenueMinor: "14", providerCostMinor: null, unknownCostAttempts: null },
    ]);
  });
});

async function topCoaches(token: string, maxRows?: number) {
  const data = await read(token,
    `query ($fromDay: Date, $toDay: Date, $maxRows: Int) {
       topCoaches(fromDay: $fromDay, toDay: $toDay, maxRows: $maxRows) { nodes { coachProfileId attempts billableMinutes revenueMinor providerCostMinor grossMarginMinor } } }`,
    { ...range(), ...(maxRows === undefined ? {} : { maxRows }) });
  return data.topCoaches.nodes;
}

describe("top coaches", () => {
  const topA = () => ({ coachProfileId: a.profileId, attempts: "5", billableMinutes: "4.08", revenueMinor: "16", providerCostMinor: "24.250000", grossMarginMinor: "-8.250000" });
  const topB = () => ({ coachProfileId: b.profileId, attempts: "2", billableMinutes: "3.33", revenueMinor: "14", providerCostMinor: "2.000000", grossMarginMinor: "12.000000" });

  test("an admin sees the coaches by revenue, most first, with their minutes, cost and margin; maxRows keeps the first ones", async () => {
    expect(await topCoaches(tokens.admin)).toEqual([topA(), topB()]);
    expect(await topCoaches(tokens.admin, 1)).toEqual([topA()]);
    expect(await topCoaches(tokens.auditor)).toEqual([topA(), topB()]);
  });

  test("a maxRows outside 1 to 1000 is refused in words, not quietly corrected", async () => {
    for (const maxRows of [0, -1, 1001]) {
      const refused = await refusal(tokens.admin,
        `query ($fromDay: Date, $toDay: Date, $maxRows: Int) { topCoaches(fromDay: $fromDay, toDay: $toDay, maxRows: $maxRows) { nodes { coachProfileId } } }`,
        { ...range(), maxRows });
      expect({ data: refused.data?.topCoaches ?? null, code: refused.code, message: refused.message }).toEqual({
        data: null, code: "22023", message: `maxRows must be from 1 to 1000, not ${maxRows}.`,
      });
    }
  });

  test("a coach sees only themselves among the top coaches, without the provider cost or margin", async () => {
    const costless = { providerCostMinor: null, grossMarginMinor: null };
    expect(await topCoaches(tokens.a)).toEqual([{ ...topA(), ...costless }]);
    expect(await topCoaches(tokens.b)).toEqual([{ ...topB(), ...costless }]);
  });
});

/** A one-row summary (served as one object, not a connection), in a list so that its expectations read as rows. */
async function single(token: string, field: string, fields: string, variables: Record<string, unknown> = range()) {
  const data = await read(token, `query ($fromDay: Date, $toDay: Date) { ${field}(fromDay: $fromDay, toDay: $toDay) { ${fields} } }`, variables);
  return [data[field]];
}

describe("revenue summary", () => {
  const fields = "revenueMinor providerCostMinor grossMarginMinor grossMarginRatio";

  test("an admin and an auditor see the revenue, provider cost, margin and margin ratio of every coach", async () => {
    const all = [{ revenueMinor: "30", providerCostMinor: "26.250000", grossMarginMinor: "3.750000", grossMarginRatio: "0.1250" }];
    expect(await single(tokens.admin, "revenueSummary", fields)).toEqual(all);
    expect(await single(tokens.auditor, "revenueSummary", fields)).toEqual(all);
  });

  test("a coach's revenue summary holds only their own revenue: the provider cost and margin are the platform's", async () => {
    expect(await single(tokens.a, "revenueSummary", fields)).toEqual([
      { revenueMinor: "16", providerCostMinor: null, grossMarginMinor: null, grossMarginRatio: null },
    ]);
    expect(await single(tokens.b, "revenueSummary", fields)).toEqual([
      { revenueMinor: "14", providerCostMinor: null, grossMarginMinor: null, grossMarginRatio: null },
    ]);
  });
});

describe("re-transcription statistics", () => {
  const fields = "completed retranscriptions retranscriptionRate";

  test("the share of successful attempts that were re-transcriptions: every coach's for staff, a coach's own for a coach", async () => {
    const all = [{ completed: "4", retranscriptions: "1", retranscriptionRate: "0.2500" }];
    expect(await single(tokens.admin, "retranscriptionStats", fields)).toEqual(all);
    expect(await single(tokens.auditor, "retranscriptionStats", fields)).toEqual(all);
    expect(await single(tokens.a, "retranscriptionStats", fields)).toEqual([{ completed: "3", retranscriptions: "1", retranscriptionRate: "0.3333" }]);
    expect(await single(tokens.b, "retranscriptionStats", fields)).toEqual([{ completed: "1", retranscriptions: "0", retranscriptionRate: "0.0000" }]);
  });

  test("the revenue of re-transcriptions is what they were charged", async () => {
    expect(await single(tokens.admin, "retranscriptionStats", "retranscriptionRevenueMinor")).toEqual([{ retranscriptionRevenueMinor: "10" }]);
    expect(await single(tokens.a, "retranscriptionStats", "retranscriptionRevenueMinor")).toEqual([{ retranscriptionRevenueMinor: "10" }]);
    expect(await single(tokens.b, "retranscriptionStats", "retranscriptionRevenueMinor")).toEqual([{ retranscriptionRevenueMinor: "0" }]);
  });
});

describe("failure statistics", () => {
  const fields = "attempts failed failureRate freeRetries failedAttemptsCostMinor";

  test("the failure rate, the failed retries and what the free failed attempts cost at the provider, for every coach", async () => {
    const all = [{ attempts: "7", failed: "3", failureRate: "0.4286", freeRetries: "1", failedAttemptsCostMinor: "14.000000" }];
    expect(await single(tokens.admin, "failureStats", fields)).toEqual(all);
    expect(await single(tokens.auditor, "failureStats", fields)).toEqual(all);
  });

  test("a coach's failure statistics hold only their own attempts, without what they cost the platform", async () => {
    expect(await single(tokens.a, "failureStats", fields)).toEqual([
      { attempts: "5", failed: "2", failureRate: "0.4000", freeRetries: "1", failedAttemptsCostMinor: null },
    ]);
    expect(await single(tokens.b, "failureStats", fields)).toEqual([
      { attempts: "2", failed: "1", failureRate: "0.5000", freeRetries: "0", failedAttemptsCostMinor: null },
    ]);
  });
});

describe("usage summary", () => {
  const parts = {
    revenueSummary: "revenueMinor providerCostMinor grossMarginMinor grossMarginRatio",
    failureStats: "attempts failed failureRate freeRetries failedAttemptsCostMinor",
    retranscriptionStats: "completed retranscriptions retranscriptionRate retranscriptionRevenueMinor",
  };

  test("every card of a range at once: the figures of the revenue summary, the failure and the re-transcription statistics, as each role sees them", async () => {
    for (const token of [tokens.admin, tokens.auditor, tokens.a, tokens.b]) {
      const [whole] = await single(token, "usageSummary", Object.values(parts).join(" "));
      let expected = {};
      for (const [field, fields] of Object.entries(parts)) expected = { ...expected, ...(await single(token, field, fields))[0] };
      expect(whole).toEqual(expected);
    }
    const [ofCoachA] = await single(tokens.a, "usageSummary", "revenueMinor attempts providerCostMinor");
    expect(ofCoachA).toEqual({ revenueMinor: "16", attempts: "5", providerCostMinor: null });
  });
});

describe("the overview in one call", () => {
  const card = "revenueMinor providerCostMinor grossMarginMinor grossMarginRatio attempts failed failureRate freeRetries failedAttemptsCostMinor completed retranscriptions retranscriptionRate retranscriptionRevenueMinor";
  const period = "periodStart attempts completed failed freeRetries retranscriptions audioMinutes billableMinutes revenueMinor providerCostMinor grossMarginMinor";
  const providerRow = "provider model attempts completed failed failureRate audioMinutes revenueMinor providerCostMinor unknownCostAttempts";
  const coachRow = "coachProfileId displayName isDeleted attempts billableMinutes revenueMinor providerCostMinor grossMarginMinor";

  test("usageOverview gives each figure as its own function does: the cards of the range and the period before, by week, by provider, the top coaches", async () => {
    // March and April, against the two months before (no usage in them).
    const ranges = { fromDay: day("03-01"), toDay: day("05-01"), previousFromDay: day("01-01"), previousToDay: day("03-01") };
    const cases: Array<[string, string | null]> = [[tokens.admin, null], [tokens.auditor, null], [tokens.admin, a.profileId], [tokens.a, null], [tokens.b, b.profileId]];
    for (const [token, coach] of cases) {
      const { usageOverview, current, previous, periods, providers, top } = await read(token,
        `query ($fromDay: Date!, $toDay: Date!, $previousFromDay: Date!, $previousToDay: Date!, $c: UUID) {
           usageOverview(fromDay: $fromDay, toDay: $toDay, previousFromDay: $previousFromDay, previousToDay: $previousToDay, granularity: week, coachProfileId: $c, maxCoaches: 5) {
             current { ${card} } previous { ${card} } periods { ${period} } providers { ${providerRow} } topCoaches { ${coachRow} } }
           current: usageSummary(fromDay: $fromDay, toDay: $toDay, coachProfileId: $c) { ${card} }
           previous: usageSummary(fromDay: $previousFromDay, toDay: $previousToDay, coachProfileId: $c) { ${card} }
           periods: usageOverTime(fromDay: $fromDay, toDay: $toDay, granularity: week, coachProfileId: $c) { nodes { ${period} } }
           providers: usageByProvider(fromDay: $fromDay, toDay: $toDay, coachProfileId: $c) { nodes { ${providerRow} } }
           top: topCoaches(fromDay: $fromDay, toDay: $toDay, maxRows: 5) { nodes { ${coachRow} } } }`,
        { ...ranges, c: coach });
      expect(usageOverview).toEqual({
        current, previous, periods: periods.nodes, providers: providers.nodes,
        // The top coaches when no coach is named.
        topCoaches: coach === null ? top.nodes : [],
      });
    }
    const { usageOverview: ofA } = await read(tokens.a, `query ($f: Date!, $t: Date!) {
      usageOverview(fromDay: $f, toDay: $t, previousFromDay: $f, previousToDay: $t) { current { revenueMinor attempts providerCostMinor } } }`,
      { f: day("03-01"), t: day("05-01") });
    expect(ofA.current).toEqual({ revenueMinor: "16", attempts: "5", providerCostMinor: null });
  });

  test("usageOverview refuses what the functions it stands for refuse, in words", async () => {
    const ask = (token: string, variables: Record<string, unknown>) => refusal(token,
      `query ($f: Date!, $t: Date!, $pf: Date!, $pt: Date!, $c: UUID, $m: Int) {
         usageOverview(fromDay: $f, toDay: $t, previousFromDay: $pf, previousToDay: $pt, coachProfileId: $c, maxCoaches: $m) { current { attempts } } }`,
      { f: day("03-01"), t: day("05-01"), pf: day("01-01"), pt: day("03-01"), ...variables });
    const inverted = await ask(tokens.admin, { pf: day("03-01"), pt: day("01-01") });
    expect({ code: inverted.code, message: inverted.message }).toEqual({
      code: "22023", message: `The range is empty or inverted: from (${day("03-01")}) must be before to (${day("01-01")}).` });
    const tooMany = await ask(tokens.admin, { m: 1001 });
    expect({ code: tooMany.code, message: tooMany.message }).toEqual({ code: "22023", message: "maxCoaches must be from 1 to 1000, not 1001." });
    const other = await ask(tokens.a, { c: b.profileId });
    expect({ code: other.code, message: other.message }).toEqual({ code: "P0002", message: `There is no coach profile ${b.profileId} that you can see.` });
  });
});

async function monthlyRevenue(token: string, fromMonth = day("03-01"), toMonth = day("05-01")) {
  const data = await read(token,
    `query ($fromMonth: Date, $toMonth: Date) {
       monthlyRevenue(fromMonth: $fromMonth, toMonth: $toMonth) { nodes { month planFeeMinor usageRevenueMinor totalMinor payingCoaches } } }`,
    { fromMonth, toMonth });
  return data.monthlyRevenue.nodes;
}

describe("monthly revenue", () => {
  test("each month's plan fees of the coaches live in it, plus its usage revenue by billing month", async () => {
    const both = [
      { month: day("03-01"), planFeeMinor: "2000", usageRevenueMinor: "30", totalMinor: "2030", payingCoaches: "2" },
      { month: day("04-01"), planFeeMinor: "2000", usageRevenueMinor: "0", totalMinor: "2000", payingCoaches: "2" },
    ];
    expect(await monthlyRevenue(tokens.admin)).toEqual(both);
    expect(await monthlyRevenue(tokens.auditor)).toEqual(both);
  });

  test("months before the coaches joined bring nothing", async () => {
    expect(await monthlyRevenue(tokens.admin, `${year - 1}-12-01`, day("02-01"))).toEqual([
      { month: `${year - 1}-12-01`, planFeeMinor: "0", usageRevenueMinor: "0", totalMinor: "0", payingCoaches: "0" },
      { month: day("01-01"), planFeeMinor: "2000", usageRevenueMinor: "0", totalMinor: "2000", payingCoaches: "2" },
    ]);
  });

  test("a coach's monthly revenue is their own fee and usage", async () => {
    expect(await monthlyRevenue(tokens.a)).toEqual([
      { month: day("03-01"), planFeeMinor: "1000", usageRevenueMinor: "16", totalMinor: "1016", payingCoaches: "1" },
      { month: day("04-01"), planFeeMinor: "1000", usageRevenueMinor: "0", totalMinor: "1000", payingCoaches: "1" },
    ]);
    expect(await monthlyRevenue(tokens.b)).toEqual([
      { month: day("03-01"), planFeeMinor: "1000", usageRevenueMinor: "14", totalMinor: "1014", payingCoaches: "1" },
      { month: day("04-01"), planFeeMinor: "1000", usageRevenueMinor: "0", totalMinor: "1000", payingCoaches: "1" },
    ]);
  });
});

const invoiceFields = "coachProfileId month planId planName currency planFeeMinor includedMinutes audioSeconds includedSeconds chargedSeconds usageMinor creditsMinor totalMinor lateEvents";

async function invoicePreview(token: string, month: string, coachProfileId?: string) {
  const data = await read(token,
    `query ($month: Date, $coachProfileId: UUID) { invoicePreview(month: $month, coachProfileId: $coachProfileId) { nodes { ${invoiceFields} } } }`,
    { month, ...(coachProfileId ? { coachProfileId } : {}) });
  return data.invoicePreview.nodes;
}

describe("invoice preview", () => {
  const invoice = (coach: Coach, month: string, figures: Partial<Record<string, unknown>>) => ({
    coachProfileId: coach.profileId, month: day(month), planId, planName, currency: "EUR", planFeeMinor: "1000", includedMinutes: 1,
    audioSeconds: "0", includedSeconds: "0", chargedSeconds: "0", usageMinor: "0", creditsMinor: "0", totalMinor: "1000", lateEvents: 0,
    ...figures,
  });
  const marchA = () => invoice(a, "03-01", { audioSeconds: "215", includedSeconds: "60", chargedSeconds: "155", usageMinor: "16", totalMinor: "1016" });
  const marchB = () => invoice(b, "03-01", { audioSeconds: "200", includedSeconds: "60", chargedSeconds: "140", usageMinor: "14", totalMinor: "1014" });

  test("an open month's invoices as they stand: the plan fee, the included minutes used and the overage, largest first", async () => {
    expect(await invoicePreview(tokens.admin, day("03-01"))).toEqual([marchA(), marchB()]);
    expect(await invoicePreview(tokens.admin, day("04-01"))).toEqual([
      ...[invoice(a, "04-01", { audioSeconds: "30", includedSeconds: "30" }), invoice(b, "04-01", {})]
        .sort((x, y) => (x.coachProfileId < y.coachProfileId ? -1 : 1)),
    ]);
    expect(await invoicePreview(tokens.admin, day("03-01"), b.profileId)).toEqual([marchB()]);
    expect(await invoicePreview(tokens.auditor, day("03-01"))).toEqual([marchA(), marchB()]);
  });

  test("a coach previews only their own invoice; naming another coach, or none that exists, is refused in words", async () => {
    expect(await invoicePreview(tokens.a, day("03-01"))).toEqual([marchA()]);
    expect(await invoicePreview(tokens.a, day("03-01"), a.profileId)).toEqual([marchA()]);
    expect(await invoicePreview(tokens.b, day("03-01"))).toEqual([marchB()]);
    const preview = `query ($month: Date, $coachProfileId: UUID) { invoicePreview(month: $month, coachProfileId: $coachProfileId) { nodes { coachProfileId } } }`;
    const nobody = crypto.randomUUID();
    for (const [token, named] of [[tokens.a, b.profileId], [tokens.a, nobody], [tokens.admin, nobody]]) {
      expect(await refusal(token, preview, { month: day("03-01"), coachProfileId: named })).toEqual({
        data: { invoicePreview: null }, code: "P0002", message: `There is no coach profile ${named} that you can see.`,
      });
    }
  });
});

/** explainCharge's answer with its times as instants, so that it does not depend on the session's time zone. */
async function explain(token: string, name: string) {
  const data = await read(token, "query ($id: BigInt) { explainCharge(usageEventId: $id) }", { id: events[name] });
  const explained = data.explainCharge;
  if (explained?.prior_attempts) {
    for (const attempt of explained.prior_attempts) attempt.occurred_at = new Date(attempt.occurred_at).toISOString();
  }
  return explained;
}

describe("explaining a charge", () => {
  const plan = () => ({ id: planId, name: planName, included_minutes: 1, price_per_extra_minute_minor: 6 });
  const prior = (name: string, at: string, outcome: string, reason: string, amount = 0) => ({
    usage_event_id: Number(events[name]), transcription_id: attempts[name], occurred_at: `${day(at)}:00.000Z`,
    outcome, billing_reason: reason, amount_minor: amount,
  });
  const explanation = (name: string, figures: Record<string, unknown>) => ({
    usage_event_id: Number(events[name]), kind: "attempt", rule_version: "billing-rules-2026-11-v1", plan: plan(),
    usage_month: day("03-01"), billing_month: day("03-01"), late: false, unit_price_minor: 6, prior_attempts: [],
    ...figures,
  });

  test("a first success after two failed attempts: the failures were free, the included minute was used, the rest charged", async () => {
    expect(await explain(tokens.a, "a3")).toEqual(explanation("a3", {
      rule: "first_success", outcome: "completed", billable: true,
      explanation: "The session's first successful transcription (after 2 failed attempts, which were free) is charged. 60 of its 120 seconds used included minutes; 60 seconds at 6 minor units per minute came to 6 minor units.",
      audio_seconds: 120, audio_minutes: 2, included_seconds: 60, charged_seconds: 60, amount_minor: 6, provider_cost_minor: null,
      prior_attempts: [prior("a1", "03-02T10:00", "failed", "failed_free"), prior("a2", "03-02T11:00", "failed", "failed_free")],
    }));
  });

  test("a re-transcription is charged in full once the included minutes are used, its amount rounded within the month", async () => {
    expect(await explain(tokens.a, "a4")).toEqual(explanation("a4", {
      rule: "retranscription", outcome: "completed", billable: true,
      explanation: "A successful re-transcription: the session already had a successful transcription, so this attempt is charged. 0 of its 95 seconds used included minutes; 95 seconds at 6 minor units per minute came to 10 minor units.",
      audio_seconds: 95, audio_minutes: 1.5833, included_seconds: 0, charged_seconds: 95, amount_minor: 10, provider_cost_minor: null,
      prior_attempts: [
        prior("a1", "03-02T10:00", "failed", "failed_free"), prior("a2", "03-02T11:00", "failed", "failed_free"),
        prior("a3", "03-04T09:00", "completed", "first_success", 6),
      ],
    }));
  });

  test("a failed attempt is free, and says what it cost at the provider to admins and auditors only; a failed retry without a duration counts the recording's length", async () => {
    const failed = (words: string, cost: number | null) => explanation("a2", {
      rule: "failed_free", outcome: "failed", billable: false, explanation: words,
      audio_seconds: 120, audio_minutes: 2, included_seconds: 0, charged_seconds: 0, amount_minor: 0, provider_cost_minor: cost,
      prior_attempts: [prior("a1", "03-02T10:00", "failed", "failed_free")],
    });
    const staffView = failed("The attempt failed, and failed attempts are free. It still cost us 6.000000 minor units at the provider.", 6);
    expect(await explain(tokens.admin, "a2")).toEqual(staffView);
    expect(await explain(tokens.auditor, "a2")).toEqual(staffView);
    expect(await explain(tokens.a, "a2")).toEqual(failed("The attempt failed, and failed attempts are free.", null));
  });

  test("an attempt wholly within the month's included minutes costs nothing", async () => {
    expect(await explain(tokens.a, "a5")).toEqual(explanation("a5", {
      rule: "included_minutes", outcome: "completed", billable: true,
      explanation: `A successful attempt of 30 seconds, wholly within the plan's included minutes of ${year}-04: no charge.`,
      audio_seconds: 30, audio_minutes: 0.5, included_seconds: 30, charged_seconds: 0, amount_minor: 0, provider_cost_minor: null,
      usage_month: day("04-01"), billing_month: day("04-01"),
    }));
  });

  test("a coach cannot see another coach's charge explained, while an admin and an auditor can", async () => {
    const b1 = explanation("b1", {
      rule: "first_success", outcome: "completed", billable: true,
      explanation: "The session's first successful transcription is charged. 60 of its 200 seconds used included minutes; 140 seconds at 6 minor units per minute came to 14 minor units.",
      audio_seconds: 200, audio_minutes: 3.3333, included_seconds: 60, charged_seconds: 140, amount_minor: 14, provider_cost_minor: null,
    });
    expect(await explain(tokens.b, "b1")).toEqual(b1);
    expect(await explain(tokens.admin, "b1")).toEqual(b1);
    expect(await explain(tokens.auditor, "b1")).toEqual(b1);
    expect(await explain(tokens.a, "b1")).toBeNull();
    expect(await explain(tokens.a, "b2")).toBeNull();
    expect(await explain(tokens.b, "a3")).toBeNull();
    expect((await read(tokens.admin, "query { explainCharge(usageEventId: \"999999999999\") }")).explainCharge).toBeNull();
  });
});

describe("usage events under row-level security", () => {
  const eventFields = "rowId coachProfileId transcriptionId kind outcome billingReason audioSeconds includedSeconds chargedSeconds amountMinor providerCostMinor isRetry isRetranscription";

  async function inRange(token: string) {
    const data = await read(token, `query ($fromDay: Date, $toDay: Date) { usageInRange(fromDay: $fromDay, toDay: $toDay) { nodes { ${eventFields} } } }`, range());
    return data.usageInRange.nodes;
  }
  const event = (name: string, coach: Coach, figures: Record<string, unknown>) => ({
    rowId: events[name], coachProfileId: coach.profileId, transcriptionId: attempts[name], kind: "attempt",
    includedSeconds: 0, chargedSeconds: 0, amountMinor: "0", isRetry: false, isRetranscription: false, ...figures,
  });
  const all = () => [
    event("a1", a, { outcome: "failed", billingReason: "failed_free", audioSeconds: 120, providerCostMinor: "6.000000" }),
    event("a2", a, { outcome: "failed", billingReason: "failed_free", audioSeconds: 120, providerCostMinor: "6.000000", isRetry: true }),
    event("b1", b, { outcome: "completed", billingReason: "first_success", audioSeconds: 200, includedSeconds: 60, chargedSeconds: 140, amountMinor: "14", providerCostMinor: null }),
    event("a3", a, { outcome: "completed", billingReason: "first_success", audioSeconds: 120, includedSeconds: 60, chargedSeconds: 60, amountMinor: "6", providerCostMinor: "6.000000", isRetry: true }),
    event("a4", a, { outcome: "completed", billingReason: "retranscription", audioSeconds: 95, chargedSeconds: 95, amountMinor: "10", providerCostMinor: "4.750000", isRetranscription: true }),
    event("b2", b, { outcome: "failed", billingReason: "failed_free", audioSeconds: 40, providerCostMinor: "2.000000" }),
    event("a5", a, { outcome: "completed", billingReason: "included_minutes", audioSeconds: 30, includedSeconds: 30, providerCostMinor: "1.500000" }),
  ];

  test("usageInRange gives an admin and an auditor every coach's events in time order, and a coach only their own", async () => {
    expect(await inRange(tokens.admin)).toEqual(all());
    expect(await inRange(tokens.auditor)).toEqual(all());
    // A coach reads their own events without what the provider charged the platform.
    const costless = (coach: Coach) => all().filter((each) => each.coachProfileId === coach.profileId).map((each) => ({ ...each, providerCostMinor: null }));
    expect(await inRange(tokens.a)).toEqual(costless(a));
    expect(await inRange(tokens.b)).toEqual(costless(b));
  });

  test("usageInRange with coachProfileId gives an admin one coach's events; a coach naming another coach is told there is no such coach profile they can see", async () => {
    const ofCoach = async (token: string, coachProfileId: string) => (await read(token,
      `query ($fromDay: Date, $toDay: Date, $coach: UUID) { usageInRange(fromDay: $fromDay, toDay: $toDay, coachProfileId: $coach) { nodes { ${eventFields} } } }`,
      { ...range(), coach: coachProfileId })).usageInRange.nodes;
    expect(await ofCoach(tokens.admin, b.profileId)).toEqual(all().filter((each) => each.coachProfileId === b.profileId));
    expect(await ofCoach(tokens.auditor, a.profileId)).toEqual(all().filter((each) => each.coachProfileId === a.profileId));
    const refused = await refusal(tokens.a,
      `query ($fromDay: Date, $toDay: Date, $coach: UUID) { usageInRange(fromDay: $fromDay, toDay: $toDay, coachProfileId: $coach) { nodes { rowId } } }`,
      { ...range(), coach: b.profileId });
    expect({ data: refused.data?.usageInRange ?? null, code: refused.code, message: refused.message }).toEqual({
      data: null, code: "P0002", message: `There is no coach profile ${b.profileId} that you can see.`,
    });
  });

  test("a coach can neither list nor fetch another coach's usage events", async () => {
    const list = `query ($coach: UUID!) { usageEvents(condition: { coachProfileId: $coach }) { totalCount nodes { rowId } } }`;
    expect((await read(tokens.a, list, { coach: b.profileId })).usageEvents).toEqual({ totalCount: 0, nodes: [] });
    const ownA = (await read(tokens.a, list, { coach: a.profileId })).usageEvents;
    expect(ownA.nodes.map((node: { rowId: string }) => node.rowId)).toEqual(expect.arrayContaining(["a1", "a2", "a3", "a4", "a5"].map((name) => events[name])));
    expect((await read(tokens.admin, list, { coach: b.profileId })).usageEvents.nodes.map((node: { rowId: string }) => node.rowId))
      .toEqual(expect.arrayContaining([events.b1, events.b2]));

    const one = `query ($id: BigInt!) { usageEvent(rowId: $id) { rowId amountMinor } }`;
    expect((await read(tokens.a, one, { id: events.b1 })).usageEvent).toBeNull();
    expect((await read(tokens.b, one, { id: events.b1 })).usageEvent).toEqual({ rowId: events.b1, amountMinor: "14" });
  });
});

describe("reconciliation", () => {
  const query = `query ($fromDay: Date, $toDay: Date) { usageReconcile(fromDay: $fromDay, toDay: $toDay) { nodes { checkName day subject expected actual } } }`;

  test("rollups, events and attempts agree; the one difference is the attempt whose provider has no rate", async () => {
    const differences = [{ checkName: "unknown_provider_cost", day: day("03-02"), subject: events.b1, expected: `a rate for ${provider} unrated`, actual: "none" }];
    expect((await read(tokens.admin, query, range())).usageReconcile.nodes).toEqual(differences);
    expect((await read(tokens.auditor, query, range())).usageReconcile.nodes).toEqual(differences);
  });

  test("a coach may not reconcile", async () => {
    const refused = await refusal(tokens.a, query, range());
    expect({ data: refused.data?.usageReconcile ?? null, code: refused.code }).toEqual({ data: null, code: "42501" });
  });
});

describe("ranges the analytics refuse", () => {
  // oneRow: a summary served as one object, not a connection.
  const functions: Array<{ field: string; from: string; to: string; nodes: string; oneRow?: boolean }> = [
    { field: "usageOverTime", from: "fromDay", to: "toDay", nodes: "periodStart" },
    { field: "usageByProvider", from: "fromDay", to: "toDay", nodes: "provider" },
    { field: "topCoaches", from: "fromDay", to: "toDay", nodes: "coachProfileId" },
    { field: "revenueSummary", from: "fromDay", to: "toDay", nodes: "revenueMinor", oneRow: true },
    { field: "retranscriptionStats", from: "fromDay", to: "toDay", nodes: "completed", oneRow: true },
    { field: "failureStats", from: "fromDay", to: "toDay", nodes: "attempts", oneRow: true },
    { field: "monthlyRevenue", from: "fromMonth", to: "toMonth", nodes: "month" },
    { field: "usageInRange", from: "fromDay", to: "toDay", nodes: "rowId" },
    { field: "usageReconcile", from: "fromDay", to: "toDay", nodes: "checkName" },
  ];

  async function call(fn: (typeof functions)[number], from: string | null | undefined, to: string | null | undefined) {
    // An undefined end is left out of the call altogether.
    const given = Object.entries({ from, to }).filter(([, value]) => value !== undefined);
    const declarations = given.map(([name]) => `$${name}: Date`).join(", ");
    const args = given.map(([name]) => `${fn[name as "from" | "to"]}: $${name}`).join(", ");
    const refused = await refusal(tokens.admin,
      `query ${declarations ? `(${declarations})` : ""} { ${fn.field}${args ? `(${args})` : ""} { ${fn.oneRow ? fn.nodes : `nodes { ${fn.nodes} }`} } }`,
      Object.fromEntries(given));
    return { data: refused.data?.[fn.field] ?? null, code: refused.code, message: refused.message };
  }

  test.each(functions)("$field refuses an inverted, an empty and an overlong range with 22023, naming the problem", async (fn) => {
    expect(await call(fn, day("04-01"), day("03-01"))).toEqual({
      data: null, code: "22023", message: `The range is empty or inverted: from (${day("04-01")}) must be before to (${day("03-01")}).`,
    });
    expect(await call(fn, day("03-01"), day("03-01"))).toEqual({
      data: null, code: "22023", message: `The range is empty or inverted: from (${day("03-01")}) must be before to (${day("03-01")}).`,
    });
    expect(await call(fn, `${year - 20}-01-01`, day("03-01"))).toEqual({
      data: null, code: "22023", message: `The range is longer than 10 years (${year - 20}-01-01 to ${day("03-01")}); ask for less.`,
    });
  });

  test.each(functions)("$field refuses a range without an end, null or left out, with 22023", async (fn) => {
    const unbounded = { data: null, code: "22023", message: "A range needs both ends: from and to (dates, to exclusive)." };
    expect(await call(fn, null, day("03-01"))).toEqual(unbounded);
    expect(await call(fn, day("03-01"), null)).toEqual(unbounded);
    expect(await call(fn, null, null)).toEqual(unbounded);
    expect(await call(fn, undefined, undefined)).toEqual(unbounded);
  });

  test("usageOverTime's granularity is the UsageGranularity enum: anything but day, week or month is refused before any SQL runs", async () => {
    for (const granularity of ["hour", "year", "Day", ""]) {
      const { status, body } = await graphql(
        `query ($fromDay: Date, $toDay: Date, $granularity: UsageGranularity) { usageOverTime(fromDay: $fromDay, toDay: $toDay, granularity: $granularity) { nodes { periodStart } } }`,
        { ...range(), granularity }, tokens.admin);
      expect(status).toBe(400);
      expect(body.data ?? null).toBeNull();
      expect(body.errors?.[0]?.message).toContain(`"${granularity}" does not exist in "UsageGranularity" enum`);
    }
  });

  test("a coach's bad range is refused the same way", async () => {
    const refused = await refusal(tokens.a, `query ($fromDay: Date, $toDay: Date) { revenueSummary(fromDay: $fromDay, toDay: $toDay) { revenueMinor } }`,
      { fromDay: day("05-01"), toDay: day("03-01") });
    expect({ code: refused.code, message: refused.message }).toEqual({
      code: "22023", message: `The range is empty or inverted: from (${day("05-01")}) must be before to (${day("03-01")}).`,
    });
  });
});

describe("billing mutations are for admins only", () => {
  const closeMonth = `mutation ($month: Date!) { closeMonth(input: { month: $month }) { result } }`;
  const credit = `mutation ($coach: UUID!, $amount: BigInt!, $reason: String!) {
    issueUsageCredit(input: { coachProfileId: $coach, amountMinor: $amount, reason: $reason }) { result { rowId kind amountMinor billingMonth note createdBy coachProfileId } } }`;
  const voidEvent = `mutation ($id: BigInt!, $reason: String!) {
    voidUsageEvent(input: { usageEventId: $id, reason: $reason }) { result { rowId kind amountMinor correctsEventId billingMonth note createdBy coachProfileId } } }`;

  async function ledger() {
    const { rows } = await rootPool().query(
      `select (select count(*)::int from app_public.usage_events where coach_profile_id = any($1)) as events,
              (select count(*)::int from app_public.billing_months where month >= $2::date and month < $3::date) as closed_months`,
      [[a.profileId, b.profileId], day("01-01"), `${year + 1}-01-01`]);
    return rows[0];
  }

  test("a coach and an auditor can neither close a month, credit a coach nor void an event: 42501, and nothing is written", async () => {
    const before = await ledger();
    for (const token of [tokens.a, tokens.auditor]) {
      for (const [mutation, variables, field] of [
        [closeMonth, { month: day("06-01") }, "closeMonth"],
        [credit, { coach: a.profileId, amount: "100", reason: "Goodwill gesture" }, "issueUsageCredit"],
        [voidEvent, { id: events.a4, reason: "Charged by mistake" }, "voidUsageEvent"],
      ] as const) {
        const refused = await refusal(token, mutation, variables);
        expect({ field, data: refused.data?.[field] ?? null, code: refused.code }).toEqual({ field, data: null, code: "42501" });
      }
    }
    expect(await ledger()).toEqual(before);
  });

  test("an admin's mistakes are refused with what to fix, and nothing is written", async () => {
    const before = await ledger();
    // The month after this one has not ended whichever month the server's
    // transaction falls in (this one, or the next if a month ends meanwhile).
    // (month-close-and-corrections tries this month itself, in one transaction.)
    const { rows: [{ nextMonth }] } = await rootPool().query(
      "select to_char(date_trunc('month', now() at time zone 'UTC') + interval '1 month', 'YYYY-MM') as \"nextMonth\"");
    const cases: Array<[string, Record<string, unknown>, string, string]> = [
      [closeMonth, { month: `${nextMonth}-01` }, "22023", `Month ${nextMonth} has not ended yet; only past months can be closed.`],
      [closeMonth, { month: day("06-15") }, "22023", `Give the first day of the month to close (like 2026-10-01), not ${day("06-15")}.`],
      [credit, { coach: a.profileId, amount: "0", reason: "Goodwill gesture" }, "22023", "A credit is a positive amount in minor units (got 0)."],
      [credit, { coach: a.profileId, amount: "100", reason: " x " }, "22023", "A credit needs a reason (at least 3 characters)."],
      [voidEvent, { id: events.a1, reason: "Charged by mistake" }, "55000", `Usage event ${events.a1} charged nothing; there is nothing to void.`],
      [voidEvent, { id: "999999999999", reason: "Charged by mistake" }, "P0002", "No usage event 999999999999."],
    ];
    for (const [mutation, variables, code, message] of cases) {
      const refused = await refusal(tokens.admin, mutation, variables);
      expect({ code: refused.code, message: refused.message }).toEqual({ code, message });
    }
    expect(await ledger()).toEqual(before);
  });

  /**
   * The month a correction is billed in, by the rule the server follows, at
   * the time the server wrote it (its occurred_at), not the test's clock: the
   * first open month from that month on.
   */
  async function openMonthAt(usageEventId: string): Promise<string> {
    const { rows } = await rootPool().query(
      `select app_private.first_open_month(date_trunc('month', occurred_at at time zone 'UTC')::date)::text as month
       from app_public.usage_events where id = $1`, [usageEventId]);
    return rows[0].month;
  }

  test("an admin voids a charge and credits a coach: new negative events in the current month, explained, the past month's invoice untouched", async () => {
    const marchBefore = await invoicePreview(tokens.admin, day("03-01"), a.profileId);
    const voided = (await read(tokens.admin, voidEvent, { id: events.a4, reason: "  Charged by mistake  " })).voidUsageEvent.result;
    expect(voided).toEqual({
      rowId: expect.stringMatching(/^\d+$/), kind: "void", amountMinor: "-10", correctsEventId: events.a4, billingMonth: await openMonthAt(voided.rowId),
      note: "Charged by mistake", createdBy: admin.id, coachProfileId: a.profileId,
    });
    const again = await refusal(tokens.admin, voidEvent, { id: events.a4, reason: "Charged by mistake" });
    expect({ code: again.code, message: again.message }).toEqual({ code: "55000", message: `Usage event ${events.a4} is already voided; nothing changed.` });

    const credited = (await read(tokens.admin, credit, { coach: a.profileId, amount: "250", reason: "Goodwill gesture" })).issueUsageCredit.result;
    expect(credited).toEqual({
      rowId: expect.stringMatching(/^\d+$/), kind: "credit", amountMinor: "-250", billingMonth: await openMonthAt(credited.rowId),
      note: "Goodwill gesture", createdBy: admin.id, coachProfileId: a.profileId,
    });

    events.void = voided.rowId;
    events.credit = credited.rowId;
    expect(await explain(tokens.a, "void")).toMatchObject({
      kind: "void", rule: "void", amount_minor: -10, billable: false, prior_attempts: [],
      explanation: `Cancels the 10 minor units charged by usage event ${events.a4}: Charged by mistake`,
    });
    expect(await explain(tokens.a, "credit")).toMatchObject({
      kind: "credit", rule: "credit", amount_minor: -250, billable: false, prior_attempts: [],
      explanation: "A credit of 250 minor units issued by an admin: Goodwill gesture",
    });
    expect(await explain(tokens.b, "credit")).toBeNull();

    // Each month's invoice counts the corrections billed in it (both in one month, unless a month ended between them).
    const correctionsByMonth = new Map<string, number>();
    for (const each of [voided, credited]) {
      correctionsByMonth.set(each.billingMonth, (correctionsByMonth.get(each.billingMonth) ?? 0) + Number(each.amountMinor));
    }
    for (const [month, corrections] of correctionsByMonth) {
      const [invoice] = await invoicePreview(tokens.a, month);
      expect({ month, creditsMinor: invoice.creditsMinor, total: Number(invoice.totalMinor) }).toEqual({
        month, creditsMinor: String(corrections), total: Number(invoice.planFeeMinor) + Number(invoice.usageMinor) + corrections,
      });
    }
    expect([...correctionsByMonth.values()].reduce((sum, each) => sum + each, 0)).toBe(-260);
    expect(await invoicePreview(tokens.admin, day("03-01"), a.profileId)).toEqual(marchBefore);
  });

  test("an admin closes a past month: its invoices are frozen, and it cannot be closed twice", async () => {
    const { body } = await graphql(closeMonth, { month: day("06-01") }, tokens.admin);
    expect(body).toEqual({ data: { closeMonth: { result: 2 } } });
    const frozen = await invoicePreview(tokens.admin, day("06-01"));
    expect(frozen.map((each: Record<string, unknown>) => [each.coachProfileId, each.planFeeMinor, each.usageMinor, each.totalMinor]).sort())
      .toEqual([[a.profileId, "1000", "0", "1000"], [b.profileId, "1000", "0", "1000"]].sort());
    const { rows } = await rootPool().query("select coach_profile_id, total_minor::text from app_public.invoices where month = $1 order by 1", [day("06-01")]);
    expect(rows).toEqual([a.profileId, b.profileId].sort().map((id) => ({ coach_profile_id: id, total_minor: "1000" })));
    expect(await invoicePreview(tokens.b, day("06-01"))).toEqual([frozen.find((each: { coachProfileId: string }) => each.coachProfileId === b.profileId)]);

    const again = await refusal(tokens.admin, closeMonth, { month: day("06-01") });
    expect({ code: again.code, message: again.message }).toEqual({ code: "55000", message: `Month ${year}-06 is already closed; its invoices are frozen.` });
  });

  test("an attempt of the closed month that finishes late is billed in the next open month: its invoice, monthly revenue and explanation say so", async () => {
    const frozenJune = await invoicePreview(tokens.admin, day("06-01"));
    await addAttempt("a6", "a-2", { status: "completed", at: "06-20T09:00", seconds: 90 });
    await rootPool().query("select app_private.rebuild_usage_day($1)", [day("06-20")]);

    expect(await invoicePreview(tokens.admin, day("06-01"))).toEqual(frozenJune);
    const [july] = await invoicePreview(tokens.a, day("07-01"));
    expect(july).toMatchObject({
      month: day("07-01"), audioSeconds: "90", includedSeconds: "60", chargedSeconds: "30", usageMinor: "3", totalMinor: "1003", lateEvents: 1,
    });
    expect(await monthlyRevenue(tokens.admin, day("06-01"), day("08-01"))).toEqual([
      { month: day("06-01"), planFeeMinor: "2000", usageRevenueMinor: "0", totalMinor: "2000", payingCoaches: "2" },
      { month: day("07-01"), planFeeMinor: "2000", usageRevenueMinor: "3", totalMinor: "2003", payingCoaches: "2" },
    ]);
    // Usage over time goes by the day the attempt happened.
    const june = await read(tokens.a, `query ($fromDay: Date, $toDay: Date) { usageOverTime(fromDay: $fromDay, toDay: $toDay, granularity: month) { nodes { periodStart revenueMinor } } }`,
      { fromDay: day("06-01"), toDay: day("08-01") });
    expect(june.usageOverTime.nodes).toEqual([{ periodStart: day("06-01"), revenueMinor: "3" }]);
    expect(await explain(tokens.a, "a6")).toMatchObject({
      rule: "retranscription", usage_month: day("06-01"), billing_month: day("07-01"), late: true, included_seconds: 60, charged_seconds: 30, amount_minor: 3,
    });
  });
});

describe("one coach's figures (issue 15's coach page)", () => {
  test("an admin naming a coach gets that coach's revenue, cost, margin and failures; the platform's are the sum", async () => {
    const coachRange = { ...range(), coachProfileId: a.profileId };
    const data = await read(tokens.admin,
      `query ($fromDay: Date, $toDay: Date, $coachProfileId: UUID) {
         revenueSummary(fromDay: $fromDay, toDay: $toDay, coachProfileId: $coachProfileId) { revenueMinor providerCostMinor grossMarginMinor grossMarginRatio }
         failureStats(fromDay: $fromDay, toDay: $toDay, coachProfileId: $coachProfileId) { attempts failed failedAttemptsCostMinor }
         retranscriptionStats(fromDay: $fromDay, toDay: $toDay, coachProfileId: $coachProfileId) { completed retranscriptions }
         usageByProvider(fromDay: $fromDay, toDay: $toDay, coachProfileId: $coachProfileId) { nodes { model attempts revenueMinor } }
         usageOverTime(fromDay: $fromDay, toDay: $toDay, granularity: month, coachProfileId: $coachProfileId) { nodes { periodStart attempts revenueMinor } } }`,
      coachRange);
    expect(data).toEqual({
      revenueSummary: { revenueMinor: "16", providerCostMinor: "24.250000", grossMarginMinor: "-8.250000", grossMarginRatio: "-0.5156" },
      failureStats: { attempts: "5", failed: "2", failedAttemptsCostMinor: "12.000000" },
      retranscriptionStats: { completed: "3", retranscriptions: "1" },
      usageByProvider: { nodes: [{ model: "rated", attempts: "5", revenueMinor: "16" }] },
      usageOverTime: { nodes: [{ periodStart: day("03-01"), attempts: "4", revenueMinor: "16" }, { periodStart: day("04-01"), attempts: "1", revenueMinor: "0" }] },
    });
  });

  test("a coach naming themselves gets their own figures; naming another coach is refused in words", async () => {
    const fields = "revenueMinor providerCostMinor";
    const own = await read(tokens.a, `query ($fromDay: Date, $toDay: Date, $c: UUID) { revenueSummary(fromDay: $fromDay, toDay: $toDay, coachProfileId: $c) { ${fields} } }`,
      { ...range(), c: a.profileId });
    expect(own.revenueSummary).toEqual({ revenueMinor: "16", providerCostMinor: null });
    for (const field of ["revenueSummary", "failureStats", "retranscriptionStats"]) {
      const refused = await refusal(tokens.a, `query ($fromDay: Date, $toDay: Date, $c: UUID) { ${field}(fromDay: $fromDay, toDay: $toDay, coachProfileId: $c) { __typename } }`,
        { ...range(), c: b.profileId });
      expect({ data: refused.data?.[field] ?? null, code: refused.code, message: refused.message }).toEqual({
        data: null, code: "P0002", message: `There is no coach profile ${b.profileId} that you can see.`,
      });
    }
  });
});

describe("monthly provider cost and margin (issue 15's billing page)", () => {
  const fields = "month totalMinor providerCostMinor grossMarginMinor";
  const query = `query ($fromMonth: Date, $toMonth: Date) { monthlyRevenue(fromMonth: $fromMonth, toMonth: $toMonth) { nodes { ${fields} } } }`;

  test("staff see each month's provider cost of the usage billed in it and the margin on fees and usage; a coach sees neither", async () => {
    const months = { fromMonth: day("03-01"), toMonth: day("05-01") };
    const staff = [
      { month: day("03-01"), totalMinor: "2030", providerCostMinor: "24.750000", grossMarginMinor: "2005.250000" },
      { month: day("04-01"), totalMinor: "2000", providerCostMinor: "1.500000", grossMarginMinor: "1998.500000" },
    ];
    expect((await read(tokens.admin, query, months)).monthlyRevenue.nodes).toEqual(staff);
    expect((await read(tokens.auditor, query, months)).monthlyRevenue.nodes).toEqual(staff);
    expect((await read(tokens.a, query, months)).monthlyRevenue.nodes).toEqual([
      { month: day("03-01"), totalMinor: "1016", providerCostMinor: null, grossMarginMinor: null },
      { month: day("04-01"), totalMinor: "1000", providerCostMinor: null, grossMarginMinor: null },
    ]);
  });
});

describe("the usage events of a billing month, provider or model (an invoice's lines)", () => {
  const ids = async (token: string, variables: Record<string, unknown>) =>
    (await read(token,
      `query ($fromDay: Date, $toDay: Date, $billingMonth: Date, $c: UUID, $provider: String, $model: String) {
         usageInRange(fromDay: $fromDay, toDay: $toDay, billingMonth: $billingMonth, coachProfileId: $c, provider: $provider, model: $model) { nodes { rowId } } }`,
      variables)).usageInRange.nodes.map((node: { rowId: string }) => node.rowId);

  test("a billing month alone is enough, and narrows with a coach, a provider and a model", async () => {
    const march = { billingMonth: day("03-01") };
    expect(await ids(tokens.admin, march)).toEqual(["a1", "a2", "b1", "a3", "a4", "b2"].map((name) => events[name]));
    expect(await ids(tokens.admin, { ...march, c: a.profileId })).toEqual(["a1", "a2", "a3", "a4"].map((name) => events[name]));
    expect(await ids(tokens.admin, { ...march, provider, model: "unrated" })).toEqual([events.b1]);
    expect(await ids(tokens.admin, { ...range(), provider: "no-such-provider" })).toEqual([]);
    expect(await ids(tokens.b, march)).toEqual([events.b1, events.b2]);
  });

  test("usageInRangeTotals adds the same events up: how many, their amounts, and for staff their provider cost", async () => {
    const query = `query ($billingMonth: Date) { usageInRangeTotals(billingMonth: $billingMonth) { events amountMinor providerCostMinor } }`;
    const march = { billingMonth: day("03-01") };
    expect((await read(tokens.admin, query, march)).usageInRangeTotals).toEqual({ events: "6", amountMinor: "30", providerCostMinor: "24.750000" });
    expect((await read(tokens.b, query, march)).usageInRangeTotals).toEqual({ events: "2", amountMinor: "14", providerCostMinor: null });
  });

  test("a billing month that is not a month's first day, or a range with one end, is refused in words", async () => {
    const notFirst = await refusal(tokens.admin, `query ($m: Date) { usageInRange(billingMonth: $m) { nodes { rowId } } }`, { m: day("03-15") });
    expect({ code: notFirst.code, message: notFirst.message }).toEqual({ code: "22023", message: `A billing month is its first day (like 2026-10-01), not ${day("03-15")}.` });
    const oneEnd = await refusal(tokens.admin, `query ($m: Date, $f: Date) { usageInRange(billingMonth: $m, fromDay: $f) { nodes { rowId } } }`, { m: day("03-01"), f: day("03-01") });
    expect({ code: oneEnd.code, message: oneEnd.message }).toEqual({ code: "22023", message: "A range needs both ends: from and to (dates, to exclusive)." });
  });
});

// Last in the file: it adds an attempt to coach A's March and leaves its days rebuilt.
describe("usageInRangeTotals whatever state the rollups are in (it reads them where they are settled)", () => {
  /** The totals, and the same sums over usageInRange's events (one page holds them all). */
  async function bothWays(token: string, variables: Record<string, unknown>) {
    const data = await read(token,
      `query ($fromDay: Date, $toDay: Date, $billingMonth: Date, $c: UUID, $provider: String) {
         usageInRange(fromDay: $fromDay, toDay: $toDay, billingMonth: $billingMonth, coachProfileId: $c, provider: $provider) { nodes { amountMinor providerCostMinor } }
         usageInRangeTotals(fromDay: $fromDay, toDay: $toDay, billingMonth: $billingMonth, coachProfileId: $c, provider: $provider) { events amountMinor providerCostMinor } }`,
      variables);
    const nodes = data.usageInRange.nodes as Array<{ amountMinor: string; providerCostMinor: string | null }>;
    const costs = nodes.map((node) => node.providerCostMinor).filter((cost): cost is string => cost !== null);
    const listed = {
      events: String(nodes.length),
      amountMinor: String(nodes.reduce((sum, node) => sum + Number(node.amountMinor), 0)),
      // Sixth decimals, summed as integers.
      providerCostMinor: token === tokens.a ? null : (costs.reduce((sum, cost) => sum + Math.round(Number(cost) * 1e6), 0) / 1e6).toFixed(6),
    };
    return { totals: data.usageInRangeTotals, listed };
  }

  async function expectTotalsToAddUp(): Promise<void> {
    const asked = [range(), { billingMonth: day("03-01") }, { billingMonth: day("03-01"), c: a.profileId }, { ...range(), provider }];
    for (const token of [tokens.admin, tokens.a]) {
      for (const variables of asked) {
        const { totals, listed } = await bothWays(token, variables);
        expect(totals).toEqual(listed);
      }
    }
  }

  test("settled days, a day marked dirty with stale rollups, a record not rated yet, and an event past the rollups' watermark", async () => {
    const root = rootPool();
    await expectTotalsToAddUp();

    // March 9th's rollups lose a row (as a day rebuilt before its last event was rated would) and are marked dirty.
    await root.query("delete from app_public.usage_daily where day = $1 and coach_profile_id = $2", [day("03-09"), a.profileId]);
    await root.query("delete from app_private.usage_daily_totals where day = $1", [day("03-09")]);
    await root.query("insert into app_private.usage_dirty_days (day) values ($1) on conflict do nothing", [day("03-09")]);
    await expectTotalsToAddUp();

    // An attempt on March 10th captured but not rated yet (the worker may rate it meanwhile: either way it counts once).
    const { rows: [attempt] } = await root.query(
      `insert into app_public.transcriptions (session_id, provider, model, status, billed_duration_seconds, started_at, finished_at)
       values ($1, $2, 'rated', 'completed', 45, $3, $3) returning id`,
      [sessions["a-2"], provider, `${day("03-10")}T09:00:00Z`]);
    await expectTotalsToAddUp();

    // Rated, and its day not marked: only the watermark says its rollups are not settled.
    await root.query("select app_private.rate_usage_records(null)");
    const { rows: [rated] } = await root.query("select id from app_public.usage_events where transcription_id = $1", [attempt.id]);
    await root.query("delete from app_private.usage_dirty_days where day = $1", [day("03-10")]);
    await root.query("update app_private.usage_rollup_watermark set last_event_id = least(last_event_id, $1::bigint - 1)", [rated.id]);
    await expectTotalsToAddUp();

    for (const each of ["03-09", "03-10"]) await root.query("select app_private.rebuild_usage_day($1)", [day(each)]);
    await expectTotalsToAddUp();
  });
});
